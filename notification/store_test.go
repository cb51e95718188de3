package notification

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
var testStore = docstoretest.NewShared("notification")

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

func pendingNotification(orderID string, created time.Time) Notification {
	return Notification{
		OrderID: orderID, UserID: testUser, From: DefaultFrom, To: testTo,
		Subject: "Payment received for order " + orderID, Content: "content of " + orderID,
		Status: StatusPending, CreatedAt: created,
	}
}

func TestMongoStoreInsertGet(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		created := time.Date(2025, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
		n := pendingNotification(testOrder, created)
		if err := s.Insert(ctx, n, Lease{Owner: "me", Until: created.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, testOrder)
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("Get = %+v, want %+v", got, n)
		}
		if err = s.Insert(ctx, n, Lease{}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second Insert err = %v, want ErrDuplicate", err)
		}
		if _, err = s.Get(ctx, "order-2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(unknown) err = %v, want ErrNotFound", err)
		}
		// Creating the store again on the same database is fine.
		if _, err = NewMongoStore(ctx, s.coll.Database()); err != nil {
			t.Errorf("NewMongoStore again: %v", err)
		}
	})
}

func TestMongoStoreLease(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		s := newTestMongoStore(t, m.Options()...)
		ctx := t.Context()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		if err := s.Insert(ctx, pendingNotification(testOrder, t0), Lease{Owner: "first", Until: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		claim := func(now time.Time, owner string) bool {
			t.Helper()
			ok, err := s.Claim(ctx, testOrder, now, Lease{Owner: owner, Until: now.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if claim(t0.Add(30*time.Second), "second") {
			t.Error("claimed a lease held by another")
		}
		if !claim(t0.Add(2*time.Minute), "second") {
			t.Error("could not claim an expired lease")
		}
		// A release by a former holder changes nothing.
		if err := s.Release(ctx, testOrder, "first"); err != nil {
			t.Fatal(err)
		}
		if claim(t0.Add(2*time.Minute), "third") {
			t.Error("claimed after a release by a former holder")
		}
		if err := s.Release(ctx, testOrder, "second"); err != nil {
			t.Fatal(err)
		}
		if !claim(t0.Add(2*time.Minute), "third") {
			t.Error("could not claim a released lease")
		}
		if ok, err := s.Claim(ctx, "order-2", t0, Lease{Owner: "x", Until: t0}); ok || err != nil {
			t.Errorf("Claim(unknown) = %v, %v; want false, nil", ok, err)
		}

		sentAt := t0.Add(3 * time.Minute)
		n, err := s.MarkSent(ctx, testOrder, sentAt)
		if err != nil {
			t.Fatal(err)
		}
		if n.Status != StatusSent || !n.SentAt.Equal(sentAt) {
			t.Errorf("MarkSent = %+v", n)
		}
		if claim(t0.Add(time.Hour), "fourth") {
			t.Error("claimed a Sent notification")
		}
		// Marking again keeps the first send time.
		n, err = s.MarkSent(ctx, testOrder, sentAt.Add(time.Hour))
		if err != nil || !n.SentAt.Equal(sentAt) {
			t.Errorf("second MarkSent = %+v, %v; want the first sent_at", n, err)
		}
		if _, err = s.MarkSent(ctx, "order-2", sentAt); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkSent(unknown) err = %v, want ErrNotFound", err)
		}
	})
}

// TestMongoStoreDropsLegacyIndex: the index of the former delivery worker's
// scan is dropped from an existing collection, and a new collection gets no
// index but _id's (on the embedded store any other only slows writes; on
// MongoDB no query would use one).
func TestMongoStoreDropsLegacyIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := newTestDB(t)
	coll := db.Collection(collectionName)
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "status", Value: 1}, {Key: "delivery_acked", Value: 1}},
		Options: options.Index().SetName(legacyIndex),
	}); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, coll); !slices.Contains(got, legacyIndex) {
		t.Fatalf("indexes %v: the set-up did not create %s", got, legacyIndex)
	}
	for range 2 { // and again, with nothing left to drop
		if _, err := NewMongoStore(ctx, db); err != nil {
			t.Fatal(err)
		}
		if got := indexNames(t, coll); !slices.Equal(got, []string{"_id_"}) {
			t.Errorf("indexes %v, want [_id_]", got)
		}
	}
	fresh := newTestMongoStore(t)
	if got := indexNames(t, fresh.coll); !slices.Equal(got, []string{"_id_"}) {
		t.Errorf("indexes of a new collection %v, want [_id_]", got)
	}
}

