package product

// Stock reservations without multi-document transactions.
//
// The record of an order's reservation is its reservation document (_id =
// order id): the normalized items, a state, and the owner of the call working
// on it with a lease. The states:
//
//	pending ──takes recorded──▶ reserved ──release──▶ releasing ──▶ released
//	   │ └──not enough stock / unknown product──▶ failed
//	   └──release of a reservation that never finished──────────────▶ released
//	(release of an unknown order) ───────── inserts a tombstone ──▶ released
//
// Products carry two small arrays of order ids, for the steps that touch
// several documents:
//   - inflight: the order's decrement of this product has been applied
//     (TakeStock) and is not yet known to be recorded by the reservation;
//   - returning: the same for the increment of a release (ReturnStock).
//
// Each product update is one conditional single-document update, e.g. the
// take {_id: p, stock: {$gte: q}, inflight: {$ne: order}} →
// {$inc: {stock: -q}, $push: {inflight: order}}: it can neither oversell nor
// apply twice for one order while the mark is there, and the mark tells a
// later call exactly which products the order holds. The marks are cleared
// only after the reservation's state records the outcome, by which time the
// state alone says what the order holds.
//
// A call's store commands do not grow with its number of items: each step
// that touches products is one batched command (docs/user-product.md counts
// them per call). How the store makes the state changes compare-and-set
// operations is its business (Store.UpdateReservation).
//
// A call that stops half-way (process killed, store unreachable) leaves the
// reservation pending or releasing; the next ReserveStock or ReleaseStock of
// the order resumes it from the marks: takes skip products already marked
// and count them as taken, undos and returns act only where the marks say.
// Calls on one order are serialized in this process (orderLocks), so a
// leftover of this very service value is resumed at once; one left by another
// process (a crashed one, or another replica) is taken over once its lease
// has passed, and until then the call fails with ErrReservationBusy. Each call
// runs its steps within its lease (the leaseholder's deadline), detached from
// the caller's cancellation, so a client that gives up does not leave the
// protocol half-way. As with any lease, this assumes clocks roughly agree and
// a store command does not take effect long after its deadline; on the
// embedded store there is a single process, and the question does not arise.
//
// What is left after a crash at the very end (marks not yet cleared from a
// reservation already reserved or released) is harmless: the state answers
// every later call of that order, a release clears leftover take marks, and
// marks of one order never affect another. The same makes clearing them
// late, outside the order's lock, safe: a reservation never goes back to
// pending once reserved, nor to releasing once released, and take marks are
// set only while pending, return marks only while releasing; so once the
// outcome is recorded, no call of the order sets those marks again or
// depends on them, and pulling them at any later time changes nothing but
// the size of the product documents.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReservationState is the state of a reservation record.
type ReservationState string

// The states of a reservation (see the diagram at the top of stock.go).
const (
	StatePending   ReservationState = "pending"
	StateReserved  ReservationState = "reserved"
	StateFailed    ReservationState = "failed"
	StateReleasing ReservationState = "releasing"
	StateReleased  ReservationState = "released"
)

