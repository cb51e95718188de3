// Package systemtest runs the five kitshop services in one test process the way
// five processes would run them, so that end-to-end tests can stop, kill and
// restart any one of them: one embedded document store (embedded.Start),
// and each service in its own run group (internal/rungroup), assembled as
// cmd/<service> assembles it (internal/assembly: its settings, with the
// defaults of its flags and a few set for tests, its Build, Listen and
// Start), with its own store client, its own metrics registry and its own
// gRPC clients, on 127.0.0.1 ports the kernel picks at the first start and
// that a restart binds again.
//
//	sys := systemtest.Start(t, systemtest.Options{})
//	tok := sys.SignUp(t, "kim@example.com")
//	resp, o, err := sys.PlaceOrder(ctx, tok, systemtest.OrderRequest{ProductIDs: []string{"sample-1"}})
//	err = sys.Stop(systemtest.Payment)   // listeners closed, workers stopped, store client closed
//	sys.Restart(t, systemtest.Payment)   // a new instance on the same addresses and database
//	sys.WaitSettled(t, timeout)          // no order Pending
//	sys.CheckInvariants(t, audit.Options{Delivered: ids}) // internal/audit over the five databases
//
// The harness lives in ordinary (non-test) files so that any test package can
// use it and so that it is vetted and documented like other code; the fault
// scenarios are this package's own tests. It imports testing, like
// internal/serve/servetest, and nothing but tests imports it.
//
// What a stop means: Stop cancels the service's run group, which closes its
// listeners, stops its servers within Options.ShutdownTimeout (cutting off the
// calls still running then), cancels its background workers and closes its
// store client and its gRPC connections. A handler or worker still running
// after that (the shutdown time spent, the run group stops waiting for them)
// can neither write to the database nor call another service, which is as
// close to a process dying as one process allows; the restarted instance is
// built only once Stop has returned.
//
// The card network (payment.Processor) and the mail relay (Sender) are outside
// the services: they keep their memory across restarts, as the real ones
// would, and tests read what they did (Simulator.Charges, Sender.Count).
package systemtest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/edge/edgetest"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/serve/servetest"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
)

// The service names, as Stop, Restart, URL, Gatherer and BreakerState take
// them (config.ServiceNames).
const (
	User         = config.User
	Product      = config.Product
	Order        = config.Order
	Payment      = config.Payment
	Notification = config.Notification
)

// AdminEmail is the e-mail address the user service makes an admin; sign it
// up (SignUp) for the admin-only routes such as GET /payment/{orderId}.
const AdminEmail = "admin@example.com"

// Options tune a System. Zero fields take the defaults of their doc comments,
// which are short enough for scenarios to run in seconds.
type Options struct {
	// Client is the resilience settings of every service-to-service client
	// (order → user, product, payment, notification).
	// The zero value means FastClientConfig().
	Client grpcclient.Config
	// Order tunes the order service. Zero durations take FastOrderOptions'
	// values (not order's production defaults); RecordStatus and Now are
	// passed as they are.
	Order order.Options
	// Processor is the card network the payment service charges. It outlives
	// payment restarts. Nil means payment.NewSimulator with no latency.
	Processor payment.Processor
	// SendLatency is the notification service's simulated mail latency.
	SendLatency time.Duration
	// SampleStock is the stock of each sample product at start; zero means 1000.
	SampleStock int64
	// ShutdownTimeout bounds each service's stop: calls still running after it
	// are cut off, as a dying process would cut them. Zero means 250ms.
	ShutdownTimeout time.Duration
	// LogLevel is the level of the services' logs, which a failing test
	// prints; the zero value is Info.
	LogLevel slog.Level
}

// FastClientConfig is the client configuration of a System whose Options
// leave Client zero: two-second attempts, up to three within three seconds,
// breakers that open after five consecutive infrastructure failures and probe
// again after one second. Healthy calls take milliseconds; the deadlines are
// generous so that a loaded test machine does not fail them.
func FastClientConfig() grpcclient.Config {
	return grpcclient.Config{
		AttemptTimeout:          2 * time.Second,
		RetryBudget:             3 * time.Second,
		MaxAttempts:             3,
		BackoffBase:             20 * time.Millisecond,
		BackoffMax:              100 * time.Millisecond,
		BreakerFailures:         5,
		BreakerOpenTimeout:      time.Second,
		BreakerHalfOpenRequests: 1,
	}
}

