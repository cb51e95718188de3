package assembly

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/telemetry"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
)

// RunFunc is a command's run: its arguments, its log output, until ctx ends.
type RunFunc func(ctx context.Context, args []string, stderr io.Writer) error

// Main runs run with the process's arguments and exits 1, naming the
// command, when it fails.
func Main(name string, run RunFunc) {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// alone is the flags of a service run as its own process besides its own:
// where the user service's key is and where its peers listen.
type alone struct {
	keys  token.VerifierConfig
	peers map[string]*string
}

func (a *alone) register(fs *flag.FlagSet, spec Spec) {
	if spec.Verifies {
		a.keys.RegisterFlags(fs)
	}
	a.peers = make(map[string]*string)
	for _, peer := range spec.Peers {
		p, _ := config.DefaultPorts(peer)
		a.peers[peer] = fs.String(peer+"-addr", fmt.Sprintf("localhost:%d", p.GRPC), "gRPC target of the "+peer+" service (host:port or dns:///host:port)")
	}
}

func (a *alone) validate(spec Spec) error {
	var errs []error
	if spec.Verifies {
		errs = append(errs, a.keys.Validate())
	}
	bad := config.FlagErrors(&errs)
	for _, peer := range spec.Peers {
		if *a.peers[peer] == "" {
			bad(peer+"-addr", "must not be empty")
		}
	}
	return errors.Join(errs...)
}

// Run is the main of cmd/<name>: it runs service name alone, with the shared
// service flags (config.Service), its own (Settings) and those of a service
// alone (-jwks-url..., -<peer>-addr), until ctx ends or SIGINT or SIGTERM
// arrives. It logs "<name> service started" with the bound addresses once
// it serves. -h prints every flag and returns nil.
func Run(ctx context.Context, name string, args []string, stderr io.Writer) error {
	spec, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("unknown service %q", name)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	ports, _ := config.DefaultPorts(name)
	cfg.Register(fs, name, ports.GRPC, ports.HTTP)
	settings := spec.New()
	settings.RegisterFlags(fs)
	var a alone
	a.register(fs, spec)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := errors.Join(cfg.Validate(), settings.Validate(), a.validate(spec)); err != nil {
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
	builder, err := settings.Prepare(cfg.DataDir)
	if err != nil {
		return err
	}
	// The user service may start after this one: its keys are fetched in
	// the background (fetchKeys), and the servers serve meanwhile.
	var verifier *token.Verifier
	var fetchKeys func(context.Context) error
	if spec.Verifies {
		if verifier, fetchKeys, err = a.keys.NewVerifier(logger); err != nil {
			return err
		}
	}
	tel, err := telemetry.New(ctx, cfg.Tracing)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return errors.Join(err, tel.Shutdown(ctx))
	}
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	g.Cleanup("telemetry", tel.Shutdown) // last: the spans of the stop too
	g.Cleanup("store", store.Close)
	// The key every service shares, made on first start (svcauth).
	key, err := svcauth.LoadOrCreateKey(cfg.Auth.KeyPath(cfg.ServiceKeyDir()))
	if err != nil {
		return errors.Join(err, g.Abort(ctx))
	}
	if fetchKeys != nil {
		g.Background("jwks", fetchKeys)
	}

	reg := serve.NewRegistry()
	env := Env{Group: g, Logger: logger, Registerer: serve.Registerer(reg, name), Store: store,
		ServiceKey: key, Verifier: verifier, Peers: make(map[string]string), DialOptions: creds.DialOptions(),
		Tracer: tel.Provider(name)}
	for peer, addr := range a.peers {
		env.Peers[peer] = *addr
	}
	srv, err := Listen(name, env, cfg.GRPCAddr, serve.Options{Gatherer: reg, MaxBodyBytes: cfg.MaxBodyBytes,
		GRPCOptions: creds.ServerOptions(), Reflection: cfg.Auth.Reflection})
	if err != nil {
		return errors.Join(err, g.Abort(ctx))
	}
	part, httpAddr, err := Start(ctx, builder, env, srv, cfg.HTTPAddr)
	if err != nil {
		return errors.Join(err, g.Abort(ctx))
	}
	attrs := []any{slog.String("grpc", srv.GRPCAddr()), slog.String("http", httpAddr), slog.Bool("mtls", creds.Enabled()),
		slog.Bool("traces_exported", tel.Exporting())}
	if spec.Verifies {
		attrs = append(attrs, slog.Bool("keys_from_file", fetchKeys == nil))
	}
	for _, attr := range part.Attrs {
		attrs = append(attrs, attr)
	}
	logger.Info(name+" service started", attrs...)
	return g.Run(ctx)
}

// openStore opens the service's store: MongoDB at cfg.MongoURI, or else the
// embedded store in cfg.DataDir.
func openStore(ctx context.Context, cfg config.Service, logger *slog.Logger) (*docstore.Store, error) {
	return embedded.Open(ctx, embedded.Config{URI: cfg.MongoURI, DataDir: cfg.DataDir}, logger)
}