// Reservation is the stored record of an order's reservation.
type Reservation struct {
	OrderID string
	// Items are normalized: one per product, sorted by product id. A
	// tombstone (a release that came first) has none.
	Items []Item
	State ReservationState
	// Owner identifies the call working on the reservation while it is
	// pending or releasing; LeaseUntil is when another may take over.
	Owner      string
	LeaseUntil time.Time
	// Failure is set in StateFailed.
	Failure   *Failure
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Failure is why a reservation failed.
type Failure struct {
	// Reason says which error the reservation failed with.
	Reason     FailureReason
	ProductIDs []string
}

// FailureReason is the stored reason of a failed reservation.
type FailureReason string

// The reasons a reservation fails.
const (
	FailureNotFound          FailureReason = "not_found"
	FailureInsufficientStock FailureReason = "insufficient_stock"
)

// Guard is the condition of Store.UpdateReservation: the reservation must be
// in State and, unless Owner is "", owned by Owner.
type Guard struct {
	State ReservationState
	Owner string
}

// Change is what Store.UpdateReservation sets; zero fields stay as they are.
// UpdatedAt is always set.
type Change struct {
	State      ReservationState
	Owner      string
	LeaseUntil time.Time
	Failure    *Failure
	UpdatedAt  time.Time
}

// TakeResult lists the items Store.TakeStock could not take.
type TakeResult struct {
	Missing []string // products that do not exist
	Short   []string // products without enough stock
}

// OK reports whether every item was taken.
func (r TakeResult) OK() bool { return len(r.Missing) == 0 && len(r.Short) == 0 }

// ProductMarks are marks to remove from one product (Store.ClearMarks): the
// take marks of the orders in Takes and the return marks of those in
// Returns.
type ProductMarks struct {
	ProductID string
	Takes     []string
	Returns   []string
}

// failureError returns the business error a stored failure stands for.
func failureError(f *Failure) error {
	if f == nil {
		return errors.New("product: failed reservation without a failure record")
	}
	kind := ErrInsufficientStock
	if f.Reason == FailureNotFound {
		kind = ErrNotFound
	}
	return &ProductsError{Err: kind, ProductIDs: f.ProductIDs}
}

func busy(orderID string) error {
	return fmt.Errorf("%w: order %s is being worked on elsewhere; retry later", ErrReservationBusy, orderID)
}

func releasedErr(orderID string) error {
	return fmt.Errorf("%w: the reservation of order %s was released", ErrReservationReleased, orderID)
}

// normalizeItems validates items and returns them with the quantities of a
// product summed, sorted by product id.
func normalizeItems(items []Item) ([]Item, error) {
	if len(items) == 0 {
		return nil, invalid("items must not be empty")
	}
	sums := make(map[string]int64, len(items))
	for i, it := range items {
		if err := checkID("items["+strconv.Itoa(i)+"].productId", it.ProductID); err != nil {
			return nil, err
		}
		if it.Quantity <= 0 || it.Quantity > MaxQuantity {
			return nil, invalid("items[%d].quantity must be within 1..%d", i, int64(MaxQuantity))
		}
		sums[it.ProductID] += it.Quantity // at most MaxIDs*MaxQuantity: no overflow
	}
	if len(sums) > MaxIDs {
		return nil, invalid("at most %d distinct products per reservation, got %d", MaxIDs, len(sums))
	}
	out := make([]Item, 0, len(sums))
	for id, q := range sums {
		out = append(out, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return out, nil
}

func productIDs(items []Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	return ids
}

// newOwner returns a unique owner for one call of this service value.
func (s *service) newOwner() string {
	return s.instance + "." + strconv.FormatUint(s.seq.Add(1), 10)
}

// ownedHere reports whether owner is a call of this service value. With the
// order lock held, such a call has finished.
func (s *service) ownedHere(owner string) bool {
	return strings.HasPrefix(owner, s.instance+".")
}

// begin serializes the call with the others on the order in this process and
// returns the context its steps run in: the caller's values, not its
// cancellation, and a deadline at the end of the lease the call will hold.
func (s *service) begin(ctx context.Context, orderID string) (context.Context, func(), error) {
	unlock, err := s.locks.lock(ctx, orderID)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease)
	return wctx, func() { cancel(); unlock() }, nil
}

// claim makes a new call of this service the owner of r, a reservation left
// pending or releasing by an earlier call, and returns it as updated. It
// fails with ErrReservationBusy while the lease of a call elsewhere runs.
func (s *service) claim(ctx context.Context, r Reservation) (Reservation, error) {
	now := s.now()
	if !s.ownedHere(r.Owner) && now.Before(r.LeaseUntil) {
		return Reservation{}, busy(r.OrderID)
	}
	got, ok, err := s.store.UpdateReservation(ctx, r.OrderID,
		Guard{State: r.State, Owner: r.Owner},
		Change{Owner: s.newOwner(), LeaseUntil: now.Add(s.lease), UpdatedAt: now})
	if err != nil {
		return Reservation{}, err
	}
	if !ok {
		return Reservation{}, busy(r.OrderID)
	}
	return got, nil
}

func (s *service) ReserveStock(ctx context.Context, orderID string, items []Item) (ReserveResult, error) {
	if err := checkID("orderId", orderID); err != nil {
		return ReserveResult{}, err
	}
	items, err := normalizeItems(items)
	if err != nil {
		return ReserveResult{}, err
	}
	ctx, done, err := s.begin(ctx, orderID)
	if err != nil {
		return ReserveResult{}, err
	}
	defer done()

	now := s.now()
	r, created, err := s.store.CreateReservation(ctx, Reservation{
		OrderID:    orderID,
		Items:      items,
		State:      StatePending,
		Owner:      s.newOwner(),
		LeaseUntil: now.Add(s.lease),
		CreatedAt:  now,
		UpdatedAt:  now,
	})
	if err != nil {
		return ReserveResult{}, err
	}
	if created {
		return s.reserve(ctx, r, false)
	}

	// A repeat: answer from the record.
	if len(r.Items) == 0 && (r.State == StateReleased || r.State == StateReleasing) {
		return ReserveResult{}, releasedErr(orderID)
	}
	if !slices.Equal(r.Items, items) {
		return ReserveResult{}, fmt.Errorf("%w: order %s reserved other items", ErrOrderMismatch, orderID)
	}
	switch r.State {
	case StateReserved:
		return ReserveResult{OrderID: orderID, Items: r.Items, Replayed: true}, nil
	case StateFailed:
		return ReserveResult{}, failureError(r.Failure)
	case StateReleasing, StateReleased:
		return ReserveResult{}, releasedErr(orderID)
	case StatePending:
		if r, err = s.claim(ctx, r); err != nil {
			return ReserveResult{}, err
		}
		return s.reserve(ctx, r, true)
	default:
		return ReserveResult{}, fmt.Errorf("product: reservation of order %s has unknown state %q", orderID, r.State)
	}
}

// reserve runs (or resumes) the takes of r, a pending reservation this call
// owns, and records the outcome.
func (s *service) reserve(ctx context.Context, r Reservation, replayed bool) (ReserveResult, error) {
	taken, err := s.store.TakeStock(ctx, r.OrderID, r.Items)
	if err != nil {
		return ReserveResult{}, err
	}
	mine := Guard{State: StatePending, Owner: r.Owner}
	if !taken.OK() {
		if _, err = s.store.UndoTakes(ctx, r.OrderID, r.Items); err != nil {
			return ReserveResult{}, err
		}
		f := &Failure{Reason: FailureInsufficientStock, ProductIDs: taken.Short}
		if len(taken.Missing) > 0 {
			f = &Failure{Reason: FailureNotFound, ProductIDs: taken.Missing}
		}
		_, ok, err := s.store.UpdateReservation(ctx, r.OrderID, mine, Change{State: StateFailed, Failure: f, UpdatedAt: s.now()})
		if err != nil {
			return ReserveResult{}, err
		}
		if !ok {
			return ReserveResult{}, busy(r.OrderID)
		}
		return ReserveResult{}, failureError(f)
	}
	_, ok, err := s.store.UpdateReservation(ctx, r.OrderID, mine, Change{State: StateReserved, UpdatedAt: s.now()})
	if err != nil {
		return ReserveResult{}, err
	}
	if !ok {
		// Our lease ran out and another call took over: it owns the marks now.
		return ReserveResult{}, busy(r.OrderID)
	}
	// The state records the takes; the marks may go, now or with others
	// (marks.go). Until then they are harmless (see the top of this file).
	s.clearMarks(ctx, r.OrderID, r.Items, false)
	return ReserveResult{OrderID: r.OrderID, Items: r.Items, Replayed: replayed}, nil
}

func (s *service) ReleaseStock(ctx context.Context, orderID string) (bool, error) {
	if err := checkID("orderId", orderID); err != nil {
		return false, err
	}
	ctx, done, err := s.begin(ctx, orderID)
	if err != nil {
		return false, err
	}
	defer done()

	now := s.now()
	r, found, err := s.store.GetReservation(ctx, orderID)
	if err != nil {
		return false, err
	}
	if !found {
		// The release came first: a tombstone makes a later ReserveStock of
		// the order fail instead of taking stock nobody will release.
		_, created, err := s.store.CreateReservation(ctx, Reservation{
			OrderID: orderID, State: StateReleased, Owner: s.newOwner(), CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			return false, err
		}
		if !created {
			// A reservation appeared in between: made elsewhere, just now.
			return false, busy(orderID)
		}
		return false, nil
	}
	switch r.State {
	case StateFailed, StateReleased:
		return false, nil
	case StateReserved:
		r, ok, err := s.store.UpdateReservation(ctx, orderID,
			Guard{State: StateReserved},
			Change{State: StateReleasing, Owner: s.newOwner(), LeaseUntil: now.Add(s.lease), UpdatedAt: now})
		if err != nil {
			return false, err
		}
		if !ok {
			// Released in between, elsewhere.
			return false, busy(orderID)
		}
		return s.release(ctx, r)
	case StatePending:
		// A reservation that never finished: undo exactly the takes made.
		if r, err = s.claim(ctx, r); err != nil {
			return false, err
		}
		undone, err := s.store.UndoTakes(ctx, orderID, r.Items)
		if err != nil {
			return false, err
		}
		_, ok, err := s.store.UpdateReservation(ctx, orderID,
			Guard{State: StatePending, Owner: r.Owner}, Change{State: StateReleased, UpdatedAt: s.now()})
		if err != nil {
			return false, err
		}
		if !ok {
			return false, busy(orderID)
		}
		return undone > 0, nil
	case StateReleasing:
		if r, err = s.claim(ctx, r); err != nil {
			return false, err
		}
		return s.release(ctx, r)
	default:
		return false, fmt.Errorf("product: reservation of order %s has unknown state %q", orderID, r.State)
	}
}

// release returns the stock of r, a releasing reservation this call owns, and
// records it.
func (s *service) release(ctx context.Context, r Reservation) (bool, error) {
	if err := s.store.ReturnStock(ctx, r.OrderID, r.Items); err != nil {
		return false, err
	}
	_, ok, err := s.store.UpdateReservation(ctx, r.OrderID,
		Guard{State: StateReleasing, Owner: r.Owner}, Change{State: StateReleased, UpdatedAt: s.now()})
	if err != nil {
		return false, err
	}
	if !ok {
		return false, busy(r.OrderID)
	}
	// As in reserve: the return marks may go, and are harmless until then.
	s.clearMarks(ctx, r.OrderID, r.Items, true)
	return true, nil
}
