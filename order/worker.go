package order

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kitshop/kitshop/internal/telemetry"
)

// The background work of the orders is kept in the store, not in a process:
// each order that is Pending or has side effects due (its outbox: the payment
// notification, a stock release, a refund) has a work entry (Work, in the
// order_work collection: Store.InsertWork ...), and whoever holds the entry's
// lease is the one replica working on it. Any number of replicas share the
// work through it:
//
//   - CreateOrder inserts the entry before the order, holding it until the
//     order's deadline (holdWork), so an order never exists without one until
//     it is final. Once the order is settled the handler deletes the entry, or
//     runs the side effects at once, or hands them to the worker (followUp).
//   - The worker of every replica (RunWorker, one round: DoDueWork) lists the
//     entries due, claims each whose lease is over with a conditional update
//     (guarded by the entry's revision: of two replicas, one wins), and works
//     on it within its lease (work): a Pending order left by its handler is
//     settled from its payment's state (sweep); side effects due are run,
//     then the entry is deleted, or given a later due time after a failure
//     (exponential backoff) with its lease released.
//   - A replica that dies leaves its entries to be claimed when their leases
//     end; one that stops gracefully gives its leases up (handOver) so that
//     the others take its work over at once.
//   - A repeat of a request with the same Idempotency-Key whose handler is
//     gone takes the entry over and settles the order at once (resume).
//   - An entry keeps the trace context of the request that inserted it
//     (Work.Trace); the worker's span for it continues that trace
//     (work_trace.go).
//
// The entries are only those of the work left, so listing them costs the
// same however many orders are stored (BenchmarkDoDueWork); on the embedded
// store, where a query reads its whole collection, that is what keeps the
// worker cheap. Every side effect is idempotent (the dependencies dedupe by
// order id) and every transition conditional, so a lease that ends while its
// holder is still at work (a stalled process) can cost a repeated call, never
// a wrong state. The recovery bound is in Options.

// holdFor is how long a handler holds its order's work entry: the order's
// deadline, the final update's limit and Options.SweepGrace.
func (s *Orders) holdFor() time.Duration {
	return s.opts.OrderTimeout + finalizeTimeout + s.opts.SweepGrace
}

// RunWorker is the background worker: a round of DoDueWork whenever woken by
// a handler and every Options.DispatchInterval. When ctx is done it gives the
// leases of this replica up (handOver) and returns nil.
func (s *Orders) RunWorker(ctx context.Context) error {
	t := time.NewTicker(s.opts.DispatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.cleanup.Flush()
			s.handOver(ctx)
			return nil
		case <-t.C:
		case <-s.wake:
		}
		s.DoDueWork(ctx)
	}
}

// DoDueWork is one round of the worker: it claims every work entry that is
// due and whose lease is over, and works on them, at most
// Options.DispatchConcurrency at once; it returns when they are done.
func (s *Orders) DoDueWork(ctx context.Context) {
	now := s.now()
	due, err := s.store.ListWork(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.WarnContext(ctx, "worker: listing the due work failed", "err", err)
		}
		return
	}
	sem := make(chan struct{}, s.opts.DispatchConcurrency)
	var wg sync.WaitGroup
	for _, w := range due {
		if w.LeaseUntil.After(now) || ctx.Err() != nil {
			continue // held by a replica (maybe this one) at work on it
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			w.Owner, w.LeaseUntil = s.opts.Replica, s.now().Add(s.opts.Lease)
			claimed, err := s.store.UpdateWork(ctx, w)
			if err != nil {
				if !errors.Is(err, ErrWorkChanged) && ctx.Err() == nil {
					s.logger.WarnContext(ctx, "worker: claiming work failed", "order", w.OrderID, "err", err)
				}
				return // another replica claimed it, or the store will be tried next round
			}
			s.work(ctx, claimed)
		})
	}
	wg.Wait()
}

