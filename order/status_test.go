package order

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestDeliveryStarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.store.resetCalls()
	d, err := e.svc.DeliveryStarted(t.Context(), o.ID)
	if err != nil || d.Status != StatusDeliveryStarted {
		t.Fatalf("DeliveryStarted: %v %s", err, d.Status)
	}
	// One conditional update, no read first; the notification not sent yet
	// stays due, and the dispatcher then sends it and clears it.
	if g, tr := e.store.callsTo("Get"), e.store.callsTo("Transition"); g != 0 || tr != 1 {
		t.Errorf("DeliveryStarted: %d reads and %d transitions, want 0 and 1", g, tr)
	}
	if d.Outbox.Notify == nil {
		t.Errorf("outbox %+v, want the notification still due", d.Outbox)
	}
	e.svc.DoDueWork(t.Context())
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID {
		t.Errorf("notifications %v after DeliveryStarted, want the order's one", got)
	}
	if stored := onlyOrder(t, e); !stored.Outbox.Empty() {
		t.Errorf("outbox %+v after the dispatch, want nothing due", stored.Outbox)
	}
	if d, err = e.svc.DeliveryStarted(t.Context(), o.ID); err != nil || d.Status != StatusDeliveryStarted {
		t.Errorf("repeat: %v %s, want the same answer", err, d.Status)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded %v", e.statuses.log)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: %v, want ErrNotFound", err)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty id: %v, want ErrInvalidArgument", err)
	}

	e.payments.decide = func(PaymentRequest) (*Payment, error) {
		return &Payment{Status: PaymentRejected, Reason: "no"}, nil
	}
	_, _, err = e.svc.CreateOrder(t.Context(), alice, validOrder())
	var declined *DeclinedError
	if !errors.As(err, &declined) {
		t.Fatal(err)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), declined.OrderID); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("failed order: %v, want ErrIllegalTransition", err)
	}
	pending := Order{ID: "pending", Customer: Customer{UserID: alice}, Status: StatusPending}
	e.store.set(pending)
	if _, err := e.svc.DeliveryStarted(t.Context(), "pending"); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("pending order: %v, want ErrIllegalTransition", err)
	}
}

// TestDispatchStartsDelivery: once the payment notification is sent, the
// dispatcher moves the order to DeliveryStarted and clears the outbox in one
// transition, with nothing else written.
func TestDispatchStartsDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.store.resetCalls()
	e.svc.DoDueWork(t.Context())
	stored := onlyOrder(t, e)
	if stored.Status != StatusDeliveryStarted || !stored.Outbox.Empty() || !stored.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("order %s outbox %+v updated %v, want DeliveryStarted with nothing due", stored.Status, stored.Outbox, stored.UpdatedAt)
	}
	if got := e.store.callLog(); got != "map[DeleteWork:1 Get:2 ListOrder:1 ListWork:1 Transition:1 UpdateWork:1]" {
		t.Errorf("store calls %s, want the listing, the claim, a read and the order's listing (both from memory on the embedded store), one transition, the entry's delete and a read after it", got)
	}
	if got := e.notifier.sentOrders(); len(got) != 1 || got[0] != o.ID {
		t.Errorf("sent %v", got)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded %v", e.statuses.log)
	}
	// The RPC afterwards answers the order as it is.
	if d, err := e.svc.DeliveryStarted(t.Context(), o.ID); err != nil || d.Status != StatusDeliveryStarted {
		t.Errorf("DeliveryStarted after the dispatcher: %v %s", err, d.Status)
	}
	if e.statuses.count(StatusDeliveryStarted) != 1 {
		t.Errorf("recorded %v, want DeliveryStarted once", e.statuses.log)
	}
}

// TestDispatchAfterDeliveryStartedElsewhere: when the order moved to
// DeliveryStarted while its notification was being sent, the dispatcher's
// transition loses and it only clears what is left; the status is recorded
// once.
func TestDispatchAfterDeliveryStartedElsewhere(t *testing.T) {
	t.Parallel()
	t.Run("the RPC, during the send", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
			t.Fatal(err)
		}
		e.notifier.onSend = func(id string) {
			if _, err := e.svc.DeliveryStarted(context.Background(), id); err != nil {
				t.Errorf("DeliveryStarted: %v", err)
			}
		}
		e.store.resetCalls()
		e.svc.DoDueWork(t.Context())
		if o := onlyOrder(t, e); o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
			t.Errorf("order %s outbox %+v", o.Status, o.Outbox)
		}
		if n := e.store.callsTo("ClearOutbox"); n != 1 {
			t.Errorf("%d ClearOutbox, want one (the transition lost to the RPC's)", n)
		}
		if e.statuses.count(StatusDeliveryStarted) != 1 {
			t.Errorf("recorded %v, want DeliveryStarted once", e.statuses.log)
		}
	})
	t.Run("a notification left due on a started order", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.store.set(Order{ID: "o", Customer: Customer{UserID: alice}, Status: StatusDeliveryStarted,
			Outbox: Outbox{Notify: &Notification{To: "a@x", UserID: alice}}})
		e.store.work["o"] = Work{OrderID: "o", Due: e.clock.Now()}
		e.svc.DoDueWork(t.Context())
		if o := onlyOrder(t, e); o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
			t.Errorf("order %s outbox %+v", o.Status, o.Outbox)
		}
		if e.store.callsTo("Transition") != 0 || e.store.callsTo("ClearOutbox") != 1 || len(e.notifier.sentOrders()) != 1 {
			t.Errorf("calls %s, sent %v: want the notification sent and cleared, no transition", e.store.callLog(), e.notifier.sentOrders())
		}
		if e.statuses.count(StatusDeliveryStarted) != 0 {
			t.Errorf("recorded %v", e.statuses.log)
		}
	})
}

