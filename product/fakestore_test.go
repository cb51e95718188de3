package product

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
)

// fakeStore is an in-memory Store with MongoStore's semantics: each method
// is atomic (one mutex), marks included. err, if set, fails every call.
type fakeStore struct {
	mu           sync.Mutex
	products     map[string]*fakeProduct
	added        []string            // the products' ids in the order they were added
	wordLists    map[string][]string // the word lists' entries (search.go) by key
	reservations map[string]Reservation
	err          error
	clears       int // ClearMarks calls
}

type fakeProduct struct {
	p         Product
	inflight  []string
	returning []string
}

func newFakeStore() *fakeStore {
	return &fakeStore{products: map[string]*fakeProduct{}, wordLists: map[string][]string{}, reservations: map[string]Reservation{}}
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) lock() error {
	f.mu.Lock()
	if f.err != nil {
		f.mu.Unlock()
		return f.err
	}
	return nil
}

func (f *fakeStore) InsertProducts(_ context.Context, ps []Product) ([]string, error) {
	if err := f.lock(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	var ids []string
	for _, p := range ps {
		if _, ok := f.products[p.ID]; !ok {
			f.products[p.ID] = &fakeProduct{p: p}
			f.added = append(f.added, p.ID)
			addToWordLists(f.wordLists, p.ID, p.Name)
			ids = append(ids, p.ID)
		}
	}
	return ids, nil
}

func (f *fakeStore) GetProducts(_ context.Context, ids []string) ([]Product, error) {
	if err := f.lock(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	var out []Product
	for _, id := range ids {
		if fp, ok := f.products[id]; ok {
			out = append(out, fp.p)
		}
	}
	// Any order, as the contract says: reversed, to catch reliance on it.
	slices.Reverse(out)
	return out, nil
}

func (f *fakeStore) ListProducts(_ context.Context, from int64, limit int) ([]Product, int64, error) {
	if err := f.lock(); err != nil {
		return nil, -1, err
	}
	defer f.mu.Unlock()
	from = max(from, 0)
	var out []Product
	for _, id := range f.added[min(from, int64(len(f.added))):] {
		if len(out) == limit {
			break
		}
		out = append(out, f.products[id].p)
	}
	next := from + int64(len(out))
	if next >= int64(len(f.added)) {
		next = -1
	}
	return out, next, nil
}

func (f *fakeStore) SearchProducts(ctx context.Context, query []string, at SearchAt, limit int) ([]Product, SearchAt, error) {
	return search(ctx, f, query, at, limit)
}

func (f *fakeStore) wordListLen(_ context.Context, key string) (int64, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	return int64(len(f.wordLists[key])), nil
}

func (f *fakeStore) readWordList(_ context.Context, key string, from int64, n int) ([]string, int64, error) {
	if err := f.lock(); err != nil {
		return nil, -1, err
	}
	defer f.mu.Unlock()
	list := f.wordLists[key]
	from = min(max(from, 0), int64(len(list)))
	ids := slices.Clone(list[from:min(from+int64(n), int64(len(list)))])
	next := from + int64(len(ids))
	if next >= int64(len(list)) {
		next = -1
	}
	return ids, next, nil
}

func (f *fakeStore) listedProducts(ctx context.Context, ids []string) ([]Product, error) {
	return f.GetProducts(ctx, ids)
}

func (f *fakeStore) AdjustStock(_ context.Context, id string, delta, maxStock int64) (Product, error) {
	if err := f.lock(); err != nil {
		return Product{}, err
	}
	defer f.mu.Unlock()
	fp, ok := f.products[id]
	switch {
	case !ok:
		return Product{}, ErrNotFound
	case fp.p.Stock+delta < 0:
		return fp.p, ErrInsufficientStock
	case fp.p.Stock+delta > maxStock:
		return fp.p, errAboveMax
	}
	fp.p.Stock += delta
	return fp.p, nil
}

func (f *fakeStore) CreateReservation(_ context.Context, r Reservation) (Reservation, bool, error) {
	if err := f.lock(); err != nil {
		return Reservation{}, false, err
	}
	defer f.mu.Unlock()
	if existing, ok := f.reservations[r.OrderID]; ok {
		return existing, false, nil
	}
	r.Items = slices.Clone(r.Items)
	f.reservations[r.OrderID] = r
	return r, true, nil
}

func (f *fakeStore) GetReservation(_ context.Context, orderID string) (Reservation, bool, error) {
	if err := f.lock(); err != nil {
		return Reservation{}, false, err
	}
	defer f.mu.Unlock()
	r, ok := f.reservations[orderID]
	return r, ok, nil
}

func (f *fakeStore) UpdateReservation(_ context.Context, orderID string, g Guard, c Change) (Reservation, bool, error) {
	if err := f.lock(); err != nil {
		return Reservation{}, false, err
	}
	defer f.mu.Unlock()
	r, ok := f.reservations[orderID]
	if !ok || r.State != g.State || (g.Owner != "" && r.Owner != g.Owner) {
		return Reservation{}, false, nil
	}
	r.UpdatedAt = c.UpdatedAt
	if c.State != "" {
		r.State = c.State
	}
	if c.Owner != "" {
		r.Owner = c.Owner
	}
	if !c.LeaseUntil.IsZero() {
		r.LeaseUntil = c.LeaseUntil
	}
	if c.Failure != nil {
		r.Failure = c.Failure
	}
	f.reservations[orderID] = r
	return r, true, nil
}

func (f *fakeStore) TakeStock(_ context.Context, orderID string, items []Item) (TakeResult, error) {
	if err := f.lock(); err != nil {
		return TakeResult{}, err
	}
	defer f.mu.Unlock()
	var r TakeResult
	for _, it := range items {
		fp, ok := f.products[it.ProductID]
		switch {
		case !ok:
			r.Missing = append(r.Missing, it.ProductID)
		case slices.Contains(fp.inflight, orderID):
			// taken before
		case fp.p.Stock < it.Quantity:
			r.Short = append(r.Short, it.ProductID)
		default:
			fp.p.Stock -= it.Quantity
			fp.inflight = append(fp.inflight, orderID)
		}
	}
	return r, nil
}

func (f *fakeStore) UndoTakes(_ context.Context, orderID string, items []Item) (int, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	n := 0
	for _, it := range items {
		if fp, ok := f.products[it.ProductID]; ok && slices.Contains(fp.inflight, orderID) {
			fp.p.Stock += it.Quantity
			fp.inflight = remove(fp.inflight, orderID)
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) ReturnStock(_ context.Context, orderID string, items []Item) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	for _, it := range items {
		if fp, ok := f.products[it.ProductID]; ok && !slices.Contains(fp.returning, orderID) {
			fp.p.Stock += it.Quantity
			fp.returning = append(fp.returning, orderID)
			fp.inflight = remove(fp.inflight, orderID)
		}
	}
	return nil
}

func (f *fakeStore) ClearMarks(_ context.Context, marks []ProductMarks) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	f.clears++
	for _, pm := range marks {
		if fp, ok := f.products[pm.ProductID]; ok {
			for _, o := range pm.Takes {
				fp.inflight = remove(fp.inflight, o)
			}
			for _, o := range pm.Returns {
				fp.returning = remove(fp.returning, o)
			}
		}
	}
	return nil
}

// clearCount returns how many times ClearMarks was called.
func (f *fakeStore) clearCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clears
}

func remove(s []string, v string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(x string) bool { return x == v })
}