// work does what an order's claimed entry w is for, its calls ending a fifth
// of a lease before the lease does, under the span of the entry (workSpan):
// in the trace of the request that caused the work.
func (s *Orders) work(ctx context.Context, w Work) {
	ctx, span := s.workSpan(ctx, w)
	ctx, cancel := context.WithTimeout(ctx, s.opts.Lease*4/5)
	defer cancel()
	o, err := s.store.Get(ctx, w.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
		// The handler died between the entry's insert and the order's.
		s.deleteWork(ctx, &w)
		err = nil
	case err != nil:
		s.logger.WarnContext(ctx, "worker: reading order failed", "order", w.OrderID, "err", err)
		s.leaveWork(ctx, &w, s.opts.SweepInterval, err)
	default:
		if _, err = s.resume(ctx, &w, o); err != nil {
			s.logger.WarnContext(ctx, "worker: order left for a later round", "order", w.OrderID, "err", err)
		}
	}
	outcome := outcomeDone
	switch {
	case err != nil:
		outcome = outcomeError
	case w.Owner == "": // leaveWork released it
		outcome = outcomeLater
	}
	endWorkSpan(span, outcome, err)
}

// resume finishes the work of order o, whose entry w this replica holds: a
// Pending order is settled from its payment's state (sweep), one with side
// effects due has them run, and the entry is then deleted, or left for a
// later round. It returns the order as settled, before its side effects ran:
// one with an outbox may have moved on since. It first lists the order under
// its customer, in case its handler died between its insert and its listing.
func (s *Orders) resume(ctx context.Context, w *Work, o Order) (Order, error) {
	if err := s.store.ListOrder(ctx, o); err != nil {
		s.leaveWork(ctx, w, s.opts.SweepInterval, err)
		return o, err
	}
	switch {
	case o.Status == StatusPending:
		return s.sweep(ctx, w, o)
	case o.Outbox.Empty():
		s.deleteWork(ctx, w)
		return o, nil
	default:
		s.followUp(ctx, w, o, true)
		return o, nil
	}
}

// sweep settles a Pending order that its handler left, from its payment's
// state at the payment service: Approved → PaymentProcessed (and its
// notification), Rejected → PaymentFailed, none or Voided (never charged) or
// Refunded → PaymentCancelled, releasing the stock of the last three. A
// payment still pending, or a payment service that does not answer, leaves
// the order for a round Options.SweepInterval later.
func (s *Orders) sweep(ctx context.Context, w *Work, o Order) (Order, error) {
	p, err := s.deps.Payments.GetPayment(ctx, o.ID)
	var to Status
	ch := Change{}
	switch {
	case errors.Is(err, ErrPaymentNotFound):
		to, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentCancelled, "the order was not paid in time", true
	case err != nil:
		s.leaveWork(ctx, w, s.opts.SweepInterval, err)
		return o, err
	case p.Status == PaymentApproved:
		to, ch.Payment = StatusPaymentProcessed, summary(o.Payment, p)
		ch.Outbox.Notify = &Notification{To: o.Customer.Email, UserID: o.Customer.UserID}
	case p.Status == PaymentRejected:
		to, ch.Payment, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentFailed, summary(o.Payment, p), "payment declined: "+p.Reason, true
	case p.Status == PaymentVoided:
		to, ch.Payment, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentCancelled, summary(o.Payment, p), "the payment never reached the card network and was voided", true
	case p.Status == PaymentRefunded:
		to, ch.Payment, ch.FailureReason, ch.Outbox.ReleaseStock = StatusPaymentCancelled, summary(o.Payment, p), "payment refunded", true
	default: // still pending at the payment service
		s.leaveWork(ctx, w, s.opts.SweepInterval, nil)
		return o, nil
	}
	settled, err := s.settle(ctx, w, o.ID, to, ch, true)
	if err != nil && !errors.Is(err, ErrStaleStatus) {
		s.leaveWork(ctx, w, s.opts.SweepInterval, err)
		return o, err
	}
	s.logger.InfoContext(ctx, "worker settled an order its handler left", "order", o.ID, "status", settled.Status)
	return settled, nil
}

// followUp finishes the entry w of an order o that is no longer Pending: it
// deletes the entry when nothing is due (within Options.CleanupDelay, with
// the others due then); otherwise, with inline, it runs the
// side effects now and deletes the entry, or gives it a later due time after
// a failure; without inline, it hands the entry to the worker now, which it
// wakes.
func (s *Orders) followUp(ctx context.Context, w *Work, o Order, inline bool) {
	switch {
	case o.Outbox.Empty():
		done := *w
		s.cleanup.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
			defer cancel()
			s.deleteWork(ctx, &done)
		})
	case !inline:
		s.leaveWork(ctx, w, 0, nil)
		s.wakeDispatcher()
	default:
		if err := s.runOutbox(ctx, o); err != nil {
			w.Attempts++
			s.leaveWork(ctx, w, s.outboxBackoff(w.Attempts), err)
			return
		}
		s.deleteWork(ctx, w)
	}
}

