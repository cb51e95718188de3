package systemtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/systemtest"
	"github.com/kitshop/kitshop/order"
)

// The crash tests of issue 14: an order service instance (a Replica whose
// store and clients go through the fault injector) is killed at one store
// write or outgoing call of CreateOrder or of a background step, abandoned
// and never heard of again; then the System's order service is started on
// the same database, the order service's clock jumps by one SweepAge (how
// long an order may be in the works before the sweeper settles it) and then
// runs, and within 20s the invariant checker must find every order final,
// every charge paid for or refunded, the stock conserved and one
// notification per delivered order, none for another. Before the restart
// the clock stands still, so that no background step of the replica acts
// before the case wants it to. The order is then listed under its final
// status, once, and under no other (GET /order/status/{status}).

// crashCase is one kill point and the order that meets it.
type crashCase struct {
	name string
	kill point
	// hold, if set, is a call held until the background step the case
	// kills has overtaken it: the sweeper, once the clock is moved on by a
	// SweepAge.
	hold point
	// cancelledFirst: the held call is released once the sweeper has
	// cancelled the order (the refund of a late approval).
	cancelledFirst bool
	card           string
	notifyWithin   time.Duration // the replica's NotifyWithin (negative: the dispatcher notifies)
	want           order.Status  // the order's final status; "" when no order is stored
}

func crashCases() []crashCase {
	const (
		insert   = "store.Insert"
		addWork  = "store.InsertWork"
		claim    = "store.UpdateWork"
		doneWork = "store.DeleteWork"
		trans    = "store.Transition"
		clear    = "store.ClearOutbox"
		reserve  = "products.ReserveStock"
		release  = "products.ReleaseStock"
		pay      = "payments.MakePayment"
		getPay   = "payments.GetPayment"
		refund   = "payments.RefundPayment"
		notify   = "notifier.SendPaymentNotification"
		declined = systemtest.CardDeclined
	)
	var (
		cancelled = order.StatusPaymentCancelled
		failed    = order.StatusPaymentFailed
		delivered = order.StatusDeliveryStarted
	)
	return []crashCase{
		// CreateOrder, approved, notified within NotifyWithin.
		{name: "create/before-insert", kill: before(insert, 1), want: ""},
		{name: "create/after-insert", kill: after(insert, 1), want: cancelled},
		{name: "create/before-reserve", kill: before(reserve, 1), want: cancelled},
		{name: "create/after-reserve", kill: after(reserve, 1), want: cancelled},
		{name: "create/before-payment", kill: before(pay, 1), want: cancelled},
		{name: "create/after-payment", kill: after(pay, 1), want: delivered},
		{name: "create/before-notification", kill: before(notify, 1), want: delivered},
		{name: "create/after-notification", kill: after(notify, 1), want: delivered},
		{name: "create/before-final-transition", kill: before(trans, 1), want: delivered},
		{name: "create/after-final-transition", kill: after(trans, 1), want: delivered},
		// The order's work entry: taken before the order is stored, deleted
		// once it is final.
		{name: "create/before-work-entry", kill: before(addWork, 1), want: ""},
		{name: "create/after-work-entry", kill: after(addWork, 1), want: ""},
		{name: "create/before-work-delete", kill: before(doneWork, 1), want: delivered},
		{name: "create/after-work-delete", kill: after(doneWork, 1), want: delivered},
		{name: "declined/before-work-delete", kill: before(doneWork, 1), card: declined, want: failed},
		// CreateOrder, declined: the stock released at once by the handler.
		{name: "declined/before-final-transition", kill: before(trans, 1), card: declined, want: failed},
		{name: "declined/before-release", kill: before(release, 1), card: declined, want: failed},
		{name: "declined/after-release", kill: after(release, 1), card: declined, want: failed},
		{name: "declined/before-clear-outbox", kill: before(clear, 1), card: declined, want: failed},
		{name: "declined/after-clear-outbox", kill: after(clear, 1), card: declined, want: failed},
		// The dispatcher sends the notification and starts the delivery.
		{name: "dispatcher/after-paid-transition", kill: after(trans, 1), notifyWithin: -1, want: delivered},
		{name: "dispatcher/before-hand-over", kill: before(claim, 1), notifyWithin: -1, want: delivered},
		{name: "dispatcher/after-hand-over", kill: after(claim, 1), notifyWithin: -1, want: delivered},
		{name: "dispatcher/after-claim", kill: after(claim, 2), notifyWithin: -1, want: delivered},
		{name: "dispatcher/before-notification", kill: before(notify, 1), notifyWithin: -1, want: delivered},
		{name: "dispatcher/after-notification", kill: after(notify, 1), notifyWithin: -1, want: delivered},
		{name: "dispatcher/before-start-delivery", kill: before(trans, 2), notifyWithin: -1, want: delivered},
		{name: "dispatcher/after-start-delivery", kill: after(trans, 2), notifyWithin: -1, want: delivered},
		// The sweeper settles an order whose handler is stuck after the charge.
		{name: "sweeper/before-get-payment", kill: before(getPay, 1), hold: after(pay, 1), want: delivered},
		{name: "sweeper/after-get-payment", kill: after(getPay, 1), hold: after(pay, 1), want: delivered},
		{name: "sweeper/before-transition", kill: before(trans, 1), hold: after(pay, 1), want: delivered},
		{name: "sweeper/after-transition", kill: after(trans, 1), hold: after(pay, 1), want: delivered},
		// The sweeper cancels an order whose handler is stuck before the
		// charge; the charge then goes through and is refunded. The
		// dispatcher notifies (NotifyWithin negative): with the inline
		// notification, the late approval would e-mail the customer of a
		// cancelled order, since CreateOrder notifies before its final
		// transition. Only a sweeper whose clock runs ahead of the handler's
		// (this test's, or another replica's) overtakes a handler that way.
		{name: "refund/before-refund", kill: before(refund, 1), hold: before(pay, 1), cancelledFirst: true, notifyWithin: -1, want: cancelled},
		{name: "refund/after-refund", kill: after(refund, 1), hold: before(pay, 1), cancelledFirst: true, notifyWithin: -1, want: cancelled},
	}
}

