package product

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestFlusherBatches: concurrent reservations cost 3 store commands each,
// and all their marks go in one command when the flusher stops.
func TestFlusherBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := newTestDB(t)
	s, err := NewMongoStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ids := seed(t, s, 100, 100, 100)
	svc := newTestCore(t, s, newClock())
	stop := runFlusher(t, svc, never, maxQueued)

	const n = 30
	count := testCommands.mark(db.Name())
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			items := []Item{{ids[i%3], 1}, {ids[(i+1)%3], 2}}
			if _, err := svc.ReserveStock(ctx, fmt.Sprintf("o%d", i), items); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Each: insert, two takes (one update per product on the embedded
	// store), reserved; plus the first read of each product. The writes
	// waiting for the connection go together, an update or insert command
	// per batch and collection (docstore.Updater), so there are at most 4n+3
	// commands, and at least the reads and one of each kind.
	if got := count(); got < 3+3 || got > 4*n+3 {
		t.Errorf("%d reservations sent %d store commands, want %d to %d", n, got, 3+3, 4*n+3)
	}
	if in, _ := mongoHarnessOf(s).marks(t, "p1"); len(in) != 2*n/3 {
		t.Errorf("p1 carries %d take marks before the flush, want %d", len(in), 2*n/3)
	}

	count = testCommands.mark(db.Name())
	before := len(testRecorder.Commands(db.Name(), productsCollection))
	stop()
	if got := count(); got != 3 {
		t.Errorf("the flush sent %d store commands, want 3", got)
	}
	cmds := testRecorder.Commands(db.Name(), productsCollection)[before:]
	if len(cmds) != 3 || !idOnlyUpdates(cmds) {
		t.Errorf("the flush sent %v, want one update per product, by _id alone", cmds)
	}
	noMarks(t, mongoHarnessOf(s), ids...)
	wantStocks(t, s, ids, 70, 70, 70)
}

// TestFlusherFlushesWhenManyWait: flushAt queued marks start a flush
// without waiting for the interval.
func TestFlusherFlushesWhenManyWait(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	ids := seed(t, store, 10, 10)
	svc := newTestCore(t, store, newClock())
	stop := runFlusher(t, svc, never, 4)

	for i := range 2 {
		if _, err := svc.ReserveStock(t.Context(), fmt.Sprintf("o%d", i), []Item{{"p1", 1}, {"p2", 1}}); err != nil {
			t.Fatal(err)
		}
	}
	// The flush runs in the flusher's goroutine: wait for it.
	for deadline := time.Now().Add(10 * time.Second); store.clearCount() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("4 queued marks (flushAt) did not start a flush")
		}
	}
	stop()
	if got := store.clearCount(); got != 1 {
		t.Errorf("%d clearing commands, want the one for all 4 marks", got)
	}
	noMarks(t, fakeHarnessOf(store), ids...)
}

