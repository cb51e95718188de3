package product

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
)

// One embedded store for the whole test binary; each test uses its own
// database. The client counts the commands sent to each database, and
// testRecorder keeps those that select documents, with their filters.
var (
	testClient   *mongo.Client
	testCommands = &commandCounter{counts: map[string]int{}}
	testRecorder = docstoretest.NewRecorder()
	testDBSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "product-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	e, err := embedded.Start(ctx, embedded.Options{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	// The embedded store's URI as docstore.Connect uses it, plus a monitor.
	record := testRecorder.Monitor().Started
	testClient, err = mongo.Connect(options.Client().ApplyURI(e.URI()).
		SetMonitor(&event.CommandMonitor{Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			testCommands.started(ctx, e)
			record(ctx, e)
		}}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testClient.Disconnect(ctx)
	return m.Run()
}

// commandCounter counts the commands sent to each database.
type commandCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *commandCounter) started(_ context.Context, e *event.CommandStartedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[e.DatabaseName]++
}

// mark returns the function that tells how many commands db has had since.
func (c *commandCounter) mark(db string) func() int {
	c.mu.Lock()
	start := c.counts[db]
	c.mu.Unlock()
	return func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.counts[db] - start
	}
}

// newTestDB returns a fresh database of the shared embedded store.
func newTestDB(t testing.TB) *mongo.Database {
	t.Helper()
	return testClient.Database(fmt.Sprintf("t%d", testDBSeq.Add(1)))
}

// newMongoStore returns a store on a fresh database, its Updater configured
// by opts (docstoretest.Mode.Options).
func newMongoStore(t *testing.T, opts ...docstore.UpdaterOption) *MongoStore {
	t.Helper()
	return newMongoStoreOn(t, newTestDB(t), opts...)
}

// newMongoStoreOn returns a store on db, its Updater configured by opts.
func newMongoStoreOn(t *testing.T, db *mongo.Database, opts ...docstore.UpdaterOption) *MongoStore {
	t.Helper()
	s, err := NewMongoStore(t.Context(), db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// harness is a Store under test with ways to look inside it.
type harness struct {
	store Store
	// marks returns the take and return marks on a product.
	marks func(t *testing.T, id string) (inflight, returning []string)
}

func fakeHarness() harness { return fakeHarnessOf(newFakeStore()) }

func fakeHarnessOf(f *fakeStore) harness {
	return harness{store: f, marks: func(_ *testing.T, id string) ([]string, []string) { return f.marks(id) }}
}

func mongoHarness(t *testing.T, opts ...docstore.UpdaterOption) harness {
	return mongoHarnessOf(newMongoStore(t, opts...))
}

func mongoHarnessOf(m *MongoStore) harness {
	return harness{store: m, marks: func(t *testing.T, id string) ([]string, []string) {
		t.Helper()
		var d productDoc
		if err := m.products.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
			t.Fatalf("read product %s: %v", id, err)
		}
		return d.Inflight, d.Returning
	}}
}

// forEachStore runs fn on the fake store and on the embedded store.
func forEachStore(t *testing.T, fn func(t *testing.T, h harness)) {
	t.Run("fake", func(t *testing.T) {
		t.Parallel()
		fn(t, fakeHarness())
	})
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		fn(t, mongoHarness(t))
	})
}

