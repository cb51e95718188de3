package user

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// Deps is what Build needs.
type Deps struct {
	// DB is the user service's own database.
	DB *mongo.Database
	// Logger receives one line per endpoint call (NewSet). Nil discards.
	Logger *slog.Logger
	// Registerer receives the service metrics, already wrapped with a
	// "service" label by the caller. Nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Signer issues the tokens; its Verifier checks them.
	Signer *token.Signer
	// Options are the service options (admin e-mails, bcrypt cost) and the
	// login rate limits.
	Options Options
}

// Component is the assembled user service.
type Component struct {
	// Service is the service the endpoints serve: with the login rate limits
	// (LoginRateLimitMiddleware), without the logging and metrics, which
	// observe the endpoints (NewSet). A call made on it directly is neither
	// logged nor counted.
	Service Service
	// Endpoints are the endpoints the transports serve.
	Endpoints Set
	// HTTPHandler serves the public routes (see NewHTTPHandler); wrap it with
	// httpserver.New for health and metrics.
	HTTPHandler http.Handler
	// Background is empty: the user service has no workers. It is here so that
	// every service's Component has the same shape.
	Background []func(context.Context) error

	grpc *GRPCServer
}

// RegisterGRPC registers AuthService, UserService and CartService on r.
func (c *Component) RegisterGRPC(r grpc.ServiceRegistrar) {
	userv1.RegisterAuthServiceServer(r, c.grpc)
	userv1.RegisterUserServiceServer(r, c.grpc)
	userv1.RegisterCartServiceServer(r, c.grpc)
}

// Build assembles store → service → login rate limits → endpoints, observed
// (so refused logins are logged and counted) → transports. ctx bounds the
// store set-up.
func Build(ctx context.Context, d Deps) (*Component, error) {
	if d.DB == nil || d.Signer == nil {
		return nil, errors.New("user: Build needs a database and a signer")
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store, err := NewMongoStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	svc, err := NewService(store, d.Signer, d.Options)
	if err != nil {
		return nil, err
	}
	svc = LoginRateLimitMiddleware(d.Options)(svc)
	set := NewSet(svc, d.Signer.Verifier(), logger.With(slog.String("service", "user")), d.Registerer)
	return &Component{
		Service:     svc,
		Endpoints:   set,
		HTTPHandler: NewHTTPHandler(set, d.Options.TrustedProxies...),
		grpc:        NewGRPCServer(set),
	}, nil
}
