package systemtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/systemtest"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
)

// TestReplicaLostForGood: two order service replicas share the order
// database (one store client, as two instances in one process may), each
// with its own sweeper and dispatcher, and take 32 orders between them; one
// is killed in the middle of its orders and never comes back. The other
// must settle the dead one's orders too (the Pending ones and those with
// side effects due) once their leases have run out, within 20s of the
// order service's clock jumping by one SweepAge (and then running), with the
// audit clean.
//
// It needs the order service's leases (the order_work collection): without
// them a replica only settles the orders it made or found at its start, and
// the dead replica's orders stay Pending for ever. If the lease period
// comes to exceed SweepAge, move the clock on by the lease period instead.
func TestReplicaLostForGood(t *testing.T) {
	clk := newClock()
	network := payment.NewSimulator(payment.SimulatorOptions{Latency: 50 * time.Millisecond})
	sys := systemtest.Start(t, systemtest.Options{Order: order.Options{Now: clk.Now}, Processor: network})
	ctx := testCtx(t)
	uid := sys.UserID(t, sys.SignUp(t, "kim@example.com"))
	stopForReplicas(t, sys)
	// The survivor owns the store client; the lost replica leaves its
	// notifications to its dispatcher, so that it dies with side effects due.
	survivor := newInjector(point{}, point{})
	b := sys.StartReplica(t, systemtest.ReplicaOptions{Wrap: survivor.wrap})
	lost := newInjector(point{}, point{})
	a := sys.StartReplica(t, systemtest.ReplicaOptions{Share: b, Wrap: lost.wrap, Order: order.Options{NotifyWithin: -1}})

	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		rep := b
		if i%2 == 0 {
			rep = a
		}
		r := systemtest.OrderRequest{ProductIDs: []string{"sample-1", "sample-3"}, Key: fmt.Sprint("lost-", i)}
		if i%8 == 7 {
			r.Card = systemtest.CardDeclined
		}
		req, err := r.NewOrder()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _, _, errs[i] = rep.Orders().CreateOrder(ctx, uid, req) })
	}
	// a dies once a quarter of its charges have begun; on a machine so
	// loaded that its calls time out before any charge, once its orders are
	// all stored and have had 5s to get that far.
	patience := time.Now().Add(5 * time.Second)
	systemtest.Eventually(t, 60*time.Second, "the lost replica half-way through its orders", func() (bool, string) {
		c, stored := lost.count("payments.MakePayment"), len(lost.orders())
		return c >= n/4 || (stored == n/2 && time.Now().After(patience)), fmt.Sprintf("%d orders stored, %d charges begun", stored, c)
	})
	lost.killNow()
	if err := lost.discard(20 * time.Second); err != nil {
		t.Fatalf("killing replica a: %v", err)
	}
	a.Stop()
	wg.Wait()
	// The survivor's orders fail only as orders may under load: declined,
	// or cancelled with a retry advice when a call timed out.
	for i, err := range errs {
		if i%2 == 1 && err != nil && !errors.Is(err, order.ErrPaymentDeclined) && !errors.Is(err, order.ErrUnavailable) {
			t.Errorf("order %d, on the surviving replica: %v", i, err)
		}
	}
	if survivor.hasFired() {
		t.Fatal("the surviving replica was killed")
	}
	t.Logf("replica a killed after %d orders inserted, %d charges begun", len(lost.orders()), lost.count("payments.MakePayment"))

	clk.Advance(sys.SweepAge() + time.Second)
	clk.Run()
	sys.WaitSettled(t, settleWait)
	all := append(lost.orders(), survivor.orders()...)
	if len(survivor.orders()) != n/2 {
		t.Errorf("the survivor inserted %d orders, want %d", len(survivor.orders()), n/2)
	}
	delivered := paidAmong(t, sys, all)
	sys.WaitDelivered(t, settleWait, delivered)
	checkMails(t, sys, all, delivered)
	sys.CheckInvariants(t, audit.Options{Delivered: delivered})
}

// settleWait bounds the waits for the orders to be settled and delivered
// after the clock's jump, which take well under a second on an idle
// machine; the margin is for a loaded one (and the race detector).
const settleWait = 60 * time.Second

// paidAmong returns the orders of ids that are paid (PaymentProcessed or later).
func paidAmong(t *testing.T, sys *systemtest.System, ids []string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		switch order.Status(orderStatus(t, sys, id)) {
		case order.StatusPaymentProcessed, order.StatusDeliveryStarted, order.StatusDeliveryDone:
			out = append(out, id)
		}
	}
	return out
}