// clock is a settable clock for leases.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestService returns a service whose calls clear their own marks (no
// flusher runs).
func newTestService(t *testing.T, s Store, c *clock) Service {
	t.Helper()
	svc, err := NewService(s, Options{Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// newTestCore returns the service itself, for the tests of its flusher.
func newTestCore(t *testing.T, s Store, c *clock) *service {
	t.Helper()
	svc, err := newService(s, Options{Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// runFlusher runs the mark flusher of svc, flushing every interval or when
// flushAt marks wait, and returns the function that stops it and waits for
// its last flush; the test's end stops it too. Marks are queued from the
// moment runFlusher returns.
func runFlusher(t *testing.T, svc *service, interval time.Duration, flushAt int) (stop func()) {
	t.Helper()
	f := svc.marks
	f.interval, f.flushAt = interval, flushAt
	if err := f.start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.serve(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// never is an interval at which a flusher does not flush within a test.
const never = time.Hour

// seed inserts products with the given stock, ids p1, p2, ...
func seed(t *testing.T, s Store, stocks ...int64) []string {
	t.Helper()
	ps := make([]Product, len(stocks))
	ids := make([]string, len(stocks))
	for i, st := range stocks {
		ids[i] = fmt.Sprintf("p%d", i+1)
		ps[i] = Product{ID: ids[i], Name: "Product " + ids[i], Price: 1000, Stock: st}
	}
	if _, err := s.InsertProducts(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	return ids
}

// stocks returns the stock of each product, in the order of ids.
func stocks(t *testing.T, s Store, ids ...string) []int64 {
	t.Helper()
	ps, err := s.GetProducts(t.Context(), ids)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int64{}
	for _, p := range ps {
		by[p.ID] = p.Stock
	}
	out := make([]int64, len(ids))
	for i, id := range ids {
		st, ok := by[id]
		if !ok {
			t.Fatalf("product %s is gone", id)
		}
		out[i] = st
	}
	return out
}

// TestCatalogueOfAnEarlierStore: products stored before the catalogue's list
// existed are listed, in id order, once the store opens their database.
func TestCatalogueOfAnEarlierStore(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		db := newTestDB(t)
		if _, err := db.Collection(productsCollection).InsertMany(t.Context(), []any{
			productDoc{ID: "c", Name: "C", Price: 1, Inflight: []string{}, Returning: []string{}},
			productDoc{ID: "a", Name: "A", Price: 1, Inflight: []string{}, Returning: []string{}},
			productDoc{ID: "b", Name: "B", Price: 1, Inflight: []string{}, Returning: []string{}},
		}); err != nil {
			t.Fatal(err)
		}
		s := newMongoStoreOn(t, db, m.Options()...)
		page, next, err := s.ListProducts(t.Context(), -1, 10)
		if err != nil || fmt.Sprint(productIDsOf(page)) != "[a b c]" || next != -1 {
			t.Errorf("ListProducts = %v next %d (%v), want [a b c]", productIDsOf(page), next, err)
		}
	})
}

// TestQueryThrough: with QueryThrough, the catalogue's pages read the
// products the Updater does not remember through the database given, while
// the writes and the other reads stay on the store's own.
func TestQueryThrough(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		s, other := newMongoStore(t, m.Options()...), newTestDB(t)
		s.QueryThrough(other)
		if _, err := s.InsertProducts(ctx, []Product{{ID: "p", Name: "Ours", Price: 1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Collection(productsCollection).InsertOne(ctx, productDoc{ID: "p", Name: "Theirs", Price: 1,
			Inflight: []string{}, Returning: []string{}}); err != nil {
			t.Fatal(err)
		}
		page, _, err := s.ListProducts(ctx, -1, 10)
		if err != nil || len(page) != 1 || page[0].Name != "Theirs" {
			t.Errorf("ListProducts = %+v (%v), want p as the query database holds it", page, err)
		}
		if ps, err := s.GetProducts(ctx, []string{"p"}); err != nil || len(ps) != 1 || ps[0].Name != "Ours" {
			t.Errorf("GetProducts = %+v (%v), want p as the store's own database holds it", ps, err)
		}
	})
}

func TestMongoStoreCatalogue(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) { testCatalogue(t, newMongoStore(t, m.Options()...)) })
}

func testCatalogue(t *testing.T, s *MongoStore) {
	ctx := t.Context()

	ids, err := s.InsertProducts(ctx, []Product{{ID: "b", Name: "B", Price: 1, Stock: 5}, {ID: "a", Name: "A", Price: 2, Stock: 0}})
	if err != nil || fmt.Sprint(ids) != "[b a]" {
		t.Fatalf("InsertProducts = %v, %v; want [b a]", ids, err)
	}
	ids, err = s.InsertProducts(ctx, []Product{{ID: "a", Name: "A2", Price: 9}, {ID: "c", Name: "C", Price: 3, Stock: 1}})
	if err != nil || fmt.Sprint(ids) != "[c]" {
		t.Fatalf("InsertProducts with an existing id = %v, %v; want [c]", ids, err)
	}
	ps, err := s.GetProducts(ctx, []string{"a", "zz", "c"})
	if err != nil || fmt.Sprint(sortedIDs(ps)) != "[a c]" {
		t.Fatalf("GetProducts = %v, %v", ps, err)
	}
	for _, p := range ps {
		if p.ID == "a" && (p.Name != "A" || p.Price != 2) {
			t.Errorf("product a = %+v, want the first insert kept", p)
		}
	}

	// In the order they were added; an id listed whose product never came
	// (a crash between the two writes) is left out.
	if err := s.catalogue.Append(ctx, catalogueList, "ghost"); err != nil {
		t.Fatal(err)
	}
	page, next, err := s.ListProducts(ctx, -1, 2)
	if err != nil || len(page) != 2 || page[0].ID != "b" || page[1].ID != "a" || next != 2 {
		t.Fatalf("ListProducts first = %v, %d, %v", page, next, err)
	}
	page, next, err = s.ListProducts(ctx, next, 2)
	if err != nil || len(page) != 1 || page[0].ID != "c" || next != -1 {
		t.Fatalf("ListProducts from 2 = %v, %d, %v", page, next, err)
	}
	// Once made, the product is listed where its id was.
	if ids, err := s.InsertProducts(ctx, []Product{{ID: "ghost", Name: "G", Price: 1}}); err != nil || fmt.Sprint(ids) != "[ghost]" {
		t.Fatalf("InsertProducts ghost = %v, %v", ids, err)
	}
	if page, _, err = s.ListProducts(ctx, -1, 10); err != nil || fmt.Sprint(productIDsOf(page)) != "[b a c ghost]" {
		t.Fatalf("ListProducts = %v, %v; want [b a c ghost]", productIDsOf(page), err)
	}

	p, err := s.AdjustStock(ctx, "b", -5, MaxStock)
	if err != nil || p.Stock != 0 || p.Name != "B" {
		t.Fatalf("AdjustStock(b, -5) = %+v, %v", p, err)
	}
	if _, err = s.AdjustStock(ctx, "b", -1, MaxStock); !errors.Is(err, ErrInsufficientStock) {
		t.Errorf("AdjustStock below zero: err = %v, want ErrInsufficientStock", err)
	}
	if _, err = s.AdjustStock(ctx, "b", 11, 10); !errors.Is(err, errAboveMax) {
		t.Errorf("AdjustStock above max: err = %v, want errAboveMax", err)
	}
	if p, err = s.AdjustStock(ctx, "b", 10, 10); err != nil || p.Stock != 10 {
		t.Errorf("AdjustStock to max = %+v, %v", p, err)
	}
	if _, err = s.AdjustStock(ctx, "nope", 1, MaxStock); !errors.Is(err, ErrNotFound) {
		t.Errorf("AdjustStock unknown: err = %v, want ErrNotFound", err)
	}

	// NewMongoStore on an existing database is fine.
	if _, err = NewMongoStore(ctx, s.products.Database()); err != nil {
		t.Errorf("NewMongoStore again: %v", err)
	}
}

// TestProductLookups: products are read by _id (Updater.FindByIDs): on the
// embedded store each by a find on _id alone the first time, then from the
// Updater's memory; on MongoDB with one find of them all. The answers are the
// same, and so is the reservation's classification of what it could not take.
func TestProductLookups(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		db := newTestDB(t)
		s, err := NewMongoStore(ctx, db, m.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		ids := seed(t, s, 10, 10, 10)
		finds := func(call func()) []docstoretest.Command {
			t.Helper()
			before := len(testRecorder.Commands(db.Name(), productsCollection))
			call()
			return testRecorder.Commands(db.Name(), productsCollection)[before:]
		}
		get := func() {
			ps, err := s.GetProducts(ctx, []string{"p3", "nope", "p1", "p3"})
			if err != nil || fmt.Sprint(sortedIDs(ps)) != "[p1 p3]" || ps[0].Name == "" {
				t.Errorf("GetProducts = %+v, %v", ps, err)
			}
		}
		first, again := finds(get), finds(get)
		if m.Serial() {
			if len(first) != 3 || slices.ContainsFunc(first, func(c docstoretest.Command) bool { return !c.IDOnly() || c.Name != "find" }) {
				t.Errorf("first read: %v, want three finds by _id (p3, nope, p1)", first)
			}
			if len(again) != 1 || !again[0].IDOnly() {
				t.Errorf("second read: %v, want one find by _id (nope), the others from memory", again)
			}
		} else if len(first) != 1 || first[0].IDOnly() || len(again) != 1 {
			t.Errorf("reads: %v then %v, want one find with $in each", first, again)
		}

		svc := newTestService(t, s, newClock())
		_, err = svc.ReserveStock(ctx, "o1", []Item{{"p1", 1}, {"p2", 11}, {"zz", 1}})
		var pe *ProductsError
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &pe) || fmt.Sprint(pe.ProductIDs) != "[zz]" {
			t.Errorf("reserve with an unknown product: %v", err)
		}
		_, err = svc.ReserveStock(ctx, "o2", []Item{{"p1", 1}, {"p2", 11}, {"p3", 1}})
		if !errors.Is(err, ErrInsufficientStock) || !errors.As(err, &pe) || fmt.Sprint(pe.ProductIDs) != "[p2]" {
			t.Errorf("reserve beyond the stock: %v", err)
		}
		wantStocks(t, s, ids, 10, 10, 10)
	})
}

func TestMongoStoreReservations(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) { testReservations(t, newMongoStore(t, m.Options()...)) })
}

func testReservations(t *testing.T, s *MongoStore) {
	ctx := t.Context()
	lease := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Reservation{OrderID: "o1", Items: []Item{{"p1", 2}}, State: StatePending, Owner: "x.1", LeaseUntil: lease}
	got, created, err := s.CreateReservation(ctx, r)
	if err != nil || !created || got.OrderID != "o1" {
		t.Fatalf("CreateReservation = %+v, %v, %v", got, created, err)
	}
	got, created, err = s.CreateReservation(ctx, Reservation{OrderID: "o1", State: StateReleased})
	if err != nil || created || got.State != StatePending || !got.LeaseUntil.Equal(lease) || len(got.Items) != 1 {
		t.Fatalf("CreateReservation again = %+v, %v, %v; want the first one", got, created, err)
	}
	if _, ok, err := s.UpdateReservation(ctx, "o1", Guard{State: StatePending, Owner: "y.1"}, Change{State: StateReserved}); ok || err != nil {
		t.Errorf("UpdateReservation with the wrong owner = %v, %v; want no match", ok, err)
	}
	f := &Failure{Reason: FailureInsufficientStock, ProductIDs: []string{"p1"}}
	got, ok, err := s.UpdateReservation(ctx, "o1", Guard{State: StatePending, Owner: "x.1"}, Change{State: StateFailed, Failure: f})
	if err != nil || !ok || got.State != StateFailed || got.Owner != "x.1" || got.Failure == nil || got.Failure.ProductIDs[0] != "p1" {
		t.Fatalf("UpdateReservation = %+v, %v, %v", got, ok, err)
	}
	if _, found, err := s.GetReservation(ctx, "o2"); found || err != nil {
		t.Errorf("GetReservation unknown = %v, %v", found, err)
	}
}

func TestMongoStoreMarks(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) { testMarks(t, m, mongoHarness(t, m.Options()...)) })
}

