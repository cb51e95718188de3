package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestListOrdersByStatusOnEmbeddedStore: on the real store, orders left
// Pending are listed under Pending (by their work entries) until the worker
// settles them, then only under DeliveryStarted, newest first by the time
// they entered it; the 100 orders there page by 20 in full pages, each order
// once.
func TestListOrdersByStatusOnEmbeddedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc, err := NewService(newTestMongoStore(t), e.svc.deps, Options{Now: e.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.products.stock["p1"], e.products.stock["p2"] = 1000, 1000
	ctx := t.Context()
	listed := func(st Status, size int, token string) Page {
		t.Helper()
		p, err := svc.ListOrdersByStatus(ctx, st, size, token)
		if err != nil {
			t.Fatalf("ListOrdersByStatus(%s): %v", st, err)
		}
		return p
	}

	// Three orders whose payment the payment service has not settled yet.
	e.payments.decide = func(req PaymentRequest) (*Payment, error) {
		p, _ := approve(req)
		p.Status = PaymentPending
		return p, nil
	}
	var left []string
	for range 3 {
		e.clock.Advance(time.Millisecond) // each entered Pending at its own time
		o, _, err := svc.CreateOrder(ctx, alice, validOrder())
		if err != nil || o.Status != StatusPending {
			t.Fatalf("CreateOrder: %v %s, want Pending", err, o.Status)
		}
		left = append([]string{o.ID}, left...)
	}
	if p := listed(StatusPending, 10, ""); ids(p.Orders) != fmt.Sprint(left) {
		t.Errorf("Pending: %s, want %v", ids(p.Orders), left)
	}
	e.payments.decide = approve
	for range 97 {
		if o, _, err := svc.CreateOrder(ctx, alice, validOrder()); err != nil || o.Status != StatusDeliveryStarted {
			t.Fatalf("CreateOrder: %v %s, want DeliveryStarted", err, o.Status)
		}
	}
	e.payments.mu.Lock()
	for _, id := range left {
		p := e.payments.payments[id]
		p.Status = PaymentApproved
		e.payments.payments[id] = p
	}
	e.payments.mu.Unlock()
	e.clock.Advance(svc.holdFor() + time.Second)
	svc.DoDueWork(ctx) // settles the three: paid, notified, delivery started

	for _, st := range []Status{StatusPending, StatusPaymentProcessed, StatusPaymentCancelled} {
		if p := listed(st, 10, ""); len(p.Orders) != 0 || p.NextPageToken != "" {
			t.Errorf("%s: %s, want none", st, ids(p.Orders))
		}
	}
	seen := map[string]bool{}
	var got []Order
	token := ""
	for page := 0; ; page++ {
		p := listed(StatusDeliveryStarted, 20, token)
		if len(p.Orders) != 20 {
			t.Errorf("page %d: %d orders, want 20", page, len(p.Orders))
		}
		for _, o := range p.Orders {
			if seen[o.ID] || o.Status != StatusDeliveryStarted {
				t.Errorf("page %d: %s (%s) again or not DeliveryStarted", page, o.ID, o.Status)
			}
			seen[o.ID] = true
		}
		got = append(got, p.Orders...)
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	if len(got) != 100 {
		t.Errorf("%d orders paged, want all 100", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].UpdatedAt.After(got[i-1].UpdatedAt) {
			t.Errorf("%s entered DeliveryStarted after %s, listed before it", got[i].ID, got[i-1].ID)
		}
	}
	var swept []string
	for _, o := range got[:3] {
		swept = append(swept, o.ID)
	}
	for _, id := range left {
		if !seen[id] || !slices.Contains(swept, id) {
			t.Errorf("%s, settled last, is not among the newest three %v", id, swept)
		}
	}
}

// crashAfterListing is a MongoStore whose next crashes transitions append
// the order's entry to the new status's list and stop there: a process
// dying between the two writes of Transition.
type crashAfterListing struct {
	*MongoStore
	crashes atomic.Int32
}

func (s *crashAfterListing) Transition(ctx context.Context, id string, from, to Status, ch Change) (Order, error) {
	if s.crashes.Add(-1) >= 0 {
		if err := s.listStatus(ctx, id, to, ch.At); err != nil {
			return Order{}, err
		}
		return Order{}, errors.New("the process died")
	}
	return s.MongoStore.Transition(ctx, id, from, to, ch)
}

// TestCrashBetweenListingAndTransition: the handler's transition dies
// after its listing; the order, still Pending, is listed under Pending
// only, and once the worker settles it, under DeliveryStarted only, once.
func TestCrashBetweenListingAndTransition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := &crashAfterListing{MongoStore: newTestMongoStore(t)}
	store.crashes.Store(1)
	svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, _, err := svc.CreateOrder(ctx, alice, validOrder()); err == nil {
		t.Fatal("CreateOrder succeeded; want the crash's error")
	}
	byStatus := func(st Status) string {
		t.Helper()
		p, err := svc.ListOrdersByStatus(ctx, st, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		return ids(p.Orders)
	}
	mine, err := svc.ListOrders(ctx, alice, 10, "")
	if err != nil || len(mine.Orders) != 1 || mine.Orders[0].Status != StatusPending {
		t.Fatalf("alice's orders %+v (%v), want one Pending", mine.Orders, err)
	}
	id := mine.Orders[0].ID
	if pending, started := byStatus(StatusPending), byStatus(StatusDeliveryStarted); pending != "["+id+"]" || started != "[]" {
		t.Errorf("after the crash: Pending %s, DeliveryStarted %s; want the order under Pending only", pending, started)
	}
	e.clock.Advance(svc.holdFor() + time.Second)
	svc.DoDueWork(ctx)
	if pending, started := byStatus(StatusPending), byStatus(StatusDeliveryStarted); pending != "[]" || started != "["+id+"]" {
		t.Errorf("after the sweep: Pending %s, DeliveryStarted %s; want the order under DeliveryStarted only", pending, started)
	}
	if entries, _, err := store.statuses.Read(ctx, string(StatusDeliveryStarted), -1, 10, true); err != nil || len(entries) != 2 {
		t.Errorf("DeliveryStarted's list %v (%v), want the crash's entry and the sweep's", entries, err)
	}
}
