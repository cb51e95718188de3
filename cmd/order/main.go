// Command order runs the kitshop order service: gRPC (kitshop.order.v1
// OrderService, health, reflection) on :50053 and HTTP (POST /order,
// GET /order, GET /order/{id}, /healthz, /readyz, /metrics) on :8083, with the
// embedded document store in -data-dir unless -mongo-uri is set. It calls the
// user, product, payment and notification services over gRPC, and verifies
// callers' tokens with the user service's public key (its JWKS, fetched at
// start, or -jwt-public-key-file). Run it with -h for every flag and its
// KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
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
	addrs         order.Addrs
	jwksURL       string
	publicKeyFile string
	tokens        token.Options
	client        grpcclient.Config
	opts          order.Options
}

func (f *flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addrs.User, "user-addr", fmt.Sprintf("localhost:%d", config.UserGRPCPort), "gRPC target of the user service (host:port or dns:///host:port)")
	fs.StringVar(&f.addrs.Product, "product-addr", fmt.Sprintf("localhost:%d", config.ProductGRPCPort), "gRPC target of the product service")
	fs.StringVar(&f.addrs.Payment, "payment-addr", fmt.Sprintf("localhost:%d", config.PaymentGRPCPort), "gRPC target of the payment service")
	fs.StringVar(&f.addrs.Notification, "notification-addr", fmt.Sprintf("localhost:%d", config.NotificationGRPCPort), "gRPC target of the notification service")
	fs.StringVar(&f.jwksURL, "jwks-url", fmt.Sprintf("http://localhost:%d/.well-known/jwks.json", config.UserHTTPPort), "JWKS of the user service, fetched at start (retried until it answers); unused with -jwt-public-key-file")
	fs.StringVar(&f.publicKeyFile, "jwt-public-key-file", "", "PEM Ed25519 public key that verifies access tokens, instead of -jwks-url")
	fs.StringVar(&f.tokens.Issuer, "jwt-issuer", token.DefaultIssuer, "required \"iss\" claim of access tokens")
	fs.StringVar(&f.tokens.Audience, "jwt-audience", token.DefaultAudience, "required \"aud\" claim of access tokens")
	f.client.RegisterFlags(fs)
	fs.DurationVar(&f.opts.OrderTimeout, "order-timeout", order.DefaultOrderTimeout, "time limit of all the calls one order creation makes")
	fs.DurationVar(&f.opts.SweepInterval, "sweep-interval", order.DefaultSweepInterval, "how often the sweeper settles orders left pending")
	fs.DurationVar(&f.opts.SweepGrace, "sweep-grace", order.DefaultSweepGrace, "extra age, beyond -order-timeout, before the sweeper touches a pending order")
	fs.DurationVar(&f.opts.DispatchInterval, "dispatch-interval", order.DefaultDispatchInterval, "how often the outbox dispatcher looks for due notifications, releases and refunds")
	fs.IntVar(&f.opts.DispatchConcurrency, "dispatch-concurrency", order.DefaultDispatchConcurrency, "orders whose side effects the dispatcher runs at once")
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
	if f.publicKeyFile == "" && f.jwksURL == "" {
		bad("jwks-url", "must not be empty without -jwt-public-key-file (%s)", config.EnvVar("jwt-public-key-file"))
	}
	for name, d := range map[string]time.Duration{"order-timeout": f.opts.OrderTimeout, "sweep-interval": f.opts.SweepInterval,
		"sweep-grace": f.opts.SweepGrace, "dispatch-interval": f.opts.DispatchInterval,
		"outbox-backoff": f.opts.OutboxBackoff, "outbox-backoff-max": f.opts.OutboxBackoffMax} {
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

	verifier, err := loadVerifier(ctx, f, logger)
	if err != nil {
		return err
	}
	store, err := docstore.Open(ctx, docstore.Config{URI: cfg.MongoURI, DataDir: cfg.DataDir}, logger)
	if err != nil {
		return err
	}
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	g.Cleanup("store", store.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svcReg := prometheus.WrapRegistererWith(prometheus.Labels{"service": config.Order}, reg)

	deps, conns, err := order.Dial(f.addrs, f.client, svcReg, logger)
	if err != nil {
		return errors.Join(err, store.Close(ctx))
	}
	g.Cleanup("clients", func(context.Context) error { return conns.Close() })
	comp, err := order.Build(ctx, order.Deps{
		DB:           store.Database(config.Order),
		Logger:       logger,
		Registerer:   svcReg,
		Verifier:     verifier,
		Dependencies: deps,
		Options:      f.opts,
	})
	if err != nil {
		return errors.Join(err, conns.Close(), store.Close(ctx))
	}

	grpcSrv := grpcserver.New(grpcserver.Options{Logger: logger, Registerer: svcReg})
	comp.RegisterGRPC(grpcSrv)
	grpcSrv.Ready()
	handler := httpserver.New(comp.HTTPHandler, httpserver.Options{
		Logger:       logger,
		Registerer:   svcReg,
		Gatherer:     reg,
		Ready:        store.Ping,
		MaxBodyBytes: cfg.MaxBodyBytes,
	})

	grpcAddr, err := g.GRPC(config.Order, cfg.GRPCAddr, grpcSrv)
	if err != nil {
		return errors.Join(err, conns.Close(), store.Close(ctx))
	}
	httpAddr, err := g.HTTP(config.Order, cfg.HTTPAddr, handler)
	if err != nil {
		return errors.Join(err, conns.Close(), store.Close(ctx))
	}
	g.Background("order-sweeper", comp.Background[0])
	g.Background("order-outbox", comp.Background[1])
	logger.Info("order service started", slog.String("grpc", grpcAddr), slog.String("http", httpAddr))
	return g.Run(ctx)
}

// loadVerifier reads the public key file, or fetches the JWKS, retrying until
// the user service answers or the process is interrupted.
func loadVerifier(ctx context.Context, f flags, logger *slog.Logger) (*token.Verifier, error) {
	if f.publicKeyFile != "" {
		v, err := token.LoadVerifier(f.publicKeyFile, f.tokens)
		if err != nil {
			return nil, fmt.Errorf("invalid -jwt-public-key-file (%s): %w", config.EnvVar("jwt-public-key-file"), err)
		}
		return v, nil
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("fetching the token keys", slog.String("url", f.jwksURL))
	v, err := token.FetchVerifier(ctx, f.jwksURL, nil, logger, f.tokens)
	if err != nil {
		return nil, fmt.Errorf("-jwks-url (%s): %w", config.EnvVar("jwks-url"), err)
	}
	return v, nil
}
