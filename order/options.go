package order

import (
	"flag"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/telemetry"
)

// Options tune the service. Zero fields take the defaults.
//
// The recovery bound: an order whose replica died is final at most
//
//	OrderTimeout + 5s + SweepGrace + DispatchInterval   (22.25s by default)
//
// after its creation, or Lease + DispatchInterval after a claim, as long as
// some replica runs and the payment service answers (each failed attempt
// waits SweepInterval). The payment service's -void-after must be shorter
// than the first three terms. docs/order.md derives it; the flags of
// cmd/order and cmd/shop set every part (RegisterFlags).
type Options struct {
	// OrderTimeout bounds all the calls CreateOrder makes (default 15s).
	OrderTimeout time.Duration
	// SweepInterval is the wait before a Pending order left by its handler
	// is looked at again when its payment is still pending or the payment
	// service did not answer (default 2s).
	SweepInterval time.Duration
	// SweepGrace is added to OrderTimeout and the final store update's own
	// limit before another replica may touch a Pending order, so that it
	// never races a handler still at work (default 2s).
	SweepGrace time.Duration
	// Lease is how long a replica holds the work it claimed: past it,
	// another replica may take the work over (default 10s). A round of an
	// order's work stops its calls before its lease ends.
	Lease time.Duration
	// DispatchInterval is how often the worker looks for due work besides
	// being woken (default 250ms).
	DispatchInterval time.Duration
	// OutboxBackoff and OutboxBackoffMax bound the exponential backoff of a
	// failing side effect (defaults 500ms and 1m).
	OutboxBackoff    time.Duration
	OutboxBackoffMax time.Duration
	// DispatchConcurrency is how many orders' side effects run at once (default 8).
	DispatchConcurrency int
	// MaxConcurrentOrders bounds the CreateOrder calls at work at once
	// (default 64; negative: no bound). A call past it waits up to
	// AdmissionWait for a turn (default 1s), then fails with ErrUnavailable
	// and a retry advice, having done nothing, so that under overload the
	// orders in progress keep their speed (docs/order.md, "Admission").
	MaxConcurrentOrders int
	AdmissionWait       time.Duration
	// NotifyWithin is how long CreateOrder waits for the payment
	// notification of an approved order (default 250ms; negative: it does
	// not wait). Sent in time, the order goes from Pending to DeliveryStarted
	// in one store update; otherwise (late, failed, refused, the notification
	// service down) it becomes PaymentProcessed with the notification queued
	// for the worker, as with a negative NotifyWithin. A notification sent
	// twice this way is one: the notification service keeps one per order.
	NotifyWithin time.Duration
	// RecordStatus is called each time an order reaches a status (metrics).
	RecordStatus func(Status)
	// Now is the clock of creation times, due times and leases (default time.Now).
	Now func() time.Time
	// Replica names this instance as the owner of the leases it takes
	// (default: random, new at every start).
	Replica string
	// CleanupDelay is how long the delete of a finished order's work entry
	// waits for others to go with it (docstore.Soon): 0, as NewService
	// leaves it, deletes at once; Build uses DefaultCleanupDelay. An entry
	// deleted late is held by this replica meanwhile, so nothing else works
	// on it.
	CleanupDelay time.Duration
	// Tracer is the order service's tracer provider, which starts the
	// worker's span for each work entry it works on, continuing the trace of
	// the request that caused the work (work_trace.go); default
	// telemetry.Disabled (spans not recorded).
	Tracer trace.TracerProvider
}

