// Command product runs the kitshop product service: gRPC (kitshop.product.v1
// ProductService, health, reflection) on 127.0.0.1:50052 and HTTP (the /product routes,
// /healthz, /readyz, /metrics) on 127.0.0.1:8082, with the embedded document store in
// -data-dir unless -mongo-uri is set.
//
// Admin calls verify access tokens with the user service's public key: read
// from -jwt-public-key-file, or fetched from -jwks-url in the background,
// retried until the user service answers. Every route serves at once; until
// the keys are in, an admin call with a well-formed token answers 503 +
// Retry-After / Unavailable + RetryInfo, one without a token 401.
//
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
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/product"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "product:", err)
		os.Exit(1)
	}
}

// flags are the product service's own settings.
type flags struct {
	sampleStock int64
	lease       time.Duration
	verifier    token.VerifierConfig
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(config.Product, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	cfg.Register(fs, config.Product, config.ProductGRPCPort, config.ProductHTTPPort)
	var f flags
	fs.Int64Var(&f.sampleStock, "sample-stock", product.DefaultSampleStock, "stock of each sample product made by POST /product/sample")
	fs.DurationVar(&f.lease, "reservation-lease", product.DefaultLease, "how long a reservation call may work on an order before another instance may take over")
	f.verifier.RegisterFlags(fs)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := errors.Join(cfg.Validate(), f.verifier.Validate()); err != nil {
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
	fail := func(err error) error { return errors.Join(err, store.Close(ctx)) }
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	if fetchKeys != nil {
		g.Background("jwks", fetchKeys)
	}
	g.Cleanup("store", store.Close)

	reg := serve.NewRegistry()
	svcReg := serve.Registerer(reg, config.Product)
	comp, err := product.Build(ctx, product.Deps{
		DB:         store.Database(config.Product),
		Logger:     logger,
		Registerer: svcReg,
		Verifier:   verifier,
		Options:    product.Options{SampleStock: f.sampleStock, Lease: f.lease},
	})
	if err != nil {
		return fail(fmt.Errorf("invalid settings (-sample-stock, -reservation-lease): %w", err))
	}

	// The key every service shares, made on first start (svcauth).
	guard, _, err := svcauth.Load(cfg.Auth.KeyPath(cfg.ServiceKeyDir()), config.Product, product.GRPCAccess)
	if err != nil {
		return fail(err)
	}
	srv, err := serve.Listen(g, config.Product, cfg.GRPCAddr, serve.Options{
		Logger: logger, Registerer: svcReg, Gatherer: reg, Ready: store.Ping, MaxBodyBytes: cfg.MaxBodyBytes,
		GRPCOptions: creds.ServerOptions(), Guard: guard, Reflection: cfg.Auth.Reflection,
	})
	if err != nil {
		return fail(err)
	}
	httpAddr, err := srv.Serve(comp.RegisterGRPC, comp.HTTPHandler, comp.Background, cfg.HTTPAddr)
	if err != nil {
		return fail(err)
	}
	logger.Info("product service started", slog.String("grpc", srv.GRPCAddr()), slog.String("http", httpAddr),
		slog.Bool("mtls", creds.Enabled()), slog.Bool("admin_keys_from_file", fetchKeys == nil))
	return g.Run(ctx)
}
