package payment

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Reconciler finishes the payments that nobody asks about: every [Options.ReconcileInterval] it looks at
// the marks of the payments that may be Pending ([Store.Marks]) older than [Options.VoidAfter] and resolves
// each through the service's GetPayment, which records the processor's result of its charge or, when the
// processor never received one, voids the key and records the payment Voided. A mark whose payment is final
// is dropped; so is one with no payment (its caller died between the mark and the insert), after its key
// is voided, so that a charge still on its way under it cannot succeed.
//
// Several replicas may run a Reconciler on one database: every step is a conditional transition or an
// idempotent processor call by key, so two of them resolving one payment record one result.
//
// With the defaults, a payment whose charge never reached the processor is final at most VoidAfter +
// ReconcileInterval (15 s) after its creation, or at the first GetPayment after VoidAfter.
type Reconciler struct {
	store     Store
	processor Processor
	svc       Service
	interval  time.Duration
	voidAfter time.Duration
	now       func() time.Time
	logger    *slog.Logger
}

// NewReconciler returns the Reconciler of svc, the service (as NewService returns it) on store and
// processor, with opts as given to NewService.
func NewReconciler(store Store, processor Processor, svc Service, opts Options) *Reconciler {
	r := &Reconciler{store: store, processor: processor, svc: svc, interval: opts.ReconcileInterval,
		voidAfter: opts.VoidAfter, now: opts.Now, logger: opts.Logger}
	if r.interval <= 0 {
		r.interval = DefaultReconcileInterval
	}
	if r.voidAfter <= 0 {
		r.voidAfter = DefaultVoidAfter
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Run is a background worker: a round of Reconcile every interval until ctx is done; it then returns nil.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.Reconcile(ctx)
		}
	}
}

// Reconcile is one round: it resolves every marked payment older than VoidAfter and drops the marks of
// those that are final.
func (r *Reconciler) Reconcile(ctx context.Context) {
	marks, err := r.store.Marks(ctx)
	if err != nil {
		r.logger.WarnContext(ctx, "reconciler: listing the pending payments failed", "err", err)
		return
	}
	for _, m := range marks {
		if ctx.Err() != nil {
			return
		}
		if r.now().Sub(m.At) < r.voidAfter {
			continue
		}
		p, err := r.svc.GetPayment(ctx, m.OrderID)
		switch {
		case errors.Is(err, ErrNotFound):
			if _, err := r.processor.Void(ctx, m.OrderID); err != nil {
				r.logger.WarnContext(ctx, "reconciler: voiding the key of a mark without payment failed", "order_id", m.OrderID, "err", err)
				continue
			}
		case err != nil:
			r.logger.WarnContext(ctx, "reconciler: resolving a payment failed", "order_id", m.OrderID, "err", err)
			continue
		case p.Status == StatusPending:
			continue // the processor could not be asked: next round
		}
		if err := r.store.Unmark(ctx, m.OrderID); err != nil {
			r.logger.WarnContext(ctx, "reconciler: dropping a mark failed", "order_id", m.OrderID, "err", err)
		}
	}
}
