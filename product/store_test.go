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
)

// One embedded store for the whole test binary; each test uses its own
// database. The client counts the commands sent to each database.
var (
	testClient   *mongo.Client
	testCommands = &commandCounter{counts: map[string]int{}, commands: map[string][]bson.Raw{}}
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
	e, err := docstore.StartEmbedded(ctx, docstore.EmbeddedOptions{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	// The embedded store's URI as docstore.Connect uses it, plus a monitor.
	testClient, err = mongo.Connect(options.Client().ApplyURI(e.URI()).
		SetMonitor(&event.CommandMonitor{Started: testCommands.started}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testClient.Disconnect(ctx)
	return m.Run()
}

// commandCounter counts the commands sent to each database and keeps them.
type commandCounter struct {
	mu       sync.Mutex
	counts   map[string]int
	commands map[string][]bson.Raw
}

func (c *commandCounter) started(_ context.Context, e *event.CommandStartedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[e.DatabaseName]++
	c.commands[e.DatabaseName] = append(c.commands[e.DatabaseName], slices.Clone(e.Command))
}

// sent returns the commands sent to db so far.
func (c *commandCounter) sent(db string) []bson.Raw {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commands[db])
}

// since returns how many commands db has had since the returned mark.
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
func newTestDB(t *testing.T) *mongo.Database {
	t.Helper()
	return testClient.Database(fmt.Sprintf("t%d", testDBSeq.Add(1)))
}

func newMongoStore(t *testing.T) *MongoStore {
	t.Helper()
	s, err := NewMongoStore(t.Context(), newTestDB(t))
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

func fakeHarness() harness {
	f := newFakeStore()
	return harness{store: f, marks: func(_ *testing.T, id string) ([]string, []string) { return f.marks(id) }}
}

func mongoHarness(t *testing.T) harness {
	m := newMongoStore(t)
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

func newTestService(t *testing.T, s Store, c *clock) Service {
	t.Helper()
	svc, err := NewService(s, Options{Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

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

func TestMongoStoreCatalogue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMongoStore(t)

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

	page, err := s.ListProducts(ctx, "", 2)
	if err != nil || fmt.Sprint(sortedIDs(page)) != "[a b]" || page[0].ID != "a" {
		t.Fatalf("ListProducts first = %v, %v", page, err)
	}
	page, err = s.ListProducts(ctx, "b", 2)
	if err != nil || len(page) != 1 || page[0].ID != "c" {
		t.Fatalf("ListProducts after b = %v, %v", page, err)
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

func TestMongoStoreReservations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newMongoStore(t)
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
	ctx := t.Context()
	h := mongoHarness(t)
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
	if err = s.ClearReturns(ctx, "o2", []string{"p1", "p3"}); err != nil {
		t.Fatal(err)
	}
	if _, ret = h.marks(t, "p1"); len(ret) != 0 {
		t.Fatalf("returning after clear = %v", ret)
	}
}

// TestReserveStockRoundTrips measures the store commands of the
// reservation protocol on the embedded store.
func TestReserveStockRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := newTestDB(t)
	s, err := NewMongoStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s, 100, 100, 100, 0)
	svc := newTestService(t, s, newClock())
	one := []Item{{"p1", 1}}
	three := []Item{{"p1", 1}, {"p2", 2}, {"p3", 3}}

	cases := []struct {
		name string
		call func() error
		want int
	}{
		{"reserve 1 item", func() error { _, err := svc.ReserveStock(ctx, "o1", one); return err }, 4},
		{"reserve 3 items", func() error { _, err := svc.ReserveStock(ctx, "o3", three); return err }, 4},
		{"repeat", func() error { _, err := svc.ReserveStock(ctx, "o3", three); return err }, 2},
		{"release", func() error { _, err := svc.ReleaseStock(ctx, "o3"); return err }, 5},
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

	n := 0
	for _, cmd := range testCommands.sent(db.Name()) {
		elems, err := cmd.Elements()
		if err != nil {
			t.Fatal(err)
		}
		name := elems[0].Key()
		if coll, _ := elems[0].Value().StringValueOK(); coll != reservationsCollection {
			continue
		}
		n++
		var filters []bson.Raw
		switch name {
		case "create", "insert":
			continue
		case "find":
			filters = append(filters, cmd.Lookup("filter").Document())
		case "findAndModify":
			filters = append(filters, cmd.Lookup("query").Document())
		case "update", "delete":
			vals, _ := cmd.Lookup(name + "s").Array().Values()
			for _, v := range vals {
				filters = append(filters, v.Document().Lookup("q").Document())
			}
		default:
			t.Errorf("unexpected command %s on reservations", name)
		}
		for _, f := range filters {
			fe, _ := f.Elements()
			if _, isString := f.Lookup("_id").StringValueOK(); len(fe) != 1 || !isString {
				t.Errorf("%s on reservations with filter %s, want exactly {_id: <string>}", name, f)
			}
		}
	}
	if n < 10 {
		t.Fatalf("saw %d commands on reservations; the monitor is not seeing them", n)
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
