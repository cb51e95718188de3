package order

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// The two background workers keep their cost bounded on a store where only
// _id lookups are indexed (the embedded one): each scans the orders once, at
// start-up (ListPending, ListOutbox: on MongoDB an index serves each), and
// from then on follows in memory the orders this process made Pending or gave
// side effects, reading each one by _id. An order of a process that died is
// found by the start-up scan of the next one. With several replicas, each
// settles its own orders and, at start, every one it finds; the conditional
// transitions and the idempotent calls make that overlap harmless.

// sweepAge is how old a Pending order must be before the sweeper settles it:
// older than anything its handler can still be doing.
func (s *Orders) sweepAge() time.Duration {
	return s.opts.OrderTimeout + finalizeTimeout + s.opts.SweepGrace
}

// RunSweeper is a background worker: it loads the Pending orders once, then
// every Options.SweepInterval settles those old enough (Sweep). It returns nil
// when ctx is done.
func (s *Orders) RunSweeper(ctx context.Context) error {
	if !s.startupScan(ctx, "pending orders", func(ctx context.Context) error {
		pending, err := s.store.ListPending(ctx)
		for _, p := range pending {
			s.inflight.add(p.ID, p.CreatedAt)
		}
		return err
	}) {
		return nil
	}
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Sweep(ctx)
		}
	}
}

// Sweep settles every followed Pending order older than the handler's whole
// deadline from its payment's state at the payment service: Approved →
// PaymentProcessed (and its notification), Rejected → PaymentFailed, none
// (never charged) or Refunded → PaymentCancelled, releasing the stock of the
// last two. A payment still pending, or a payment service that does not
// answer, leaves the order for the next sweep.
func (s *Orders) Sweep(ctx context.Context) {
	for _, id := range s.inflight.olderThan(s.now().Add(-s.sweepAge())) {
		if ctx.Err() != nil {
			return
		}
		s.sweepOne(ctx, id)
	}
}

func (s *Orders) sweepOne(ctx context.Context, id string) {
	o, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && o.Status != StatusPending) {
		s.inflight.remove(id)
		return
	}
	if err != nil {
		s.logger.WarnContext(ctx, "sweeper: reading order failed", "order", id, "err", err)
		return
	}
	p, err := s.deps.Payments.GetPayment(ctx, id)
	var to Status
	ch := Change{}
	switch {
	case errors.Is(err, ErrPaymentNotFound):
		to, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentCancelled, "the order was not paid in time", true
	case err != nil:
		s.logger.WarnContext(ctx, "sweeper: asking the payment service failed", "order", id, "err", err)
		return
	case p.Status == PaymentApproved:
		to, ch.Payment = StatusPaymentProcessed, summary(o.Payment, p)
		ch.Outbox.Notify = &Notification{To: o.Customer.Email, UserID: o.Customer.UserID}
	case p.Status == PaymentRejected:
		to, ch.Payment, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentFailed, summary(o.Payment, p), "payment declined: "+p.Reason, true
	case p.Status == PaymentRefunded:
		to, ch.Payment, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentCancelled, summary(o.Payment, p), "payment refunded", true
	default:
		return // still pending at the payment service
	}
	if _, err := s.settle(ctx, id, to, ch, false); err != nil && !errors.Is(err, ErrStaleStatus) {
		s.logger.WarnContext(ctx, "sweeper: settling order failed", "order", id, "err", err)
		return
	}
	s.logger.InfoContext(ctx, "sweeper settled order", "order", id, "status", to)
}

// RunDispatcher is a background worker: it loads the orders with side effects
// due once, then runs them (Dispatch) whenever woken by a transition and
// every Options.DispatchInterval. It returns nil when ctx is done.
func (s *Orders) RunDispatcher(ctx context.Context) error {
	if !s.startupScan(ctx, "order outbox", func(ctx context.Context) error {
		ids, err := s.store.ListOutbox(ctx)
		now := s.now()
		for _, id := range ids {
			s.outbox.add(id, now)
		}
		return err
	}) {
		return nil
	}
	t := time.NewTicker(s.opts.DispatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		s.Dispatch(ctx)
	}
}

// Dispatch runs the side effects of every order whose turn has come, at most
// Options.DispatchConcurrency orders at once, and returns when they are done.
// An order whose side effects failed is tried again after an exponential
// backoff (Options.OutboxBackoff doubling up to OutboxBackoffMax, jittered).
func (s *Orders) Dispatch(ctx context.Context) {
	ids := s.outbox.claimDue(s.now())
	sem := make(chan struct{}, s.opts.DispatchConcurrency)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.outbox.finish(id, s.runOutbox(ctx, id), s.now(), s.outboxBackoff)
		})
	}
	wg.Wait()
}

// deliver runs the side effects of one order now, unless the dispatcher is
// already running them.
func (s *Orders) deliver(ctx context.Context, id string) {
	if s.outbox.claim(id) {
		s.outbox.finish(id, s.runOutbox(ctx, id), s.now(), s.outboxBackoff)
	}
}

