// Command product runs the kitshop product service: gRPC (kitshop.product.v1
// ProductService, health, reflection) on :50052 and HTTP (the /product routes,
// /healthz, /readyz, /metrics) on :8082, with the embedded document store in
// -data-dir unless -mongo-uri is set.
//
// Admin calls verify access tokens with the user service's public key: read
// from -jwt-public-key-file, or fetched from -jwks-url in the background,
// retried until the user service answers. Public routes serve at once; admin
// calls answer 503 / Unavailable until the keys are in.
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
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
	sampleStock   int64
	lease         time.Duration
	jwksURL       string
	publicKeyFile string
	tokens        token.Options
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(config.Product, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	cfg.Register(fs, config.Product, config.ProductGRPCPort, config.ProductHTTPPort)
	var f flags
	fs.Int64Var(&f.sampleStock, "sample-stock", product.DefaultSampleStock, "stock of each sample product made by POST /product/sample")
	fs.DurationVar(&f.lease, "reservation-lease", product.DefaultLease, "how long a reservation call may work on an order before another instance may take over")
	fs.StringVar(&f.jwksURL, "jwks-url", fmt.Sprintf("http://localhost:%d/.well-known/jwks.json", config.UserHTTPPort), "user service's JWK Set, fetched in the background (retried until it answers); ignored with -jwt-public-key-file")
	fs.StringVar(&f.publicKeyFile, "jwt-public-key-file", "", "PEM Ed25519 public key that verifies access tokens, instead of -jwks-url")
	fs.StringVar(&f.tokens.Issuer, "jwt-issuer", token.DefaultIssuer, "\"iss\" claim required of access tokens")
	fs.StringVar(&f.tokens.Audience, "jwt-audience", token.DefaultAudience, "\"aud\" claim required of access tokens")
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	var verifier *token.Verifier
	if f.publicKeyFile != "" {
		if verifier, err = token.LoadVerifier(f.publicKeyFile, f.tokens); err != nil {
			return fmt.Errorf("invalid -jwt-public-key-file (%s): %w", config.EnvVar("jwt-public-key-file"), err)
		}
	}

	store, err := docstore.Open(ctx, docstore.Config{URI: cfg.MongoURI, DataDir: cfg.DataDir}, logger)
	if err != nil {
		return err
	}
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	g.Cleanup("store", store.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svcReg := prometheus.WrapRegistererWith(prometheus.Labels{"service": config.Product}, reg)

	comp, err := product.Build(ctx, product.Deps{
		DB:           store.Database(config.Product),
		Logger:       logger,
		Registerer:   svcReg,
		Verifier:     verifier,
		JWKSURL:      f.jwksURL,
		TokenOptions: f.tokens,
		Options:      product.Options{SampleStock: f.sampleStock, Lease: f.lease},
	})
	if err != nil {
		return errors.Join(fmt.Errorf("invalid settings (-sample-stock, -reservation-lease, -jwks-url): %w", err), store.Close(ctx))
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

	grpcAddr, err := g.GRPC(config.Product, cfg.GRPCAddr, grpcSrv)
	if err != nil {
		return errors.Join(err, store.Close(ctx))
	}
	httpAddr, err := g.HTTP(config.Product, cfg.HTTPAddr, handler)
	if err != nil {
		return errors.Join(err, store.Close(ctx))
	}
	for i, fn := range comp.Background {
		g.Background(fmt.Sprintf("product-%d", i), fn)
	}
	logger.Info("product service started", slog.String("grpc", grpcAddr), slog.String("http", httpAddr),
		slog.Bool("admin_keys_from_file", verifier != nil))
	return g.Run(ctx)
}
