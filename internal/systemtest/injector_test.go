package systemtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kitshop/kitshop/order"
)

// The fault injector of the crash tests: a layer between an order service
// instance (a systemtest.Replica) and its store and dependency clients that
// kills the instance at one call. Every call of the instance goes through
// it and is named "store.Insert", "products.ReserveStock",
// "payments.MakePayment", ... (the interface and the method).
//
// At the kill point (the n-th call of one name, before it is made or after
// it returned) the injector fires: that call, and every call of the instance
// after it, hangs until the test discards the instance, and then fails with
// errKilled without having been made. A dead process does nothing more, and
// neither does the instance: no write, no call, whatever its goroutines
// were doing. discard waits for the calls already on their way when the
// kill fired (they were sent before the death, as a dying process's last
// command may be), so that nothing of the instance reaches the store or a
// service once discard has returned.
//
// A hold point makes one call wait, without a kill, until release: how a
// test makes a handler slow enough for a background step to overtake it.

// errKilled is what the calls of a discarded instance get.
var errKilled = errors.New("crash test: the instance is dead")

// point is one call of an instance: the n-th call of a name (from 1),
// before it is made or after it returned.
type point struct {
	call  string
	n     int
	after bool
}

func (p point) String() string {
	when := "before"
	if p.after {
		when = "after"
	}
	return fmt.Sprintf("%s %s #%d", when, p.call, p.n)
}

func before(call string, n int) point { return point{call: call, n: n} }
func after(call string, n int) point  { return point{call: call, n: n, after: true} }

type injector struct {
	kill, hold point // zero: none

	fired    chan struct{} // closed when the kill point was reached
	held     chan struct{} // closed when the hold point was reached
	released chan struct{} // closed by release
	dead     chan struct{} // closed by discard

	mu        sync.Mutex
	idle      *sync.Cond
	killed    bool
	running   int // calls made and not returned yet
	seen      map[string]int
	inserted  []string // ids of the orders inserted, in order
	raw       order.Dependencies
	firedOn   sync.Once
	heldOn    sync.Once
	releaseOn sync.Once
	deadOn    sync.Once
}

func newInjector(kill, hold point) *injector {
	in := &injector{
		kill: kill, hold: hold,
		fired: make(chan struct{}), held: make(chan struct{}), released: make(chan struct{}), dead: make(chan struct{}),
		seen: make(map[string]int),
	}
	in.idle = sync.NewCond(&in.mu)
	return in
}

// wrap is a systemtest.ReplicaOptions.Wrap.
func (in *injector) wrap(st order.Store, deps order.Dependencies) (order.Store, order.Dependencies) {
	in.raw = deps
	return faultyStore{st, in}, order.Dependencies{
		Users:    faultyUsers{deps.Users, in},
		Products: faultyProducts{deps.Products, in},
		Payments: faultyPayments{deps.Payments, in},
		Notifier: faultyNotifier{deps.Notifier, in},
	}
}

// killNow fires the kill at once, wherever the instance is.
func (in *injector) killNow() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fire()
}

// fire marks the instance killed; in.mu is held.
func (in *injector) fire() {
	in.killed = true
	in.firedOn.Do(func() { close(in.fired) })
}

// release lets the held call go on.
func (in *injector) release() { in.releaseOn.Do(func() { close(in.released) }) }

// discard kills the instance if it is not yet, waits at most timeout for
// the calls on their way to return, and makes every waiting call fail.
func (in *injector) discard(timeout time.Duration) error {
	in.mu.Lock()
	in.killed = true
	in.mu.Unlock()
	done := make(chan struct{})
	go func() {
		in.mu.Lock()
		for in.running > 0 {
			in.idle.Wait()
		}
		in.mu.Unlock()
		close(done)
	}()
	defer in.deadOn.Do(func() { close(in.dead) })
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		in.mu.Lock()
		defer in.mu.Unlock()
		return fmt.Errorf("%d calls still running %s after the kill", in.running, timeout)
	}
}