func testMarks(t *testing.T, m docstoretest.Mode, h harness) {
	ctx := t.Context()
	s := h.store
	seed(t, s, 5, 1)
	items := []Item{{"p1", 2}, {"p2", 2}, {"p3", 1}}

	res, err := s.TakeStock(ctx, "o1", items)
	if err != nil || fmt.Sprint(res.Missing, res.Short) != "[p3] [p2]" {
		t.Fatalf("TakeStock = %+v, %v; want p3 missing, p2 short", res, err)
	}
	// Again: p1 carries the mark, so it counts as taken and is not taken twice.
	if res, err = s.TakeStock(ctx, "o1", items[:1]); err != nil || !res.OK() {
		t.Fatalf("TakeStock repeat = %+v, %v", res, err)
	}
	if got := stocks(t, s, "p1", "p2"); got[0] != 3 || got[1] != 1 {
		t.Fatalf("stocks = %v, want [3 1]", got)
	}
	n, err := s.UndoTakes(ctx, "o1", items)
	if err != nil || n != 1 {
		t.Fatalf("UndoTakes = %d, %v; want 1", n, err)
	}
	if n, _ = s.UndoTakes(ctx, "o1", items); n != 0 {
		t.Fatalf("UndoTakes repeat = %d, want 0", n)
	}
	if got := stocks(t, s, "p1"); got[0] != 5 {
		t.Fatalf("stock after undo = %v, want 5", got)
	}

	if res, err = s.TakeStock(ctx, "o2", items[:1]); err != nil || !res.OK() {
		t.Fatalf("TakeStock o2 = %+v, %v", res, err)
	}
	if err = s.ReturnStock(ctx, "o2", items[:1]); err != nil {
		t.Fatal(err)
	}
	if err = s.ReturnStock(ctx, "o2", items[:1]); err != nil {
		t.Fatal(err)
	}
	in, ret := h.marks(t, "p1")
	if got := stocks(t, s, "p1"); got[0] != 5 || len(in) != 0 || fmt.Sprint(ret) != "[o2]" {
		t.Fatalf("after two returns: stock %v, inflight %v, returning %v; want 5, [], [o2]", got, in, ret)
	}

	// ClearMarks pulls the listed marks only, present or not, by _id alone.
	if res, err = s.TakeStock(ctx, "o3", items[:1]); err != nil || !res.OK() {
		t.Fatalf("TakeStock o3 = %+v, %v", res, err)
	}
	if res, err = s.TakeStock(ctx, "o4", items[:1]); err != nil || !res.OK() {
		t.Fatalf("TakeStock o4 = %+v, %v", res, err)
	}
	db := s.(*MongoStore).products.Database().Name()
	before := len(testRecorder.Commands(db, productsCollection))
	err = s.ClearMarks(ctx, []ProductMarks{
		{ProductID: "p1", Takes: []string{"o3", "o9"}, Returns: []string{"o2"}},
		{ProductID: "p2", Takes: []string{"o3"}},
		{ProductID: "p3", Returns: []string{"o2"}},
		{ProductID: "p4"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmds := testRecorder.Commands(db, productsCollection)[before:]
	switch {
	case m.Serial() && (len(cmds) != 3 || !idOnlyUpdates(cmds)):
		t.Errorf("ClearMarks sent %v, want an update filtering on _id alone for each of p1, p2, p3", cmds)
	case !m.Serial() && (len(cmds) != 1 || cmds[0].Name != "update" || len(cmds[0].Filters) != 3):
		t.Errorf("ClearMarks sent %v, want one update command of three statements", cmds)
	}
	in, ret = h.marks(t, "p1")
	if fmt.Sprint(in) != "[o4]" || len(ret) != 0 {
		t.Fatalf("after ClearMarks: inflight %v, returning %v; want [o4], []", in, ret)
	}
}

// idOnlyUpdates reports whether every command of cmds is an update or a
// findAndModify filtering on _id alone: how Updater.UpdateEach updates
// products on the embedded store (docstore.Updater: an update, batched, when it knows
// the product; a findAndModify when it does not).
func idOnlyUpdates(cmds []docstoretest.Command) bool {
	for _, c := range cmds {
		if (c.Name != "findAndModify" && c.Name != "update") || !c.IDOnly() {
			return false
		}
	}
	return true
}

// commandNames returns the names of cmds.
func commandNames(cmds []docstoretest.Command) []string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	return names
}

// TestReserveStockRoundTrips counts the store commands of the reservation
// protocol on the embedded store, with the marks cleared by the flusher and
// by the calls themselves. There, each product update is one update by _id
// through the Updater (Updater.UpdateEach), which reads a product the first time
// it meets it (the seed inserts them behind its back).
func TestReserveStockRoundTrips(t *testing.T) {
	t.Parallel()
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := newTestDB(t)
			s, err := NewMongoStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			ids := seed(t, s, 100, 100, 100, 0)
			svc := newTestCore(t, s, newClock())
			stop := func() {}
			clear := 1 // per product, the command clearing a call's marks
			if batched {
				stop = runFlusher(t, svc, never, maxQueued)
				clear = 0
			}
			one := []Item{{"p1", 1}}
			three := []Item{{"p1", 1}, {"p2", 2}, {"p3", 3}}

			cases := []struct {
				name string
				call func() error
				want int
			}{
				// insert, read p1, take, reserved
				{"reserve 1 item", func() error { _, err := svc.ReserveStock(ctx, "o1", one); return err }, 4 + clear},
				// insert, read p2 and p3, three takes, reserved
				{"reserve 3 items", func() error { _, err := svc.ReserveStock(ctx, "o3", three); return err }, 7 + 3*clear},
				{"repeat", func() error { _, err := svc.ReserveStock(ctx, "o3", three); return err }, 1},
				// releasing, three returns, released
				{"release", func() error { _, err := svc.ReleaseStock(ctx, "o3"); return err }, 5 + 3*clear},
				// insert, take p1, read p4 (short: no write), undo p1,
				// failed; the classification of the items reads p1 and
				// p4 from the Updater's memory
				{"reserve short", func() error {
					if _, err := svc.ReserveStock(ctx, "o4", []Item{{"p1", 1}, {"p4", 1}}); !errors.Is(err, ErrInsufficientStock) {
						return fmt.Errorf("err = %v, want ErrInsufficientStock", err)
					}
					return nil
				}, 5},
			}
			for _, c := range cases {
				count := testCommands.mark(db.Name())
				if err := c.call(); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				got := count()
				t.Logf("%s: %d store commands", c.name, got)
				if got != c.want {
					t.Errorf("%s: %d store commands, want %d", c.name, got, c.want)
				}
			}

			// The hot path, command by command: the insert (which the
			// recorder does not keep), the takes, pending → reserved, then
			// the clearing unless batched.
			prodBefore := len(testRecorder.Commands(db.Name(), productsCollection))
			resvBefore := len(testRecorder.Commands(db.Name(), reservationsCollection))
			count := testCommands.mark(db.Name())
			if _, err := svc.ReserveStock(ctx, "o5", three); err != nil {
				t.Fatal(err)
			}
			if got, want := count(), 5+3*clear; got != want {
				t.Errorf("reserve: %d store commands, want %d", got, want)
			}
			prod := testRecorder.Commands(db.Name(), productsCollection)[prodBefore:]
			resv := testRecorder.Commands(db.Name(), reservationsCollection)[resvBefore:]
			wantProd := slices.Repeat([]string{"update"}, 3+3*clear)
			if got := commandNames(prod); !slices.Equal(got, wantProd) {
				t.Errorf("commands on products %v, want %v", got, wantProd)
			}
			for _, c := range prod {
				if !c.IDOnly() {
					t.Errorf("%v: want a filter on _id alone", c)
				}
			}
			if len(resv) != 1 || resv[0].Name != "update" || !resv[0].IDOnly() {
				t.Errorf("commands on reservations %v, want one update by _id", resv)
			}
			if !batched {
				noMarks(t, mongoHarnessOf(s), ids...)
				return
			}

			// Stopping the flusher clears every queued mark in one command.
			count = testCommands.mark(db.Name())
			prodBefore = len(testRecorder.Commands(db.Name(), productsCollection))
			stop()
			if got := count(); got != 3 {
				t.Errorf("the flush at stop: %d store commands, want 3", got)
			}
			prod = testRecorder.Commands(db.Name(), productsCollection)[prodBefore:]
			if got := commandNames(prod); !slices.Equal(got, []string{"update", "update", "update"}) {
				t.Errorf("the flush at stop sent %v, want one update per product (p1, p2, p3)", prod)
			}
			for _, c := range prod {
				if !c.IDOnly() {
					t.Errorf("%v: want a filter on _id alone", c)
				}
			}
			noMarks(t, mongoHarnessOf(s), ids...)
		})
	}
}

