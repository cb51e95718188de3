package order

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// testStore is the embedded store shared by the package's tests, started by
// the first test that needs it; each test uses a database of its own.
var testStore = docstoretest.NewShared("order")

func TestMain(m *testing.M) { os.Exit(testStore.Run(m)) }

// newTestDB returns a database of its own for the calling test.
func newTestDB(t testing.TB) *mongo.Database {
	t.Helper()
	return testStore.NewDB(t)
}

// newTestMongoStore returns a store on a database of its own, its Updater
// configured by opts (docstoretest.Mode.Options).
func newTestMongoStore(t testing.TB, opts ...docstore.UpdaterOption) *MongoStore {
	t.Helper()
	s, err := NewMongoStore(t.Context(), newTestDB(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func storedOrder(id, user string, created time.Time) Order {
	o := validOrder()
	return Order{
		ID:       id,
		Customer: Customer{UserID: user, Email: user + "@example.com", Name: user},
		Products: []Line{{ProductID: "p1", Name: "Apple", Price: 1000, Quantity: 2}},
		Address:  o.Address,
		Status:   StatusPending,
		Payment: PaymentSummary{Method: MethodKakao, Name: "Alice", Amount: 2000, Status: PaymentPending,
			MaskedCardNumber: "**** **** **** 1111"},
		Total:       2000,
		CreatedAt:   created,
		UpdatedAt:   created,
		Fingerprint: "fp",
	}
}

func TestMongoStoreRoundTripAndIdempotentInsert(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Millisecond)
		o := storedOrder("o1", alice, now)
		if err := s.Insert(ctx, o); err != nil {
			t.Fatal(err)
		}
		// The same _id again (a repeat with the same idempotency key) loses.
		if err := s.Insert(ctx, storedOrder("o1", alice, now.Add(time.Second))); !errors.Is(err, ErrDuplicateOrder) {
			t.Fatalf("second insert: %v, want ErrDuplicateOrder", err)
		}
		got, err := s.Get(ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", o) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, o)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown order: %v, want ErrNotFound", err)
		}
		// The customer's listing shows it once.
		list, _, err := s.ListByCustomer(ctx, alice, -1, 10)
		if err != nil || len(list) != 1 {
			t.Errorf("list: %v, %d orders, want 1", err, len(list))
		}
	})
}

// TestNewMongoStoreTwice: a restart opens the store on a database that has
// its collections and indexes already (FerretDB broke on re-creating several
// indexes in one command, so every restart of the order service failed).
func TestNewMongoStoreTwice(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		db := newTestDB(t)
		for i := range 3 {
			if _, err := NewMongoStore(t.Context(), db, m.Options()...); err != nil {
				t.Fatalf("opening the store the %d. time: %v", i+1, err)
			}
		}
	})
}

func TestMongoStoreTransition(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.Insert(ctx, storedOrder("o1", alice, now)); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Minute)
		pay := PaymentSummary{PaymentID: "pay1", Method: MethodKakao, Name: "Alice", Amount: 2000, Status: PaymentApproved, MaskedCardNumber: "**** **** **** 1111"}
		o, err := s.Transition(ctx, "o1", StatusPending, StatusPaymentProcessed, Change{
			Payment: &pay, At: later, Outbox: Outbox{Notify: &Notification{To: "a@x", UserID: alice}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != StatusPaymentProcessed || o.Payment != pay || !o.UpdatedAt.Equal(later) || o.Outbox.Notify == nil || o.Outbox.Notify.To != "a@x" {
			t.Errorf("after transition %+v", o)
		}
		cur, err := s.Transition(ctx, "o1", StatusPending, StatusPaymentFailed, Change{At: later})
		if !errors.Is(err, ErrStaleStatus) || cur.Status != StatusPaymentProcessed {
			t.Errorf("stale transition: %v, order %s; want ErrStaleStatus with the current order", err, cur.Status)
		}
		if _, err := s.Transition(ctx, "nope", StatusPending, StatusPaymentFailed, Change{At: later}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown order: %v, want ErrNotFound", err)
		}

		// Outbox: added to, cleared field by field.
		if err := s.AddOutbox(ctx, "o1", Outbox{Refund: true}); err != nil {
			t.Fatal(err)
		}
		if o, _ = s.Get(ctx, "o1"); o.Outbox.Notify == nil || !o.Outbox.Refund {
			t.Errorf("after adding a refund: %+v", o.Outbox)
		}
		if err := s.ClearOutbox(ctx, "o1", Outbox{Notify: &Notification{}}); err != nil {
			t.Fatal(err)
		}
		if o, _ = s.Get(ctx, "o1"); o.Outbox.Notify != nil || !o.Outbox.Refund {
			t.Errorf("after clearing the notification: %+v", o.Outbox)
		}
		if err := s.ClearOutbox(ctx, "o1", Outbox{Refund: true}); err != nil {
			t.Fatal(err)
		}
		if o, _ = s.Get(ctx, "o1"); !o.Outbox.Empty() {
			t.Errorf("after clearing: %+v", o.Outbox)
		}
		if err := s.AddOutbox(ctx, "nope", Outbox{Refund: true}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddOutbox of an unknown order: %v", err)
		}
		if err := s.ClearOutbox(ctx, "nope", Outbox{Refund: true}); err != nil {
			t.Errorf("ClearOutbox of an unknown order: %v, want nil (nothing is due)", err)
		}

		// A transition clears the side effects done in the same update, and
		// keeps those it sets again.
		if err := s.AddOutbox(ctx, "o1", Outbox{Notify: &Notification{To: "a@x", UserID: alice}, ReleaseStock: true}); err != nil {
			t.Fatal(err)
		}
		o, err = s.Transition(ctx, "o1", StatusPaymentProcessed, StatusDeliveryStarted, Change{At: later,
			Done: Outbox{Notify: &Notification{}, ReleaseStock: true, Refund: true}, Outbox: Outbox{Refund: true}})
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := s.Get(ctx, "o1")
		for _, got := range []Order{o, stored} {
			if got.Status != StatusDeliveryStarted || got.Outbox.Notify != nil || got.Outbox.ReleaseStock || !got.Outbox.Refund {
				t.Errorf("after a transition with done side effects: %s %+v, want DeliveryStarted with only the refund due", got.Status, got.Outbox)
			}
		}
	})
}

