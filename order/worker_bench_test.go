package order

import (
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkDoDueWork measures one round of the worker on the embedded store
// holding orders=N finished orders and 10 Pending orders left by a dead
// replica whose payments are still pending: each round lists the work
// collection, claims the 10 entries, asks for their payments and gives them
// up again for a later round. The cost per round must not follow the orders
// stored (BENCHMARKS.md has the figures).
func BenchmarkDoDueWork(b *testing.B) {
	for _, stored := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("orders=%d", stored), func(b *testing.B) {
			if stored > 1000 && testing.Short() {
				b.Skip("-short: storing 100k orders takes minutes on the embedded store")
			}
			e := newEnv(b)
			store := newTestMongoStore(b)
			ctx := b.Context()
			now := e.clock.Now()
			const batch = 1000
			docs := make([]any, 0, batch)
			for i := range stored {
				o := storedOrder(fmt.Sprintf("done-%07d", i), alice, now)
				o.Status = StatusDeliveryStarted
				docs = append(docs, toDoc(o))
				if len(docs) == batch || i == stored-1 {
					if _, err := store.orders.InsertMany(ctx, docs); err != nil {
						b.Fatal(err)
					}
					docs = docs[:0]
				}
			}
			const due = 10
			for i := range due {
				id := fmt.Sprintf("left-%02d", i)
				if err := store.Insert(ctx, storedOrder(id, alice, now)); err != nil {
					b.Fatal(err)
				}
				e.payments.payments[id] = Payment{ID: "pay-" + id, Status: PaymentPending}
				if err := store.InsertWork(ctx, Work{OrderID: id, Due: now, Owner: "dead", LeaseUntil: now}); err != nil {
					b.Fatal(err)
				}
			}
			if n, err := store.orders.CountDocuments(ctx, bson.D{}); err != nil || n != int64(stored+due) {
				b.Fatalf("%d orders stored (%v), want %d", n, err, stored+due)
			}
			svc, err := NewService(store, e.svc.deps, Options{Now: e.clock.Now, Replica: "bench", SweepInterval: time.Second}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				svc.DoDueWork(ctx)
				e.clock.Advance(time.Second) // the 10 entries are due again
			}
			b.StopTimer()
			if w, err := store.GetWork(ctx, "left-00"); err != nil || w.Rev < 2 {
				b.Fatalf("entry %+v (%v): the rounds did not claim and give it up", w, err)
			}
		})
	}
}
