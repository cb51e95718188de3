package main

import (
	"slices"
	"testing"
)

func testWorkload(payment string) *workload {
	return &workload{
		users: []*user{{name: "a"}, {name: "b"}, {name: "c"}},
		products: []product{
			{ID: "sample-1", Price: 1000}, {ID: "sample-2", Price: 2000}, {ID: "sample-3", Price: 3000},
			{ID: "sample-4", Price: 2000}, {ID: "sample-5", Price: 1500},
		},
		maxDistinct: 3, maxQuantity: 2, payment: payment, seed: 7, keyPrefix: "lt-x-",
	}
}

func TestOrdersAreSpreadAndPriced(t *testing.T) {
	w := testWorkload(payMix)
	price := map[string]int64{}
	for _, p := range w.products {
		price[p.ID] = p.Price
	}
	used := map[string]int{}
	byUser := map[string]int{}
	keys := map[string]bool{}
	for i := range int64(3000) {
		o := w.order(i)
		var total int64
		units := map[string]int{}
		for _, id := range o.productIDs {
			total += price[id]
			units[id]++
			used[id]++
		}
		if o.amount != total {
			t.Fatalf("order %d: amount %d, total %d", i, o.amount, total)
		}
		if len(units) < 1 || len(units) > 3 {
			t.Fatalf("order %d has %d distinct products, want 1..3", i, len(units))
		}
		for id, n := range units {
			if n > 2 {
				t.Fatalf("order %d has %d × %s, want at most 2", i, n, id)
			}
		}
		if o.card != (i%4 != 3) {
			t.Fatalf("order %d: card %v in the mix", i, o.card)
		}
		byUser[o.user.name]++
		keys[o.key] = true
	}
	if len(keys) != 3000 {
		t.Errorf("%d distinct idempotency keys for 3000 orders", len(keys))
	}
	for _, u := range w.users {
		if byUser[u.name] != 1000 {
			t.Errorf("user %s placed %d orders, want 1000 (users in turn)", u.name, byUser[u.name])
		}
	}
	for _, p := range w.products {
		if used[p.ID] < 1000 {
			t.Errorf("%s ordered %d times in 3000 orders: not spread", p.ID, used[p.ID])
		}
	}
}

func TestSameSeedSameOrders(t *testing.T) {
	a, b := testWorkload(payCard), testWorkload(payCard)
	for i := range int64(100) {
		if oa, ob := a.order(i), b.order(i); !slices.Equal(oa.productIDs, ob.productIDs) || oa.amount != ob.amount {
			t.Fatalf("order %d differs with the same seed: %v / %v", i, oa.productIDs, ob.productIDs)
		}
	}
	b.seed++
	same := 0
	for i := range int64(100) {
		if slices.Equal(a.order(i).productIDs, b.order(i).productIDs) {
			same++
		}
	}
	if same > 50 {
		t.Errorf("%d of 100 orders are the same with another seed", same)
	}
	if !a.order(5).card || testWorkload(payKakao).order(5).card {
		t.Error("-payment card / kakao not followed")
	}
}

func TestUsableProducts(t *testing.T) {
	keep, skipped := usable([]product{{ID: "a", Stock: 5}, {ID: "b", Stock: 500}, {ID: "c", Stock: -1}}, 100)
	if len(keep) != 2 || keep[0].ID != "b" || keep[1].ID != "c" || skipped != "a (stock 5)" {
		t.Errorf("usable = %v, %q", keep, skipped)
	}
}
