package notification

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/token"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
)

// Deps is what Build needs.
type Deps struct {
	// DB is the notification service's own database. Build makes the one
	// store (and docstore.Updater) that writes it: build one Component per
	// database per process.
	DB *mongo.Database
	// Logger receives one line per call of an endpoint (NewSet) and, with
	// the default sender, the messages. Nil discards.
	Logger *slog.Logger
	// Registerer receives the service metrics, already wrapped with a
	// "service" label by the caller. Nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Verifier checks the access tokens of HTTP callers.
	Verifier *token.Verifier
	// Sender sends the messages; nil means a LogSender on Logger.
	Sender Sender
	// Options are the service options (sender address, send timeout and
	// latency).
	Options Options
}

// Component is the assembled notification service.
type Component struct {
	// Service is the service itself, undecorated: calls made on it are
	// neither logged nor counted (the endpoints are, see NewSet).
	Service Service
	// Endpoints are the endpoints the transports serve.
	Endpoints Set
	// HTTPHandler serves the public route (see NewHTTPHandler); wrap it with
	// httpserver.New for health and metrics.
	HTTPHandler http.Handler
	// Background is empty: the notification service has no workers. It is
	// here so that every service's Component has the same shape.
	Background []func(context.Context) error

	grpc *GRPCServer
}

// RegisterGRPC registers NotificationService on r.
func (c *Component) RegisterGRPC(r grpc.ServiceRegistrar) {
	notificationv1.RegisterNotificationServiceServer(r, c.grpc)
}

// Build assembles store → service → observed endpoints → transports.
// ctx bounds the store set-up.
func Build(ctx context.Context, d Deps) (*Component, error) {
	if d.DB == nil || d.Verifier == nil {
		return nil, errors.New("notification: Build needs a database and a token verifier")
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("service", "notification"))
	store, err := NewMongoStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	sender := d.Sender
	if sender == nil {
		sender = NewLogSender(logger)
	}
	svc, err := NewService(store, sender, d.Options)
	if err != nil {
		return nil, err
	}
	set := NewSet(svc, d.Verifier, logger, d.Registerer)
	return &Component{
		Service:     svc,
		Endpoints:   set,
		HTTPHandler: NewHTTPHandler(set),
		grpc:        NewGRPCServer(set),
	}, nil
}