// TestFlusherQueueFull: a call whose marks do not fit in the queue clears
// them itself, at once, all of them.
func TestFlusherQueueFull(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	seed(t, store, 10, 10)
	svc := newTestCore(t, store, newClock())
	svc.marks.max = 3
	// Started, never flushing: what is queued stays queued.
	if err := svc.marks.start(); err != nil {
		t.Fatal(err)
	}
	if err := svc.marks.start(); !errors.Is(err, errFlusherRunning) {
		t.Errorf("second start: %v, want errFlusherRunning", err)
	}
	ctx := t.Context()
	wantMarks := func(id, in, ret string) {
		t.Helper()
		gotIn, gotRet := store.marks(id)
		if fmt.Sprint(gotIn) != in || fmt.Sprint(gotRet) != ret {
			t.Errorf("marks of %s: %v %v, want %s %s", id, gotIn, gotRet, in, ret)
		}
	}

	if _, err := svc.ReserveStock(ctx, "o1", []Item{{"p1", 1}, {"p2", 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReserveStock(ctx, "o2", []Item{{"p1", 1}}); err != nil {
		t.Fatal(err)
	}
	if store.clearCount() != 0 {
		t.Fatal("marks that fit the queue were cleared at once")
	}
	wantMarks("p1", "[o1 o2]", "[]")

	// Full: o3 clears its own.
	if _, err := svc.ReserveStock(ctx, "o3", []Item{{"p1", 1}}); err != nil {
		t.Fatal(err)
	}
	if store.clearCount() != 1 {
		t.Fatalf("%d clearing commands, want o3's own", store.clearCount())
	}
	wantMarks("p1", "[o1 o2]", "[]")

	// A release whose return marks do not fit, likewise; its return took
	// its take marks.
	if released, err := svc.ReleaseStock(ctx, "o1"); err != nil || !released {
		t.Fatalf("release = %v, %v", released, err)
	}
	if store.clearCount() != 2 {
		t.Fatalf("%d clearing commands, want o1's return marks cleared at once", store.clearCount())
	}
	wantMarks("p1", "[o2]", "[]")
	wantMarks("p2", "[]", "[]")
	wantStocks(t, store, []string{"p1", "p2"}, 8, 10)
}

// TestFlusherRetriesAFailedFlush: the marks of a failed flush wait for the
// next one; at stop, they stay on the products.
func TestFlusherRetriesAFailedFlush(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	seed(t, store, 10)
	svc := newTestCore(t, store, newClock())
	f := svc.marks
	if err := f.start(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := svc.ReserveStock(ctx, "o1", []Item{{"p1", 1}}); err != nil {
		t.Fatal(err)
	}

	store.mu.Lock()
	store.err = errors.New("store down")
	store.mu.Unlock()
	f.flush(ctx)
	if len(f.queue) != 1 {
		t.Fatalf("%d marks queued after a failed flush, want 1", len(f.queue))
	}
	store.mu.Lock()
	store.err = nil
	store.mu.Unlock()
	f.flush(ctx)
	if in, _ := store.marks("p1"); len(in) != 0 || len(f.queue) != 0 {
		t.Fatalf("after the retry: inflight %v, queue %v", in, f.queue)
	}
}

// TestMarksNeverFlushed is the crash at the very end with batching: a
// process queues the marks of its reservations and releases and dies before
// any flush. Its marks stay on the products, and every later call, of its
// orders or others, in it or in the next process, behaves as if they were
// gone; the next release of its orders clears them.
func TestMarksNeverFlushed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		ids := seed(t, h.store, 10, 10)
		c := newClock()
		dying := newTestCore(t, h.store, c)
		if err := dying.marks.start(); err != nil { // started, dead before its first flush
			t.Fatal(err)
		}
		wantMarks := func(id string, in, ret []string) {
			t.Helper()
			gotIn, gotRet := h.marks(t, id)
			if !slices.Equal(gotIn, in) || !slices.Equal(gotRet, ret) {
				t.Errorf("marks of %s: %v %v, want %v %v", id, gotIn, gotRet, in, ret)
			}
		}

		if _, err := dying.ReserveStock(ctx, "o1", []Item{{"p1", 4}, {"p2", 1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := dying.ReserveStock(ctx, "o2", []Item{{"p1", 6}}); err != nil {
			t.Fatal(err)
		}
		if _, err := dying.ReserveStock(ctx, "o3", []Item{{"p2", 2}}); err != nil {
			t.Fatal(err)
		}
		if released, err := dying.ReleaseStock(ctx, "o3"); err != nil || !released {
			t.Fatalf("release o3 = %v, %v", released, err)
		}
		// No stock for another order, however many marks p1 carries.
		if _, err := dying.ReserveStock(ctx, "o4", []Item{{"p1", 1}}); !errors.Is(err, ErrInsufficientStock) {
			t.Fatalf("reserve from an empty p1: err = %v, want ErrInsufficientStock", err)
		}
		wantStocks(t, h.store, ids, 0, 9)
		wantMarks("p1", []string{"o1", "o2"}, nil)
		wantMarks("p2", []string{"o1"}, []string{"o3"})

		// The next process (clearing its own marks): the orders of the dead
		// one answer from their records, exactly once.
		next := newTestService(t, h.store, c)
		if res, err := next.ReserveStock(ctx, "o1", []Item{{"p2", 1}, {"p1", 4}}); err != nil || !res.Replayed {
			t.Fatalf("repeat of o1 = %+v, %v", res, err)
		}
		if _, err := next.ReserveStock(ctx, "o3", []Item{{"p2", 2}}); !errors.Is(err, ErrReservationReleased) {
			t.Fatalf("reserve of the released o3: err = %v, want ErrReservationReleased", err)
		}
		if released, err := next.ReleaseStock(ctx, "o3"); err != nil || released {
			t.Fatalf("second release of o3 = %v, %v; want false", released, err)
		}
		if released, err := next.ReleaseStock(ctx, "o1"); err != nil || !released {
			t.Fatalf("release of o1 = %v, %v", released, err)
		}
		if released, err := next.ReleaseStock(ctx, "o1"); err != nil || released {
			t.Fatalf("second release of o1 = %v, %v; want false", released, err)
		}
		wantStocks(t, h.store, ids, 4, 10)
		wantMarks("p1", []string{"o2"}, nil)
		wantMarks("p2", nil, []string{"o3"})

		// Other orders take exactly what is there.
		if _, err := next.ReserveStock(ctx, "o5", []Item{{"p1", 4}, {"p2", 10}}); err != nil {
			t.Fatal(err)
		}
		if _, err := next.ReserveStock(ctx, "o6", []Item{{"p1", 1}}); !errors.Is(err, ErrInsufficientStock) {
			t.Fatalf("reserve beyond the stock: err = %v, want ErrInsufficientStock", err)
		}
		wantStocks(t, h.store, ids, 0, 0)
		// The release of o2 clears the last take mark of the dead process.
		if released, err := next.ReleaseStock(ctx, "o2"); err != nil || !released {
			t.Fatalf("release of o2 = %v, %v", released, err)
		}
		wantStocks(t, h.store, ids, 6, 0)
		wantMarks("p1", nil, nil)
		wantMarks("p2", nil, []string{"o3"}) // until something clears it: harmless
	})
}
