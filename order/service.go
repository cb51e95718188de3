// Package order is the kitshop order service, the orchestrator of a purchase:
// it reads the caller and the products, checks the amount against the total,
// stores the order Pending, reserves stock, charges the payment, has the
// notification service tell the customer, and then starts the delivery.
//
// Everything that can fail half-way is made safe to repeat: the order's
// status moves only forward, through the state machine (status.go) and
// conditional single-document updates (Store.Transition); CreateOrder is
// idempotent per caller and key; stock and payment calls are idempotent per
// order id; an order left Pending by a lost answer is settled by the worker
// (Orders.RunWorker) from the payment service's record; and side effects due
// after a transition (stock release, refund, payment notification) are
// written on the order in the same update and delivered at least once by the
// worker, which starts the delivery of a paid order once its notification is
// sent.
//
// Where things are: service.go (Service, Orders), model.go (the order and
// its parts), status.go (the statuses and their transitions), errors.go (the
// errors and the error table), ports.go (Store and the dependencies),
// options.go (Options and their flags), create.go (the creation saga),
// validate.go and payment_check.go (request checks), idempotency.go,
// paging.go, status_list.go (the orders of each status), worker.go
// (background work), admin.go (the admins' views of the service), clients.go
// (the dependencies over gRPC), store.go and
// work_store.go (MongoDB), endpoints.go and the transport files, wire.go
// (Build). docs/order.md is the design note.
package order

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/grpcclient"
)

// Service is the order service.
type Service interface {
	// CreateOrder places an order for userID (the verified caller). It
	// reports replayed when an earlier request with the same idempotency key
	// made the order, which it then returns as it stands.
	CreateOrder(ctx context.Context, userID string, req NewOrder) (o Order, replayed bool, err error)
	// DeliveryStarted moves a paid order to StatusDeliveryStarted; a payment
	// notification still due is still sent. Repeating it is harmless.
	DeliveryStarted(ctx context.Context, orderID string) (Order, error)
	// DeliveryDone moves an order whose delivery started to
	// StatusDeliveryDone (it was delivered); repeating it is harmless.
	DeliveryDone(ctx context.Context, orderID string) (Order, error)
	// GetOrder returns one of userID's orders; another user's is ErrNotFound.
	GetOrder(ctx context.Context, userID, orderID string) (Order, error)
	// ListOrders pages through userID's orders, newest first.
	ListOrders(ctx context.Context, userID string, pageSize int, pageToken string) (Page, error)
	// ListOrdersByStatus pages through the orders now in status st, newest
	// first by the time they entered it: for operators and admins.
	ListOrdersByStatus(ctx context.Context, st Status, pageSize int, pageToken string) (Page, error)
	// PendingWork lists the background work of the orders, soonest due
	// first: for admins.
	PendingWork(ctx context.Context) (WorkList, error)
	// Breakers reports the circuit breakers of the service's clients of its
	// dependencies: for admins.
	Breakers(ctx context.Context) []grpcclient.BreakerState
}

// Orders is the order service: it implements Service and runs the worker
// that settles what handlers left and runs the side effects due (worker.go).
type Orders struct {
	store    Store
	deps     Dependencies
	opts     Options
	logger   *slog.Logger
	wake     chan struct{}
	draining atomic.Bool    // Drain was called: no new orders
	admitted chan struct{}  // a slot per CreateOrder at work (Options.MaxConcurrentOrders); nil: no bound
	cleanup  *docstore.Soon // the deletes of finished work (Options.CleanupDelay)
}

// NewService returns the order service. logger nil discards the workers' logs.
func NewService(store Store, deps Dependencies, opts Options, logger *slog.Logger) (*Orders, error) {
	if store == nil || deps.Users == nil || deps.Products == nil || deps.Payments == nil || deps.Notifier == nil {
		return nil, errors.New("order: NewService needs a store and every dependency")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	s := &Orders{
		store:   store,
		deps:    deps,
		opts:    opts,
		logger:  logger,
		wake:    make(chan struct{}, 1),
		cleanup: docstore.NewSoon(opts.CleanupDelay),
	}
	if s.opts.Replica == "" {
		s.opts.Replica = rand.Text()
	}
	if opts.MaxConcurrentOrders > 0 {
		s.admitted = make(chan struct{}, opts.MaxConcurrentOrders)
	}
	return s, nil
}

// Drain makes CreateOrder refuse new orders from now on, with ErrUnavailable
// (503 with Retry-After, gRPC Unavailable) and nothing done, while the orders
// in flight finish. The process calls it as its stop begins
// (rungroup.Group.Stopping); the worker hands its leases over when its
// context ends (RunWorker).
func (s *Orders) Drain() { s.draining.Store(true) }

// admit waits for a turn of CreateOrder and returns the function that gives
// it back (see Options.MaxConcurrentOrders). It refuses every order once
// Drain has been called.
func (s *Orders) admit(ctx context.Context) (func(), error) {
	if s.draining.Load() {
		return nil, &UnavailableError{Dependency: "order", RetryAfter: time.Second,
			Detail: "the service is stopping, nothing was done; retry", Err: ErrDraining}
	}
	if s.admitted == nil {
		return func() {}, nil
	}
	release := func() { <-s.admitted }
	select {
	case s.admitted <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(s.opts.AdmissionWait)
	defer t.Stop()
	select {
	case s.admitted <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &UnavailableError{Dependency: "order", RetryAfter: time.Second,
			Detail: "too many orders in progress, nothing was done; retry shortly", Err: ErrOverloaded}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

var _ Service = (*Orders)(nil)

// GetOrder returns one of userID's orders.
func (s *Orders) GetOrder(ctx context.Context, userID, orderID string) (Order, error) {
	if err := checkID("id", orderID); err != nil {
		return Order{}, err
	}
	o, err := s.store.Get(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	if o.Customer.UserID != userID {
		return Order{}, ErrNotFound // do not reveal that it exists
	}
	return o, nil
}

// now is the service clock, at the store's precision (milliseconds), in UTC.
func (s *Orders) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }
