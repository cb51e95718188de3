package systemtest

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/order"
)

// A Replica is an order service instance that a test builds and drives
// itself instead of the System's own: an order.Orders over the order
// database with gRPC clients of user, product, payment and notification of
// its own, its worker running as the System's order service runs it, and
// no HTTP or gRPC server (the test calls Orders().CreateOrder).
// ReplicaOptions.Wrap puts a layer (a fault injector) between the service
// and its store and clients, which is what a crash test needs and
// order.Build does not offer.
//
// A replica writes the order database, so the System's order service must
// be stopped while replicas run (docstore rule 1: one writer client per
// database); several replicas share one store client (ReplicaOptions.Share),
// as replicas in one process may. Stop the replicas before Restart(Order).
type Replica struct {
	orders *order.Orders
	store  *docstore.Store
	own    bool // the replica closes store
	conns  order.Conns
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once
}

// ReplicaOptions tune a Replica.
type ReplicaOptions struct {
	// Order tunes the replica's order service. Zero fields take the System's
	// (Options.Order, the zero durations there FastOrderOptions'), its clock
	// included.
	Order order.Options
	// Wrap, if set, is given the replica's store and dependency clients and
	// returns those the service uses.
	Wrap func(order.Store, order.Dependencies) (order.Store, order.Dependencies)
	// Share, if set, is a running replica whose store client this one uses
	// (and does not close); nil gives the replica a client of its own.
	Share *Replica
}

// StartReplica builds a replica of the order service and starts its
// worker. It fails the test if the System's order service is running or
// the replica cannot be built. The replica is stopped when the
// test ends, if the test has not stopped it.
func (s *System) StartReplica(t testing.TB, opts ReplicaOptions) *Replica {
	t.Helper()
	if s.Running(Order) {
		t.Fatal("systemtest: a replica while the order service runs: stop it first (one writer of the order database)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logger := s.logger.With(slog.String("instance", "order-replica"))
	r := &Replica{}
	if opts.Share != nil {
		r.store = opts.Share.store
	} else {
		st, err := docstore.Connect(ctx, s.storeURI, logger)
		if err != nil {
			t.Fatalf("systemtest: replica store client: %v", err)
		}
		r.store, r.own = st, true
	}
	s.mu.Lock()
	addrs := order.Addrs{User: s.grpcAddrs[User], Product: s.grpcAddrs[Product], Payment: s.grpcAddrs[Payment], Notification: s.grpcAddrs[Notification]}
	s.mu.Unlock()
	creds, err := svcauth.NewCredentials(s.svcKey, Order, svcauth.Options{})
	if err != nil {
		r.closeStore()
		t.Fatalf("systemtest: replica credentials: %v", err)
	}
	deps, conns, err := order.Dial(addrs, s.opts.Client, order.CacheOptions{}, prometheus.NewRegistry(), logger, creds.DialOption())
	if err != nil {
		r.closeStore()
		t.Fatalf("systemtest: replica clients: %v", err)
	}
	r.conns = conns
	var st order.Store
	st, err = order.NewMongoStore(ctx, r.store.Database(Order))
	if err == nil && opts.Wrap != nil {
		st, deps = opts.Wrap(st, deps)
	}
	if err == nil {
		r.orders, err = order.NewService(st, deps, s.replicaOptions(opts.Order), logger)
	}
	if err != nil {
		_ = conns.Close()
		r.closeStore()
		t.Fatalf("systemtest: replica: %v", err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	r.cancel = wcancel
	r.wg.Go(func() { _ = r.orders.RunWorker(wctx) })
	t.Cleanup(r.Stop)
	return r
}

// replicaOptions fills the zero fields of o with the System's order options.
func (s *System) replicaOptions(o order.Options) order.Options {
	base := s.opts.Order
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.OrderTimeout, base.OrderTimeout)
	def(&o.SweepInterval, base.SweepInterval)
	def(&o.SweepGrace, base.SweepGrace)
	def(&o.Lease, base.Lease)
	def(&o.DispatchInterval, base.DispatchInterval)
	def(&o.OutboxBackoff, base.OutboxBackoff)
	def(&o.OutboxBackoffMax, base.OutboxBackoffMax)
	def(&o.AdmissionWait, base.AdmissionWait)
	def(&o.NotifyWithin, base.NotifyWithin)
	if o.DispatchConcurrency == 0 {
		o.DispatchConcurrency = base.DispatchConcurrency
	}
	if o.MaxConcurrentOrders == 0 {
		o.MaxConcurrentOrders = base.MaxConcurrentOrders
	}
	if o.Now == nil {
		o.Now = base.Now
	}
	if o.RecordStatus == nil {
		o.RecordStatus = base.RecordStatus
	}
	if o.Tracer == nil {
		o.Tracer = base.Tracer
	}
	return o
}

// Orders is the replica's order service.
func (r *Replica) Orders() *order.Orders { return r.orders }

// Stop cancels the replica's worker (which hands its leases over), waits
// for it, and closes its gRPC connections and its store client (unless
// shared). It does not wait for CreateOrder calls still running: a test
// that abandons a replica makes sure, with its Wrap, that they can no
// longer write or call. Stopping twice is harmless.
func (r *Replica) Stop() {
	r.stop.Do(func() {
		r.cancel()
		r.wg.Wait()
		_ = r.conns.Close()
		r.closeStore()
	})
}

func (r *Replica) closeStore() {
	if !r.own {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.store.Close(ctx)
}

// UserID returns the user id of an access token (SignUp's), which
// Orders().CreateOrder takes as its caller.
func (s *System) UserID(t testing.TB, token string) string {
	t.Helper()
	c, err := s.signer.Verifier().VerifyAccess(token)
	if err != nil {
		t.Fatalf("systemtest: access token: %v", err)
	}
	return c.Subject
}

// NewOrder returns the order service's request for r, as PlaceOrder sends
// it over HTTP.
func (r OrderRequest) NewOrder() (order.NewOrder, error) {
	card, amount, err := r.cardAndAmount()
	if err != nil {
		return order.NewOrder{}, err
	}
	return order.NewOrder{
		ProductIDs: r.ProductIDs,
		Address:    order.Address{Name: "Kim", Street: "1 Sejong-daero", City: "Seoul", PostalCode: "04524", Country: "KR"},
		Payment: order.PaymentDetails{Method: order.MethodCreditCard, Name: "Kim", CardNumber: card,
			ExpiryYear: strconv.Itoa(time.Now().Year() + 2), ExpiryMonth: "12", BirthOrRegistration: "870314",
			PasswordTwoDigits: "12", Amount: amount},
		IdempotencyKey: r.Key,
	}, nil
}
