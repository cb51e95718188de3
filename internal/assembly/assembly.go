// Package assembly is the one place that knows how a kitshop service is put
// together: the registry from service name to its flags and its build
// function, and the steps that put a built service on the network. Its three
// users assemble the services only through it:
//
//   - cmd/<service> runs one service as its own process (Run, the commands'
//     one main skeleton);
//   - cmd/shop runs the five in one process, with the services' own flags
//     (RegisterFlags on one FlagSet) and one store;
//   - internal/systemtest runs each service in a run group of its own, which
//     a test stops and restarts.
//
// A service's settings (Settings) hold its own flags, the same in every
// process; what differs between the three (where the store, the user
// service's key and the other services are) comes in the Env that Build is
// given:
//
//	spec, _ := assembly.Lookup(config.Order)
//	settings := spec.New()
//	settings.RegisterFlags(fs)             // -order-timeout, -lease, ...
//	builder, err := settings.Prepare(dataDir) // keys, before any store opens
//	srv, err := assembly.Listen(config.Order, env, grpcAddr, serve.Options{...})
//	part, httpAddr, err := assembly.Start(ctx, builder, env, srv, httpAddr)
package assembly

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/telemetry"
	"github.com/kitshop/kitshop/internal/token"
)

// Spec is one service as the registry knows it.
type Spec struct {
	// Name is the service name (config.User, ...).
	Name string
	// Policy is the service's table of who may call which gRPC method.
	Policy svcauth.Policy
	// Verifies is set when the service checks access tokens with the user
	// service's public key; run alone, it then takes -jwks-url,
	// -jwt-public-key-file, -jwt-issuer and -jwt-audience (Run).
	Verifies bool
	// Peers are the services it calls over gRPC; run alone, it takes the
	// target of each as -<peer>-addr (Run).
	Peers []string
	// New returns the service's settings, to register on a FlagSet.
	New func() Settings
}

// Settings are one service's own settings: its flags, their check, and
// what the service is built from.
type Settings interface {
	// RegisterFlags defines the service's own flags on fs, with their
	// defaults, storing into the settings.
	RegisterFlags(fs *flag.FlagSet)
	// Validate reports every flag set to a value the service refuses,
	// each named with its environment variable.
	Validate() error
	// Prepare loads the files the flags name, or that the service keeps in
	// dataDir (its keys, generated there on first start), and makes what
	// the flags configure (the signer, the mail relay's client): a bad file
	// or address fails the start before any store is opened.
	Prepare(dataDir string) (Builder, error)
}

// Builder is a service ready to build, its settings prepared.
type Builder interface {
	// Build opens what the service needs besides env (its clients),
	// registering their closing and the service's stop hooks in env.Group,
	// and assembles the service (<service>.Build).
	Build(ctx context.Context, env Env) (*Part, error)
}

// Env is what the process gives a service it builds.
type Env struct {
	// Group is the run group the service runs in; Build registers its
	// cleanups and Stopping functions there.
	Group *rungroup.Group
	// Logger and Registerer (already labelled with the service name)
	// receive the service's logs and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Store is the service's own store client: the only writer of its
	// database (docstore rule 1).
	Store *docstore.Store
	// ServiceKey signs the service's calls to its peers and, its public
	// half, checks its callers (internal/svcauth).
	ServiceKey ed25519.PrivateKey
	// Verifier checks access tokens; required by the services whose Spec
	// Verifies, unused by the others.
	Verifier *token.Verifier
	// Peers are the gRPC targets of the services it calls, by name.
	Peers map[string]string
	// DialOptions are added to every client of a peer (TLS, an in-process
	// dialer); the service's own credentials are added by Build.
	DialOptions []grpc.DialOption
	// Samples has the product service create the sample products when it
	// is built, as cmd/shop and internal/systemtest want.
	Samples bool
	// Tracer is the service's tracer provider (telemetry.Telemetry.Provider
	// of its name): its servers, its clients of its peers and its background
	// work start their spans with it. Nil: telemetry.Disabled.
	Tracer trace.TracerProvider
}

// Part is a built service, as serve.Server.Serve takes it.
type Part struct {
	RegisterGRPC func(grpc.ServiceRegistrar)
	HTTPHandler  http.Handler
	Background   []func(context.Context) error
	// Verifier checks the tokens the service issues (the user service's);
	// nil for the others.
	Verifier *token.Verifier
	// Attrs are added to the process's "started" log line.
	Attrs []slog.Attr
}

// Files kept in the data directory (Prepare's dataDir) when no flag names
// them: the same for cmd/<service> and cmd/shop, so that a data directory
// moves between the two ways of running.
const (
	SigningKeyFile = "jwt-ed25519.pem"
	CardKeyFile    = "payment-card.key"
)

// Lookup returns the Spec of service name, and false for an unknown name.
func Lookup(name string) (Spec, bool) {
	for _, s := range Specs() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Defaults returns service name's settings with the defaults of its flags,
// for a process that sets them in code (internal/systemtest); nil for an
// unknown name.
func Defaults(name string) Settings {
	spec, ok := Lookup(name)
	if !ok {
		return nil
	}
	s := spec.New()
	s.RegisterFlags(flag.NewFlagSet(name, flag.ContinueOnError))
	return s
}

// Listen creates the gRPC server of service name, whose guard checks every
// caller against env.ServiceKey and the service's Policy, and binds addr in
// env.Group (serve.Listen). opts.Logger, Registerer, Guard and Ready (the
// store's Ping) are taken from env.
func Listen(name string, env Env, addr string, opts serve.Options) (*serve.Server, error) {
	spec, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("assembly: unknown service %q", name)
	}
	guard, err := svcauth.NewGuard(name, env.ServiceKey.Public().(ed25519.PublicKey), spec.Policy, svcauth.Options{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	opts.Logger, opts.Registerer, opts.Guard, opts.Ready, opts.TracerProvider = env.Logger, env.Registerer, guard, env.Store.Ping, env.Tracer
	return serve.Listen(env.Group, name, addr, opts)
}

// Start builds the service of b in env and serves it on srv, binding
// httpAddr; it returns the built part and the bound HTTP address.
func Start(ctx context.Context, b Builder, env Env, srv *serve.Server, httpAddr string) (*Part, string, error) {
	part, err := b.Build(ctx, env)
	if err != nil {
		return nil, "", err
	}
	bound, err := srv.Serve(part.RegisterGRPC, part.HTTPHandler, part.Background, httpAddr)
	if err != nil {
		return nil, "", err
	}
	return part, bound, nil
}

// credentials returns the dial options of env's service calling its peers:
// env.DialOptions, its own service token and its tracing.
func credentials(name string, env Env) ([]grpc.DialOption, error) {
	creds, err := svcauth.NewCredentials(env.ServiceKey, name, svcauth.Options{})
	if err != nil {
		return nil, err
	}
	return append(append([]grpc.DialOption(nil), env.DialOptions...), creds.DialOption(), telemetry.GRPCDialOption(env.Tracer)), nil
}
