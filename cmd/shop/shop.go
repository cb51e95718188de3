package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

// Files kept in the data directory; the same names as cmd/user and
// cmd/payment use, so a data directory moves between the two ways of running.
const (
	signingKeyFile = "jwt-ed25519.pem"
	cardKeyFile    = "payment-card.key"
)

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
	// product is kept to create the sample products at start.
	product product.Service
}

// start assembles the five services, binds every listener and creates the
// sample products. Everything it opened is closed by group.Run, or before it
// returns an error.
func start(ctx context.Context, s settings, logger *slog.Logger) (_ *shop, err error) {
	var closers []func(context.Context) error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				err = errors.Join(err, closers[i](ctx))
			}
		}
	}()
	g := rungroup.New(logger, s.shutdownTimeout)
	sh := &shop{group: g, grpcAddrs: make(map[string]string), httpAddrs: make(map[string]string), dataDir: s.dataDir}
	cleanup := func(name string, fn func(context.Context) error) {
		closers = append(closers, fn)
		g.Cleanup(name, fn)
	}

	uri := s.mongoURI
	if uri == "" {
		emb, err := embedded.Start(ctx, embedded.Options{DataDir: s.dataDir, Addr: s.storeAddr, Logger: logger})
		if err != nil {
			return nil, err
		}
		cleanup("embedded-store", func(context.Context) error { return emb.Close() })
		uri = emb.URI() // the Unix socket, unless the data directory cannot hold one and -store-addr is set
		sh.storeURI, sh.storeTCPURI = emb.URI(), emb.TCPURI()
	}
	// One client per service: each is the only writer of its own database,
	// which is what keeps the embedded store's updates atomic (docstore).
	dbs := make(map[string]*docstore.Store)
	for _, name := range config.ServiceNames() {
		st, err := docstore.Connect(ctx, uri, logger)
		if err != nil {
			return nil, err
		}
		cleanup(name+"-store", st.Close)
		dbs[name] = st
	}
	// The order service's listings and start-up scans read through a client of
	// their own, so that they never hold up its writes (order.Deps.QueryDB).
	orderQueries, err := dbs[config.Order].Reader(ctx, logger)
	if err != nil {
		return nil, err
	}
	cleanup("order-store-queries", orderQueries.Close)

	key, err := token.LoadOrCreateKey(filepath.Join(s.dataDir, signingKeyFile))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		return nil, err
	}
	verifier := signer.Verifier()
	cardKey, err := payment.LoadOrCreateCardKey(filepath.Join(s.dataDir, cardKeyFile))
	if err != nil {
		return nil, fmt.Errorf("card key: %w", err)
	}

	// Mutual TLS (or plaintext) for every service's gRPC and every client of
	// it; they dial the bound addresses, which the certificate must name.
	creds, err := tlsconfig.Load(s.tls, logger)
	if err != nil {
		return nil, err
	}

	// Every call between the services, in memory too, is checked as between
	// processes: each service's guard under its table, order's calls with
	// its service tokens (internal/svcauth).
	svcKey, err := svcauth.LoadOrCreateKey(s.auth.KeyPath(s.dataDir))
	if err != nil {
		return nil, err
	}
	policies := map[string]svcauth.Policy{
		config.User: user.GRPCAccess, config.Product: product.GRPCAccess, config.Order: order.GRPCAccess,
		config.Payment: payment.GRPCAccess, config.Notification: notification.GRPCAccess,
	}
	orderCreds, err := svcauth.NewCredentials(svcKey, config.Order, svcauth.Options{})
	if err != nil {
		return nil, err
	}

	reg := serve.NewRegistry()
	regs := make(map[string]prometheus.Registerer)
	for _, name := range append(config.ServiceNames(), "edge") {
		regs[name] = serve.Registerer(reg, name)
	}

	// gRPC listeners first: order dials the bound addresses, which each
	// service also serves in memory for it (serve.InProcessDialer).
	servers := make(map[string]*serve.Server)
	var inProcess []*serve.Server
	for _, name := range config.ServiceNames() {
		guard, err := svcauth.NewGuard(name, svcKey.Public().(ed25519.PublicKey), policies[name], svcauth.Options{})
		if err != nil {
			return nil, err
		}
		srv, err := serve.Listen(g, name, s.addrs[name].grpc, serve.Options{
			Logger: logger, Registerer: regs[name], Gatherer: reg, Ready: dbs[name].Ping, MaxBodyBytes: s.maxBodyBytes,
			GRPCOptions: creds.ServerOptions(), Guard: guard, Reflection: s.auth.Reflection, InProcess: true,
		})
		if err != nil {
			return nil, err
		}
		servers[name], sh.grpcAddrs[name] = srv, srv.GRPCAddr()
		inProcess = append(inProcess, srv)
	}

	orderDeps, orderConns, err := order.Dial(order.Addrs{
		User:         sh.grpcAddrs[config.User],
		Product:      sh.grpcAddrs[config.Product],
		Payment:      sh.grpcAddrs[config.Payment],
		Notification: sh.grpcAddrs[config.Notification],
	}, s.client, s.cache, regs[config.Order], logger, append(creds.DialOptions(), orderCreds.DialOption(), serve.InProcessDialer(inProcess...))...)
	if err != nil {
		return nil, err
	}
	cleanup("order-conns", func(context.Context) error { return orderConns.Close() })

	users, err := user.Build(ctx, user.Deps{
		DB: dbs[config.User].Database(config.User), Logger: logger, Registerer: regs[config.User], Signer: signer,
		Options: user.Options{AdminEmails: strings.Split(s.adminEmails, ","),
			LoginRatePerEmail: s.loginPerEmail, LoginRatePerIP: s.loginPerIP},
	})
	if err != nil {
		return nil, err
	}
	products, err := product.Build(ctx, product.Deps{
		DB: dbs[config.Product].Database(config.Product), Logger: logger, Registerer: regs[config.Product],
		Verifier: verifier, Options: product.Options{SampleStock: s.sampleStock},
	})
	if err != nil {
		return nil, err
	}
	payments, err := payment.Build(ctx, payment.Deps{
		DB: dbs[config.Payment].Database(config.Payment), Logger: logger, Registerer: regs[config.Payment],
		Verifier: verifier, CardKey: cardKey,
		Processor: payment.NewSimulator(payment.SimulatorOptions{Latency: s.processorLatency}),
		Recovery:  s.paymentRecovery,
	})
	if err != nil {
		return nil, err
	}
	orders, err := order.Build(ctx, order.Deps{
		DB: dbs[config.Order].Database(config.Order), QueryDB: orderQueries.Database(config.Order),
		Logger: logger, Registerer: regs[config.Order],
		Verifier: verifier, Dependencies: orderDeps,
		Options: s.orderOpts,
	})
	if err != nil {
		return nil, err
	}
	notifications, err := notification.Build(ctx, notification.Deps{
		DB: dbs[config.Notification].Database(config.Notification), Logger: logger,
		Registerer: regs[config.Notification], Verifier: verifier,
		Options: notification.Options{SendLatency: s.sendLatency},
	})
	if err != nil {
		return nil, err
	}

	g.Stopping(orders.Orders.Drain) // no new orders while those in flight finish
	comps := []struct {
		name       string
		register   func(grpc.ServiceRegistrar)
		http       http.Handler
		background []func(context.Context) error
	}{
		{config.User, users.RegisterGRPC, users.HTTPHandler, users.Background},
		{config.Product, products.RegisterGRPC, products.HTTPHandler, products.Background},
		{config.Order, orders.RegisterGRPC, orders.HTTPHandler, orders.Background},
		{config.Payment, payments.RegisterGRPC, payments.HTTPHandler, payments.Background},
		{config.Notification, notifications.RegisterGRPC, notifications.HTTPHandler, notifications.Background},
	}
	routes := make(map[string]http.Handler)
	for _, c := range comps {
		addr, err := servers[c.name].Serve(c.register, c.http, c.background, s.addrs[c.name].http)
		if err != nil {
			return nil, err
		}
		sh.httpAddrs[c.name] = addr
		routes[c.name] = c.http
	}
	edge := httpserver.New(newEdge(routes), httpserver.Options{
		Logger: logger, Registerer: regs["edge"], Gatherer: reg, Ready: pingAll(dbs), MaxBodyBytes: s.maxBodyBytes,
	})
	if sh.edgeAddr, err = g.HTTP("edge", s.edgeAddr, edge); err != nil {
		return nil, err
	}

	if s.debugAddr != "" {
		if sh.debugAddr, err = g.HTTP("debug", s.debugAddr, debugHandler()); err != nil {
			return nil, err
		}
	}

	created, err := products.Service.CreateSamples(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating the sample products: %w", err)
	}
	if created > 0 {
		logger.Info("sample products created", slog.Int("count", created))
	}
	return sh, nil
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
	fmt.Fprintf(w, "kitshop is up\n  edge (every public HTTP route, /metrics)  http://%s\n", sh.edgeAddr)
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
