package payment

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// TestServiceOnEmbeddedStoreCommandsPerPayment counts the store commands of MakePayment on the embedded
// store: a new payment, approved or declined, costs one insert and one update and no read; a repeat
// costs only its failed insert (the stored payment is remembered); reading a finished payment back costs
// nothing; and the store's set-up creates no index.
func TestServiceOnEmbeddedStoreCommandsPerPayment(t *testing.T) {
	// Not parallel: see docstoretest.Start.
	client, counter := docstoretest.Start(t)
	const dbName = "payment"
	store := newTestMongoStore(t, client.Database(dbName))
	if got := counter.Take(dbName, CollectionName); got["createIndexes"] != 0 {
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
	want := map[string]int{"insert": len(reqs), "update": len(reqs)}
	if got := counter.Take(dbName, CollectionName); !maps.Equal(got, want) {
		t.Errorf("%d new payments sent commands %v, want %v", len(reqs), got, want)
	}

	if p := mustPay(t, svc, reqs[0]); p.Status != StatusApproved {
		t.Fatalf("repeat: %+v", p)
	}
	if p, err := svc.GetPayment(t.Context(), "order-2"); err != nil || p.Status != StatusRejected {
		t.Fatalf("GetPayment: %+v, %v", p, err)
	}
	want = map[string]int{"insert": 1}
	if got := counter.Take(dbName, CollectionName); !maps.Equal(got, want) {
		t.Errorf("a repeat and a read sent commands %v, want %v", got, want)
	}
	if n := proc.charges.Load(); n != int64(len(reqs)) {
		t.Errorf("the processor charged %d times, want %d", n, len(reqs))
	}
}

// TestFinalMarksAreDeletedTogether: with a CleanupDelay, the marks of payments finished at about the same
// time are deleted in fewer commands than payments, once the delay is over or the service's stop flushes
// them (Build's background run), and none is left.
func TestFinalMarksAreDeletedTogether(t *testing.T) {
	client, counter := docstoretest.Start(t)
	const dbName = "payment_cleanup"
	store := newTestMongoStore(t, client.Database(dbName))
	svc, err := newService(store, NewSimulator(SimulatorOptions{}), Options{CardKey: testCardKey, CleanupDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { mustPay(t, svc, cardRequest(fmt.Sprintf("order-%d", i), TestCardApproved)) })
	}
	wg.Wait()
	marks := func() int64 {
		c, err := client.Database(dbName).Collection(MarksCollectionName).CountDocuments(t.Context(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := marks(); got != n {
		t.Fatalf("%d marks before the delay, want all %d still there", got, n)
	}
	counter.Take(dbName, MarksCollectionName)
	svc.cleanup.Flush()
	if got := marks(); got != 0 {
		t.Errorf("%d marks left after the flush, want none", got)
	}
	if deletes := counter.Take(dbName, MarksCollectionName)["delete"]; deletes == 0 || deletes >= n {
		t.Errorf("%d payments' marks deleted in %d commands, want fewer than one each", n, deletes)
	}
}
