package payment

import (
	"maps"
	"testing"

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
