package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"path/filepath"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/edge"
	"github.com/kitshop/kitshop/internal/edge/storefront"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/telemetry"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
)

// sessionKeyName is the storefront's session key's file in -data-dir.
const sessionKeyName = "session-ed25519.pem"

// shop is the whole system, assembled and bound, ready to Run.
type shop struct {
	group *rungroup.Group
	// bound addresses, by service name, and the edge's.
	grpcAddrs, httpAddrs map[string]string
	edgeAddr             string
	debugAddr            string
	// storeURI is the embedded store's URI (its Unix socket), for tools such
	// as cmd/loadtest's audit; storeTCPURI its TCP URI with -store-addr.
	// Both empty with -mongo-uri.
	storeURI, storeTCPURI string
	dataDir               string
	// tel is the tracing: a provider per service and one for the edge.
	tel *telemetry.Telemetry
}

// start assembles the five services (internal/assembly), binds every
// listener and creates the sample products. Everything it opened is closed
// by group.Run, or before it returns an error (rungroup.Group.Abort).
func start(ctx context.Context, s settings, logger *slog.Logger) (*shop, error) {
	tel, err := telemetry.New(ctx, s.proc.Tracing)
	if err != nil {
		return nil, err
	}
	g := rungroup.New(logger, s.proc.ShutdownTimeout)
	g.Cleanup("telemetry", tel.Shutdown) // last: the spans of the stop too
	sh := &shop{tel: tel, group: g, grpcAddrs: make(map[string]string), httpAddrs: make(map[string]string), dataDir: s.dataDir}
	if err := sh.assemble(ctx, s, logger); err != nil {
		return nil, errors.Join(err, g.Abort(ctx))
	}
	return sh, nil
}