// TestCrashPoints kills the order flow at each point of crashCases, restarts
// the order service and audits.
func TestCrashPoints(t *testing.T) {
	for _, c := range crashCases() {
		t.Run(c.name, func(t *testing.T) { runCrashCase(t, c) })
	}
}

func runCrashCase(t *testing.T, c crashCase) {
	clk := newClock()
	sys := systemtest.Start(t, systemtest.Options{Order: order.Options{Now: clk.Now}})
	ctx := testCtx(t)
	uid := sys.UserID(t, sys.SignUp(t, "kim@example.com"))
	admin := sys.SignUp(t, systemtest.AdminEmail)
	stopForReplicas(t, sys)
	in := newInjector(c.kill, c.hold)
	rep := sys.StartReplica(t, systemtest.ReplicaOptions{Order: order.Options{NotifyWithin: c.notifyWithin}, Wrap: in.wrap})
	req, err := systemtest.OrderRequest{ProductIDs: []string{"sample-1", "sample-2", "sample-2"}, Card: c.card}.NewOrder()
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	go func() {
		_, _, err := rep.Orders().CreateOrder(ctx, uid, req)
		created <- err
	}()

	if c.hold != (point{}) {
		waitClosed(t, in.held, 20*time.Second, "the held call "+c.hold.String())
		clk.Advance(sys.SweepAge() + time.Second) // the replica's sweeper may now settle the order
		if c.cancelledFirst {
			id := in.orders()[0]
			systemtest.Eventually(t, 20*time.Second, "the sweeper cancelled the held order", func() (bool, string) {
				s := orderStatus(t, sys, id)
				return s == string(order.StatusPaymentCancelled), s
			})
			in.release()
		}
	}
	waitClosed(t, in.fired, 20*time.Second, "the kill point "+c.kill.String())
	if err := in.discard(20 * time.Second); err != nil {
		t.Fatalf("killing the replica: %v", err)
	}
	rep.Stop()
	select {
	case err := <-created:
		t.Logf("the killed CreateOrder returned %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the killed CreateOrder did not return once its instance was discarded")
	}

	sys.Restart(t, systemtest.Order)
	clk.Advance(sys.SweepAge() + time.Second)
	clk.Run()
	sys.WaitSettled(t, 20*time.Second)

	ids := in.orders()
	var deliveredIDs []string
	switch {
	case c.want == "" && len(ids) != 0:
		t.Fatalf("orders %v stored, want none", ids)
	case c.want != "" && len(ids) != 1:
		t.Fatalf("orders %v stored, want one", ids)
	case c.want != "":
		id := ids[0]
		if c.want == order.StatusDeliveryStarted {
			deliveredIDs = []string{id}
			sys.WaitDelivered(t, 20*time.Second, deliveredIDs)
		}
		if s := orderStatus(t, sys, id); s != string(c.want) {
			t.Errorf("order %s is %s, want %s", id, s, c.want)
		}
		want := 0
		if c.want == order.StatusDeliveryStarted {
			want = 1
		}
		if n := sys.Sender().Count(id); n != want {
			t.Errorf("%d e-mails sent for order %s (%s), want %d", n, id, c.want, want)
		}
		checkStatusLists(t, sys, admin, id, c.want)
	}
	sys.CheckInvariants(t, audit.Options{Delivered: deliveredIDs})
}

// checkStatusLists checks that the order id is listed under the status st,
// once, and under no other.
func checkStatusLists(t *testing.T, sys *systemtest.System, admin, id string, st order.Status) {
	t.Helper()
	for _, s := range order.Statuses() {
		listed, err := sys.ListOrdersByStatus(testCtx(t), admin, string(s))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range listed {
			if o.ID == id {
				n++
			}
		}
		if want := map[bool]int{true: 1}[s == st]; n != want {
			t.Errorf("order %s (%s) listed %d times under %s, want %d", id, st, n, s, want)
		}
	}
}

// stopForReplicas stops the System's order service, which replicas replace.
// A stop whose workers outlived the shutdown timeout (a loaded machine) is
// fine: their store client is closed all the same.
func stopForReplicas(t *testing.T, sys *systemtest.System) {
	t.Helper()
	if bad := systemtest.UnexpectedStopErrors(sys.Stop(systemtest.Order)); len(bad) > 0 {
		t.Fatalf("stopping the order service for the replicas: %v", bad)
	}
}

// waitClosed waits for ch to be closed, for at most timeout, and fails the
// test naming what did not happen.
func waitClosed(t *testing.T, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("%s was never reached within %s", what, timeout)
	}
}

// orderStatus reads an order's status from the order database.
func orderStatus(t *testing.T, sys *systemtest.System, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var doc struct {
		Status string `bson:"status"`
	}
	err := sys.Databases().Order.Collection("orders").FindOne(ctx, bson.M{"_id": id}).Decode(&doc)
	if err != nil {
		return fmt.Sprintf("unreadable: %v", err)
	}
	return doc.Status
}
