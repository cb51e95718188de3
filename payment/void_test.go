package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSimulatorVoid: a key the network never charged is closed by Void, and every later Charge under it
// is declined as voided without charging; a charged key is not voided, and Void answers its charge.
func TestSimulatorVoid(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sim := NewSimulator(SimulatorOptions{})
	res, err := sim.Void(ctx, "never-charged")
	if err != nil || res.Approved || res.DeclineReason != ReasonVoided {
		t.Fatalf("Void of an unknown key = %+v %v, want declined %q", res, err, ReasonVoided)
	}
	if again, err := sim.Void(ctx, "never-charged"); err != nil || again != res {
		t.Fatalf("a second Void = %+v %v, want %+v", again, err, res)
	}
	late, err := sim.Charge(ctx, ChargeRequest{IdempotencyKey: "never-charged", Method: MethodKakao, Amount: 1000})
	if err != nil || late.Approved || late.DeclineReason != ReasonVoided {
		t.Fatalf("a late Charge under a voided key = %+v %v, want declined %q", late, err, ReasonVoided)
	}
	if got, err := sim.Lookup(ctx, "never-charged"); err != nil || got.DeclineReason != ReasonVoided {
		t.Fatalf("Lookup of a voided key = %+v %v", got, err)
	}
	if n := sim.Charges(); n != 0 {
		t.Fatalf("%d charges made, want none", n)
	}
	charged, err := sim.Charge(ctx, ChargeRequest{IdempotencyKey: "charged", Method: MethodKakao, Amount: 1000})
	if err != nil || !charged.Approved {
		t.Fatal(charged, err)
	}
	if res, err := sim.Void(ctx, "charged"); err != nil || res != charged {
		t.Fatalf("Void of a charged key = %+v %v, want its charge %+v", res, err, charged)
	}
	if _, err := sim.Void(ctx, ""); err == nil {
		t.Fatal("Void without a key succeeded")
	}
}