// TestMongoStoreConcurrentTransitions: of 20 concurrent transitions of one
// Pending order, half to PaymentProcessed and half to PaymentFailed, exactly
// one wins and the others see ErrStaleStatus with the winner's status.
func TestMongoStoreConcurrentTransitions(t *testing.T) {
	t.Parallel()
	s := newTestMongoStore(t)
	ctx := t.Context()
	for round := range 3 {
		id := fmt.Sprintf("race-%d", round)
		if err := s.Insert(ctx, storedOrder(id, alice, time.Now().UTC().Truncate(time.Millisecond))); err != nil {
			t.Fatal(err)
		}
		const n = 20
		var (
			wg      sync.WaitGroup
			wins    atomic.Int32
			winners = make([]Status, n)
			seen    = make([]Status, n)
		)
		for i := range n {
			to := StatusPaymentProcessed
			if i%2 == 1 {
				to = StatusPaymentFailed
			}
			wg.Go(func() {
				o, err := s.Transition(ctx, id, StatusPending, to, Change{At: time.Now().UTC(), FailureReason: string(to)})
				switch {
				case err == nil:
					wins.Add(1)
					winners[i] = to
				case errors.Is(err, ErrStaleStatus):
					seen[i] = o.Status
				default:
					t.Errorf("transition: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1", round, wins.Load())
		}
		final, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if winners[i] != "" && winners[i] != final.Status {
				t.Errorf("winner moved to %s but the order is %s", winners[i], final.Status)
			}
			if seen[i] != "" && seen[i] != final.Status {
				t.Errorf("a loser saw %s, the order is %s", seen[i], final.Status)
			}
		}
		if final.FailureReason != string(final.Status) {
			t.Errorf("fields of two transitions mixed: status %s reason %s", final.Status, final.FailureReason)
		}
	}
}

// TestMongoStoreCommands runs on an embedded store of its own whose client
// records the commands it sends.
func TestMongoStoreCommands(t *testing.T) {
	// Not parallel: FerretDB's embedded start-up writes a global (see
	// docstoretest.Start), so stores must not start at the same time.
	client, rec := docstoretest.Start(t)

	// Every command of the request and worker paths (all but the queries
	// ListByCustomer and ListWork), and of a status's listing, looks
	// documents up by _id alone, the only lookup whose cost does not grow with the number of
	// orders on the embedded store.
	t.Run("by _id only", func(t *testing.T) {
		ctx := t.Context()
		s, err := NewMongoStore(ctx, client.Database("order"))
		if err != nil {
			t.Fatal(err)
		}
		rec.Reset() // the set-up's checks (Backfill's) are not on those paths
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, id := range []string{"o1", "o2"} {
			if err := s.Insert(ctx, storedOrder(id, alice, now)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Insert(ctx, storedOrder("o1", alice, now)); !errors.Is(err, ErrDuplicateOrder) {
			t.Fatalf("repeated insert: %v", err)
		}
		if _, err := s.Get(ctx, "o1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		paid := Change{At: now, Outbox: Outbox{Notify: &Notification{To: "a@x", UserID: alice}}}
		if _, err := s.Transition(ctx, "o1", StatusPending, StatusPaymentProcessed, paid); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, "o1", StatusPending, StatusPaymentFailed, Change{At: now}); !errors.Is(err, ErrStaleStatus) {
			t.Fatalf("stale transition: %v", err)
		}
		if _, err := s.Transition(ctx, "o1", StatusPaymentProcessed, StatusDeliveryStarted, Change{At: now, Done: paid.Outbox}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, "nope", StatusPending, StatusPaymentFailed, Change{At: now}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		if err := s.AddOutbox(ctx, "o2", Outbox{ReleaseStock: true, Refund: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.ClearOutbox(ctx, "o2", Outbox{ReleaseStock: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ListByStatus(ctx, StatusDeliveryStarted, -1, 10); err != nil {
			t.Fatal(err)
		}
		rec.AssertIDOnly(t, "order", ordersCollection)
		rec.AssertIDOnly(t, "order", statusListsCollection)
		w := Work{OrderID: "o1", Due: now, Owner: "r1", LeaseUntil: now}
		if err := s.InsertWork(ctx, w); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetWork(ctx, "o1"); err != nil {
			t.Fatal(err)
		}
		if w, err = s.UpdateWork(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWork(ctx, w); err != nil {
			t.Fatal(err)
		}
		rec.AssertIDOnly(t, "order", workCollection)
	})

	// An order's whole normal life, placed, paid, notified and its delivery
	// started, sends the orders collection one insert (not recorded) and one
	// update (Pending → DeliveryStarted, the notification sent while
	// CreateOrder waited; an update command, since the Updater knows the
	// order before and after): no read, no other update. When the
	// notification is left to the dispatcher, two (paid with the
	// notification due; delivery started with it cleared).
	t.Run("per order", func(t *testing.T) {
		ctx := t.Context()
		store, err := NewMongoStore(ctx, client.Database("order_per_order"))
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t)
		svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec.Reset()
		req := validOrder()
		req.IdempotencyKey = "k"
		o, _, err := svc.CreateOrder(ctx, alice, req)
		if err != nil || o.Status != StatusDeliveryStarted || !o.Outbox.Empty() {
			t.Fatalf("CreateOrder: %v %s %+v, want DeliveryStarted with nothing due", err, o.Status, o.Outbox)
		}
		if got := e.notifier.sentOrders(); len(got) != 1 {
			t.Fatalf("notifications %v", got)
		}
		cmds := rec.Commands("order_per_order", ordersCollection)
		if fmt.Sprint(names(cmds)) != "[update]" {
			t.Errorf("commands per order %v, want one update (delivery started)", cmds)
		}
		if work := rec.Commands("order_per_order", workCollection); fmt.Sprint(names(work)) != "[delete]" {
			t.Errorf("work commands per order %v, want its entry's delete (and its insert, not recorded)", work)
		}

		queued, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now, NotifyWithin: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec.Reset()
		req.IdempotencyKey = "k2"
		later, _, err := queued.CreateOrder(ctx, alice, req)
		if err != nil || later.Status != StatusPaymentProcessed {
			t.Fatalf("CreateOrder, notification queued: %v %s", err, later.Status)
		}
		queued.DoDueWork(ctx)
		if got := e.notifier.sentOrders(); len(got) != 2 {
			t.Fatalf("notifications %v", got)
		}
		cmds = rec.Commands("order_per_order", ordersCollection)
		if fmt.Sprint(names(cmds)) != "[update update]" {
			t.Errorf("commands per order %v, want two updates (paid, delivery started)", cmds)
		}

		stored, err := store.Get(ctx, o.ID)
		if err != nil || stored.Status != StatusDeliveryStarted || !stored.Outbox.Empty() {
			t.Fatalf("stored %s %+v %v, want DeliveryStarted with nothing due", stored.Status, stored.Outbox, err)
		}
		// The order's row holds the same thing: a new store (no memory)
		// reads it back.
		fresh, err := NewMongoStore(ctx, client.Database("order_per_order"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := fresh.Get(ctx, o.ID); err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", stored) {
			t.Errorf("read back %+v %v,\nwant %+v", got, err, stored)
		}
	})
}

// TestFinishedWorkIsDeletedTogether: with a CleanupDelay, the work entries of
// orders finished at about the same time are deleted in fewer commands than
// orders, each once, and none is left; the worker's stop waits for them.
func TestFinishedWorkIsDeletedTogether(t *testing.T) {
	client, rec := docstoretest.Start(t)
	ctx := t.Context()
	store, err := NewMongoStore(ctx, client.Database("order_cleanup"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now, CleanupDelay: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := validOrder()
			req.IdempotencyKey = fmt.Sprintf("k%d", i)
			if _, _, err := svc.CreateOrder(ctx, alice, req); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if left, err := store.ListWork(ctx, time.Time{}); err != nil || len(left) != n {
		t.Fatalf("%d entries before the delay (%v), want all %d still there", len(left), err, n)
	}
	// The worker's stop runs what is queued, rather than waiting for the hour.
	stop, cancel := context.WithCancel(ctx)
	cancel()
	if err := svc.RunWorker(stop); err != nil {
		t.Fatal(err)
	}
	if left, err := store.ListWork(ctx, time.Time{}); err != nil || len(left) != 0 {
		t.Errorf("%d entries left after the stop (%v), want none", len(left), err)
	}
	if deletes := rec.Take("order_cleanup", workCollection)["delete"]; deletes == 0 || deletes >= n {
		t.Errorf("%d orders' entries deleted in %d commands, want fewer than one each", n, deletes)
	}
}

func names(cmds []docstoretest.Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Name
	}
	return out
}

// TestMongoStoreIndexes: on MongoDB NewMongoStore creates the indexes of the
// queries (order_work's due); on the embedded store none besides _id's,
// and it drops those an earlier version, or the MongoDB mode, made.
func TestMongoStoreIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := newTestDB(t)
	orders, work := db.Collection(ordersCollection), db.Collection(workCollection)
	if _, err := orders.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}},
		Options: options.Index().SetName("status")}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		mode        docstoretest.Mode
		orders, due string
	}{
		{docstoretest.Modes[1], "[_id_ status]", "[_id_ due]"},
		{docstoretest.Modes[0], "[_id_]", "[_id_]"},
	} {
		if _, err := NewMongoStore(ctx, db, step.mode.Options()...); err != nil {
			t.Fatal(err)
		}
		if got := indexNames(t, orders); got != step.orders {
			t.Errorf("%s: indexes of orders %s, want %s", step.mode.Name, got, step.orders)
		}
		if got := indexNames(t, work); got != step.due {
			t.Errorf("%s: indexes of order_work %s, want %s", step.mode.Name, got, step.due)
		}
	}
}

// indexNames lists the names of the indexes of coll, sorted.
func indexNames(t *testing.T, coll *mongo.Collection) string {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name)
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}

// TestMongoStoreConcurrentInsert: concurrent inserts of one _id (repeats of
// one idempotency key) make one order.
func TestMongoStoreConcurrentInsert(t *testing.T) {
	t.Parallel()
	s := newTestMongoStore(t)
	var wg sync.WaitGroup
	var ok, dup atomic.Int32
	for range 10 {
		wg.Go(func() {
			err := s.Insert(t.Context(), storedOrder("same", bob, time.Now().UTC().Truncate(time.Millisecond)))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrDuplicateOrder):
				dup.Add(1)
			default:
				t.Errorf("insert: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || dup.Load() != 9 {
		t.Errorf("%d inserted, %d duplicates; want 1 and 9", ok.Load(), dup.Load())
	}
	list, _, err := s.ListByCustomer(t.Context(), bob, -1, 100)
	if err != nil || len(list) != 1 {
		t.Errorf("customer lists %d orders (%v), want 1", len(list), err)
	}
}

// TestMongoStoreListing: a customer's orders page newest first, by insert,
// across the list's buckets, whatever the page size; ListOrder lists an order
// whose listing was lost (a crash between the two writes of Insert) and never
// lists one twice; a listed order that is gone is left out.
func TestMongoStoreListing(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		base := time.Now().UTC().Truncate(time.Millisecond)
		var want []string // newest first
		for i := range 150 {
			id := fmt.Sprintf("a%03d", i)
			if err := s.Insert(ctx, storedOrder(id, alice, base.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
			want = append([]string{id}, want...)
		}
		if err := s.Insert(ctx, storedOrder("b0", bob, base)); err != nil {
			t.Fatal(err)
		}
		// Inserted, its listing lost; listed by ListOrder, once however often.
		lost := storedOrder("lost", alice, base)
		if _, err := s.orders.InsertOne(ctx, toDoc(lost)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.ListOrder(ctx, lost); err != nil {
				t.Fatal(err)
			}
		}
		want = append([]string{"lost"}, want...)
		for _, limit := range []int{1, 7, 100} {
			var got []Order
			from := int64(-1)
			for from != -1 || got == nil {
				page, next, err := s.ListByCustomer(ctx, alice, from, limit)
				if err != nil || len(page) > limit {
					t.Fatalf("page of %d from %d: %d orders (%v)", limit, from, len(page), err)
				}
				got, from = append(got, page...), next
			}
			if ids(got) != fmt.Sprint(want) {
				t.Errorf("pages of %d: %s,\nwant %v", limit, ids(got), want)
			}
		}
		if page, next, _ := s.ListByCustomer(ctx, alice, 3, 2); ids(page) != "[a003 a002]" || next != 1 {
			t.Errorf("2 from position 3: %s next %d, want [a003 a002] next 1", ids(page), next)
		}
		if page, next, _ := s.ListByCustomer(ctx, "nobody", -1, 3); len(page) != 0 || next != -1 {
			t.Errorf("unknown customer: %s next %d", ids(page), next)
		}
		if page, _, _ := s.ListByCustomer(ctx, bob, -1, 3); ids(page) != "[b0]" {
			t.Errorf("bob's orders: %s", ids(page))
		}
		if err := s.updater.DeleteByID(ctx, s.orders, "b0", nil); err != nil {
			t.Fatal(err)
		}
		if page, _, err := s.ListByCustomer(ctx, bob, -1, 3); err != nil || len(page) != 0 {
			t.Errorf("bob's orders after b0 is gone: %s (%v), want none", ids(page), err)
		}
	})
}

// TestListingsOfAnEarlierStore: orders stored before order_lists existed are
// listed, newest first, once the store opens their database, in both modes.
func TestListingsOfAnEarlierStore(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		db := newTestDB(t)
		base := time.Now().UTC().Truncate(time.Millisecond)
		var docs []any
		for i := range 70 {
			docs = append(docs, toDoc(storedOrder(fmt.Sprintf("old-%02d", 69-i), alice, base.Add(time.Duration(i)*time.Second))))
		}
		docs = append(docs, toDoc(storedOrder("bobs", bob, base)))
		if _, err := db.Collection(ordersCollection).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		s, err := NewMongoStore(ctx, db, m.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		page, next, err := s.ListByCustomer(ctx, alice, -1, 3)
		if err != nil || ids(page) != "[old-00 old-01 old-02]" || next != 66 {
			t.Errorf("alice's newest: %s next %d (%v), want [old-00 old-01 old-02] next 66", ids(page), next, err)
		}
		if page, _, err := s.ListByCustomer(ctx, bob, -1, 3); err != nil || ids(page) != "[bobs]" {
			t.Errorf("bob's: %s (%v)", ids(page), err)
		}
	})
}

// TestServiceOnEmbeddedStore runs a whole order, a replay and a sweep on the
// real store.
func TestServiceOnEmbeddedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := newTestMongoStore(t)
	svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := validOrder()
	req.IdempotencyKey = "k1"
	o, _, err := svc.CreateOrder(t.Context(), alice, req)
	if err != nil || o.Status != StatusDeliveryStarted {
		t.Fatalf("CreateOrder: %v %s", err, o.Status)
	}
	again, replayed, err := svc.CreateOrder(t.Context(), alice, req)
	if err != nil || !replayed || again.ID != o.ID {
		t.Fatalf("replay: %v %v %s", err, replayed, again.ID)
	}
	svc.DoDueWork(t.Context())
	if got := e.notifier.sentOrders(); len(got) != 1 {
		t.Errorf("sent %v", got)
	}
	if stored, _ := store.Get(t.Context(), o.ID); !stored.Outbox.Empty() {
		t.Errorf("outbox %+v after dispatch", stored.Outbox)
	}
	if _, err := svc.DeliveryStarted(t.Context(), o.ID); err != nil {
		t.Fatal(err)
	}
	page, err := svc.ListOrders(t.Context(), alice, 10, "")
	if err != nil || len(page.Orders) != 1 || page.Orders[0].Status != StatusDeliveryStarted {
		t.Fatalf("list: %v %+v", err, page)
	}
}

// TestDeliveryDoneOnEmbeddedStore: on the real store, an operator's
// DeliveryStarted and DeliveryDone while the worker sends the payment
// notification win over the worker's own transition, which then only clears
// the notification; the order ends DeliveryDone with nothing due and no work
// entry. Concurrent DeliveryDone calls all answer the order, recorded once.
func TestDeliveryDoneOnEmbeddedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := newTestMongoStore(t)
	svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now, NotifyWithin: -1, RecordStatus: e.statuses.record}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil || o.Status != StatusPaymentProcessed || o.Outbox.Notify == nil {
		t.Fatalf("CreateOrder: %v %s %+v, want PaymentProcessed with the notification due", err, o.Status, o.Outbox)
	}
	if _, err := svc.DeliveryDone(t.Context(), o.ID); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("DeliveryDone of a PaymentProcessed order: %v, want ErrIllegalTransition", err)
	}
	e.notifier.onSend = func(id string) {
		if _, err := svc.DeliveryStarted(t.Context(), id); err != nil {
			t.Errorf("DeliveryStarted: %v", err)
		}
		if d, err := svc.DeliveryDone(t.Context(), id); err != nil || d.Status != StatusDeliveryDone || d.Outbox.Notify == nil {
			t.Errorf("DeliveryDone during the send: %v %s %+v, want DeliveryDone with the notification still due", err, d.Status, d.Outbox)
		}
	}
	svc.DoDueWork(t.Context())
	stored, err := store.Get(t.Context(), o.ID)
	if err != nil || stored.Status != StatusDeliveryDone || !stored.Outbox.Empty() {
		t.Fatalf("after the worker: %v %s %+v, want DeliveryDone with nothing due", err, stored.Status, stored.Outbox)
	}
	if _, err := store.GetWork(t.Context(), o.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("work entry of a delivered order: %v, want none", err)
	}
	if got := e.notifier.sentOrders(); len(got) != 1 {
		t.Errorf("sent %v, want one notification", got)
	}

	e.notifier.onSend = nil
	second, _, err := svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	svc.DoDueWork(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if d, err := svc.DeliveryDone(t.Context(), second.ID); err != nil || d.Status != StatusDeliveryDone {
				t.Errorf("concurrent DeliveryDone: %v %s", err, d.Status)
			}
		})
	}
	wg.Wait()
	if n := e.statuses.count(StatusDeliveryDone); n != 2 {
		t.Errorf("DeliveryDone recorded %d times, want once per order: %v", n, e.statuses.log)
	}
	if _, err := svc.DeliveryDone(t.Context(), "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: %v, want ErrNotFound", err)
	}
}