// FastOrderOptions are the order service options a System fills zero fields
// with: a 4s order deadline (above FastClientConfig's retry budget), a
// worker that looks every 50ms, settles an order as soon as its handler
// cannot be at work any more (the deadline, the order service's fixed 5s for
// the final update, and 1ms of grace: SweepAge) and looks again 100ms later
// when it cannot yet, leases of 1s, and an outbox retried every 50ms to
// 500ms.
func FastOrderOptions() order.Options {
	return order.Options{
		OrderTimeout:     4 * time.Second,
		SweepInterval:    100 * time.Millisecond,
		SweepGrace:       time.Millisecond,
		Lease:            time.Second,
		DispatchInterval: 50 * time.Millisecond,
		OutboxBackoff:    50 * time.Millisecond,
		OutboxBackoffMax: 500 * time.Millisecond,
	}
}

// FastPaymentRecovery is how a System's payment service finishes payments
// whose charge never reached the card network: voided after 500ms (well
// within the order service's hold, SweepAge), looked for every 100ms.
func FastPaymentRecovery() payment.Recovery {
	return payment.Recovery{VoidAfter: 500 * time.Millisecond, ReconcileInterval: 100 * time.Millisecond}
}

// orderFinalizeTimeout is order's unexported finalizeTimeout (service.go):
// its handler holds a Pending order for OrderTimeout + this + SweepGrace.
const orderFinalizeTimeout = 5 * time.Second

func (o Options) withDefaults() Options {
	if o.Client == (grpcclient.Config{}) {
		o.Client = FastClientConfig()
	}
	fast := FastOrderOptions()
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Order.OrderTimeout, fast.OrderTimeout)
	def(&o.Order.SweepInterval, fast.SweepInterval)
	def(&o.Order.SweepGrace, fast.SweepGrace)
	def(&o.Order.Lease, fast.Lease)
	def(&o.Order.DispatchInterval, fast.DispatchInterval)
	def(&o.Order.OutboxBackoff, fast.OutboxBackoff)
	def(&o.Order.OutboxBackoffMax, fast.OutboxBackoffMax)
	def(&o.ShutdownTimeout, 250*time.Millisecond)
	if o.Processor == nil {
		o.Processor = payment.NewSimulator(payment.SimulatorOptions{})
	}
	if o.SampleStock == 0 {
		o.SampleStock = 1000
	}
	return o
}

// System is the five services, the store they share and the outside world
// they talk to. Its methods other than Stop and Restart are safe for
// concurrent use.
type System struct {
	opts     Options
	logger   *slog.Logger
	logs     *servetest.SyncBuffer
	storeURI string
	// dir is the services' data directory: the user service's signing key
	// (signer's) and the payment service's card key.
	dir     string
	signer  *token.Signer
	svcKey  ed25519.PrivateKey
	sender  *Sender
	http    *http.Client
	reader  *mongo.Client
	initial map[string]int64

	mu        sync.Mutex
	instances map[string]*instance
	grpcAddrs map[string]string
	httpAddrs map[string]string
}

// instance is one run of one service: its run group and what it owns.
type instance struct {
	name     string
	group    *rungroup.Group
	server   *serve.Server
	registry *prometheus.Registry
	// env is what it is built with: its store client, its group...
	env    assembly.Env
	cancel context.CancelFunc
	done   chan error
}