// TestReservationCommandsUseTheIDIndex checks every command on the
// reservations collection during a reservation's life, failures and
// repeats included: each must find its document by a filter that is exactly
// {_id: <string>}, the only filter the embedded store answers from its index.
func TestReservationCommandsUseTheIDIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := newTestDB(t)
	s, err := NewMongoStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s, 10, 0)
	c := newClock()
	crashing := &crashStore{Store: s, at: crashMidTake}
	svc := newTestService(t, crashing, c)
	items := []Item{{"p1", 1}, {"p2", 1}}
	_, _ = svc.ReserveStock(ctx, "o1", items[:1]) // dies half-way
	c.Advance(DefaultLease + 1)
	other := newTestService(t, s, c)
	_, _ = other.ReserveStock(ctx, "o1", items[:1]) // recovers
	_, _ = other.ReserveStock(ctx, "o1", items[:1])
	_, _ = other.ReleaseStock(ctx, "o1")
	_, _ = other.ReleaseStock(ctx, "o1")
	_, _ = other.ReserveStock(ctx, "o2", items) // fails: p2 is out
	_, _ = other.ReleaseStock(ctx, "o3")        // tombstone
	_, _ = other.ReserveStock(ctx, "o3", items)

	testRecorder.AssertIDOnly(t, db.Name(), reservationsCollection)
	if n := len(testRecorder.Commands(db.Name(), reservationsCollection)); n < 5 {
		t.Errorf("saw %d commands on reservations; the recorder is not seeing them", n)
	}

	// Repeats and second releases append nothing to the log.
	var d reservationDoc
	if err := s.reservations.FindOne(ctx, bson.D{{Key: "_id", Value: "o1"}}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if len(d.Log) != 4 { // claim, reserved, releasing, released
		t.Errorf("log of o1 has %d entries, want 4: %+v", len(d.Log), d.Log)
	}
}

