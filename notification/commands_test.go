package notification

import (
	"fmt"
	"maps"
	"testing"

	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// TestServiceOnEmbeddedStoreCommandsPerNotification counts the store
// commands of the service on the embedded store: a new notification costs one
// insert and one update and no read; a repeat costs only its failed
// insert (the stored notification is remembered); reading it back costs
// nothing; and the Updater's set-up creates no index.
func TestServiceOnEmbeddedStoreCommandsPerNotification(t *testing.T) {
	// Not parallel: see docstoretest.Start.
	client, counter := docstoretest.Start(t)
	const dbName = "notification"
	store, err := NewMongoStore(t.Context(), client.Database(dbName))
	if err != nil {
		t.Fatal(err)
	}
	if got := counter.Take(dbName, collectionName); got["createIndexes"] != 0 {
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
	want := map[string]int{"insert": orders, "update": orders}
	if got := counter.Take(dbName, collectionName); !maps.Equal(got, want) {
		t.Errorf("%d new notifications sent commands %v, want %v", orders, got, want)
	}

	if n, err := svc.SendPaymentNotification(t.Context(), testTo, "order-0", testUser); err != nil || n.Status != StatusSent {
		t.Fatalf("repeat: %+v, %v", n, err)
	}
	if n, err := svc.GetUserNotification(t.Context(), testUser, "order-1"); err != nil || n.Status != StatusSent {
		t.Fatalf("read back: %+v, %v", n, err)
	}
	want = map[string]int{"insert": 1}
	if got := counter.Take(dbName, collectionName); !maps.Equal(got, want) {
		t.Errorf("a repeat and a read sent commands %v, want %v", got, want)
	}
	if calls, _ := sender.counts(); calls != orders {
		t.Errorf("sender called %d times, want %d", calls, orders)
	}
}
