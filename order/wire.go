package order

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/token"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// Deps is what Build needs.
type Deps struct {
	// DB is the order service's own database.
	DB *mongo.Database
	// QueryDB, if set, is the same database through a client of its own
	// (docstore.Store.Reader), through which a customer's listing reads the
	// orders not remembered: on the embedded store they then do not wait
	// behind the orders in progress (MongoStore.QueryThrough).
	QueryDB *mongo.Database
	// Logger receives one line per service call and the workers' logs. Nil
	// discards.
	Logger *slog.Logger
	// Registerer receives the service metrics (kitshop_order_requests_total,
	// kitshop_order_request_duration_seconds, kitshop_orders_total), already
	// wrapped with a "service" label by the caller. Nil leaves them
	// unregistered.
	Registerer prometheus.Registerer
	// Verifier checks the callers' access tokens (the user service's public key).
	Verifier *token.Verifier
	// Dependencies are the clients of user, product, payment and
	// notification: from Dial or NewDependencies, or fakes in tests.
	Dependencies Dependencies
	// Options tune the service; Options.RecordStatus defaults to the
	// kitshop_orders_total counter on Registerer.
	Options Options
}

// Component is the assembled order service.
type Component struct {
	// Service is the undecorated service (Orders, as a Service): the logs and
	// call metrics are the endpoints' (NewSet), so a call through Service is
	// neither logged nor counted.
	Service Service
	// Orders is the undecorated service, whose workers Background runs.
	Orders *Orders
	// Endpoints are the endpoints the transports serve.
	Endpoints Set
	// HTTPHandler serves the public routes (see NewHTTPHandler); wrap it with
	// httpserver.New for health and metrics.
	HTTPHandler http.Handler
	// Background is the worker (Orders.RunWorker), which settles what
	// handlers left and runs the side effects due; run it until shutdown.
	Background []func(context.Context) error

	grpc *GRPCServer
}

// RegisterGRPC registers OrderService on r.
func (c *Component) RegisterGRPC(r grpc.ServiceRegistrar) {
	orderv1.RegisterOrderServiceServer(r, c.grpc)
}

// Build assembles store → service → observed endpoints → transports.
// ctx bounds the store set-up.
func Build(ctx context.Context, d Deps) (*Component, error) {
	if d.DB == nil || d.Verifier == nil {
		return nil, errors.New("order: Build needs a database and a token verifier")
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("service", "order"))
	store, err := NewMongoStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	if d.QueryDB != nil {
		store.QueryThrough(d.QueryDB)
	}
	opts := d.Options
	if opts.RecordStatus == nil {
		opts.RecordStatus = NewStatusCounter(d.Registerer)
	}
	if opts.CleanupDelay == 0 {
		opts.CleanupDelay = DefaultCleanupDelay
	}
	orders, err := NewService(store, d.Dependencies, opts, logger)
	if err != nil {
		return nil, err
	}
	set := NewSet(orders, d.Verifier, logger, d.Registerer)
	return &Component{
		Service:     orders,
		Orders:      orders,
		Endpoints:   set,
		HTTPHandler: NewHTTPHandler(set),
		Background:  []func(context.Context) error{orders.RunWorker},
		grpc:        NewGRPCServer(set),
	}, nil
}

// Addrs are the gRPC targets of the order service's dependencies,
// "host:port" or "dns:///name:port".
type Addrs struct {
	User         string
	Product      string
	Payment      string
	Notification string
}

// Dial connects to the dependencies at addrs (grpcclient.Dial: lazy,
// round-robin, keepalive, plaintext unless dialOpts say otherwise, e.g.
// tlsconfig.Credentials.DialOptions) and returns their clients, with cfg's
// retries, deadlines and breakers, the caches of cache (DefaultCacheOptions
// unless there is a reason) and the client metrics on reg (nil:
// unregistered), and the connections, to close at shutdown.
func Dial(addrs Addrs, cfg grpcclient.Config, cache CacheOptions, reg prometheus.Registerer, logger *slog.Logger, dialOpts ...grpc.DialOption) (Dependencies, Conns, error) {
	var conns Conns
	for _, c := range []struct {
		conn **grpc.ClientConn
		addr string
	}{
		{&conns.User, addrs.User},
		{&conns.Product, addrs.Product},
		{&conns.Payment, addrs.Payment},
		{&conns.Notification, addrs.Notification},
	} {
		// gRPC bounds each attempt itself (cfg.DialOption): the client chain
		// then adds no deadline context of its own.
		conn, err := grpcclient.Dial(c.addr, append([]grpc.DialOption{cfg.DialOption()}, dialOpts...)...)
		if err != nil {
			return Dependencies{}, Conns{}, errors.Join(err, conns.Close())
		}
		*c.conn = conn
	}
	deps, err := NewDependencies(conns, cfg, cache, grpcclient.NewMetrics(reg), logger)
	if err != nil {
		return Dependencies{}, Conns{}, errors.Join(err, conns.Close())
	}
	return deps, conns, nil
}

// Close closes every connection that is set.
func (c Conns) Close() error {
	var errs []error
	for _, conn := range []*grpc.ClientConn{c.User, c.Product, c.Payment, c.Notification} {
		if conn != nil {
			errs = append(errs, conn.Close())
		}
	}
	return errors.Join(errs...)
}