func ids(orders []Order) string {
	s := make([]string, len(orders))
	for i, o := range orders {
		s[i] = o.ID
	}
	return fmt.Sprint(s)
}

// TestQueryThrough: with QueryThrough, a listing reads its orders through the
// database given, while writes, lists and other reads stay on the store's own.
func TestQueryThrough(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		s, other := newTestMongoStore(t, m.Options()...), newTestMongoStore(t, m.Options()...)
		s.QueryThrough(other.orders.Database())
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := s.Insert(ctx, storedOrder("mine", "alice", now)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "mine"); err != nil {
			t.Errorf("Get by _id: %v, want the store's own order", err)
		}
		// A listing reads an order its Updater does not remember (stored
		// behind its back, then listed) through the query database, where
		// it differs.
		theirs := storedOrder("theirs", "alice", now)
		if _, err := s.orders.InsertOne(ctx, toDoc(theirs)); err != nil {
			t.Fatal(err)
		}
		if err := s.ListOrder(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		theirs.Total = 4242
		if _, err := other.orders.InsertOne(ctx, toDoc(theirs)); err != nil {
			t.Fatal(err)
		}
		listed, _, err := s.ListByCustomer(ctx, "alice", -1, 10)
		if err != nil || len(listed) == 0 || listed[0].ID != "theirs" || listed[0].Total != 4242 {
			t.Errorf("ListByCustomer = %+v %v, want theirs first, as the query database holds it", listed, err)
		}
	})
}

