package product

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/docstore"
)

// noMarks fails the test if any product carries a mark.
func noMarks(t *testing.T, h harness, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if in, ret := h.marks(t, id); len(in) != 0 || len(ret) != 0 {
			t.Errorf("product %s: inflight %v, returning %v; want no marks", id, in, ret)
		}
	}
}

func wantStocks(t *testing.T, s Store, ids []string, want ...int64) {
	t.Helper()
	if got := stocks(t, s, ids...); !slices.Equal(got, want) {
		t.Errorf("stocks of %v = %v, want %v", ids, got, want)
	}
}

func TestReserveAndReleaseStock(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		ids := seed(t, h.store, 10, 10)
		svc := newTestService(t, h.store, newClock())

		// Duplicates are summed; items come back sorted.
		res, err := svc.ReserveStock(ctx, "o1", []Item{{"p2", 1}, {"p1", 2}, {"p2", 3}})
		if err != nil || res.Replayed || fmt.Sprint(res.Items) != "[{p1 2} {p2 4}]" || res.OrderID != "o1" {
			t.Fatalf("ReserveStock = %+v, %v", res, err)
		}
		wantStocks(t, h.store, ids, 8, 6)
		noMarks(t, h, ids...)

		// A repeat (same items, in another order) answers the same, takes nothing.
		res, err = svc.ReserveStock(ctx, "o1", []Item{{"p2", 4}, {"p1", 2}})
		if err != nil || !res.Replayed || fmt.Sprint(res.Items) != "[{p1 2} {p2 4}]" {
			t.Fatalf("repeat = %+v, %v", res, err)
		}
		wantStocks(t, h.store, ids, 8, 6)

		// A repeat with other items is refused.
		if _, err = svc.ReserveStock(ctx, "o1", []Item{{"p1", 1}}); !errors.Is(err, ErrOrderMismatch) {
			t.Fatalf("repeat with other items: err = %v, want ErrOrderMismatch", err)
		}

		// Not enough stock: nothing taken, the products named, the outcome remembered.
		_, err = svc.ReserveStock(ctx, "o2", []Item{{"p1", 8}, {"p2", 7}})
		var pe *ProductsError
		if !errors.Is(err, ErrInsufficientStock) || !errors.As(err, &pe) || fmt.Sprint(pe.ProductIDs) != "[p2]" {
			t.Fatalf("short: err = %v, want ErrInsufficientStock naming p2", err)
		}
		wantStocks(t, h.store, ids, 8, 6)
		noMarks(t, h, ids...)
		if _, err = h.store.AdjustStock(ctx, "p2", 10, MaxStock); err != nil {
			t.Fatal(err)
		}
		if _, err = svc.ReserveStock(ctx, "o2", []Item{{"p1", 8}, {"p2", 7}}); !errors.Is(err, ErrInsufficientStock) {
			t.Fatalf("repeat of a failed reservation: err = %v, want the remembered ErrInsufficientStock", err)
		}
		wantStocks(t, h.store, ids, 8, 16)

		// Unknown products: NotFound naming them, nothing taken.
		_, err = svc.ReserveStock(ctx, "o3", []Item{{"p1", 1}, {"zz", 1}, {"aa", 1}})
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &pe) || fmt.Sprint(pe.ProductIDs) != "[aa zz]" {
			t.Fatalf("unknown: err = %v, want ErrNotFound naming aa, zz", err)
		}
		wantStocks(t, h.store, ids, 8, 16)

		// Release puts it back, once.
		released, err := svc.ReleaseStock(ctx, "o1")
		if err != nil || !released {
			t.Fatalf("ReleaseStock = %v, %v", released, err)
		}
		wantStocks(t, h.store, ids, 10, 20)
		noMarks(t, h, ids...)
		if released, err = svc.ReleaseStock(ctx, "o1"); err != nil || released {
			t.Fatalf("second ReleaseStock = %v, %v; want false, nil", released, err)
		}
		wantStocks(t, h.store, ids, 10, 20)
		// A released order cannot be reserved again.
		if _, err = svc.ReserveStock(ctx, "o1", []Item{{"p1", 2}, {"p2", 4}}); !errors.Is(err, ErrReservationReleased) {
			t.Fatalf("reserve after release: err = %v, want ErrReservationReleased", err)
		}
		// Releasing a failed reservation changes nothing.
		if released, err = svc.ReleaseStock(ctx, "o2"); err != nil || released {
			t.Fatalf("release of a failed reservation = %v, %v", released, err)
		}

		// A release that overtakes its reservation: nothing to release, and
		// the late reservation takes nothing.
		if released, err = svc.ReleaseStock(ctx, "o4"); err != nil || released {
			t.Fatalf("release of an unknown order = %v, %v", released, err)
		}
		if _, err = svc.ReserveStock(ctx, "o4", []Item{{"p1", 1}}); !errors.Is(err, ErrReservationReleased) {
			t.Fatalf("reserve after an early release: err = %v, want ErrReservationReleased", err)
		}
		wantStocks(t, h.store, ids, 10, 20)
		noMarks(t, h, ids...)
	})
}