// TestSimulatorVoidRacesCharge: charges and voids of one key at once all see one outcome.
func TestSimulatorVoidRacesCharge(t *testing.T) {
	t.Parallel()
	for round := range 50 {
		sim := NewSimulator(SimulatorOptions{})
		key := fmt.Sprint("race-", round)
		var wg sync.WaitGroup
		results := make([]ChargeResult, 16)
		for i := range results {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					results[i], err = sim.Charge(t.Context(), ChargeRequest{IdempotencyKey: key, Method: MethodKakao, Amount: 1000})
				} else {
					results[i], err = sim.Void(t.Context(), key)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, r := range results[1:] {
			if r != results[0] {
				t.Fatalf("round %d: outcomes %+v and %+v", round, results[0], r)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[results[0].Approved]; sim.Charges() != want {
			t.Fatalf("round %d: %d charges for outcome %+v", round, sim.Charges(), results[0])
		}
	}
}

// clockAt is a settable clock.
type clockAt struct{ ns atomic.Int64 }

func newClockAt(t time.Time) *clockAt { c := &clockAt{}; c.ns.Store(t.UnixNano()); return c }
func (c *clockAt) Now() time.Time     { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clockAt) Advance(d time.Duration) {
	c.ns.Add(int64(d))
}

// lostProcessor is a network that a charge never reaches: the caller died before sending it.
type lostProcessor struct{ *Simulator }

func (lostProcessor) Charge(ctx context.Context, _ ChargeRequest) (ChargeResult, error) {
	return ChargeResult{}, context.DeadlineExceeded
}

// newLostPayments returns a store on the embedded store, a simulator, a clock at testNow, the options of a service on
// that clock, and a payment service whose charges never reach the simulator (lostProcessor).
func newLostPayments(t *testing.T) (*MongoStore, *Simulator, *clockAt, Options, Service) {
	t.Helper()
	store := newTestMongoStore(t, newTestDB(t))
	sim := NewSimulator(SimulatorOptions{})
	clk := newClockAt(testNow)
	opts := Options{CardKey: testCardKey, Now: clk.Now, ProcessorTimeout: time.Second}
	lost, err := NewService(store, lostProcessor{sim}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return store, sim, clk, opts, lost
}

// TestPaymentNeverReachedIsVoided: on the embedded store, a payment whose charge never reached the
// processor stays Pending while younger than VoidAfter, then becomes Voided at the first GetPayment, its
// mark dropped; a repeat of the payment then charges nothing and answers it Voided, a refund is refused,
// and a charge under its key at the network is declined.
func TestPaymentNeverReachedIsVoided(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, sim, clk, opts, lost := newLostPayments(t)
	req := cardRequest("o-lost", TestCardApproved)
	if _, err := lost.MakePayment(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("MakePayment with the charge lost: %v", err)
	}
	svc, err := NewService(store, sim, opts)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultVoidAfter - time.Second)
	if p, err := svc.GetPayment(ctx, "o-lost"); err != nil || p.Status != StatusPending {
		t.Fatalf("GetPayment before VoidAfter = %s %v, want Pending", p.Status, err)
	}
	clk.Advance(time.Second)
	p, err := svc.GetPayment(ctx, "o-lost")
	if err != nil || p.Status != StatusVoided {
		t.Fatalf("GetPayment after VoidAfter = %s %v, want Voided", p.Status, err)
	}
	if marks, err := store.Marks(ctx); err != nil || len(marks) != 0 {
		t.Errorf("marks %v %v, want none", marks, err)
	}
	if again, err := svc.MakePayment(ctx, req); err != nil || again.Status != StatusVoided {
		t.Fatalf("a repeat of the payment = %s %v, want it Voided", again.Status, err)
	}
	if _, err := svc.RefundPayment(ctx, "o-lost"); !errors.Is(err, ErrNotRefundable) {
		t.Fatalf("refund of a voided payment: %v, want ErrNotRefundable", err)
	}
	if res, err := sim.Charge(ctx, ChargeRequest{IdempotencyKey: "o-lost", Method: MethodKakao, Amount: 9500}); err != nil || res.Approved {
		t.Fatalf("a late charge under the voided key = %+v %v, want it declined", res, err)
	}
	if n := sim.Charges(); n != 0 {
		t.Errorf("%d charges made, want none", n)
	}
}

// TestReconciler: one round on the embedded store finishes the payments nobody asks about: a lost charge
// older than VoidAfter is voided, one the network made is recorded, a mark without a payment has its key
// voided and is dropped, and a young one is left alone.
func TestReconciler(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, sim, clk, opts, lost := newLostPayments(t)
	for _, id := range []string{"o-lost", "o-charged", "o-young"} {
		if id == "o-young" {
			clk.Advance(DefaultVoidAfter)
		}
		if _, err := lost.MakePayment(ctx, kakaoRequest(id)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	}
	// The network did get this one's charge (the answer was lost on the way back).
	if _, err := sim.Charge(ctx, ChargeRequest{IdempotencyKey: "o-charged", Method: MethodKakao, Amount: 3000}); err != nil {
		t.Fatal(err)
	}
	// A caller that died between the mark and the payment's insert.
	if _, err := store.Mark(ctx, Mark{OrderID: "o-orphan", At: testNow}); err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(store, sim, opts)
	if err != nil {
		t.Fatal(err)
	}
	NewReconciler(store, sim, svc, opts).Reconcile(ctx)

	for id, want := range map[string]Status{"o-lost": StatusVoided, "o-charged": StatusApproved, "o-young": StatusPending} {
		if p, err := store.Get(ctx, id); err != nil || p.Status != want {
			t.Errorf("%s: %s %v, want %s", id, p.Status, err, want)
		}
	}
	marks, err := store.Marks(ctx)
	if err != nil || len(marks) != 1 || marks[0].OrderID != "o-young" {
		t.Errorf("marks after the round %v %v, want only o-young's", marks, err)
	}
	if res, err := sim.Lookup(ctx, "o-orphan"); err != nil || res.DeclineReason != ReasonVoided {
		t.Errorf("the orphan mark's key: %+v %v, want it voided", res, err)
	}
	if n := sim.Charges(); n != 1 {
		t.Errorf("%d charges, want 1 (o-charged's)", n)
	}
}