// indexNames lists the names of coll's indexes, sorted.
func indexNames(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// TestMongoStoreHotPathFiltersOnIDOnly: every command of the store looks
// notifications up by _id alone, the only lookup whose cost does not grow
// with the number of notifications on the embedded store.
func TestMongoStoreHotPathFiltersOnIDOnly(t *testing.T) {
	// Not parallel: FerretDB's embedded start-up writes a global (see
	// docstoretest.Start), so stores must not start at the same time.
	client, rec := docstoretest.Start(t)
	ctx := t.Context()
	s, err := NewMongoStore(ctx, client.Database("notification"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.Insert(ctx, pendingNotification(testOrder, t0), Lease{Owner: "a", Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, pendingNotification(testOrder, t0), Lease{}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Insert: %v", err)
	}
	if _, err := s.Get(ctx, testOrder); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Claim(ctx, testOrder, t0, Lease{Owner: "b", Until: t0.Add(time.Minute)}); ok || err != nil {
		t.Fatalf("Claim of a held lease: %v, %v", ok, err)
	}
	if err := s.Release(ctx, testOrder, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Claim(ctx, testOrder, t0, Lease{Owner: "b", Until: t0.Add(time.Minute)}); !ok || err != nil {
		t.Fatalf("Claim of a released lease: %v, %v", ok, err)
	}
	if n, err := s.MarkSent(ctx, testOrder, t0); err != nil || n.Status != StatusSent {
		t.Fatalf("MarkSent: %+v, %v", n, err)
	}
	if n, err := s.MarkSent(ctx, testOrder, t0.Add(time.Hour)); err != nil || !n.SentAt.Equal(t0) {
		t.Fatalf("second MarkSent: %+v, %v", n, err)
	}
	rec.AssertIDOnly(t, "notification", collectionName)

	// The mongodb mode really is MongoDB's way: the guard goes in the filter. (Were the store to drop its
	// Updater options, the mongodb subtests would run the embedded path again, unseen.)
	db := client.Database("notification_mongodb")
	if s, err = NewMongoStore(ctx, db, docstore.WithBackend(docstore.MongoDB)); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, pendingNotification(testOrder, t0), Lease{Owner: "a", Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Claim(ctx, testOrder, t0, Lease{Owner: "b", Until: t0.Add(time.Minute)}); ok || err != nil {
		t.Fatalf("mongodb mode: Claim of a held lease: %v, %v", ok, err)
	}
	if cmds := rec.Commands(db.Name(), collectionName); !slices.ContainsFunc(cmds, func(c docstoretest.Command) bool { return !c.IDOnly() }) {
		t.Errorf("mongodb mode: commands %v, want the guarded claim's filter on more than _id", cmds)
	}
}

func TestMongoStoreConcurrentInsertAndClaim(t *testing.T) {
	t.Parallel()
	s := newTestMongoStore(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const n = 20
	var inserted, duplicates, claimed atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Insert(ctx, pendingNotification(testOrder, t0), Lease{Owner: fmt.Sprint(i), Until: t0})
			switch {
			case err == nil:
				inserted.Add(1)
			case errors.Is(err, ErrDuplicate):
				duplicates.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if inserted.Load() != 1 || duplicates.Load() != n-1 {
		t.Fatalf("inserted %d, duplicates %d; want 1 and %d", inserted.Load(), duplicates.Load(), n-1)
	}
	// The lease expired: of concurrent claimers exactly one wins.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := t0.Add(time.Minute)
			ok, err := s.Claim(ctx, testOrder, now, Lease{Owner: fmt.Sprint("c", i), Until: now.Add(time.Minute)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				claimed.Add(1)
			}
		}()
	}
	wg.Wait()
	if claimed.Load() != 1 {
		t.Errorf("%d claims succeeded, want 1", claimed.Load())
	}
}

func TestServiceOnEmbeddedStoreSendsOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	store := newTestMongoStore(t)
	sender := &fakeSender{}
	// Two service instances on one store, like two replicas: they share no
	// singleflight, only the store's lease. (Two processes on one embedded
	// database are not supported; on MongoDB each replica has its own
	// store, which remembers nothing there.)
	var svcs []Service
	for range 2 {
		svc, err := NewService(store, sender, Options{})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	const callers = 20
	var wg sync.WaitGroup
	var sent, inProgress atomic.Int32
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := svcs[i%2].SendPaymentNotification(t.Context(), testTo, testOrder, testUser)
			switch {
			case err == nil && n.Status == StatusSent:
				sent.Add(1)
			case errors.Is(err, ErrInProgress):
				inProgress.Add(1) // the other replica held the lease: the outbox retries
			default:
				t.Errorf("caller %d: %+v, %v", i, n, err)
			}
		}()
	}
	wg.Wait()
	if calls, _ := sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}
	if sent.Load() == 0 || sent.Load()+inProgress.Load() != callers {
		t.Errorf("sent %d, in progress %d of %d callers", sent.Load(), inProgress.Load(), callers)
	}
	// Every retry after that answers Sent without sending.
	for _, svc := range svcs {
		if n, err := svc.SendPaymentNotification(t.Context(), testTo, testOrder, testUser); err != nil || n.Status != StatusSent {
			t.Errorf("retry = %+v, %v", n, err)
		}
	}
	if calls, _ := sender.counts(); calls != 1 {
		t.Errorf("sender called %d times after retries, want 1", calls)
	}
	count, err := store.coll.CountDocuments(t.Context(), bson.D{})
	if err != nil || count != 1 {
		t.Errorf("%d documents stored (%v), want 1", count, err)
	}
}

func TestServiceOnEmbeddedStoreSenderFailureThenRetry(t *testing.T) {
	t.Parallel()
	store := newTestMongoStore(t)
	sender := &fakeSender{}
	svc, err := NewService(store, sender, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sender.setFn(func(context.Context, int, Message) error { return errors.New("relay down") })
	if _, err = svc.SendPaymentNotification(t.Context(), testTo, testOrder, testUser); !errors.Is(err, ErrSendFailed) {
		t.Fatalf("err = %v, want ErrSendFailed", err)
	}
	if n, err := store.Get(t.Context(), testOrder); err != nil || n.Status != StatusPending {
		t.Fatalf("stored %+v, %v; want Pending", n, err)
	}
	sender.setFn(nil)
	n, err := svc.SendPaymentNotification(t.Context(), testTo, testOrder, testUser)
	if err != nil || n.Status != StatusSent || n.SentAt.IsZero() {
		t.Fatalf("retry = %+v, %v; want Sent", n, err)
	}
	if _, sent := sender.counts(); sent != 1 {
		t.Errorf("sent %d, want 1", sent)
	}
}