func TestReserveStockValidation(t *testing.T) {
	t.Parallel()
	svc := newTestService(t, newFakeStore(), newClock())
	many := make([]Item, MaxIDs+1)
	for i := range many {
		many[i] = Item{fmt.Sprintf("p%d", i), 1}
	}
	cases := []struct {
		name  string
		order string
		items []Item
	}{
		{"empty order id", "", []Item{{"p1", 1}}},
		{"order id with a space", "o 1", []Item{{"p1", 1}}},
		{"long order id", string(make([]byte, MaxIDLen+1)), []Item{{"p1", 1}}},
		{"no items", "o1", nil},
		{"empty product id", "o1", []Item{{"", 1}}},
		{"zero quantity", "o1", []Item{{"p1", 0}}},
		{"negative quantity", "o1", []Item{{"p1", -1}}},
		{"huge quantity", "o1", []Item{{"p1", MaxQuantity + 1}}},
		{"too many products", "o1", many},
	}
	for _, c := range cases {
		if _, err := svc.ReserveStock(t.Context(), c.order, c.items); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", c.name, err)
		}
	}
	if _, err := svc.ReleaseStock(t.Context(), ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("release without order id: err = %v, want ErrInvalidArgument", err)
	}
}

// forEachMode runs fn on each store, with the marks cleared by each call
// and by a flusher that flushes as often as it can (which it does until
// the returned stop, which waits for its last flush).
func forEachMode(t *testing.T, fn func(t *testing.T, h harness, svc Service, stop func())) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, h harness) {
				svc := newTestCore(t, h.store, newClock())
				stop := func() {}
				if batched {
					stop = runFlusher(t, svc, time.Millisecond, 3)
				}
				fn(t, h, svc, stop)
			})
		})
	}
}

// TestConcurrentReservationsNeverOversell: 100 orders of one unit each
// against a stock of 10.
func TestConcurrentReservationsNeverOversell(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, h harness, svc Service, stop func()) {
		ids := seed(t, h.store, 10)
		errs := make([]error, 100)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = svc.ReserveStock(t.Context(), fmt.Sprintf("order-%d", i), []Item{{"p1", 1}})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrInsufficientStock):
				t.Errorf("unexpected error %v", err)
			}
		}
		if ok != 10 {
			t.Errorf("%d reservations succeeded, want 10", ok)
		}
		stop()
		wantStocks(t, h.store, ids, 0)
		noMarks(t, h, ids...)
	})
}