// checkMails checks that the mail relay got one e-mail for each delivered
// order of ids and none for the others.
func checkMails(t *testing.T, sys *systemtest.System, ids, delivered []string) {
	t.Helper()
	want := make(map[string]int, len(delivered))
	for _, id := range delivered {
		want[id] = 1
	}
	for _, id := range ids {
		if got := sys.Sender().Count(id); got != want[id] {
			t.Errorf("%d e-mails sent for order %s (%s), want %d", got, id, orderStatus(t, sys, id), want[id])
		}
	}
}

// stuckProcessor is a card network whose first Charge never arrives: it
// waits until its caller gives up and returns an error without passing the
// charge on, as a request lost on the way would. Later calls pass.
type stuckProcessor struct {
	payment.Processor
	entered chan struct{}
	stuck   atomic.Bool
}

func (p *stuckProcessor) Charge(ctx context.Context, req payment.ChargeRequest) (payment.ChargeResult, error) {
	if p.stuck.CompareAndSwap(false, true) {
		close(p.entered)
		<-ctx.Done()
		return payment.ChargeResult{}, ctx.Err()
	}
	return p.Processor.Charge(ctx, req)
}

// TestPaymentNeverReached: the payment service has stored an order's
// Pending payment and is calling the card network when it and the order
// service die; the network never got the charge. After both restart the
// payment becomes Voided, the order PaymentCancelled with its stock back and
// no e-mail, and a late charge of the order is refused without reaching the
// network.
//
// It needs the payment service's voiding of a Pending payment the processor
// never received (VoidAfter, short in the systemtest harness) and the order
// sweeper's handling of a Voided payment: without them the payment and the
// order stay Pending for ever.
func TestPaymentNeverReached(t *testing.T) {
	clk := newClock()
	network := payment.NewSimulator(payment.SimulatorOptions{})
	proc := &stuckProcessor{Processor: network, entered: make(chan struct{})}
	sys := systemtest.Start(t, systemtest.Options{Order: order.Options{Now: clk.Now}, Processor: proc})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")
	uid := sys.UserID(t, tok)
	admin := sys.SignUp(t, systemtest.AdminEmail)
	stopForReplicas(t, sys)
	dying := newInjector(point{}, point{})
	rep := sys.StartReplica(t, systemtest.ReplicaOptions{Wrap: dying.wrap})
	req, err := systemtest.OrderRequest{ProductIDs: []string{"sample-2", "sample-4"}, Key: "never-reached"}.NewOrder()
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	go func() {
		_, _, err := rep.Orders().CreateOrder(ctx, uid, req)
		created <- err
	}()
	waitClosed(t, proc.entered, 20*time.Second, "the payment service's charge")
	dying.killNow()
	err = sys.Stop(systemtest.Payment)
	t.Logf("payment service killed: %v", err)
	if bad := systemtest.UnexpectedStopErrors(err); len(bad) > 0 {
		t.Errorf("stopping the payment service: %v", bad)
	}
	if err := dying.discard(20 * time.Second); err != nil {
		t.Fatalf("killing the order replica: %v", err)
	}
	rep.Stop()
	t.Logf("the killed CreateOrder returned %v", <-created)
	ids := dying.orders()
	if len(ids) != 1 {
		t.Fatalf("orders %v stored, want one", ids)
	}
	id := ids[0]

	sys.Restart(t, systemtest.Payment)
	// The order service that comes back is a replica too, for its clients.
	back := newInjector(point{}, point{})
	rep2 := sys.StartReplica(t, systemtest.ReplicaOptions{Wrap: back.wrap})
	clk.Advance(sys.SweepAge() + time.Second)
	clk.Run()
	systemtest.Eventually(t, 30*time.Second, "the payment Voided and the order PaymentCancelled", func() (bool, string) {
		p, _, err := sys.GetPayment(ctx, admin, id)
		s := orderStatus(t, sys, id)
		return err == nil && p.PaymentStatus == payment.StatusVoided && s == string(order.StatusPaymentCancelled),
			fmt.Sprintf("payment %s (%v), order %s", p.PaymentStatus, err, s)
	})
	late, err := back.raw.Payments.MakePayment(ctx, order.PaymentRequest{OrderID: id, Details: req.Payment, UserEmail: "kim@example.com"})
	t.Logf("late charge of order %s: %+v %v", id, late, err)
	if err == nil && late.Status != order.PaymentVoided {
		t.Errorf("a late charge of order %s answered %+v, want a refusal or the Voided payment", id, late)
	}
	if c := network.Charges(); c != 0 {
		t.Errorf("the card network made %d charges, want none", c)
	}
	if n := sys.Sender().Count(id); n != 0 {
		t.Errorf("%d e-mails sent for the cancelled order %s", n, id)
	}
	rep2.Stop()
	sys.Restart(t, systemtest.Order)
	sys.CheckInvariants(t, audit.Options{})
}