// hasFired reports whether the kill point was reached.
func (in *injector) hasFired() bool {
	select {
	case <-in.fired:
		return true
	default:
		return false
	}
}

// count returns how many calls of name the instance began.
func (in *injector) count(name string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.seen[name]
}

// orders returns the ids of the orders the instance inserted.
func (in *injector) orders() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.inserted)
}

// gate is passed at p; it fails once the instance is killed, after the
// test discarded it.
func (in *injector) gate(p point) error {
	if p == in.hold {
		in.heldOn.Do(func() { close(in.held) })
		select {
		case <-in.released:
		case <-in.dead:
			return errKilled
		}
	}
	in.mu.Lock()
	if p == in.kill {
		in.fire()
	}
	if in.killed {
		in.mu.Unlock()
		<-in.dead
		return errKilled
	}
	if !p.after {
		in.running++
	}
	in.mu.Unlock()
	return nil
}

// do makes the call named name through the gates.
func (in *injector) do(name string, call func() error) error {
	in.mu.Lock()
	in.seen[name]++
	n := in.seen[name]
	in.mu.Unlock()
	if err := in.gate(before(name, n)); err != nil {
		return err
	}
	err := call()
	in.mu.Lock()
	in.running--
	in.idle.Broadcast()
	in.mu.Unlock()
	if gerr := in.gate(after(name, n)); gerr != nil {
		return gerr
	}
	return err
}

// The wrappers list every method, not embed the interface: a method added
// to one of them must be added here, or it would bypass the kill.

type faultyStore struct {
	s  order.Store
	in *injector
}

func (f faultyStore) Insert(ctx context.Context, o order.Order) error {
	return f.in.do("store.Insert", func() error {
		err := f.s.Insert(ctx, o)
		if err == nil {
			f.in.mu.Lock()
			f.in.inserted = append(f.in.inserted, o.ID)
			f.in.mu.Unlock()
		}
		return err
	})
}

func (f faultyStore) Get(ctx context.Context, id string) (o order.Order, err error) {
	err = f.in.do("store.Get", func() error { o, err = f.s.Get(ctx, id); return err })
	return o, err
}

func (f faultyStore) Transition(ctx context.Context, id string, from, to order.Status, ch order.Change) (o order.Order, err error) {
	err = f.in.do("store.Transition", func() error { o, err = f.s.Transition(ctx, id, from, to, ch); return err })
	return o, err
}

func (f faultyStore) AddOutbox(ctx context.Context, id string, b order.Outbox) error {
	return f.in.do("store.AddOutbox", func() error { return f.s.AddOutbox(ctx, id, b) })
}

func (f faultyStore) ClearOutbox(ctx context.Context, id string, b order.Outbox) error {
	return f.in.do("store.ClearOutbox", func() error { return f.s.ClearOutbox(ctx, id, b) })
}

func (f faultyStore) ListOrder(ctx context.Context, o order.Order) error {
	return f.in.do("store.ListOrder", func() error { return f.s.ListOrder(ctx, o) })
}

func (f faultyStore) ListByCustomer(ctx context.Context, userID string, from int64, limit int) (os []order.Order, next int64, err error) {
	err = f.in.do("store.ListByCustomer", func() error { os, next, err = f.s.ListByCustomer(ctx, userID, from, limit); return err })
	return os, next, err
}

func (f faultyStore) ListByStatus(ctx context.Context, st order.Status, from int64, limit int) (os []order.Order, next int64, err error) {
	err = f.in.do("store.ListByStatus", func() error { os, next, err = f.s.ListByStatus(ctx, st, from, limit); return err })
	return os, next, err
}

func (f faultyStore) GetMany(ctx context.Context, ids []string) (m map[string]order.Order, err error) {
	err = f.in.do("store.GetMany", func() error { m, err = f.s.GetMany(ctx, ids); return err })
	return m, err
}