// Start starts the embedded store and the five services, creates the sample
// products and takes the stock baseline of the invariant checks. Everything
// stops when the test ends; a failing test prints the services' logs.
func Start(t testing.TB, opts Options) *System {
	t.Helper()
	opts = opts.withDefaults()
	if err := opts.Client.Validate(); err != nil {
		t.Fatalf("systemtest: client options: %v", err)
	}
	logs := &servetest.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: opts.LogLevel}))
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	emb, err := embedded.Start(ctx, embedded.Options{DataDir: filepath.Join(dir, "store"), Logger: logger})
	if err != nil {
		t.Fatalf("systemtest: embedded store: %v", err)
	}
	key, err := token.LoadOrCreateKey(filepath.Join(dir, assembly.SigningKeyFile))
	if err != nil {
		t.Fatalf("systemtest: signing key: %v", err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatalf("systemtest: signer: %v", err)
	}
	svcKey, err := svcauth.LoadOrCreateKey(filepath.Join(dir, svcauth.KeyFileName))
	if err != nil {
		t.Fatalf("systemtest: service key: %v", err)
	}
	reader, err := mongo.Connect(options.Client().ApplyURI(emb.URI()))
	if err != nil {
		t.Fatalf("systemtest: reader client: %v", err)
	}
	s := &System{
		opts:     opts,
		logger:   logger,
		logs:     logs,
		storeURI: emb.URI(),
		dir:      dir,
		signer:   signer,
		svcKey:   svcKey,
		sender:   newSender(),
		// Every request and its answer is checked against the OpenAPI document.
		http:      &http.Client{Timeout: 30 * time.Second, Transport: edgetest.New(t, &http.Transport{DisableKeepAlives: true})},
		reader:    reader,
		instances: make(map[string]*instance),
		grpcAddrs: make(map[string]string),
		httpAddrs: make(map[string]string),
	}
	// Cleanups run last-in first-out: the services stop before the store.
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := reader.Disconnect(dctx); err != nil {
			t.Errorf("systemtest: reader client: %v", err)
		}
		if err := emb.Close(); err != nil {
			t.Errorf("systemtest: embedded store: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs (level %s and above):\n%s", opts.LogLevel, logs.String())
		}
	})
	t.Cleanup(func() {
		for _, name := range slices.Backward(config.ServiceNames()) {
			if s.Running(name) {
				if err := s.Stop(name); err != nil {
					t.Errorf("systemtest: stopping %s at the end: %v", name, err)
				}
			}
		}
	})

	// Every gRPC address first: order and notification dial the others.
	var fresh []*instance
	for _, name := range config.ServiceNames() {
		inst, err := s.listen(ctx, name, "127.0.0.1:0")
		if err != nil {
			abortAll(fresh)
			t.Fatalf("systemtest: %v", err)
		}
		fresh = append(fresh, inst)
		s.grpcAddrs[name] = inst.server.GRPCAddr()
	}
	for _, inst := range fresh {
		addr, err := s.build(ctx, inst, "127.0.0.1:0")
		if err != nil {
			abortAll(fresh)
			t.Fatalf("systemtest: %v", err)
		}
		s.httpAddrs[inst.name] = addr
	}
	for _, inst := range fresh {
		s.run(inst)
	}

	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if s.initial, err = audit.Baseline(pctx, s.Databases()); err != nil {
		t.Fatalf("systemtest: stock baseline: %v", err)
	}
	if len(s.initial) == 0 {
		t.Fatal("systemtest: no products after start")
	}
	return s
}

// abortAll undoes instances that will not run: their listeners close and
// their cleanups run (rungroup.Group.Abort).
func abortAll(insts []*instance) {
	for _, inst := range insts {
		_ = inst.group.Abort(context.Background())
	}
}

