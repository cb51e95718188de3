package product

// Clearing the marks of finished reservations, in batches.
//
// Once a reservation records its outcome (reserved, or released), the marks
// its call left on the products say nothing the state does not: they are
// leftovers, harmless (see stock.go) but kept in the product documents every
// take reads. Rather than spend one more store command per reservation on
// them, the call hands them to the service's flusher, which clears all the
// queued marks in one command (one {_id}-only update per product) every
// flushInterval, or as soon as flushAt marks wait. Nothing depends on it:
// marks it never clears (a crash, a failed command) stay harmless, and while
// it is not running, or when its queue is full, a call clears its own marks
// at once as one command, as it always did.

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Tuning of the flusher.
const (
	// flushInterval is how long a mark waits at most before its flush
	// starts.
	flushInterval = 100 * time.Millisecond
	// flushAt is the number of queued marks that starts a flush before the
	// interval.
	flushAt = 512
	// maxQueued is the most marks the queue holds; the marks of a call that
	// would overflow it are cleared by the call itself.
	maxQueued = 4096
	// flushTimeout bounds one flush, the last one at stop included.
	flushTimeout = 10 * time.Second
)

// mark is a mark to clear: the take mark (or, if ret, the return mark) of
// an order on a product.
type mark struct {
	productID, orderID string
	ret                bool
}

// markFlusher queues the marks of finished reservations and clears them in
// batches while run runs. It is safe for concurrent use.
type markFlusher struct {
	store    Store
	logger   *slog.Logger
	interval time.Duration
	flushAt  int
	max      int

	mu      sync.Mutex
	running bool
	queue   []mark
	due     chan struct{} // holds a token when flushAt marks wait
}

func newMarkFlusher(store Store, logger *slog.Logger) *markFlusher {
	return &markFlusher{
		store: store, logger: logger,
		interval: flushInterval, flushAt: flushAt, max: maxQueued,
		due: make(chan struct{}, 1),
	}
}

// add queues ms and reports true, or reports false, queueing nothing, when
// the flusher is not running or ms do not fit: the caller then clears them.
func (f *markFlusher) add(ms []mark) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running || len(f.queue)+len(ms) > f.max {
		return false
	}
	f.queue = append(f.queue, ms...)
	if len(f.queue) >= f.flushAt {
		select {
		case f.due <- struct{}{}:
		default:
		}
	}
	return true
}

// errFlusherRunning is run's error when another run is under way.
var errFlusherRunning = errors.New("product: the mark flusher is running already")

// run flushes the queued marks every interval, or sooner when flushAt wait,
// until ctx ends; then it stops queueing, flushes what is queued within
// flushTimeout and returns nil. A flush that fails is logged and its marks
// queued again if they fit (the last one's stay on the products).
func (f *markFlusher) run(ctx context.Context) error {
	if err := f.start(); err != nil {
		return err
	}
	f.serve(ctx)
	return nil
}

// start makes add queue marks.
func (f *markFlusher) start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		return errFlusherRunning
	}
	f.running = true
	return nil
}

// serve is run once started.
func (f *markFlusher) serve(ctx context.Context) {
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			f.running = false
			f.mu.Unlock()
			f.flush(ctx)
			return
		case <-tick.C:
		case <-f.due:
		}
		f.flush(ctx)
	}
}

// flush clears the queued marks in one command.
func (f *markFlusher) flush(ctx context.Context) {
	f.mu.Lock()
	ms := f.queue
	f.queue = nil
	f.mu.Unlock()
	if len(ms) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	err := f.store.ClearMarks(fctx, groupMarks(ms))
	if err == nil {
		return
	}
	f.mu.Lock()
	requeued := f.running && len(f.queue)+len(ms) <= f.max
	if requeued {
		f.queue = append(ms, f.queue...)
	}
	f.mu.Unlock()
	f.logger.WarnContext(ctx, "clearing the marks of finished reservations failed; harmless",
		"marks", len(ms), "retry", requeued, "error", err)
}

// groupMarks gathers marks by product, in product id order.
func groupMarks(ms []mark) []ProductMarks {
	by := make(map[string]*ProductMarks)
	for _, m := range ms {
		pm := by[m.productID]
		if pm == nil {
			pm = &ProductMarks{ProductID: m.productID}
			by[m.productID] = pm
		}
		if m.ret {
			pm.Returns = append(pm.Returns, m.orderID)
		} else {
			pm.Takes = append(pm.Takes, m.orderID)
		}
	}
	out := make([]ProductMarks, 0, len(by))
	for _, pm := range by {
		out = append(out, *pm)
	}
	slices.SortFunc(out, func(a, b ProductMarks) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return out
}

// clearMarks has the marks of items left by the order's call cleared, take
// marks or (ret) return marks, once its reservation records the outcome:
// by the flusher when it takes them, else at once. A failure leaves them in
// place, which is harmless.
func (s *service) clearMarks(ctx context.Context, orderID string, items []Item, ret bool) {
	ms := make([]mark, len(items))
	for i, it := range items {
		ms[i] = mark{productID: it.ProductID, orderID: orderID, ret: ret}
	}
	if s.marks.add(ms) {
		return
	}
	if err := s.store.ClearMarks(ctx, groupMarks(ms)); err != nil {
		s.logger.WarnContext(ctx, "outcome recorded, its marks stay; harmless", "order", orderID, "error", err)
	}
}