// TestMongoStoreWork: a work entry is inserted once, with its trace, and
// changed (never its trace) or deleted only at the revision it was read at;
// ListWork lists the entries due.
func TestMongoStoreWork(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		w := Work{OrderID: "o1", Due: now, Owner: "r1", LeaseUntil: now.Add(time.Minute),
			Trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
		if err := s.InsertWork(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertWork(ctx, w); !errors.Is(err, ErrDuplicateWork) {
			t.Fatalf("second InsertWork: %v, want ErrDuplicateWork", err)
		}
		if err := s.InsertWork(ctx, Work{OrderID: "later", Due: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetWork(ctx, "o1"); err != nil || got != w {
			t.Fatalf("GetWork = %+v %v, want %+v", got, err, w)
		}
		if _, err := s.GetWork(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetWork of no entry: %v, want ErrNotFound", err)
		}
		claimed := w
		claimed.Owner, claimed.Trace = "r2", "" // the trace is the insert's: an update leaves it
		claimed.LastError = "payment service unavailable"
		claimed, err := s.UpdateWork(ctx, claimed)
		if err != nil || claimed.Rev != 1 || claimed.Owner != "r2" || claimed.Trace != w.Trace || claimed.LastError != "payment service unavailable" {
			t.Fatalf("UpdateWork = %+v %v, want r2's at revision 1 with the inserted trace and the last error", claimed, err)
		}
		if got, err := s.GetWork(ctx, "o1"); err != nil || got != claimed {
			t.Fatalf("GetWork after the update = %+v %v, want %+v", got, err, claimed)
		}
		if _, err := s.UpdateWork(ctx, w); !errors.Is(err, ErrWorkChanged) {
			t.Fatalf("UpdateWork at a stale revision: %v, want ErrWorkChanged", err)
		}
		if err := s.DeleteWork(ctx, w); !errors.Is(err, ErrWorkChanged) {
			t.Fatalf("DeleteWork at a stale revision: %v, want ErrWorkChanged", err)
		}
		if due, err := s.ListWork(ctx, now); err != nil || len(due) != 1 || due[0] != claimed {
			t.Fatalf("ListWork(now) = %+v %v, want [%+v]", due, err, claimed)
		}
		if all, err := s.ListWork(ctx, time.Time{}); err != nil || len(all) != 2 {
			t.Fatalf("ListWork(all) = %+v %v, want 2 entries", all, err)
		}
		if err := s.DeleteWork(ctx, claimed); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetWork(ctx, "o1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetWork after the delete: %v, want ErrNotFound", err)
		}
		if _, err := s.UpdateWork(ctx, claimed); !errors.Is(err, ErrWorkChanged) {
			t.Fatalf("UpdateWork of a deleted entry: %v, want ErrWorkChanged", err)
		}
	})
}

// TestMongoStoreStatusLists: the orders of a status page newest first by
// the time they entered it, each only under the status it is in, once (those
// at work by their work entries); an entry appended without its update (a
// crash between the two writes of Transition) lists nothing, and neither do
// a transition that loses (a repeat) nor one of an unknown order; entering a
// status at work appends to no list.
func TestMongoStoreStatusLists(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
		for i, id := range []string{"o1", "o2", "o3"} {
			if err := s.InsertWork(ctx, Work{OrderID: id, Due: at(i)}); err != nil { // as CreateOrder does first
				t.Fatal(err)
			}
			if err := s.Insert(ctx, storedOrder(id, alice, at(i))); err != nil {
				t.Fatal(err)
			}
		}
		listed := func(st Status) string {
			t.Helper()
			page, next, err := s.ListByStatus(ctx, st, -1, 10)
			if err != nil || next != -1 {
				t.Fatalf("ListByStatus(%s): next %d, %v", st, next, err)
			}
			return ids(page)
		}
		if got := listed(StatusPending); got != "[o3 o2 o1]" {
			t.Errorf("Pending: %s, want [o3 o2 o1]", got)
		}
		move := func(id string, from, to Status, i int) {
			t.Helper()
			if _, err := s.Transition(ctx, id, from, to, Change{At: at(i)}); err != nil {
				t.Fatalf("%s %s → %s: %v", id, from, to, err)
			}
		}
		move("o1", StatusPending, StatusPaymentProcessed, 10)
		move("o3", StatusPending, StatusPaymentProcessed, 11)
		move("o1", StatusPaymentProcessed, StatusDeliveryStarted, 12)
		// The crash: o2's entry under PaymentFailed, its update never made.
		if err := s.listStatus(ctx, "o2", StatusPaymentFailed, at(13)); err != nil {
			t.Fatal(err)
		}
		// A repeat that loses, and a move of no order.
		if _, err := s.Transition(ctx, "o1", StatusPending, StatusPaymentProcessed, Change{At: at(14)}); !errors.Is(err, ErrStaleStatus) {
			t.Fatalf("stale transition: %v", err)
		}
		if _, err := s.Transition(ctx, "nope", StatusPending, StatusPaymentFailed, Change{At: at(15)}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		for st, want := range map[Status]string{
			StatusPending: "[o2]", StatusPaymentProcessed: "[o3]", StatusDeliveryStarted: "[o1]",
			StatusPaymentFailed: "[]", StatusDeliveryDone: "[]",
		} {
			if got := listed(st); got != want {
				t.Errorf("%s: %s, want %s", st, got, want)
			}
		}
		// The crashed move, made again later, lists o2 once.
		move("o2", StatusPending, StatusPaymentFailed, 16)
		if got, pending := listed(StatusPaymentFailed), listed(StatusPending); got != "[o2]" || pending != "[]" {
			t.Errorf("after o2's move: PaymentFailed %s, Pending %s; want [o2] and []", got, pending)
		}
		if entries, _, err := s.statuses.Read(ctx, string(StatusPaymentFailed), -1, 10, true); err != nil || len(entries) != 3 {
			t.Errorf("PaymentFailed's list %v (%v), want the crash's, the unknown order's and o2's entries", entries, err)
		}
		if n, err := s.statuses.Len(ctx, string(StatusPending)); err != nil || n != 0 {
			t.Errorf("Pending's list has %d entries (%v), want none: its orders are at work", n, err)
		}
	})
}

