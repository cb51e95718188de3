package payment

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
)

// commandCounter counts the commands a client sends on each collection, by
// command name: inserts too, which docstoretest.Recorder does not keep.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]map[string]int // "database.collection" → command → count
}

func (c *commandCounter) started(_ context.Context, e *event.CommandStartedEvent) {
	coll, ok := e.Command.Lookup(e.CommandName).StringValueOK()
	if !ok {
		return // not a command on a collection
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := e.DatabaseName + "." + coll
	if c.n[ns] == nil {
		c.n[ns] = make(map[string]int)
	}
	c.n[ns][e.CommandName]++
}

// take returns the counts on db.coll since the last take, and forgets them.
func (c *commandCounter) take(db, coll string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := maps.Clone(c.n[db+"."+coll])
	delete(c.n, db+"."+coll)
	if got == nil {
		got = map[string]int{}
	}
	return got
}

// startCounted starts an embedded store of the test's own and returns a
// client of it whose commands c counts. Like docstoretest.Start, call it from
// a test that is not parallel: FerretDB's start-up writes a package variable.
func startCounted(t *testing.T) (*mongo.Client, *commandCounter) {
	t.Helper()
	e, err := docstore.StartEmbedded(t.Context(), docstore.EmbeddedOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded store: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("stop embedded store: %v", err)
		}
	})
	c := &commandCounter{n: make(map[string]map[string]int)}
	client, err := mongo.Connect(options.Client().ApplyURI(e.URI()).SetMonitor(&event.CommandMonitor{Started: c.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // registered last, so it runs before the store stops
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})
	return client, c
}

// TestServiceOnEmbeddedStoreCommandsPerPayment counts the store commands of MakePayment on the embedded
// store: a new payment, approved or declined, costs one insert and one findAndModify and no read; a repeat
// costs only its failed insert (the stored payment is remembered); reading a finished payment back costs
// nothing; and the store's set-up creates no index.
func TestServiceOnEmbeddedStoreCommandsPerPayment(t *testing.T) {
	// Not parallel: see startCounted.
	client, counter := startCounted(t)
	const dbName = "payment"
	store := newTestMongoStore(t, client.Database(dbName))
	if !store.updater.Serial() {
		t.Fatal("the embedded store is not detected as such")
	}
	if got := counter.take(dbName, CollectionName); got["createIndexes"] != 0 {
		t.Errorf("set-up commands %v: an index was created", got)
	}
	proc := &countingProcessor{Processor: NewSimulator(SimulatorOptions{})}
	svc := newTestService(t, store, proc)

	reqs := []PaymentRequest{
		cardRequest("order-1", TestCardApproved),
		cardRequest("order-2", TestCardStolen),
		kakaoRequest("order-3"),
	}
	for _, req := range reqs {
		if p := mustPay(t, svc, req); p.Status == StatusPending {
			t.Fatalf("%s is still Pending", req.OrderID)
		}
	}
	want := map[string]int{"insert": len(reqs), "findAndModify": len(reqs)}
	if got := counter.take(dbName, CollectionName); !maps.Equal(got, want) {
		t.Errorf("%d new payments sent commands %v, want %v", len(reqs), got, want)
	}

	if p := mustPay(t, svc, reqs[0]); p.Status != StatusApproved {
		t.Fatalf("repeat: %+v", p)
	}
	if p, err := svc.GetPayment(t.Context(), "order-2"); err != nil || p.Status != StatusRejected {
		t.Fatalf("GetPayment: %+v, %v", p, err)
	}
	want = map[string]int{"insert": 1}
	if got := counter.take(dbName, CollectionName); !maps.Equal(got, want) {
		t.Errorf("a repeat and a read sent commands %v, want %v", got, want)
	}
	if n := proc.charges.Load(); n != int64(len(reqs)) {
		t.Errorf("the processor charged %d times, want %d", n, len(reqs))
	}
}
