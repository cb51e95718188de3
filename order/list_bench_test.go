package order

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkListOrders measures GET /order's work on the embedded store holding
// orders=N orders of 500 customers, one of whom, alice, has 250: her first
// page and her tenth (20 orders each), read by a store that remembers nothing
// (as after a restart, or for a customer not seen lately), through a reader
// client as cmd/shop reads them (QueryThrough). The cost must not follow the
// orders stored (BENCHMARKS.md has the figures).
func BenchmarkListOrders(b *testing.B) {
	for _, stored := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("orders=%d", stored), func(b *testing.B) {
			if stored > 1000 && testing.Short() {
				b.Skip("-short: storing 100k orders takes a minute on the embedded store")
			}
			cold := storedOrders(b, stored, []string{alice}, 250)
			for b.Loop() {
				svc := cold()
				first, err := svc.ListOrders(b.Context(), alice, 20, "")
				if err != nil || len(first.Orders) != 20 {
					b.Fatalf("first page: %d orders (%v)", len(first.Orders), err)
				}
				tenth, err := svc.ListOrders(b.Context(), alice, 20, encodePageToken(250-9*20-1))
				if err != nil || len(tenth.Orders) != 20 {
					b.Fatalf("tenth page: %d orders (%v)", len(tenth.Orders), err)
				}
			}
		})
	}
}

// BenchmarkListOrdersConcurrently measures eight customers' first pages read
// at once, cold, among 10,000 stored orders: the time until the last page is
// read, which on one connection would be eight pages one after another.
func BenchmarkListOrdersConcurrently(b *testing.B) {
	var customers []string
	for i := range 8 {
		customers = append(customers, fmt.Sprintf("customer-%d", i))
	}
	cold := storedOrders(b, 10_000, customers, 250)
	for b.Loop() {
		svc := cold()
		var wg sync.WaitGroup
		for _, c := range customers {
			wg.Go(func() {
				if p, err := svc.ListOrders(b.Context(), c, 20, ""); err != nil || len(p.Orders) != 20 {
					b.Errorf("%s: %d orders (%v)", c, len(p.Orders), err)
				}
			})
		}
		wg.Wait()
	}
}

// storedOrders stores n orders in a database of their own, mine of them for
// each of customers and the rest spread over 499 others, each listed, as
// Insert stores and lists them but in batches. It returns the function that
// makes, outside the benchmark's timer, a service on a new store of that
// database, which remembers nothing, reading the listings' orders through a
// reader client (QueryThrough) as cmd/shop does.
func storedOrders(b *testing.B, n int, customers []string, mine int) func() *Orders {
	b.Helper()
	ctx := b.Context()
	db := newTestDB(b)
	s, err := NewMongoStore(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	const batch = 1000
	docs := make([]any, 0, batch)
	lists := map[string][]string{}
	for i := range n {
		user := fmt.Sprintf("user-%03d", i%499)
		if i < mine*len(customers) {
			user = customers[i%len(customers)]
		}
		id := fmt.Sprintf("o-%07d", i)
		docs = append(docs, toDoc(storedOrder(id, user, now.Add(time.Duration(i)*time.Millisecond))))
		lists[user] = append(lists[user], id)
		if len(docs) == batch || i == n-1 {
			if _, err := s.orders.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	for user, ids := range lists {
		for len(ids) > 0 {
			k := min(len(ids), 32)
			if err := s.lists.Append(ctx, user, ids[:k]...); err != nil {
				b.Fatal(err)
			}
			ids = ids[k:]
		}
	}
	deps := newEnv(b).svc.deps
	reader := testStore.Reader(b, db)
	b.ResetTimer()
	return func() *Orders {
		b.StopTimer()
		defer b.StartTimer()
		s, err := NewMongoStore(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		s.QueryThrough(reader)
		svc, err := NewService(s, deps, Options{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		return svc
	}
}