// TestRefusedNotificationStartsNoDelivery: a notification the notification
// service refuses as invalid is dropped, and the order stays PaymentProcessed
// (delivery starts after a notification that was sent).
func TestRefusedNotificationStartsNoDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.notifier.refuse = fmt.Errorf("%w: bad address", ErrInvalidArgument)
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder()); err != nil {
		t.Fatal(err)
	}
	e.svc.DoDueWork(t.Context())
	if o := onlyOrder(t, e); o.Status != StatusPaymentProcessed || !o.Outbox.Empty() {
		t.Errorf("order %s outbox %+v, want PaymentProcessed with the notification dropped", o.Status, o.Outbox)
	}
}

// TestRefusedNotificationIsListedUnderPaymentProcessed: the order whose
// notification was dropped stays PaymentProcessed with no work entry left
// (nothing is due), and is still listed under PaymentProcessed, where an
// operator finds it to start its delivery (DeliveryStarted).
func TestRefusedNotificationIsListedUnderPaymentProcessed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.notifier.refuse = fmt.Errorf("%w: bad address", ErrInvalidArgument)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	e.svc.DoDueWork(t.Context())
	if w := e.store.works(); len(w) != 0 {
		t.Fatalf("work entries %+v, want none: nothing is due", w)
	}
	p, err := e.svc.ListOrdersByStatus(t.Context(), StatusPaymentProcessed, 10, "")
	if err != nil || len(p.Orders) != 1 || p.Orders[0].ID != o.ID {
		t.Errorf("PaymentProcessed: %+v (%v), want the order whose notification was dropped", p.Orders, err)
	}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	legal := map[[2]Status]bool{
		{StatusPending, StatusPaymentCancelled}:         true,
		{StatusPending, StatusPaymentFailed}:            true,
		{StatusPending, StatusPaymentProcessed}:         true,
		{StatusPending, StatusDeliveryStarted}:          true,
		{StatusPaymentProcessed, StatusDeliveryStarted}: true,
		{StatusDeliveryStarted, StatusDeliveryDone}:     true,
	}
	for _, from := range Statuses() {
		for _, to := range Statuses() {
			if got := from.CanMoveTo(to); got != legal[[2]Status{from, to}] {
				t.Errorf("%s → %s allowed = %v", from, to, got)
			}
		}
	}
}

func TestDeliveryDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o, _, err := e.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeliveryDone(t.Context(), o.ID); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("DeliveryDone of a %s order: %v, want ErrIllegalTransition", o.Status, err)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), o.ID); err != nil {
		t.Fatal(err)
	}
	e.store.resetCalls()
	d, err := e.svc.DeliveryDone(t.Context(), o.ID)
	if err != nil || d.Status != StatusDeliveryDone || !d.UpdatedAt.Equal(e.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("DeliveryDone: %v %s %v", err, d.Status, d.UpdatedAt)
	}
	if g, tr := e.store.callsTo("Get"), e.store.callsTo("Transition"); g != 0 || tr != 1 {
		t.Errorf("DeliveryDone: %d reads and %d transitions, want 0 and 1", g, tr)
	}
	if d, err = e.svc.DeliveryDone(t.Context(), o.ID); err != nil || d.Status != StatusDeliveryDone {
		t.Errorf("repeat: %v %s, want the same answer", err, d.Status)
	}
	if n := e.statuses.count(StatusDeliveryDone); n != 1 {
		t.Errorf("DeliveryDone recorded %d times, want 1: %v", n, e.statuses.log)
	}
	if _, err := e.svc.DeliveryStarted(t.Context(), o.ID); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("DeliveryStarted of a delivered order: %v, want ErrIllegalTransition", err)
	}
	if _, err := e.svc.DeliveryDone(t.Context(), "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: %v, want ErrNotFound", err)
	}
	if _, err := e.svc.DeliveryDone(t.Context(), ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty id: %v, want ErrInvalidArgument", err)
	}
	for _, s := range []Status{StatusPending, StatusPaymentFailed, StatusPaymentCancelled} {
		e.store.set(Order{ID: "o-" + string(s), Customer: Customer{UserID: alice}, Status: s})
		if _, err := e.svc.DeliveryDone(t.Context(), "o-"+string(s)); !errors.Is(err, ErrIllegalTransition) {
			t.Errorf("DeliveryDone of a %s order: %v, want ErrIllegalTransition", s, err)
		}
	}
}

// TestStatusChangesFollowTheTable: the service's one way to change a status
// refuses every move the state machine does not allow, before the store.
func TestStatusChangesFollowTheTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, from := range Statuses() {
		for _, to := range Statuses() {
			id := fmt.Sprintf("%s-%s", from, to)
			e.store.set(Order{ID: id, Customer: Customer{UserID: alice}, Status: from})
			e.store.resetCalls()
			o, err := e.svc.transition(t.Context(), id, from, to, Change{})
			switch {
			case from.CanMoveTo(to):
				if err != nil || o.Status != to {
					t.Errorf("%s → %s: %v %s, want the move", from, to, err, o.Status)
				}
			case !errors.Is(err, ErrIllegalTransition):
				t.Errorf("%s → %s: %v, want ErrIllegalTransition", from, to, err)
			case e.store.callsTo("Transition") != 0:
				t.Errorf("%s → %s reached the store", from, to)
			}
		}
	}
}