// Defaults of Options.
const (
	DefaultOrderTimeout        = 15 * time.Second
	DefaultSweepInterval       = 2 * time.Second
	DefaultSweepGrace          = 2 * time.Second
	DefaultLease               = 10 * time.Second
	DefaultDispatchInterval    = 250 * time.Millisecond
	DefaultOutboxBackoff       = 500 * time.Millisecond
	DefaultOutboxBackoffMax    = time.Minute
	DefaultDispatchConcurrency = 8
	DefaultMaxConcurrentOrders = 64
	DefaultAdmissionWait       = time.Second
	DefaultNotifyWithin        = 250 * time.Millisecond
	DefaultCleanupDelay        = 100 * time.Millisecond
	// finalizeTimeout bounds the store update that settles an order after
	// its calls, which runs even when the order's deadline has passed.
	finalizeTimeout = 5 * time.Second
)

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.OrderTimeout, DefaultOrderTimeout)
	def(&o.SweepInterval, DefaultSweepInterval)
	def(&o.SweepGrace, DefaultSweepGrace)
	def(&o.Lease, DefaultLease)
	def(&o.DispatchInterval, DefaultDispatchInterval)
	def(&o.OutboxBackoff, DefaultOutboxBackoff)
	def(&o.OutboxBackoffMax, DefaultOutboxBackoffMax)
	if o.DispatchConcurrency <= 0 {
		o.DispatchConcurrency = DefaultDispatchConcurrency
	}
	if o.MaxConcurrentOrders == 0 {
		o.MaxConcurrentOrders = DefaultMaxConcurrentOrders
	}
	def(&o.AdmissionWait, DefaultAdmissionWait)
	if o.NotifyWithin == 0 {
		o.NotifyWithin = DefaultNotifyWithin
	}
	if o.RecordStatus == nil {
		o.RecordStatus = func(Status) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tracer == nil {
		o.Tracer = telemetry.Disabled
	}
	return o
}

// RegisterFlags registers the flags of the Options a process sets: the parts
// of the recovery bound (-order-timeout, -sweep-interval, -sweep-grace,
// -lease, -dispatch-interval), admission (-max-concurrent-orders,
// -admission-wait) and -notify-within. cmd/order and cmd/shop share them.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.OrderTimeout, "order-timeout", DefaultOrderTimeout, "time limit of all the calls one order creation makes")
	fs.DurationVar(&o.SweepInterval, "sweep-interval", DefaultSweepInterval, "wait before a pending order left by its handler is looked at again, when its payment is still pending or the payment service does not answer")
	fs.DurationVar(&o.SweepGrace, "sweep-grace", DefaultSweepGrace, "extra hold, beyond -order-timeout and the final update's 5s, before another replica may settle a pending order")
	fs.DurationVar(&o.Lease, "lease", DefaultLease, "how long a replica holds the background work it claimed before another may take it over")
	fs.DurationVar(&o.DispatchInterval, "dispatch-interval", DefaultDispatchInterval, "how often the worker looks for due work (notifications, releases, refunds, pending orders left behind)")
	fs.IntVar(&o.MaxConcurrentOrders, "max-concurrent-orders", DefaultMaxConcurrentOrders, "most order creations at work at once; past it one waits up to -admission-wait for a turn, then gets 503 with Retry-After (negative: no bound)")
	fs.DurationVar(&o.AdmissionWait, "admission-wait", DefaultAdmissionWait, "longest wait of an order creation for a turn (see -max-concurrent-orders)")
	fs.DurationVar(&o.NotifyWithin, "notify-within", DefaultNotifyWithin, "how long an order creation waits for the payment notification before leaving it to the outbox (negative: always the outbox)")
}

// CheckFlags reports, through bad, each flag of RegisterFlags set to a value
// the service refuses.
func (o Options) CheckFlags(bad func(name, format string, args ...any)) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"order-timeout", o.OrderTimeout}, {"sweep-interval", o.SweepInterval}, {"sweep-grace", o.SweepGrace},
		{"lease", o.Lease}, {"dispatch-interval", o.DispatchInterval}, {"admission-wait", o.AdmissionWait}} {
		if d.v <= 0 {
			bad(d.name, "%s: must be positive", d.v)
		}
	}
	if o.MaxConcurrentOrders == 0 {
		bad("max-concurrent-orders", "must not be 0 (negative: no bound)")
	}
}