// wakeDispatcher tells the dispatcher that work is due, without waiting.
func (s *Orders) wakeDispatcher() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runOutbox runs the side effects due for an order and clears those done. It
// reports whether nothing is left to do. A side effect the dependency refuses
// as invalid is dropped (logged): repeating it cannot succeed. Once the payment
// notification is sent, the order's delivery starts: PaymentProcessed →
// DeliveryStarted and the clearing of what was done are one update
// (startDelivery). The read is by _id and, on the embedded store, answered
// from the Updater's memory of the order's last write.
func (s *Orders) runOutbox(ctx context.Context, id string) bool {
	o, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return true
	}
	if err != nil {
		s.logger.WarnContext(ctx, "outbox: reading order failed", "order", id, "err", err)
		return false
	}
	var done Outbox
	ok := true
	// run calls a side effect and reports whether it is done: sent, or
	// refused as invalid and dropped.
	run := func(what string, call func() error) (isDone, sent bool) {
		err := call()
		switch {
		case err == nil:
			return true, true
		case errors.Is(err, ErrInvalidArgument):
			s.logger.ErrorContext(ctx, "outbox: side effect refused, dropped", "order", id, "what", what, "err", err)
			return true, false
		default:
			s.logger.WarnContext(ctx, "outbox: side effect failed, will retry", "order", id, "what", what, "err", err)
			ok = false
			return false, false
		}
	}
	b := o.Outbox
	if b.ReleaseStock {
		done.ReleaseStock, _ = run("release stock", func() error { return s.deps.Products.ReleaseStock(ctx, id) })
	}
	if b.Refund {
		done.Refund, _ = run("refund", func() error { return s.deps.Payments.RefundPayment(ctx, id) })
	}
	notified := false // sent: a refused notification starts no delivery
	if n := b.Notify; n != nil {
		var isDone bool
		isDone, notified = run("payment notification", func() error {
			return s.deps.Notifier.SendPaymentNotification(ctx, n.To, id, n.UserID)
		})
		if isDone {
			done.Notify = n
		}
	}
	if notified && o.Status == StatusPaymentProcessed {
		err = s.startDelivery(ctx, id, done)
	} else if !done.Empty() {
		err = s.store.ClearOutbox(ctx, id, done)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "outbox: recording the done side effects failed", "order", id, "err", err)
		return false // they will run again: each is idempotent
	}
	return ok
}

// startDelivery moves an order whose payment notification was sent from
// PaymentProcessed to DeliveryStarted, clearing the side effects done in the
// same update. If the order moved on meanwhile (the DeliveryStarted method,
// which clears the notification too), it only clears what is still there.
func (s *Orders) startDelivery(ctx context.Context, id string, done Outbox) error {
	cur, err := s.store.Transition(ctx, id, StatusPaymentProcessed, StatusDeliveryStarted, Change{At: s.now(), Done: done})
	switch {
	case err == nil:
		s.opts.RecordStatus(StatusDeliveryStarted)
		s.logger.InfoContext(ctx, "delivery started", "order", id)
		return nil
	case errors.Is(err, ErrStaleStatus):
		if left := stillDue(cur.Outbox, done); !left.Empty() {
			return s.store.ClearOutbox(ctx, id, left)
		}
		return nil
	case errors.Is(err, ErrNotFound):
		return nil
	default:
		return err
	}
}

// stillDue is the part of done that b still holds.
func stillDue(b, done Outbox) Outbox {
	var left Outbox
	if b.Notify != nil && done.Notify != nil {
		left.Notify = done.Notify
	}
	left.ReleaseStock = b.ReleaseStock && done.ReleaseStock
	left.Refund = b.Refund && done.Refund
	return left
}

// outboxBackoff is the wait after the n-th failed round of an order's side
// effects: OutboxBackoff·2^(n-1) capped at OutboxBackoffMax, drawn in [d/2, d].
func (s *Orders) outboxBackoff(n int) time.Duration {
	d := s.opts.OutboxBackoff
	for i := 1; i < n && d < s.opts.OutboxBackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.OutboxBackoffMax)
	return d/2 + rand.N(d/2+1)
}

// startupScan runs scan until it succeeds, with backoff, logging failures; it
// reports false if ctx ended first.
func (s *Orders) startupScan(ctx context.Context, what string, scan func(context.Context) error) bool {
	wait := s.opts.OutboxBackoff
	for {
		err := scan(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.logger.WarnContext(ctx, "start-up scan failed, will retry", "what", what, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, s.opts.OutboxBackoffMax)
	}
}

// tracker is the set of Pending orders the sweeper follows, with their
// creation times.
type tracker struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

func newTracker() *tracker { return &tracker{ids: make(map[string]time.Time)} }

func (t *tracker) add(id string, created time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ids[id] = created
}

func (t *tracker) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.ids, id)
}

// olderThan returns the orders created before cutoff, oldest first.
func (t *tracker) olderThan(cutoff time.Time) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, c := range t.ids {
		if c.Before(cutoff) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return t.ids[out[i]].Before(t.ids[out[j]]) })
	return out
}

// queue is the set of orders with side effects due, each with its retry state.
type queue struct {
	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	attempts int       // failed rounds so far
	next     time.Time // not before
	running  bool
	again    bool // added while running: run once more at once
}

func newQueue() *queue { return &queue{entries: make(map[string]*entry)} }

// add makes an order's side effects due now.
func (q *queue) add(id string, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.entries[id]; ok {
		e.next = now
		e.again = e.running
		return
	}
	q.entries[id] = &entry{next: now}
}

// claim marks an order's side effects running, unless they already are or
// none are due.
func (q *queue) claim(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.entries[id]
	if !ok || e.running {
		return false
	}
	e.running = true
	return true
}

// claimDue claims every order whose turn has come.
func (q *queue) claimDue(now time.Time) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for id, e := range q.entries {
		if !e.running && !e.next.After(now) {
			e.running = true
			ids = append(ids, id)
		}
	}
	return ids
}

// finish records the end of a claimed round: done drops the order, unless
// more was added meanwhile; a failure schedules a retry after backoff.
func (q *queue) finish(id string, done bool, now time.Time, backoff func(n int) time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.entries[id]
	if !ok {
		return
	}
	e.running = false
	switch {
	case e.again:
		e.again = false
		e.next = now
	case done:
		delete(q.entries, id)
	default:
		e.attempts++
		e.next = now.Add(backoff(e.attempts))
	}
}