// deleteWork deletes the entry w; one changed meanwhile (its lease ended and
// another replica took it) is that replica's to finish. Then it reads the
// order again: a side effect added meanwhile by a handler that found no entry
// to hold (addWork) gets an entry again, so that none is left without one.
func (s *Orders) deleteWork(ctx context.Context, w *Work) {
	if err := s.store.DeleteWork(ctx, *w); err != nil {
		if !errors.Is(err, ErrWorkChanged) {
			s.logger.WarnContext(ctx, "worker: deleting done work failed; a later round finds it done", "order", w.OrderID, "err", err)
		}
		return
	}
	if o, err := s.store.Get(ctx, w.OrderID); err == nil && !o.Outbox.Empty() {
		s.addWork(ctx, w.OrderID)
	}
}

// addWork makes sure the order id, to which a side effect was just added,
// has a work entry due now: a new one, or the one there, whose holder reads
// the order after this side effect was added or, if it read it before,
// finds it again when it deletes the entry (deleteWork).
func (s *Orders) addWork(ctx context.Context, id string) {
	err := s.store.InsertWork(ctx, Work{OrderID: id, Due: s.now(), Trace: telemetry.Traceparent(ctx)})
	switch {
	case err == nil:
		s.wakeDispatcher()
	case !errors.Is(err, ErrDuplicateWork):
		s.logger.ErrorContext(ctx, "worker: recording due work failed", "order", id, "err", err)
	}
}

// leaveWork gives up the lease of the entry w and makes it due after wait;
// a failure, the reason it is left, becomes the entry's LastError (nil
// keeps the one it has).
func (s *Orders) leaveWork(ctx context.Context, w *Work, wait time.Duration, failure error) {
	next := *w
	next.Owner, next.LeaseUntil, next.Due = "", time.Time{}, s.now().Add(wait)
	if failure != nil {
		next.LastError = failure.Error()
	}
	updated, err := s.store.UpdateWork(ctx, next)
	if err != nil {
		if !errors.Is(err, ErrWorkChanged) {
			s.logger.WarnContext(ctx, "worker: releasing work failed; its lease will end", "order", w.OrderID, "err", err)
		}
		return
	}
	*w = updated
}

// handOver gives up every lease this replica holds, so that the other
// replicas take its work over at once instead of when the leases end. ctx is
// done already: it runs on a context of its own, for the final update's
// limit.
func (s *Orders) handOver(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
	defer cancel()
	all, err := s.store.ListWork(ctx, time.Time{})
	if err != nil {
		s.logger.WarnContext(ctx, "worker: listing the work to hand over failed; its leases will end", "err", err)
		return
	}
	n := 0
	for _, w := range all {
		if w.Owner == s.opts.Replica && w.LeaseUntil.After(s.now()) {
			s.leaveWork(ctx, &w, 0, nil)
			n++
		}
	}
	if n > 0 {
		s.logger.InfoContext(ctx, "worker: leases handed over", "count", n)
	}
}

// wakeDispatcher tells the worker that work is due, without waiting.
func (s *Orders) wakeDispatcher() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runOutbox runs the side effects due for order o and clears those done. It
// returns nil when nothing is left to do, else why: the failures of the side
// effects left, each named. A side effect the dependency refuses as invalid
// is dropped (logged): repeating it cannot succeed. Once the payment
// notification is sent, the order's delivery starts: PaymentProcessed →
// DeliveryStarted and the clearing of what was done are one update
// (startDelivery).
func (s *Orders) runOutbox(ctx context.Context, o Order) error {
	id := o.ID
	var err error
	var done Outbox
	var failed []error
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
			failed = append(failed, fmt.Errorf("%s: %w", what, err))
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
		// They will run again: each is idempotent.
		return errors.Join(append(failed, fmt.Errorf("recording the side effects done: %w", err))...)
	}
	return errors.Join(failed...)
}

// startDelivery moves an order whose payment notification was sent from
// PaymentProcessed to DeliveryStarted, clearing the side effects done in the
// same update. If the order moved on meanwhile (the DeliveryStarted method,
// which clears the notification too), it only clears what is still there.
func (s *Orders) startDelivery(ctx context.Context, id string, done Outbox) error {
	cur, err := s.transition(ctx, id, StatusPaymentProcessed, StatusDeliveryStarted, Change{At: s.now(), Done: done})
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