// listen makes a new instance of service name: its store client, its run
// group and its gRPC listener on addr.
func (s *System) listen(ctx context.Context, name, addr string) (*instance, error) {
	logger := s.logger.With(slog.String("instance", name))
	st, err := docstore.Connect(ctx, s.storeURI, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: store client: %w", name, err)
	}
	inst := &instance{
		name:     name,
		group:    rungroup.New(logger, s.opts.ShutdownTimeout),
		registry: serve.NewRegistry(),
	}
	inst.group.Cleanup(name+"-store", st.Close)
	inst.env = assembly.Env{Group: inst.group, Logger: logger, Registerer: serve.Registerer(inst.registry, name),
		Store: st, ServiceKey: s.svcKey, Verifier: s.signer.Verifier(), Samples: true}
	inst.server, err = assembly.Listen(name, inst.env, addr, serve.Options{Gatherer: inst.registry, MaxBodyBytes: 1 << 20})
	if err != nil {
		abortAll([]*instance{inst})
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return inst, nil
}

// settings are service name's settings in a System: the defaults of its
// flags, and what the scenarios want otherwise.
func (s *System) settings(name string) assembly.Settings {
	set := assembly.Defaults(name)
	switch c := set.(type) {
	case *assembly.User:
		c.AdminEmails = AdminEmail
		c.Options.BcryptCost, c.Options.LoginRatePerEmail, c.Options.LoginRatePerIP = bcrypt.MinCost, -1, -1
	case *assembly.Product:
		c.Options.SampleStock = s.opts.SampleStock
	case *assembly.Order:
		// No caches: every order asks user and product, as the scenarios expect.
		c.Client, c.Cache, c.Options = s.opts.Client, order.CacheOptions{}, s.opts.Order
	case *assembly.Payment:
		c.Processor, c.Recovery = s.opts.Processor, FastPaymentRecovery()
	case *assembly.Notification:
		c.Sender, c.Options.SendLatency = s.sender, s.opts.SendLatency
	}
	return set
}

// build assembles the instance's service (assembly.Start) and binds its
// HTTP address.
func (s *System) build(ctx context.Context, inst *instance, httpAddr string) (string, error) {
	env := inst.env
	s.mu.Lock()
	env.Peers = maps.Clone(s.grpcAddrs)
	s.mu.Unlock()
	b, err := s.settings(inst.name).Prepare(s.dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", inst.name, err)
	}
	_, addr, err := assembly.Start(ctx, b, env, inst.server, httpAddr)
	if err != nil {
		return "", fmt.Errorf("%s: %w", inst.name, err)
	}
	return addr, nil
}

// run starts the instance's group.
func (s *System) run(inst *instance) {
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancel, inst.done = cancel, make(chan error, 1)
	go func() { inst.done <- inst.group.Run(ctx) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances[inst.name] = inst
}

// stopWait bounds how long Stop waits for a group beyond its shutdown timeout.
const stopWait = 30 * time.Second

// Stop stops service name the way its process would die: its listeners close
// at once, calls still running after Options.ShutdownTimeout are cut off, its
// workers stop and its store client and connections close. It returns when
// all that is done, with the group's error: nil after a clean stop, the
// forced stops otherwise (expected when calls were in flight).
func (s *System) Stop(name string) error {
	s.mu.Lock()
	inst := s.instances[name]
	delete(s.instances, name)
	s.mu.Unlock()
	if inst == nil {
		return fmt.Errorf("systemtest: %s is not running", name)
	}
	inst.cancel()
	select {
	case err := <-inst.done:
		return err
	case <-time.After(s.opts.ShutdownTimeout + stopWait):
		return fmt.Errorf("systemtest: %s did not stop within %s", name, s.opts.ShutdownTimeout+stopWait)
	}
}

// Restart starts a new instance of the stopped service name on the addresses
// of its first start and on the same database, with fresh metrics; the
// others' clients reconnect by themselves. It fails the test if the service
// is running or cannot start.
func (s *System) Restart(t testing.TB, name string) {
	t.Helper()
	if s.Running(name) {
		t.Fatalf("systemtest: restart %s: it is running", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mu.Lock()
	grpcAddr, httpAddr := s.grpcAddrs[name], s.httpAddrs[name]
	s.mu.Unlock()
	inst, err := s.listen(ctx, name, grpcAddr)
	if err != nil {
		t.Fatalf("systemtest: restart: %v", err)
	}
	bound, err := s.build(ctx, inst, httpAddr)
	if err != nil {
		abortAll([]*instance{inst})
		t.Fatalf("systemtest: restart %s: %v", name, err)
	}
	if bound != httpAddr || inst.server.GRPCAddr() != grpcAddr {
		abortAll([]*instance{inst})
		t.Fatalf("systemtest: restart %s bound %s and %s, want %s and %s", name, inst.server.GRPCAddr(), bound, grpcAddr, httpAddr)
	}
	s.run(inst)
}

// Running reports whether service name is running (started and not stopped).
func (s *System) Running(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.instances[name] != nil
}

// URL returns the base URL of the HTTP server of service name, e.g.
// "http://127.0.0.1:41234", the same across restarts.
func (s *System) URL(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.httpAddrs[name]
}

// Gatherer returns the metrics of the running instance of service name (a
// restarted service starts from zero, like a new process), or nil when it is
// not running.
func (s *System) Gatherer(name string) prometheus.Gatherer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inst := s.instances[name]; inst != nil {
		return inst.registry
	}
	return nil
}

// Sender is the mail relay of the notification service.
func (s *System) Sender() *Sender { return s.sender }

// SweepAge is how old a Pending order must be before another order service
// instance settles it; an order left Pending is settled within SweepAge plus
// a DispatchInterval of its creation, once the payment service answers.
func (s *System) SweepAge() time.Duration {
	return s.opts.Order.OrderTimeout + orderFinalizeTimeout + s.opts.Order.SweepGrace
}

// UnexpectedStopErrors returns the lines of a Stop error other than the
// forced stops that a kill expects: servers cut off with calls still running
// and, the shutdown time being spent by then, background workers not waited
// for. Empty means the stop went as a kill should.
func UnexpectedStopErrors(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "timed out") || strings.Contains(line, "remaining connections were closed") ||
			strings.Contains(line, "did not stop within the shutdown timeout") {
			continue
		}
		out = append(out, line)
	}
	return out
}