// TestConcurrentIdenticalReservations: one order sent 20 times at once
// takes its stock once, whether the calls reach one instance of the service
// or several sharing the store.
func TestConcurrentIdenticalReservations(t *testing.T) {
	t.Parallel()
	for _, instances := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d instances", instances), func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, h harness) {
				ids := seed(t, h.store, 100, 100)
				c := newClock()
				svcs := make([]Service, instances)
				for i := range svcs {
					svcs[i] = newTestService(t, h.store, c)
				}
				items := []Item{{"p1", 3}, {"p2", 1}, {"p1", 2}}
				results := make([]ReserveResult, 20)
				errs := make([]error, 20)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Go(func() {
						results[i], errs[i] = svcs[i%instances].ReserveStock(t.Context(), "order-1", items)
					})
				}
				wg.Wait()
				first := 0
				for i, err := range errs {
					switch {
					case err == nil && !results[i].Replayed:
						first++
					case err == nil:
					case instances > 1 && errors.Is(err, ErrReservationBusy):
						// Another instance held the order at that moment.
					default:
						t.Errorf("call %d: %v", i, err)
					}
				}
				if first != 1 {
					t.Errorf("%d calls made the reservation, want 1", first)
				}
				wantStocks(t, h.store, ids, 95, 99)
				noMarks(t, h, ids...)
				// Every instance now answers with the reservation.
				for _, svc := range svcs {
					if res, err := svc.ReserveStock(t.Context(), "order-1", items); err != nil || !res.Replayed {
						t.Errorf("repeat = %+v, %v", res, err)
					}
				}
			})
		})
	}
}

// TestConcurrentReserveAndRelease: whichever of a reservation and its
// release comes first, no stock leaks.
func TestConcurrentReserveAndRelease(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, h harness, svc Service, stop func()) {
		ids := seed(t, h.store, 1000)
		var wg sync.WaitGroup
		for i := range 50 {
			order := fmt.Sprintf("order-%d", i)
			wg.Go(func() {
				_, err := svc.ReserveStock(t.Context(), order, []Item{{"p1", 2}})
				if err != nil && !errors.Is(err, ErrReservationReleased) {
					t.Errorf("reserve %s: %v", order, err)
				}
			})
			wg.Go(func() {
				if _, err := svc.ReleaseStock(t.Context(), order); err != nil {
					t.Errorf("release %s: %v", order, err)
				}
			})
		}
		wg.Wait()
		stop()
		wantStocks(t, h.store, ids, 1000)
		noMarks(t, h, ids...)
	})
}

// crashCase is a call that dies at one step of the protocol, and what the
// stock must be right after the crash.
type crashCase struct {
	name      string
	at        string
	reserve   bool    // the crashing call is ReserveStock (else: ReleaseStock after a reservation)
	items     []Item  // of the reservation
	afterDead []int64 // stocks of p1, p2, p3 just after the crash
	// wantReserved: the recovered ReserveStock succeeds (else it fails with
	// ErrInsufficientStock, or ErrReservationReleased after a release).
	wantReserved bool
	// wantReleased: what the recovering ReleaseStock reports. A release that
	// finishes a dead release reports true, as the dead call would have.
	wantReleased bool
}

var crashCases = []crashCase{
	{name: "reserve dies after the first take", at: crashMidTake, reserve: true,
		items: []Item{{"p1", 1}, {"p2", 2}, {"p3", 3}}, afterDead: []int64{9, 10, 10}, wantReserved: true, wantReleased: true},
	{name: "reserve dies before recording", at: crashBeforeRecord, reserve: true,
		items: []Item{{"p1", 1}, {"p2", 2}, {"p3", 3}}, afterDead: []int64{9, 8, 7}, wantReserved: true, wantReleased: true},
	{name: "failing reserve dies half-way through the undo", at: crashMidUndo, reserve: true,
		items: []Item{{"p1", 1}, {"p2", 2}, {"p3", 30}}, afterDead: []int64{10, 8, 10}, wantReleased: true},
	{name: "failing reserve dies before recording", at: crashBeforeRecord, reserve: true,
		items: []Item{{"p1", 1}, {"p2", 2}, {"p3", 30}}, afterDead: []int64{10, 10, 10}},
	{name: "release dies after the first return", at: crashMidReturn,
		items: []Item{{"p1", 1}, {"p2", 2}, {"p3", 3}}, afterDead: []int64{10, 8, 7}, wantReleased: true},
	{name: "release dies before recording", at: crashBeforeRelease,
		items: []Item{{"p1", 1}, {"p2", 2}, {"p3", 3}}, afterDead: []int64{10, 10, 10}, wantReleased: true},
}

