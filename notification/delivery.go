package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kitshop/kitshop/internal/callmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Orders is the order service as this service needs it.
type Orders interface {
	// DeliveryStarted tells the order service that the order's delivery has
	// started. The order service treats a repeat as a no-op. An error
	// matching ErrOrderRejected means it refused for good; any other error
	// is worth retrying.
	DeliveryStarted(ctx context.Context, orderID string) error
}

// ErrOrderRejected means the order service refused DeliveryStarted for a
// reason a retry does not change (unknown order, order in another state).
var ErrOrderRejected = errors.New("order service rejected the delivery start")

// Defaults of DeliveryOptions.
const (
	DefaultDeliveryInitialBackoff = 500 * time.Millisecond
	DefaultDeliveryMaxBackoff     = time.Minute
	DefaultDeliveryCallTimeout    = 30 * time.Second
)

// DeliveryOptions configure NewDeliveryWorker. Zero fields take the defaults.
type DeliveryOptions struct {
	// InitialBackoff is the wait after an order's first failed attempt; it
	// doubles with each further failure up to MaxBackoff (both jittered).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// CallTimeout bounds one DeliveryStarted call, retries inside the client
	// included.
	CallTimeout time.Duration
	// Logger receives a line per order whose first attempt failed, per
	// rejection and per late success. Nil discards.
	Logger *slog.Logger
	// Registerer receives kitshop_notification_delivery_queue_length and
	// kitshop_notification_delivery_attempts_total{outcome}. Nil leaves them
	// unregistered; see InstrumentingMiddleware for re-registration.
	Registerer prometheus.Registerer
}

// DeliveryWorker calls OrderService.DeliveryStarted for every sent
// notification until the order service acknowledges it, then records the
// acknowledgement on the notification.
//
// Its queue lives in memory: the service adds each notification it sends
// (Enqueue), and Run adds, once at start-up, the Sent notifications whose
// acknowledgement is missing in the store (sent before a crash or a restart).
// That start-up query filters on fields other than _id, which the embedded
// store answers by scanning the collection; running it once per process start,
// instead of polling the store, keeps its cost bounded, and the queue holds
// only unacknowledged orders, which are few unless the order service is down.
// Every order is retried with its own jittered exponential backoff, so one
// order failing does not hold up the others. Two processes sharing a database
// each finish what they sent; an order the order service rejects for good is
// logged and left unacknowledged, to be tried again at the next start.
type DeliveryWorker struct {
	store       Store
	orders      Orders
	logger      *slog.Logger
	initial     time.Duration
	max         time.Duration
	callTimeout time.Duration
	queueLength prometheus.Gauge
	attempts    *prometheus.CounterVec

	mu      sync.Mutex
	pending map[string]*delivery
	// wake has room for one signal: Enqueue never blocks.
	wake chan struct{}
}

// delivery is the retry state of one queued order.
type delivery struct {
	failures int
	next     time.Time
}

// NewDeliveryWorker returns a worker reporting sent notifications of store to
// orders. Call Run to start it; Enqueue works before that.
func NewDeliveryWorker(store Store, orders Orders, opts DeliveryOptions) (*DeliveryWorker, error) {
	if store == nil || orders == nil {
		return nil, errors.New("notification: delivery worker needs a store and an order client")
	}
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = DefaultDeliveryInitialBackoff
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = max(DefaultDeliveryMaxBackoff, opts.InitialBackoff)
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = DefaultDeliveryCallTimeout
	}
	if opts.InitialBackoff < 0 || opts.MaxBackoff < opts.InitialBackoff || opts.CallTimeout < 0 {
		return nil, fmt.Errorf("notification: delivery backoff %s..%s or call timeout %s is invalid",
			opts.InitialBackoff, opts.MaxBackoff, opts.CallTimeout)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &DeliveryWorker{
		store:       store,
		orders:      orders,
		logger:      opts.Logger,
		initial:     opts.InitialBackoff,
		max:         opts.MaxBackoff,
		callTimeout: opts.CallTimeout,
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kitshop_notification_delivery_queue_length",
			Help: "Sent notifications whose delivery start the order service has not acknowledged yet.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kitshop_notification_delivery_attempts_total",
			Help: "OrderService.DeliveryStarted attempts by outcome: ok, failed (retried) or rejected.",
		}, []string{"outcome"}),
		pending: make(map[string]*delivery),
		wake:    make(chan struct{}, 1),
	}
	if opts.Registerer != nil {
		w.queueLength = callmetrics.Register(opts.Registerer, w.queueLength)
		w.attempts = callmetrics.Register(opts.Registerer, w.attempts)
	}
	for _, outcome := range []string{"ok", "failed", "rejected"} {
		w.attempts.WithLabelValues(outcome)
	}
	return w, nil
}

