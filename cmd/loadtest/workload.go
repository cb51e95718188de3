package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// product is a product of the target's catalogue (GET /product, or -catalogue). Stock is -1 when unknown.
type product struct {
	ID    string `json:"id"`
	Price int64  `json:"price"`
	Stock int64  `json:"stock"`
}

// user is a signed-up, logged-in user.
type user struct {
	email, name, password, token string
}

// order is one order to place.
type order struct {
	user       *user
	productIDs []string // each occurrence one unit, the original's form
	amount     int64    // the exact total, in won
	card       bool     // pay by card; else Kakao
	key        string   // idempotency key, unique per process and order
}

// workload turns an order's sequence number into the order: users in turn, so that every user orders
// equally often, and products drawn from a generator seeded by the run's seed and the sequence number, so
// that a seed places the same orders whatever the concurrency.
type workload struct {
	users                    []*user
	products                 []product
	maxDistinct, maxQuantity int
	payment                  string
	seed                     uint64
	// keyPrefix starts every idempotency key: random per process, so that a run reusing -run-id (its users)
	// places new orders rather than replaying the last run's.
	keyPrefix string
}

// order returns the i-th order of the run.
func (w *workload) order(i int64) order {
	r := rand.New(rand.NewPCG(w.seed, uint64(i)))
	n := 1 + r.IntN(min(w.maxDistinct, len(w.products)))
	// The first n of a partial Fisher-Yates shuffle: n distinct products.
	idx := make([]int, len(w.products))
	for k := range idx {
		idx[k] = k
	}
	o := order{
		user: w.users[i%int64(len(w.users))],
		key:  w.keyPrefix + strconv.FormatInt(i, 10),
	}
	for k := range n {
		j := k + r.IntN(len(idx)-k)
		idx[k], idx[j] = idx[j], idx[k]
		p := w.products[idx[k]]
		for range 1 + r.IntN(w.maxQuantity) {
			o.productIDs = append(o.productIDs, p.ID)
			o.amount += p.Price
		}
	}
	switch w.payment {
	case payCard:
		o.card = true
	case payMix:
		o.card = i%4 != 3
	}
	return o
}

// usable returns the products with at least minStock units (all of them when the stock is unknown), and a
// description of those left out.
func usable(ps []product, minStock int64) (keep []product, skipped string) {
	var out []string
	for _, p := range ps {
		if p.Stock >= 0 && p.Stock < minStock {
			out = append(out, fmt.Sprintf("%s (stock %d)", p.ID, p.Stock))
			continue
		}
		keep = append(keep, p)
	}
	return keep, strings.Join(out, ", ")
}