// TestMongoStoreStatusPages: 150 orders of which 50 moved on page newest
// first through the 100 still Pending (by their work entries), 20 a page,
// every page full, each order once; the page after the last order's is
// empty.
func TestMongoStoreStatusPages(t *testing.T) {
	t.Parallel()
	s := newTestMongoStore(t)
	ctx := t.Context()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var want []string // newest first
	for i := range 150 {
		id := fmt.Sprintf("o%03d", i)
		if err := s.InsertWork(ctx, Work{OrderID: id, Due: base}); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, storedOrder(id, alice, base.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 {
			if _, err := s.Transition(ctx, id, StatusPending, StatusPaymentCancelled, Change{At: base.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want = append([]string{id}, want...)
	}
	var got []string
	from := int64(-1)
	for page := 0; ; page++ {
		orders, next, err := s.ListByStatus(ctx, StatusPending, from, 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) != 20 && next != -1 {
			t.Errorf("page %d: %d orders, want a full page while more follow", page, len(orders))
		}
		for _, o := range orders {
			got = append(got, o.ID)
		}
		if next == -1 {
			break
		}
		from = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged %v,\nwant %v", got, want)
	}
}

// TestStatusPageReadsAtMostMaxStatusScan: a status whose list holds more
// than maxStatusScan entries that are no longer current answers a short page
// with the position to go on from, which reaches the order further down.
func TestStatusPageReadsAtMostMaxStatusScan(t *testing.T) {
	t.Parallel()
	m := newMemStore()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.set(Order{ID: "old", Customer: Customer{UserID: alice}, Status: StatusDeliveryStarted, UpdatedAt: base})
	for i := range maxStatusScan + 5 {
		id := fmt.Sprintf("o%04d", i)
		m.set(Order{ID: id, Customer: Customer{UserID: alice}, Status: StatusDeliveryStarted, UpdatedAt: base})
		m.set(Order{ID: id, Customer: Customer{UserID: alice}, Status: StatusDeliveryDone, UpdatedAt: base.Add(time.Second)})
	}
	first, next, err := m.ListByStatus(t.Context(), StatusDeliveryStarted, -1, 20)
	if err != nil || len(first) != 0 || next != 5 {
		t.Fatalf("first page: %s next %d (%v), want none and the position after %d entries", ids(first), next, err, maxStatusScan)
	}
	second, next, err := m.ListByStatus(t.Context(), StatusDeliveryStarted, next, 20)
	if err != nil || ids(second) != "[old]" || next != -1 {
		t.Errorf("second page: %s next %d (%v), want [old] and no more", ids(second), next, err)
	}
}

// TestStatusListsOfAnEarlierStore: the orders of a database from before
// order_status_lists, whose customers' lists exist already, are listed under
// their statuses when the store opens it, in both modes.
func TestStatusListsOfAnEarlierStore(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		db := newTestDB(t)
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var docs []any
		for i := range 70 {
			o := storedOrder(fmt.Sprintf("old-%02d", i), alice, base.Add(time.Duration(i)*time.Second))
			o.Status = StatusPaymentFailed
			if i%2 == 1 {
				o.Status, o.UpdatedAt = StatusDeliveryStarted, base.Add(time.Hour-time.Duration(i)*time.Second)
			}
			docs = append(docs, toDoc(o))
		}
		if _, err := db.Collection(ordersCollection).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		if _, err := NewMongoStore(ctx, db, m.Options()...); err != nil { // lists the customers' orders
			t.Fatal(err)
		}
		if err := db.Collection(statusListsCollection).Drop(ctx); err != nil { // a store from before the status lists
			t.Fatal(err)
		}
		s, err := NewMongoStore(ctx, db, m.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		failed, next, err := s.ListByStatus(ctx, StatusPaymentFailed, -1, 3)
		if err != nil || ids(failed) != "[old-68 old-66 old-64]" || next < 0 {
			t.Errorf("PaymentFailed: %s next %d (%v), want [old-68 old-66 old-64] and more", ids(failed), next, err)
		}
		started, _, err := s.ListByStatus(ctx, StatusDeliveryStarted, -1, 2)
		if err != nil || ids(started) != "[old-01 old-03]" {
			t.Errorf("DeliveryStarted: %s (%v), want [old-01 old-03] (entered last)", ids(started), err)
		}
		if all, _, err := s.ListByStatus(ctx, StatusDeliveryStarted, -1, 100); err != nil || len(all) != 35 {
			t.Errorf("DeliveryStarted: %d orders (%v), want 35", len(all), err)
		}
	})
}