func (f faultyStore) InsertWork(ctx context.Context, w order.Work) error {
	return f.in.do("store.InsertWork", func() error { return f.s.InsertWork(ctx, w) })
}

func (f faultyStore) GetWork(ctx context.Context, id string) (w order.Work, err error) {
	err = f.in.do("store.GetWork", func() error { w, err = f.s.GetWork(ctx, id); return err })
	return w, err
}

func (f faultyStore) UpdateWork(ctx context.Context, w order.Work) (out order.Work, err error) {
	err = f.in.do("store.UpdateWork", func() error { out, err = f.s.UpdateWork(ctx, w); return err })
	return out, err
}

func (f faultyStore) DeleteWork(ctx context.Context, w order.Work) error {
	return f.in.do("store.DeleteWork", func() error { return f.s.DeleteWork(ctx, w) })
}

func (f faultyStore) ListWork(ctx context.Context, dueBy time.Time) (ws []order.Work, err error) {
	err = f.in.do("store.ListWork", func() error { ws, err = f.s.ListWork(ctx, dueBy); return err })
	return ws, err
}

type faultyUsers struct {
	u  order.Users
	in *injector
}

func (f faultyUsers) GetUser(ctx context.Context, id string) (u order.User, err error) {
	err = f.in.do("users.GetUser", func() error { u, err = f.u.GetUser(ctx, id); return err })
	return u, err
}

type faultyProducts struct {
	p  order.Products
	in *injector
}

func (f faultyProducts) GetProducts(ctx context.Context, ids []string) (ps []order.Product, err error) {
	err = f.in.do("products.GetProducts", func() error { ps, err = f.p.GetProducts(ctx, ids); return err })
	return ps, err
}

func (f faultyProducts) ReserveStock(ctx context.Context, orderID string, items []order.Item) error {
	return f.in.do("products.ReserveStock", func() error { return f.p.ReserveStock(ctx, orderID, items) })
}

func (f faultyProducts) ReleaseStock(ctx context.Context, orderID string) error {
	return f.in.do("products.ReleaseStock", func() error { return f.p.ReleaseStock(ctx, orderID) })
}

type faultyPayments struct {
	p  order.Payments
	in *injector
}

func (f faultyPayments) MakePayment(ctx context.Context, req order.PaymentRequest) (p order.Payment, err error) {
	err = f.in.do("payments.MakePayment", func() error { p, err = f.p.MakePayment(ctx, req); return err })
	return p, err
}

func (f faultyPayments) GetPayment(ctx context.Context, orderID string) (p order.Payment, err error) {
	err = f.in.do("payments.GetPayment", func() error { p, err = f.p.GetPayment(ctx, orderID); return err })
	return p, err
}

func (f faultyPayments) RefundPayment(ctx context.Context, orderID string) error {
	return f.in.do("payments.RefundPayment", func() error { return f.p.RefundPayment(ctx, orderID) })
}

type faultyNotifier struct {
	n  order.Notifier
	in *injector
}

func (f faultyNotifier) SendPaymentNotification(ctx context.Context, to, orderID, userID string) error {
	return f.in.do("notifier.SendPaymentNotification", func() error { return f.n.SendPaymentNotification(ctx, to, orderID, userID) })
}

// clock is a test clock for order.Options.Now. It stands still until Run;
// Advance moves it on at once. A test jumps over the sweeper's wait with
// Advance and then lets the clock Run, as the order service's clock would:
// the dispatcher retries a failed side effect after a backoff measured on
// that clock, which a clock standing still would never reach.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	since time.Time // zero: standing still
}

func newClock() *clock { return &clock{now: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at()
}

// at is the clock's time; c.mu is held.
func (c *clock) at() time.Time {
	if c.since.IsZero() {
		return c.now
	}
	return c.now.Add(time.Since(c.since))
}

// Advance moves the clock on by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Run makes the clock move with real time from now on.
func (c *clock) Run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		c.since = time.Now()
	}
}