// TestCrashRecovery kills a call at each step (crashStore), then checks that
// a new process (a new service after the lease) repairs it exactly, by a
// repeat of the reservation or by a release. The calls are sequential, so it
// runs in the MongoDB mode too: there a repeat's takes are one update command
// whose matched count leaves out the products already marked.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	for _, cc := range crashCases {
		for _, recover := range []string{"reserve", "release"} {
			t.Run(cc.name+", then "+recover, func(t *testing.T) {
				t.Parallel()
				forEachStore(t, func(t *testing.T, h harness) {
					testCrash(t, h, cc, recover)
				})
				t.Run("mongodb", func(t *testing.T) {
					t.Parallel()
					testCrash(t, mongoHarness(t, docstore.WithBackend(docstore.MongoDB)), cc, recover)
				})
			})
		}
	}
}

func testCrash(t *testing.T, h harness, cc crashCase, recover string) {
	ctx := t.Context()
	ids := seed(t, h.store, 10, 10, 10)
	c := newClock()
	crashing := &crashStore{Store: h.store}
	dying := newTestService(t, crashing, c)

	if !cc.reserve {
		if _, err := dying.ReserveStock(ctx, "o1", cc.items); err != nil {
			t.Fatal(err)
		}
	}
	crashing.at = cc.at
	var err error
	if cc.reserve {
		_, err = dying.ReserveStock(ctx, "o1", cc.items)
	} else {
		_, err = dying.ReleaseStock(ctx, "o1")
	}
	if !errors.Is(err, errCrash) {
		t.Fatalf("crashing call: err = %v, want the crash", err)
	}
	wantStocks(t, h.store, ids, cc.afterDead...)

	// Another process, while the dead call's lease runs: busy (a reservation
	// being released is refused at once).
	other := newTestService(t, h.store, c)
	wantErr := ErrReservationBusy
	if !cc.reserve {
		wantErr = ErrReservationReleased
	}
	if _, err = other.ReserveStock(ctx, "o1", cc.items); !errors.Is(err, wantErr) {
		t.Fatalf("reserve during the lease: err = %v, want %v", err, wantErr)
	}
	if _, err = other.ReleaseStock(ctx, "o1"); !errors.Is(err, ErrReservationBusy) {
		t.Fatalf("release during the lease: err = %v, want ErrReservationBusy", err)
	}
	wantStocks(t, h.store, ids, cc.afterDead...)

	// After the lease, the other process repairs it.
	c.Advance(DefaultLease + 1)
	full := []int64{9, 8, 7}
	none := []int64{10, 10, 10}
	switch {
	case recover == "reserve" && !cc.reserve:
		if _, err = other.ReserveStock(ctx, "o1", cc.items); !errors.Is(err, ErrReservationReleased) {
			t.Fatalf("reserve after a dead release: err = %v, want ErrReservationReleased", err)
		}
		// The release is not finished: a release finishes it.
		if released, err := other.ReleaseStock(ctx, "o1"); err != nil || !released {
			t.Fatalf("release = %v, %v", released, err)
		}
		wantStocks(t, h.store, ids, none...)
	case recover == "reserve" && cc.wantReserved:
		res, err := other.ReserveStock(ctx, "o1", cc.items)
		if err != nil || !res.Replayed {
			t.Fatalf("recovering reserve = %+v, %v", res, err)
		}
		wantStocks(t, h.store, ids, full...)
		// And it releases exactly.
		if released, err := other.ReleaseStock(ctx, "o1"); err != nil || !released {
			t.Fatalf("release = %v, %v", released, err)
		}
		wantStocks(t, h.store, ids, none...)
	case recover == "reserve":
		if _, err = other.ReserveStock(ctx, "o1", cc.items); !errors.Is(err, ErrInsufficientStock) {
			t.Fatalf("recovering reserve: err = %v, want ErrInsufficientStock", err)
		}
		wantStocks(t, h.store, ids, none...)
	default:
		released, err := other.ReleaseStock(ctx, "o1")
		if err != nil {
			t.Fatalf("recovering release: %v", err)
		}
		wantStocks(t, h.store, ids, none...)
		if released != cc.wantReleased {
			t.Errorf("released = %v, want %v", released, cc.wantReleased)
		}
		if _, err = other.ReserveStock(ctx, "o1", cc.items); !errors.Is(err, ErrReservationReleased) {
			t.Fatalf("reserve after the release: err = %v, want ErrReservationReleased", err)
		}
	}
	noMarks(t, h, ids...)
	// Nothing more moves.
	if released, err := other.ReleaseStock(ctx, "o1"); err != nil || released {
		t.Fatalf("final release = %v, %v; want false, nil", released, err)
	}
	wantStocks(t, h.store, ids, none...)
}