func TestUpdateReservationIsCompareAndSet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMongoStore(t)
	if _, _, err := s.CreateReservation(ctx, Reservation{OrderID: "o1", Items: []Item{{"p1", 1}}, State: StatePending, Owner: "a.1"}); err != nil {
		t.Fatal(err)
	}
	// Two takers with the same guard, concurrently: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for _, owner := range []string{"b.1", "c.1", "d.1", "e.1"} {
		wg.Go(func() {
			_, ok, err := s.UpdateReservation(ctx, "o1", Guard{State: StatePending, Owner: "a.1"}, Change{Owner: owner})
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d takers won, want 1", wins.Load())
	}
	r, _, err := s.GetReservation(ctx, "o1")
	if err != nil || r.Owner == "a.1" || r.State != StatePending {
		t.Fatalf("reservation = %+v, %v", r, err)
	}
	if _, ok, err := s.UpdateReservation(ctx, "nope", Guard{State: StatePending}, Change{State: StateReserved}); ok || err != nil {
		t.Errorf("UpdateReservation of an unknown order = %v, %v", ok, err)
	}
}

// BenchmarkGetProducts measures GetProducts of 2 products in each mode, for
// catalogues of several sizes: on the embedded store (from the Updater's
// memory once read) it does not grow with the catalogue.
func BenchmarkGetProducts(b *testing.B) {
	for _, n := range []int{5, 100} {
		for _, m := range docstoretest.Modes {
			db := testClient.Database(fmt.Sprintf("bench_get_%d_%d", n, testDBSeq.Add(1)))
			s, err := NewMongoStore(b.Context(), db, m.Options()...)
			if err != nil {
				b.Fatal(err)
			}
			ps := make([]Product, n)
			for i := range ps {
				ps[i] = Product{ID: fmt.Sprintf("p%03d", i), Name: "Canned Coffee", Description: "Sweet milk coffee, 240 ml can.", Price: 2000, Stock: 100}
			}
			if _, err := s.InsertProducts(b.Context(), ps); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("catalogue=%d/%s", n, m.Name), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.GetProducts(b.Context(), []string{"p001", "p003"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
