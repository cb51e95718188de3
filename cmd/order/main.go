// Command order runs the kitshop order service: gRPC (kitshop.order.v1
// OrderService, health, reflection) on 127.0.0.1:50053 and HTTP (POST /order,
// GET /order, GET /order/{id}, /healthz, /readyz, /metrics) on 127.0.0.1:8083, with the
// embedded document store in -data-dir unless -mongo-uri is set. It calls the
// user, product, payment and notification services over gRPC, and verifies
// callers' tokens with the user service's public key (-jwt-public-key-file, or
// its JWKS, fetched in the background while the servers already serve: until
// it comes, a call with a token answers 503 / Unavailable, one without 401).
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/order"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "order:", err)
		os.Exit(1)
	}
}

// flags are the order service's own settings.
type flags struct {
	addrs    order.Addrs
	verifier token.VerifierConfig
	client   grpcclient.Config
	cache    order.CacheOptions
	opts     order.Options
}

func (f *flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addrs.User, "user-addr", fmt.Sprintf("localhost:%d", config.UserGRPCPort), "gRPC target of the user service (host:port or dns:///host:port)")
	fs.StringVar(&f.addrs.Product, "product-addr", fmt.Sprintf("localhost:%d", config.ProductGRPCPort), "gRPC target of the product service")
	fs.StringVar(&f.addrs.Payment, "payment-addr", fmt.Sprintf("localhost:%d", config.PaymentGRPCPort), "gRPC target of the payment service")
	fs.StringVar(&f.addrs.Notification, "notification-addr", fmt.Sprintf("localhost:%d", config.NotificationGRPCPort), "gRPC target of the notification service")
	f.verifier.RegisterFlags(fs)
	f.client.RegisterFlags(fs)
	f.cache.RegisterFlags(fs)
	fs.IntVar(&f.opts.DispatchConcurrency, "dispatch-concurrency", order.DefaultDispatchConcurrency, "orders whose side effects the dispatcher runs at once")
	f.opts.RegisterFlags(fs)
	fs.DurationVar(&f.opts.OutboxBackoff, "outbox-backoff", order.DefaultOutboxBackoff, "first wait before retrying a failed side effect (doubles up to -outbox-backoff-max)")
	fs.DurationVar(&f.opts.OutboxBackoffMax, "outbox-backoff-max", order.DefaultOutboxBackoffMax, "longest wait between retries of a failed side effect")
}

func (f *flags) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s (%s): %s", name, config.EnvVar(name), fmt.Sprintf(format, args...)))
	}
	for name, v := range map[string]string{"user-addr": f.addrs.User, "product-addr": f.addrs.Product,
		"payment-addr": f.addrs.Payment, "notification-addr": f.addrs.Notification} {
		if v == "" {
			bad(name, "must not be empty")
		}
	}
	errs = append(errs, f.verifier.Validate())
	f.opts.CheckFlags(bad)
	for name, d := range map[string]time.Duration{"outbox-backoff": f.opts.OutboxBackoff, "outbox-backoff-max": f.opts.OutboxBackoffMax} {
		if d <= 0 {
			bad(name, "%s: must be positive", d)
		}
	}
	if f.opts.DispatchConcurrency < 1 {
		bad("dispatch-concurrency", "%d: must be at least 1", f.opts.DispatchConcurrency)
	}
	if err := f.client.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(config.Order, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	cfg.Register(fs, config.Order, config.OrderGRPCPort, config.OrderHTTPPort)
	var f flags
	f.register(fs)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := errors.Join(cfg.Validate(), f.validate()); err != nil {
		return err
	}
	logger, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	creds, err := tlsconfig.Load(cfg.TLS, logger)
	if err != nil {
		return err
	}

	// The user service may start after this one: its keys are fetched in
	// the background (fetchKeys), and the servers serve meanwhile.
	verifier, fetchKeys, err := f.verifier.NewVerifier(logger)
	if err != nil {
		return err
	}

	store, err := embedded.Open(ctx, embedded.Config{URI: cfg.MongoURI, DataDir: cfg.DataDir}, logger)
	if err != nil {
		return err
	}
	queries, err := store.Reader(ctx, logger) // listings and start-up scans: order.Deps.QueryDB
	if err != nil {
		return errors.Join(err, store.Close(ctx))
	}
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	if fetchKeys != nil {
		g.Background("jwks", fetchKeys)
	}
	g.Cleanup("store", store.Close)
	g.Cleanup("store-queries", queries.Close)

	reg := serve.NewRegistry()
	svcReg := serve.Registerer(reg, config.Order)
	// The key every service shares, made on first start (svcauth).
	guard, svcCreds, err := svcauth.Load(cfg.Auth.KeyPath(cfg.ServiceKeyDir()), config.Order, order.GRPCAccess)
	if err != nil {
		return errors.Join(err, queries.Close(ctx), store.Close(ctx))
	}
	deps, conns, err := order.Dial(f.addrs, f.client, f.cache, svcReg, logger, append(creds.DialOptions(), svcCreds.DialOption())...)
	if err != nil {
		return errors.Join(err, queries.Close(ctx), store.Close(ctx))
	}
	fail := func(err error) error { return errors.Join(err, conns.Close(), queries.Close(ctx), store.Close(ctx)) }
	g.Cleanup("clients", func(context.Context) error { return conns.Close() })
	comp, err := order.Build(ctx, order.Deps{
		DB:           store.Database(config.Order),
		QueryDB:      queries.Database(config.Order),
		Logger:       logger,
		Registerer:   svcReg,
		Verifier:     verifier,
		Dependencies: deps,
		Options:      f.opts,
	})
	if err != nil {
		return fail(err)
	}

	srv, err := serve.Listen(g, config.Order, cfg.GRPCAddr, serve.Options{
		Logger: logger, Registerer: svcReg, Gatherer: reg, Ready: store.Ping, MaxBodyBytes: cfg.MaxBodyBytes,
		GRPCOptions: creds.ServerOptions(), Guard: guard, Reflection: cfg.Auth.Reflection,
	})
	if err != nil {
		return fail(err)
	}
	g.Stopping(comp.Orders.Drain) // no new orders while those in flight finish
	httpAddr, err := srv.Serve(comp.RegisterGRPC, comp.HTTPHandler, comp.Background, cfg.HTTPAddr)
	if err != nil {
		return fail(err)
	}
	logger.Info("order service started", slog.String("grpc", srv.GRPCAddr()), slog.String("http", httpAddr), slog.Bool("mtls", creds.Enabled()))
	return g.Run(ctx)
}
