package payment

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/telemetry"
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
//
// Each mark it resolves is a span "payment/reconcile" of [Options.Tracer], a child of the MakePayment call
// that made the mark (Mark.Trace), so that the lookup, the void and the store commands are in the trace of
// the order behind the payment; a mark without a trace, or with one that does not parse, gets a root span.
// Listing the marks, every round, makes no span.
type Reconciler struct {
	store     Store
	processor Processor
	svc       Service
	interval  time.Duration
	voidAfter time.Duration
	now       func() time.Time
	logger    *slog.Logger
	tracer    trace.Tracer
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
	tp := opts.Tracer
	if tp == nil {
		tp = telemetry.Disabled
	}
	r.tracer = tp.Tracer("github.com/kitshop/kitshop/payment")
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
		mctx, span := r.tracer.Start(telemetry.Continue(ctx, m.Trace), "payment/reconcile", trace.WithSpanKind(trace.SpanKindInternal))
		outcome, err := r.resolve(mctx, m)
		span.SetAttributes(attribute.String("kitshop.outcome", outcome))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// resolve resolves the payment of the mark m, dropping the mark once the payment is final, and returns
// the outcome: "final" (the mark dropped), "pending" (left for the next round) or "error".
func (r *Reconciler) resolve(ctx context.Context, m Mark) (string, error) {
	p, err := r.svc.GetPayment(ctx, m.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
		if _, err := r.processor.Void(ctx, m.OrderID); err != nil {
			r.logger.WarnContext(ctx, "reconciler: voiding the key of a mark without payment failed", "order_id", m.OrderID, "err", err)
			return "error", err
		}
	case err != nil:
		r.logger.WarnContext(ctx, "reconciler: resolving a payment failed", "order_id", m.OrderID, "err", err)
		return "error", err
	case p.Status == StatusPending:
		return "pending", nil // the processor could not be asked: next round
	}
	if err := r.store.Unmark(ctx, m.OrderID); err != nil {
		r.logger.WarnContext(ctx, "reconciler: dropping a mark failed", "order_id", m.OrderID, "err", err)
		return "error", err
	}
	return "final", nil
}
