package product

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/token"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
)

// Deps is what Build needs.
type Deps struct {
	// DB is the product service's own database. Required.
	DB *mongo.Database
	// QueryDB, if set, is the same database through a client of its own
	// (docstore.Store.Reader), through which the catalogue's pages read the
	// products not remembered, so that they do not wait behind the stock's
	// writes (MongoStore.QueryThrough).
	QueryDB *mongo.Database
	// Logger receives the service's logs, one line per endpoint call (NewSet)
	// among them; nil discards.
	Logger *slog.Logger
	// Registerer receives the service metrics, already wrapped with a
	// "service" label by the caller when registries are shared; nil records
	// none.
	Registerer prometheus.Registerer

	// Verifier checks the access tokens of admin calls. Required. One from
	// token.NewJWKSFetcher may still be fetching its keys: admin calls with a
	// well-formed token then fail with token.ErrKeysUnavailable (503 +
	// Retry-After / Unavailable + RetryInfo), without a token with 401 as
	// always, and public calls never wait for it, so the product service
	// does not depend on the user service being up.
	Verifier *token.Verifier

	// Options tune the service; a nil Options.Logger becomes Logger.
	Options Options
}

// Component is the assembled product service.
type Component struct {
	// Service is the service the endpoints serve, without the logging and
	// metrics, which observe the endpoints (NewSet): a call made on it
	// directly (cmd/shop's CreateSamples at start-up) is neither logged nor
	// counted.
	Service Service
	// Endpoints are the endpoints the transports serve.
	Endpoints Set
	// HTTPHandler serves the public HTTP routes (NewHTTPHandler); health
	// and metrics are added by httpserver.New.
	HTTPHandler http.Handler
	// Background are the units to run beside the servers, until their
	// context ends (rungroup.Group.Background):
	//   - the flusher that clears the marks of finished reservations in
	//     batches (see marks.go); when its context ends it clears what is
	//     queued (within 10 s) and returns nil. Not running it costs one
	//     store command per reservation and per release, nothing else.
	Background []func(context.Context) error

	grpc *GRPCServer
}

// RegisterGRPC registers ProductService on r.
func (c *Component) RegisterGRPC(r grpc.ServiceRegistrar) {
	productv1.RegisterProductServiceServer(r, c.grpc)
}

// Build assembles store → service → endpoints, observed → transports.
// ctx bounds the store set-up.
func Build(ctx context.Context, deps Deps) (*Component, error) {
	if deps.DB == nil {
		return nil, errors.New("product: Deps.DB is required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("service", "product"))
	if deps.Verifier == nil {
		return nil, errors.New("product: Deps.Verifier is required")
	}

	store, err := NewMongoStore(ctx, deps.DB)
	if err != nil {
		return nil, err
	}
	if deps.QueryDB != nil {
		store.QueryThrough(deps.QueryDB)
	}
	opts := deps.Options
	if opts.Logger == nil {
		opts.Logger = logger
	}
	core, err := newService(store, opts)
	if err != nil {
		return nil, err
	}
	c := &Component{Service: core}
	c.Background = append(c.Background, core.marks.run)
	c.Endpoints = NewSet(core, deps.Verifier, logger, deps.Registerer)
	c.HTTPHandler = NewHTTPHandler(c.Endpoints)
	c.grpc = NewGRPCServer(c.Endpoints)
	return c, nil
}