// TestResumeOwnCall: a call of the same service that failed half-way is
// resumed at once by the next call, without waiting for its lease.
func TestResumeOwnCall(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		ids := seed(t, h.store, 10, 10)
		crashing := &crashStore{Store: h.store, at: crashMidTake}
		svc := newTestService(t, crashing, newClock())
		items := []Item{{"p1", 4}, {"p2", 5}}
		if _, err := svc.ReserveStock(ctx, "o1", items); !errors.Is(err, errCrash) {
			t.Fatalf("err = %v, want the crash", err)
		}
		res, err := svc.ReserveStock(ctx, "o1", items)
		if err != nil || !res.Replayed {
			t.Fatalf("resumed = %+v, %v", res, err)
		}
		wantStocks(t, h.store, ids, 6, 5)
		noMarks(t, h, ids...)
	})
}

// TestLeftoverMarks: a call that dies after recording its outcome, before
// clearing its marks, has done its work; the marks harm nothing.
func TestLeftoverMarks(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		ids := seed(t, h.store, 10)
		crashing := &crashStore{Store: h.store, at: crashBeforeClear}
		svc := newTestService(t, crashing, newClock())
		if _, err := svc.ReserveStock(ctx, "o1", []Item{{"p1", 4}}); err != nil {
			t.Fatalf("reserve whose mark clearing fails: %v", err)
		}
		if in, _ := h.marks(t, "p1"); fmt.Sprint(in) != "[o1]" {
			t.Fatalf("inflight = %v, want the leftover [o1]", in)
		}
		// Other orders are unaffected, a repeat takes nothing.
		if _, err := svc.ReserveStock(ctx, "o2", []Item{{"p1", 6}}); err != nil {
			t.Fatal(err)
		}
		if res, err := svc.ReserveStock(ctx, "o1", []Item{{"p1", 4}}); err != nil || !res.Replayed {
			t.Fatalf("repeat = %+v, %v", res, err)
		}
		wantStocks(t, h.store, ids, 0)
		// The release returns it once and clears the leftover.
		crashing.at = crashBeforeClear
		if released, err := svc.ReleaseStock(ctx, "o1"); err != nil || !released {
			t.Fatalf("release = %v, %v", released, err)
		}
		if released, err := svc.ReleaseStock(ctx, "o1"); err != nil || released {
			t.Fatalf("second release = %v, %v", released, err)
		}
		wantStocks(t, h.store, ids, 4)
		if in, ret := h.marks(t, "p1"); len(in) != 0 || fmt.Sprint(ret) != "[o1]" {
			t.Fatalf("marks = %v, %v; want no take mark and the leftover return mark", in, ret)
		}
	})
}
