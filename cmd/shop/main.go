// Command shop runs the whole of kitshop in one process: the five services on
// their usual gRPC and HTTP ports, one document store (embedded FerretDB
// unless -mongo-uri is set), the sample products created on first start, and
// an edge on 127.0.0.1:8080 that serves every public HTTP route, /healthz,
// /readyz and /metrics.
//
// The services call each other over gRPC in memory (serve.InProcessDialer):
// each call keeps gRPC's interceptors, the callee's check of the caller's
// service token, the breakers and mutual TLS, but no socket is involved;
// their gRPC ports serve callers outside the process.
//
// Each service takes its own flags, the same as when it runs alone
// (internal/assembly); the flags of a service alone that say where the
// others are (-jwks-url, -user-addr...) do not apply: cmd/shop knows.
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/logging"
)

func main() {
	assembly.Main("shop", func(ctx context.Context, args []string, stderr io.Writer) error {
		return run(ctx, args, os.Stdout, stderr)
	})
}

// settings are everything cmd/shop can be told: where it listens, its store
// and logs, and each service's own flags (internal/assembly).
type settings struct {
	edgeAddr  string
	addrs     map[string]*serviceAddrs
	mongoURI  string
	storeAddr string
	debugAddr string
	dataDir   string
	// proc is the logs, the graceful stop and the body limit.
	proc config.Process
	// services are the five services' own settings, by name.
	services map[string]assembly.Settings
	// tls is mutual TLS on every service's gRPC and every client of it.
	tls config.TLS
	// auth is the service key (default: in -data-dir) and reflection.
	auth config.ServiceAuth
	// storefront is the session key (default: in -data-dir) and cookies.
	storefront config.Storefront
	// wrapStorefrontAPI wraps the storefront's API transport (edge.Options.WrapAPI);
	// no flag sets it: the tests check the storefront's calls with it.
	wrapStorefrontAPI func(http.RoundTripper) http.RoundTripper
}

// serviceAddrs are the listen addresses of one service.
type serviceAddrs struct{ grpc, http string }

func (s *settings) register(fs *flag.FlagSet) error {
	fs.StringVar(&s.edgeAddr, "edge-addr", config.LoopbackAddr(8080), "listen address of the edge serving every public HTTP route; 0.0.0.0:8080 exposes it to the network")
	s.addrs = make(map[string]*serviceAddrs)
	s.services = make(map[string]assembly.Settings)
	var own []assembly.Settings
	for _, spec := range assembly.Specs() {
		p, _ := config.DefaultPorts(spec.Name)
		a := &serviceAddrs{}
		s.addrs[spec.Name] = a
		fs.StringVar(&a.grpc, spec.Name+"-grpc-addr", config.LoopbackAddr(p.GRPC), "gRPC listen address of the "+spec.Name+" service")
		fs.StringVar(&a.http, spec.Name+"-http-addr", config.LoopbackAddr(p.HTTP), "HTTP listen address of the "+spec.Name+" service")
		s.services[spec.Name] = spec.New()
		own = append(own, s.services[spec.Name])
	}
	fs.StringVar(&s.mongoURI, "mongo-uri", "", "MongoDB URI shared by the services (each keeps its own database); empty: an embedded store in -data-dir")
	fs.StringVar(&s.storeAddr, "store-addr", "", "loopback TCP address (e.g. 127.0.0.1:27017) where the embedded store also listens, unauthenticated: any local user can connect; empty: only its Unix socket in -data-dir (owner only), whose URI is printed; unused with -mongo-uri")
	fs.StringVar(&s.debugAddr, "debug-addr", "", "listen address of net/http/pprof (e.g. 127.0.0.1:6060); empty: off")
	fs.StringVar(&s.dataDir, "data-dir", config.DefaultDataDir, "directory of the embedded store and the generated keys")
	s.proc.Register(fs, false)
	s.tls.RegisterFlags(fs)
	s.auth.RegisterFlags(fs, "-data-dir")
	s.storefront.RegisterFlags(fs, "", "; empty: "+sessionKeyName+" in -data-dir")
	return assembly.RegisterFlags(fs, own...)
}

func (s *settings) validate() error {
	var errs []error
	bad := config.FlagErrors(&errs)
	if s.dataDir == "" {
		bad("data-dir", "must not be empty: the embedded store (without -mongo-uri) and the generated keys live there")
	}
	s.proc.Check(bad)
	errs = append(errs, s.tls.Validate())
	for _, name := range config.ServiceNames() {
		errs = append(errs, s.services[name].Validate())
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	if err := s.register(fs); err != nil {
		return err
	}
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	logger, err := logging.New(stderr, s.proc.LogLevel, s.proc.LogFormat)
	if err != nil {
		return err
	}
	sh, err := start(ctx, s, logger)
	if err != nil {
		return err
	}
	sh.printAddrs(stdout)
	return sh.group.Run(ctx)
}
