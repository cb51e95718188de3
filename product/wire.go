package product

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"

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
	// Logger receives the service's logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the service metrics, already wrapped with a
	// "service" label by the caller when registries are shared; nil records
	// none.
	Registerer prometheus.Registerer

	// Verifier checks the access tokens of admin calls. When it is nil,
	// JWKSURL is required: the user service's key set is then fetched in
	// the background (Component.Background), retrying until it comes, and
	// admin calls fail with ErrAuthUnavailable (503 / Unavailable) until
	// then. Public calls never wait for it, so the product service does not
	// depend on the user service being up.
	Verifier *token.Verifier
	// JWKSURL is the user service's key set, e.g.
	// http://localhost:8081/.well-known/jwks.json.
	JWKSURL string
	// HTTPClient fetches JWKSURL; nil means a plain http.Client.
	HTTPClient *http.Client
	// TokenOptions are the issuer and audience required of tokens verified
	// with the fetched keys; zero fields take token's defaults.
	TokenOptions token.Options

	// Options tune the service; a nil Options.Logger becomes Logger.
	Options Options
}

// Component is the assembled product service.
type Component struct {
	// Service is the service with its logging and metrics middlewares.
	Service Service
	// Endpoints are the endpoints the transports serve.
	Endpoints Set
	// HTTPHandler serves the public HTTP routes (NewHTTPHandler); health
	// and metrics are added by httpserver.New.
	HTTPHandler http.Handler
	// Background are the units to run beside the servers, until their
	// context ends (rungroup.Group.Background):
	//   - the JWKS fetch, first, when Deps.Verifier was nil; it returns nil
	//     once the keys are loaded, or when its context ends first;
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

// Build assembles store → service → middlewares → endpoints → transports.
// ctx bounds the store set-up.
func Build(ctx context.Context, deps Deps) (*Component, error) {
	if deps.DB == nil {
		return nil, errors.New("product: Deps.DB is required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if deps.Verifier == nil {
		if err := checkJWKSURL(deps.JWKSURL); err != nil {
			return nil, err
		}
	}

	store, err := NewMongoStore(ctx, deps.DB)
	if err != nil {
		return nil, err
	}
	opts := deps.Options
	if opts.Logger == nil {
		opts.Logger = logger
	}
	core, err := newService(store, opts)
	if err != nil {
		return nil, err
	}
	var svc Service = core
	svc = LoggingMiddleware(logger)(svc)
	if deps.Registerer != nil {
		svc = InstrumentingMiddleware(deps.Registerer)(svc)
	}

	c := &Component{Service: svc}
	var verifier atomic.Pointer[token.Verifier]
	if deps.Verifier != nil {
		verifier.Store(deps.Verifier)
	} else {
		c.Background = append(c.Background, func(ctx context.Context) error {
			v, err := token.FetchVerifier(ctx, deps.JWKSURL, deps.HTTPClient, logger, deps.TokenOptions)
			if err != nil {
				if ctx.Err() != nil {
					return nil // stopped before the keys came: not a failure
				}
				return fmt.Errorf("product: load admin token keys: %w", err)
			}
			verifier.Store(v)
			logger.InfoContext(ctx, "admin token keys loaded", "url", deps.JWKSURL)
			return nil
		})
	}
	c.Background = append(c.Background, core.marks.run)
	c.Endpoints = NewSet(svc, verifier.Load)
	c.HTTPHandler = NewHTTPHandler(c.Endpoints)
	c.grpc = NewGRPCServer(c.Endpoints, logger)
	return c, nil
}

// checkJWKSURL accepts an absolute http(s) URL.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("product: a token verifier or an absolute http(s) JWKS URL is required, got %q", raw)
	}
	return nil
}
