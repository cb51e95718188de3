package notification

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeOrders answers DeliveryStarted with fn's verdict and counts calls per order.
type fakeOrders struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(orderID string, call int) error
}

func (o *fakeOrders) DeliveryStarted(_ context.Context, orderID string) error {
	o.mu.Lock()
	if o.calls == nil {
		o.calls = make(map[string]int)
	}
	o.calls[orderID]++
	call, fn := o.calls[orderID], o.fn
	o.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(orderID, call)
}

func (o *fakeOrders) callsOf(orderID string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[orderID]
}

// sentNotification stores a Sent, unacknowledged notification.
func sentNotification(t *testing.T, s Store, orderID string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	n := Notification{OrderID: orderID, UserID: testUser, From: DefaultFrom, To: testTo, Subject: "s", Content: "c", Status: StatusPending, CreatedAt: now}
	if err := s.Insert(ctx, n, Lease{Owner: "o", Until: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkSent(ctx, orderID, now); err != nil {
		t.Fatal(err)
	}
}

func acknowledged(s Store, orderID string) bool {
	n, err := s.Get(context.Background(), orderID)
	return err == nil && n.DeliveryAcknowledged
}

// startWorker runs w until the test ends.
func startWorker(t *testing.T, w *DeliveryWorker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancellation", err)
		}
	})
}

func newTestWorker(t *testing.T, s Store, o Orders, reg prometheus.Registerer) *DeliveryWorker {
	t.Helper()
	w, err := NewDeliveryWorker(s, o, DeliveryOptions{
		InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDeliveryWorkerAcknowledgesQueuedOrders(t *testing.T) {
	t.Parallel()
	store, orders := newMemStore(), &fakeOrders{}
	w := newTestWorker(t, store, orders, nil)
	startWorker(t, w)
	for _, id := range []string{"a", "b"} {
		sentNotification(t, store, id)
		w.Enqueue(id)
	}
	waitFor(t, "both acknowledged", func() bool { return acknowledged(store, "a") && acknowledged(store, "b") })
	if orders.callsOf("a") != 1 || orders.callsOf("b") != 1 {
		t.Errorf("calls a=%d b=%d, want one each", orders.callsOf("a"), orders.callsOf("b"))
	}
	waitFor(t, "an empty queue", func() bool { return testutil.ToFloat64(w.queueLength) == 0 })
}

func TestDeliveryWorkerRetriesUntilAcknowledged(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	orders := &fakeOrders{fn: func(_ string, call int) error {
		if call <= 3 {
			return errors.New("unavailable")
		}
		return nil
	}}
	reg := prometheus.NewPedanticRegistry()
	w := newTestWorker(t, store, orders, reg)
	startWorker(t, w)
	sentNotification(t, store, "a")
	w.Enqueue("a")
	waitFor(t, "acknowledgement", func() bool { return acknowledged(store, "a") })
	if got := orders.callsOf("a"); got != 4 {
		t.Errorf("DeliveryStarted called %d times, want 4", got)
	}
	if got := testutil.ToFloat64(w.attempts.WithLabelValues("failed")); got != 3 {
		t.Errorf("failed attempts = %v, want 3", got)
	}
	if got := testutil.ToFloat64(w.attempts.WithLabelValues("ok")); got != 1 {
		t.Errorf("ok attempts = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "kitshop_notification_delivery_attempts_total"); err != nil || n != 3 {
		t.Errorf("registered attempt series = %d, %v; want 3", n, err)
	}
}

func TestDeliveryWorkerOneFailingOrderDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	orders := &fakeOrders{fn: func(id string, _ int) error {
		if id == "stuck" {
			return errors.New("unavailable")
		}
		return nil
	}}
	w := newTestWorker(t, store, orders, nil)
	startWorker(t, w)
	sentNotification(t, store, "stuck")
	w.Enqueue("stuck")
	waitFor(t, "retries of the stuck order", func() bool { return orders.callsOf("stuck") >= 3 })
	sentNotification(t, store, "fine")
	w.Enqueue("fine")
	waitFor(t, "the other order acknowledged", func() bool { return acknowledged(store, "fine") })
	if acknowledged(store, "stuck") {
		t.Error("the failing order is acknowledged")
	}
}

func TestDeliveryWorkerRejectedOrderIsDropped(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	orders := &fakeOrders{fn: func(string, int) error { return ErrOrderRejected }}
	w := newTestWorker(t, store, orders, nil)
	startWorker(t, w)
	sentNotification(t, store, "a")
	w.Enqueue("a")
	waitFor(t, "the rejection", func() bool { return testutil.ToFloat64(w.attempts.WithLabelValues("rejected")) == 1 })
	waitFor(t, "an empty queue", func() bool { return testutil.ToFloat64(w.queueLength) == 0 })
	if acknowledged(store, "a") {
		t.Error("a rejected delivery start is recorded as acknowledged")
	}
	if got := orders.callsOf("a"); got != 1 {
		t.Errorf("DeliveryStarted called %d times, want 1", got)
	}
}

func TestDeliveryWorkerFinishesUnacknowledgedAtStart(t *testing.T) {
	t.Parallel()
	store, orders := newMemStore(), &fakeOrders{}
	sentNotification(t, store, "before-restart")
	store.setFail(errStoreDown) // the store is not up yet at start
	w := newTestWorker(t, store, orders, nil)
	startWorker(t, w)
	waitFor(t, "a failed listing", func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.calls >= 2
	})
	store.setFail(nil)
	waitFor(t, "acknowledgement", func() bool { return acknowledged(store, "before-restart") })
}

func TestDeliveryWorkerRecordFailureRetries(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	sentNotification(t, store, "a")
	var once sync.Once
	orders := &fakeOrders{fn: func(string, int) error {
		// The store fails to record the first acknowledgement.
		once.Do(func() { store.setFail(errStoreDown) })
		return nil
	}}
	w := newTestWorker(t, store, orders, nil)
	w.Enqueue("a")
	startWorker(t, w)
	waitFor(t, "the first call", func() bool { return orders.callsOf("a") >= 1 })
	store.setFail(nil)
	waitFor(t, "acknowledgement", func() bool { return acknowledged(store, "a") })
	if orders.callsOf("a") < 2 {
		t.Errorf("DeliveryStarted called %d times, want a repeat after the failed record", orders.callsOf("a"))
	}
}

func TestNewDeliveryWorkerRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []DeliveryOptions{
		{InitialBackoff: -time.Second},
		{InitialBackoff: time.Second, MaxBackoff: time.Millisecond},
		{CallTimeout: -time.Second},
	} {
		if _, err := NewDeliveryWorker(newMemStore(), &fakeOrders{}, opts); err == nil {
			t.Errorf("NewDeliveryWorker(%+v) accepted", opts)
		}
	}
}

func TestDeliveryBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	w, err := NewDeliveryWorker(newMemStore(), &fakeOrders{}, DeliveryOptions{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for failures, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second, 100: time.Second} {
		for range 20 {
			if got := w.backoff(failures); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, got, want/2, want)
			}
		}
	}
}
