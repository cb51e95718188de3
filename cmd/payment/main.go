// Command payment runs the kitshop payment service: gRPC (kitshop.payment.v1 PaymentService, health,
// reflection) on 127.0.0.1:50054 and HTTP (GET /payment/{orderId} for admins, /healthz, /readyz, /metrics) on 127.0.0.1:8084,
// with the embedded document store in -data-dir unless -mongo-uri is set, and the simulated card processor
// (see payment.Simulator for its test cards). Admin tokens are verified with the user service's public key,
// read from -jwt-public-key-file or fetched from -jwks-url in the background, retried until it answers, while
// the servers already serve (the admin route answers 503 with a token, 401 without one, until then).
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
	"path/filepath"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/payment"
)

// cardKeyFileName is the card key kept in the data directory when no -card-key-file is given.
const cardKeyFileName = "payment-card.key"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "payment:", err)
		os.Exit(1)
	}
}

// flags are the payment service's own settings.
type flags struct {
	verifier         token.VerifierConfig
	cardKeyFile      string
	processorLatency time.Duration
	processorTimeout time.Duration
	recovery         payment.Recovery
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(config.Payment, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	cfg.Register(fs, config.Payment, config.PaymentGRPCPort, config.PaymentHTTPPort)
	var f flags
	f.verifier.RegisterFlags(fs)
	fs.StringVar(&f.cardKeyFile, "card-key-file", "", "hex HMAC key that fingerprints card numbers (share it between replicas); empty: "+cardKeyFileName+" in -data-dir, generated on first start")
	fs.DurationVar(&f.processorLatency, "processor-latency", 0, "latency of the simulated card processor (1s reproduces the original system)")
	fs.DurationVar(&f.processorTimeout, "processor-timeout", payment.DefaultProcessorTimeout, "time limit of each call to the card processor")
	f.recovery.RegisterFlags(fs)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := validate(&cfg, f); err != nil {
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

	cardKey, err := loadCardKey(f.cardKeyFile, cfg.DataDir)
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
	svcReg := serve.Registerer(reg, config.Payment)
	comp, err := payment.Build(ctx, payment.Deps{
		DB:               store.Database(config.Payment),
		Logger:           logger,
		Registerer:       svcReg,
		Verifier:         verifier,
		Processor:        payment.NewSimulator(payment.SimulatorOptions{Latency: f.processorLatency}),
		CardKey:          cardKey,
		ProcessorTimeout: f.processorTimeout,
		Recovery:         f.recovery,
	})
	if err != nil {
		return fail(err)
	}

	// The key every service shares, made on first start (svcauth).
	guard, _, err := svcauth.Load(cfg.Auth.KeyPath(cfg.ServiceKeyDir()), config.Payment, payment.GRPCAccess)
	if err != nil {
		return fail(err)
	}
	srv, err := serve.Listen(g, config.Payment, cfg.GRPCAddr, serve.Options{
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
	logger.Info("payment service started", slog.String("grpc", srv.GRPCAddr()), slog.String("http", httpAddr),
		slog.Bool("mtls", creds.Enabled()), slog.Duration("processor_latency", f.processorLatency))
	return g.Run(ctx)
}

// validate checks the shared settings and the payment service's own.
func validate(cfg *config.Service, f flags) error {
	errs := []error{cfg.Validate(), f.verifier.Validate()}
	if f.processorLatency < 0 {
		errs = append(errs, fmt.Errorf("invalid -processor-latency (%s): %s is negative", config.EnvVar("processor-latency"), f.processorLatency))
	}
	if f.processorTimeout <= 0 {
		errs = append(errs, fmt.Errorf("invalid -processor-timeout (%s): %s must be positive", config.EnvVar("processor-timeout"), f.processorTimeout))
	}
	f.recovery.CheckFlags(func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s (%s): %s", name, config.EnvVar(name), fmt.Sprintf(format, args...)))
	})
	if f.cardKeyFile == "" && strings.TrimSpace(cfg.DataDir) == "" {
		errs = append(errs, fmt.Errorf("-card-key-file (%s) or -data-dir (%s) is required to keep the card key",
			config.EnvVar("card-key-file"), config.EnvVar("data-dir")))
	}
	return errors.Join(errs...)
}

// loadCardKey reads the card key from file, or loads or creates the one kept in dataDir when file is empty.
func loadCardKey(file, dataDir string) ([]byte, error) {
	if file != "" {
		k, err := payment.LoadOrCreateCardKey(file)
		if err != nil {
			return nil, fmt.Errorf("invalid -card-key-file (%s): %w", config.EnvVar("card-key-file"), err)
		}
		return k, nil
	}
	k, err := payment.LoadOrCreateCardKey(filepath.Join(dataDir, cardKeyFileName))
	if err != nil {
		return nil, fmt.Errorf("card key in -data-dir: %w", err)
	}
	return k, nil
}
