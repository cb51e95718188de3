package main

// -mix: a workload of several journeys, each step of the run drawing one of them by its share.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The journeys of -mix. Only journeyOrder places orders; it is also the only journey without -mix.
const (
	journeyBrowse  = "browse"  // GET /product: the catalogue's first page, one browse in browseMore the next page too
	journeyProduct = "product" // GET /product/{id} of a random product of the catalogue
	journeyOrders  = "orders"  // GET /order: the user's order list
	journeyLogin   = "login"   // POST /auth/login of the user
	journeyOrder   = "order"   // an order placed as without -mix (POST /order, or CreateOrder with -mode grpc)
)

// journeyNames are the journeys of -mix, in the order its help lists them.
var journeyNames = []string{journeyBrowse, journeyProduct, journeyOrders, journeyLogin, journeyOrder}

// maxShare is the largest share of one journey, which keeps the shares' sum far from overflowing.
const maxShare = 1_000_000

// share is one journey's part of a mix.
type share struct {
	journey string
	weight  int
}

// mix is a parsed -mix: journeys in the order given with their shares, which are not negative and not all
// zero. A nil mix is the run without -mix: orders only.
type mix []share

// parseMix reads -mix: name=share pairs separated by commas, each name a journey at most once, each share a
// whole number from 0 to maxShare, not all of them 0.
func parseMix(s string) (mix, error) {
	var m mix
	total := 0
	for _, pair := range strings.Split(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("%q is not journey=share", pair)
		}
		if !slices.Contains(journeyNames, name) {
			return nil, fmt.Errorf("%q is no journey: the journeys are %s", name, strings.Join(journeyNames, ", "))
		}
		if slices.ContainsFunc(m, func(sh share) bool { return sh.journey == name }) {
			return nil, fmt.Errorf("journey %s is listed twice", name)
		}
		n, err := strconv.Atoi(weight)
		if err != nil || n < 0 || n > maxShare {
			return nil, fmt.Errorf("share of %s must be a whole number from 0 to %d, got %q", name, maxShare, weight)
		}
		m = append(m, share{journey: name, weight: n})
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("every share of %q is 0: nothing to run", s)
	}
	return m, nil
}

// String is the mix as -mix takes it.
func (m mix) String() string {
	parts := make([]string, len(m))
	for k, sh := range m {
		parts[k] = sh.journey + "=" + strconv.Itoa(sh.weight)
	}
	return strings.Join(parts, ",")
}

// journeys returns the names of the mix's journeys, in its order.
func (m mix) journeys() []string {
	names := make([]string, len(m))
	for k, sh := range m {
		names[k] = sh.journey
	}
	return names
}

// draw returns the journey of step i of a run with this seed, each journey with the chance of its share, and
// the generator for the journey's own choices. The generator is seeded by the seed and i with its top bit
// set, so that it is neither any order's (workload.order seeds with i, top bit clear) nor another step's:
// a seed runs the same journeys whatever the concurrency.
func (m mix) draw(seed uint64, i int64) (string, *rand.Rand) {
	r := rand.New(rand.NewPCG(seed, uint64(i)|1<<63))
	total := 0
	for _, sh := range m {
		total += sh.weight
	}
	n := r.IntN(total)
	for _, sh := range m {
		if n < sh.weight {
			return sh.journey, r
		}
		n -= sh.weight
	}
	panic("unreachable: n < total")
}

// browseMore is how rarely a browse goes on to the catalogue's next page: one browse in browseMore.
const browseMore = 4

// mixStep returns the step of a run with mix m: step i draws its journey (mix.draw with w's seed) and runs
// it over a as the i-th user in turn (as workload.order takes them), an order journey by place. A journey
// that did not come out as expected has the class of errorClass.
func mixStep(m mix, a *api, w *workload, place stepFunc) stepFunc {
	return func(ctx context.Context, i int64) outcome {
		journey, r := m.draw(w.seed, i)
		u := w.users[i%int64(len(w.users))]
		var err error
		switch journey {
		case journeyOrder:
			return place(ctx, i)
		case journeyBrowse:
			err = a.browse(ctx, r.IntN(browseMore) == 0)
		case journeyProduct:
			err = a.getProduct(ctx, w.products[r.IntN(len(w.products))].ID)
		case journeyOrders:
			err = a.listOrders(ctx, u.token)
		case journeyLogin:
			_, err = a.login(ctx, u.email, u.password)
		}
		o := outcome{journey: journey}
		if err != nil {
			o.errClass = errorClass(err)
		}
		return o
	}
}