// assemble is start's work, registering in sh.group all it opens.
func (sh *shop) assemble(ctx context.Context, s settings, logger *slog.Logger) error {
	g := sh.group
	// The services' keys, before any store: a bad file opens nothing.
	builders := make(map[string]assembly.Builder)
	for _, name := range config.ServiceNames() {
		b, err := s.services[name].Prepare(s.dataDir)
		if err != nil {
			return err
		}
		builders[name] = b
	}
	uri := s.mongoURI
	if uri == "" {
		emb, err := embedded.Start(ctx, embedded.Options{DataDir: s.dataDir, Addr: s.storeAddr, Logger: logger})
		if err != nil {
			return err
		}
		g.Cleanup("embedded-store", func(context.Context) error { return emb.Close() })
		uri = emb.URI() // the Unix socket, unless the data directory cannot hold one and -store-addr is set
		sh.storeURI, sh.storeTCPURI = emb.URI(), emb.TCPURI()
	}
	// One client per service: each is the only writer of its own database,
	// which is what keeps the embedded store's updates atomic (docstore).
	stores := make(map[string]*docstore.Store)
	for _, name := range config.ServiceNames() {
		st, err := docstore.Connect(ctx, uri, logger)
		if err != nil {
			return err
		}
		g.Cleanup(name+"-store", st.Close)
		stores[name] = st
	}

	// Mutual TLS (or plaintext) for every service's gRPC and every client of
	// it; they dial the bound addresses, which the certificate must name.
	creds, err := tlsconfig.Load(s.tls, logger)
	if err != nil {
		return err
	}
	// Every call between the services, in memory too, is checked as between
	// processes: each service's guard under its table, each caller with its
	// service tokens (internal/svcauth).
	svcKey, err := svcauth.LoadOrCreateKey(s.auth.KeyPath(s.dataDir))
	if err != nil {
		return err
	}
	reg := serve.NewRegistry()

	// gRPC listeners first: order dials the bound addresses, which each
	// service also serves in memory for it (serve.InProcessDialer).
	envs := make(map[string]assembly.Env)
	servers := make(map[string]*serve.Server)
	var inProcess []*serve.Server
	for _, name := range config.ServiceNames() {
		env := assembly.Env{Group: g, Logger: logger, Registerer: serve.Registerer(reg, name), Store: stores[name],
			ServiceKey: svcKey, Peers: sh.grpcAddrs, Samples: true, Tracer: sh.tel.Provider(name)}
		srv, err := assembly.Listen(name, env, s.addrs[name].grpc, serve.Options{Gatherer: reg, MaxBodyBytes: s.proc.MaxBodyBytes,
			GRPCOptions: creds.ServerOptions(), Reflection: s.auth.Reflection, InProcess: true})
		if err != nil {
			return err
		}
		envs[name], servers[name], sh.grpcAddrs[name] = env, srv, srv.GRPCAddr()
		inProcess = append(inProcess, srv)
	}
	dial := append(creds.DialOptions(), serve.InProcessDialer(inProcess...))

	// The user service comes first (assembly.Specs): the others verify the
	// tokens it issues with its verifier.
	var verifier *token.Verifier
	routes := make(map[string]http.Handler)
	for _, name := range config.ServiceNames() {
		env := envs[name]
		env.Verifier, env.DialOptions = verifier, dial
		part, addr, err := assembly.Start(ctx, builders[name], env, servers[name], s.addrs[name].http)
		if err != nil {
			return err
		}
		if part.Verifier != nil {
			verifier = part.Verifier
		}
		sh.httpAddrs[name], routes[name] = addr, part.HTTPHandler
	}
	keyFile := s.storefront.SessionKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(s.dataDir, sessionKeyName)
	}
	sessionKey, err := storefront.LoadOrCreateKey(keyFile)
	if err != nil {
		return err
	}
	app, err := newEdge(routes, sh.tel.Provider, edge.Options{SessionKey: sessionKey, SecureCookies: s.storefront.SecureCookies,
		Logger: logger, WrapAPI: s.wrapStorefrontAPI})
	if err != nil {
		return err
	}
	public := httpserver.New(app, httpserver.Options{
		Logger: logger, Registerer: serve.Registerer(reg, "edge"), Gatherer: reg, Ready: pingAll(stores), MaxBodyBytes: s.proc.MaxBodyBytes,
		TracerProvider: sh.tel.Provider("edge"),
	})
	if sh.edgeAddr, err = g.HTTP("edge", s.edgeAddr, public); err != nil {
		return err
	}
	if s.debugAddr != "" {
		if sh.debugAddr, err = g.HTTP("debug", s.debugAddr, debugHandler()); err != nil {
			return err
		}
	}
	return nil
}

// pingAll is the edge's readiness: every service's store answers.
func pingAll(dbs map[string]*docstore.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		for name, st := range dbs {
			if err := st.Ping(ctx); err != nil {
				return fmt.Errorf("%s store: %w", name, err)
			}
		}
		return nil
	}
}

// printAddrs tells where everything listens.
func (sh *shop) printAddrs(w io.Writer) {
	fmt.Fprintf(w, "kitshop is up\n  edge (the storefront at /, every public HTTP route, /metrics)  http://%s/\n", sh.edgeAddr)
	for _, name := range config.ServiceNames() {
		fmt.Fprintf(w, "  %-13s gRPC %-18s HTTP http://%s\n", name, sh.grpcAddrs[name], sh.httpAddrs[name])
	}
	if sh.storeURI != "" {
		fmt.Fprintf(w, "  embedded store %s\n    (its Unix socket, for this user only; cmd/loadtest -audit-data-dir %s)\n", sh.storeURI, sh.dataDir)
	}
	if sh.storeTCPURI != "" && sh.storeTCPURI != sh.storeURI {
		fmt.Fprintf(w, "  embedded store on TCP, unauthenticated %s\n", sh.storeTCPURI)
	}
	if sh.debugAddr != "" {
		fmt.Fprintf(w, "  pprof         http://%s/debug/pprof/\n", sh.debugAddr)
	}
}

// debugHandler serves net/http/pprof's profiles.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
