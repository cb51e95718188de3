package order

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/grpcclient"
)

// The admins' views of the service: its background work, as the worker sees
// it (GET /order/work), and the circuit breakers of its clients
// (GET /order/breakers).

// MaxWorkListed is the most entries PendingWork lists.
const MaxWorkListed = 100

// WorkKind says what an order's work entry is for.
type WorkKind string

// The kinds of work.
const (
	// WorkSettle: the order is Pending (or not stored yet): its handler
	// holds the entry while it creates the order, and the worker settles
	// what the handler left (sweep).
	WorkSettle WorkKind = "settle"
	// WorkSideEffects: side effects are due (the order's outbox).
	WorkSideEffects WorkKind = "sideEffects"
	// WorkCleanup: the order is final with nothing due; the entry is
	// deleted shortly (Options.CleanupDelay, or the next claim).
	WorkCleanup WorkKind = "cleanup"
)

// WorkItem is an order's work entry as PendingWork reports it: the entry
// (its Owner and LeaseUntil only while its lease is held) and what it is
// for.
type WorkItem struct {
	Work
	Kind WorkKind
	// SideEffects are the order's side effects due (WorkSideEffects).
	SideEffects Outbox
	// Status is the order's; "" when it is not stored.
	Status Status
}

// WorkList is the pending background work: the MaxWorkListed entries due
// soonest, and how many entries there are.
type WorkList struct {
	Items []WorkItem
	Total int
}

// PendingWork lists the background work of the orders (the work entries,
// worker.go), soonest due first, at most MaxWorkListed of them, with the
// number of entries. It reads the whole of order_work (Store.ListWork), which
// holds only the work in progress, not the orders stored, then the listed
// entries' orders by id.
func (s *Orders) PendingWork(ctx context.Context) (WorkList, error) {
	all, err := s.store.ListWork(ctx, time.Time{})
	if err != nil {
		return WorkList{}, err
	}
	slices.SortFunc(all, func(a, b Work) int {
		return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.OrderID, b.OrderID))
	})
	listed := all[:min(len(all), MaxWorkListed)]
	ids := make([]string, len(listed))
	for i, w := range listed {
		ids[i] = w.OrderID
	}
	orders, err := s.store.GetMany(ctx, ids)
	if err != nil {
		return WorkList{}, err
	}
	now := s.now()
	items := make([]WorkItem, len(listed))
	for i, w := range listed {
		if !w.LeaseUntil.After(now) {
			w.Owner, w.LeaseUntil = "", time.Time{} // not held
		}
		it := WorkItem{Work: w, Kind: WorkSettle}
		if o, ok := orders[w.OrderID]; ok {
			it.Status = o.Status
			switch {
			case !o.Outbox.Empty():
				it.Kind, it.SideEffects = WorkSideEffects, o.Outbox
			case o.Status != StatusPending:
				it.Kind = WorkCleanup
			}
		}
		items[i] = it
	}
	return WorkList{Items: items, Total: len(all)}, nil
}

// Breakers returns the state of the circuit breaker of each method the
// service calls (Dependencies.Breakers), sorted by dependency, then method;
// none when the dependencies report none.
func (s *Orders) Breakers(context.Context) []grpcclient.BreakerState {
	if s.deps.Breakers == nil {
		return nil
	}
	return s.deps.Breakers.Breakers()
}