// Enqueue implements DeliveryQueue: orderID is due at once. It never blocks.
func (w *DeliveryWorker) Enqueue(orderID string) {
	w.mu.Lock()
	w.pending[orderID] = &delivery{}
	w.queueLength.Set(float64(len(w.pending)))
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run queues the unacknowledged notifications of the store, then reports
// queued orders until ctx ends, and returns nil.
func (w *DeliveryWorker) Run(ctx context.Context) error {
	if !w.loadUnacknowledged(ctx) {
		return nil
	}
	for {
		wait, idle := w.attemptDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var (
			timer   *time.Timer
			timeout <-chan time.Time // nil, never ready, while idle
		)
		if !idle {
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// loadUnacknowledged queues the store's unacknowledged notifications,
// retrying until the store answers; false means ctx ended first.
func (w *DeliveryWorker) loadUnacknowledged(ctx context.Context) bool {
	for failures := 1; ; failures++ {
		ids, err := w.store.Unacknowledged(ctx)
		if err == nil {
			for _, id := range ids {
				w.Enqueue(id)
			}
			if len(ids) > 0 {
				w.logger.InfoContext(ctx, "queued unacknowledged delivery starts", slog.Int("count", len(ids)))
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := w.backoff(failures)
		w.logger.WarnContext(ctx, "listing unacknowledged delivery starts failed, will retry",
			slog.Int("attempt", failures), slog.Duration("retry_in", wait), slog.Any("error", err))
		if sleep(ctx, wait) != nil {
			return false
		}
	}
}

// attemptDue tries every due order once and returns how long until the next
// one is due, or idle when the queue is empty.
func (w *DeliveryWorker) attemptDue(ctx context.Context) (wait time.Duration, idle bool) {
	now := time.Now()
	type due struct {
		orderID string
		state   *delivery
	}
	var todo []due
	w.mu.Lock()
	for id, d := range w.pending {
		if !d.next.After(now) {
			todo = append(todo, due{id, d})
		}
	}
	w.mu.Unlock()

	for _, d := range todo {
		if ctx.Err() != nil {
			return 0, true
		}
		w.attempt(ctx, d.orderID, d.state)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return 0, true
	}
	var earliest time.Time
	for _, d := range w.pending {
		if earliest.IsZero() || d.next.Before(earliest) {
			earliest = d.next
		}
	}
	return max(time.Until(earliest), 0), false
}

// attempt reports one order to the order service and updates its state,
// unless Enqueue replaced that state meanwhile (then it is due again).
func (w *DeliveryWorker) attempt(ctx context.Context, orderID string, d *delivery) {
	callCtx, cancel := context.WithTimeout(ctx, w.callTimeout)
	err := w.orders.DeliveryStarted(callCtx, orderID)
	cancel()
	if err == nil {
		// A failure to record it means calling again later: the order
		// service treats the repeat as a no-op.
		err = w.store.AcknowledgeDelivery(ctx, orderID)
	}
	if ctx.Err() != nil {
		return // shutting down; the next start finds it unacknowledged
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	current := w.pending[orderID] == d
	switch {
	case err == nil:
		w.attempts.WithLabelValues("ok").Inc()
		if current {
			delete(w.pending, orderID)
		}
		if d.failures > 0 {
			w.logger.InfoContext(ctx, "delivery start acknowledged after retries",
				slog.String("order_id", orderID), slog.Int("failed_attempts", d.failures))
		}
	case errors.Is(err, ErrOrderRejected):
		w.attempts.WithLabelValues("rejected").Inc()
		if current {
			delete(w.pending, orderID)
		}
		w.logger.ErrorContext(ctx, "order service rejected the delivery start; left unacknowledged until the next start",
			slog.String("order_id", orderID), slog.Any("error", err))
	default:
		w.attempts.WithLabelValues("failed").Inc()
		if !current {
			break
		}
		d.failures++
		wait := w.backoff(d.failures)
		d.next = time.Now().Add(wait)
		level := slog.LevelDebug
		if d.failures == 1 {
			level = slog.LevelWarn
		}
		w.logger.Log(ctx, level, "delivery start failed, will retry", slog.String("order_id", orderID),
			slog.Int("attempt", d.failures), slog.Duration("retry_in", wait), slog.Any("error", err))
	}
	w.queueLength.Set(float64(len(w.pending)))
}

// backoff returns the jittered wait after the given number of failures:
// between half and all of InitialBackoff·2^(failures-1), capped at MaxBackoff.
func (w *DeliveryWorker) backoff(failures int) time.Duration {
	d := w.initial
	for i := 1; i < failures && d < w.max; i++ {
		d *= 2
	}
	d = min(d, w.max)
	return d/2 + rand.N(d/2+1)
}