// marks returns the take and return marks of a product (test inspection).
func (f *fakeStore) marks(id string) (inflight, returning []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := f.products[id]
	return slices.Clone(fp.inflight), slices.Clone(fp.returning)
}

// errCrash is the failure crashStore injects: the process "dies" at a step.
var errCrash = errors.New("simulated crash")

// Steps crashStore can die at.
const (
	crashNone          = ""
	crashMidTake       = "mid-take"        // TakeStock applied to the first item only
	crashBeforeRecord  = "before-record"   // UpdateReservation to reserved/failed/released not applied
	crashBeforeClear   = "before-clear"    // ClearMarks not applied
	crashMidUndo       = "mid-undo"        // UndoTakes applied to the first item only
	crashMidReturn     = "mid-return"      // ReturnStock applied to the first item only
	crashBeforeRelease = "before-released" // UpdateReservation to released not applied
)

// crashStore wraps a Store and fails at one step of the reservation
// protocol, after applying what a process that died there would have
// applied. It fails once, then behaves.
type crashStore struct {
	Store
	mu sync.Mutex
	at string
}

func (c *crashStore) crash(step string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == step {
		c.at = crashNone
		return true
	}
	return false
}

func (c *crashStore) TakeStock(ctx context.Context, orderID string, items []Item) (TakeResult, error) {
	if c.crash(crashMidTake) {
		if _, err := c.Store.TakeStock(ctx, orderID, items[:1]); err != nil {
			return TakeResult{}, err
		}
		return TakeResult{}, errCrash
	}
	return c.Store.TakeStock(ctx, orderID, items)
}

func (c *crashStore) UndoTakes(ctx context.Context, orderID string, items []Item) (int, error) {
	if c.crash(crashMidUndo) {
		if _, err := c.Store.UndoTakes(ctx, orderID, items[:1]); err != nil {
			return 0, err
		}
		return 0, errCrash
	}
	return c.Store.UndoTakes(ctx, orderID, items)
}

func (c *crashStore) ReturnStock(ctx context.Context, orderID string, items []Item) error {
	if c.crash(crashMidReturn) {
		if err := c.Store.ReturnStock(ctx, orderID, items[:1]); err != nil {
			return err
		}
		return errCrash
	}
	return c.Store.ReturnStock(ctx, orderID, items)
}

func (c *crashStore) UpdateReservation(ctx context.Context, orderID string, g Guard, ch Change) (Reservation, bool, error) {
	switch ch.State {
	case StateReserved, StateFailed:
		if c.crash(crashBeforeRecord) {
			return Reservation{}, false, errCrash
		}
	case StateReleased:
		if c.crash(crashBeforeRelease) {
			return Reservation{}, false, errCrash
		}
	}
	return c.Store.UpdateReservation(ctx, orderID, g, ch)
}

func (c *crashStore) ClearMarks(ctx context.Context, marks []ProductMarks) error {
	if c.crash(crashBeforeClear) {
		return errCrash
	}
	return c.Store.ClearMarks(ctx, marks)
}

// sortedIDs returns the ids of ps, sorted.
func sortedIDs(ps []Product) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	slices.SortFunc(ids, cmp.Compare)
	return ids
}
