package notification

import (
	"context"
	"fmt"
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

// TestServiceOnEmbeddedStoreCommandsPerNotification counts the store
// commands of the service on the embedded store: a new notification costs one
// insert and one findAndModify and no read; a repeat costs only its failed
// insert (the stored notification is remembered); reading it back costs
// nothing; and the Updater's set-up creates no index.
func TestServiceOnEmbeddedStoreCommandsPerNotification(t *testing.T) {
	// Not parallel: see startCounted.
	client, counter := startCounted(t)
	const dbName = "notification"
	store, err := NewMongoStore(t.Context(), client.Database(dbName))
	if err != nil {
		t.Fatal(err)
	}
	if !store.updater.Serial() {
		t.Fatal("the embedded store is not detected as such")
	}
	if got := counter.take(dbName, collectionName); got["createIndexes"] != 0 {
		t.Errorf("set-up commands %v: an index was created on the embedded store", got)
	}
	sender := &fakeSender{}
	svc, err := NewService(store, sender, Options{})
	if err != nil {
		t.Fatal(err)
	}

	const orders = 3
	for i := range orders {
		n, err := svc.SendPaymentNotification(t.Context(), testTo, fmt.Sprint("order-", i), testUser)
		if err != nil || n.Status != StatusSent {
			t.Fatalf("order %d: %+v, %v", i, n, err)
		}
	}
	want := map[string]int{"insert": orders, "findAndModify": orders}
	if got := counter.take(dbName, collectionName); !maps.Equal(got, want) {
		t.Errorf("%d new notifications sent commands %v, want %v", orders, got, want)
	}

	if n, err := svc.SendPaymentNotification(t.Context(), testTo, "order-0", testUser); err != nil || n.Status != StatusSent {
		t.Fatalf("repeat: %+v, %v", n, err)
	}
	if n, err := svc.GetUserNotification(t.Context(), testUser, "order-1"); err != nil || n.Status != StatusSent {
		t.Fatalf("read back: %+v, %v", n, err)
	}
	want = map[string]int{"insert": 1}
	if got := counter.take(dbName, collectionName); !maps.Equal(got, want) {
		t.Errorf("a repeat and a read sent commands %v, want %v", got, want)
	}
	if calls, _ := sender.counts(); calls != orders {
		t.Errorf("sender called %d times, want %d", calls, orders)
	}
}
