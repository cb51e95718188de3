package payment

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/card"
)

func TestSimulatorTable(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{})
	for _, tt := range []struct {
		method   Method
		number   string
		approved bool
		reason   string
	}{
		{MethodCreditCard, TestCardApproved, true, ""},
		{MethodCreditCard, TestCardInsufficientFunds, false, ReasonInsufficientFunds},
		{MethodCreditCard, TestCardStolen, false, ReasonStolenCard},
		{MethodCreditCard, TestCardDeclined, false, ReasonCardDeclined},
		{MethodCreditCard, "5555555555554444", true, ""},
		{MethodKakao, "", true, ""},
	} {
		key := string(tt.method) + tt.number
		res, err := sim.Charge(context.Background(), ChargeRequest{IdempotencyKey: key, Method: tt.method, Amount: 100, Card: Card{Number: tt.number}})
		if err != nil || res.Approved != tt.approved || res.DeclineReason != tt.reason || res.ChargeID == "" {
			t.Errorf("%s %s: got %+v, %v; want approved %v reason %q", tt.method, tt.number, res, err, tt.approved, tt.reason)
		}
		if for2, _ := sim.Lookup(context.Background(), key); for2 != res {
			t.Errorf("%s %s: Lookup gave %+v, want %+v", tt.method, tt.number, for2, res)
		}
	}
	for _, n := range []string{TestCardApproved, TestCardInsufficientFunds, TestCardStolen, TestCardDeclined, TestCardHang} {
		if !card.LuhnValid(n) {
			t.Errorf("test card %s fails the Luhn check", n)
		}
	}
}

func TestSimulatorDedupesByKey(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{Latency: 20 * time.Millisecond})
	req := ChargeRequest{IdempotencyKey: "order-1", Method: MethodCreditCard, Amount: 100, Card: Card{Number: TestCardApproved}}
	results := make([]ChargeResult, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			r := req
			if i%2 == 1 {
				r.Card.Number = TestCardStolen // a retry's other details do not change the first result
			}
			var err error
			if results[i], err = sim.Charge(context.Background(), r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r != results[0] {
			t.Errorf("call %d got %+v, want the first result %+v", i, r, results[0])
		}
	}
	if sim.Charges() != 1 {
		t.Errorf("Charges() = %d, want 1", sim.Charges())
	}
	if _, err := sim.Lookup(context.Background(), "never"); !errors.Is(err, ErrUnknownCharge) {
		t.Errorf("Lookup of an unknown key: %v, want ErrUnknownCharge", err)
	}
	if _, err := sim.Charge(context.Background(), ChargeRequest{Method: MethodKakao, Amount: 1}); err == nil {
		t.Error("a charge without idempotency key was accepted")
	}
}

func TestSimulatorLatencyHonoursTheCallersContext(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req := ChargeRequest{IdempotencyKey: "slow", Method: MethodKakao, Amount: 1}
	if _, err := sim.Charge(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Charge: %v, want context.DeadlineExceeded", err)
	}
	if sim.Charges() != 1 {
		t.Errorf("a charge the network received is gone when its caller left: Charges() = %d", sim.Charges())
	}
	if _, err := sim.Refund(ctx, RefundRequest{IdempotencyKey: "slow"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Refund: %v, want context.DeadlineExceeded", err)
	}
}

func TestSimulatorHangLosesOnlyTheFirstAnswer(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{})
	req := ChargeRequest{IdempotencyKey: "hang", Method: MethodCreditCard, Amount: 100, Card: Card{Number: TestCardHang}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := sim.Charge(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first charge: %v, want context.DeadlineExceeded", err)
	}
	looked, err := sim.Lookup(context.Background(), "hang")
	if err != nil || !looked.Approved {
		t.Errorf("Lookup: %+v, %v; want the approval", looked, err)
	}
	retried, err := sim.Charge(context.Background(), req)
	if err != nil || retried != looked {
		t.Errorf("retry: %+v, %v; want %+v", retried, err, looked)
	}
	if sim.Charges() != 1 {
		t.Errorf("Charges() = %d, want 1", sim.Charges())
	}
}

func TestSimulatorRefundIsIdempotent(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{})
	a, err1 := sim.Refund(context.Background(), RefundRequest{IdempotencyKey: "o", ChargeID: "ch", Amount: 5})
	b, err2 := sim.Refund(context.Background(), RefundRequest{IdempotencyKey: "o", ChargeID: "ch", Amount: 5})
	if err1 != nil || err2 != nil || a.RefundID == "" || a != b {
		t.Errorf("refunds %+v %v, %+v %v; want one refund id twice", a, err1, b, err2)
	}
	if _, err := sim.Refund(context.Background(), RefundRequest{}); err == nil {
		t.Error("a refund without idempotency key was accepted")
	}
}

func TestSimulatorForgetsKeysAfterItsRetention(t *testing.T) {
	t.Parallel()
	const retention = 50 * time.Millisecond
	sim := NewSimulator(SimulatorOptions{Retention: retention})
	ctx := context.Background()
	charge := func(key string) ChargeResult {
		t.Helper()
		res, err := sim.Charge(ctx, ChargeRequest{IdempotencyKey: key, Method: MethodCreditCard, Amount: 1, Card: Card{Number: TestCardStolen}})
		if err != nil {
			t.Fatalf("Charge(%s): %v", key, err)
		}
		return res
	}
	first := charge("a")
	time.Sleep(retention + retention/4)
	charge("b") // the key a is a retention old: it moves to the older generation, still remembered
	if got, err := sim.Lookup(ctx, "a"); err != nil || got != first {
		t.Errorf("Lookup(a) a retention later: %+v, %v; want %+v", got, err, first)
	}
	time.Sleep(retention + retention/4)
	charge("c") // and now it is forgotten
	if _, err := sim.Lookup(ctx, "a"); !errors.Is(err, ErrUnknownCharge) {
		t.Errorf("Lookup(a) two retentions later: %v, want ErrUnknownCharge", err)
	}
	if got, err := sim.Lookup(ctx, "b"); err != nil || got.ChargeID == "" || got.Approved || got.DeclineReason != ReasonStolenCard {
		t.Errorf("Lookup(b): %+v, %v; want its decline", got, err)
	}
	if again := charge("a"); again != first {
		t.Errorf("a forgotten key charged again: %+v, want the same reference and verdict %+v", again, first)
	}
	if sim.Charges() != 4 {
		t.Errorf("Charges() = %d, want 4 (a, b, c, and a again once forgotten)", sim.Charges())
	}
}
