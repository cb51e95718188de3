// Package product is the product service of kitshop: the catalogue (sample
// products, listing, lookups, admin creation and stock adjustment) and the
// stock reservations every order makes (ReserveStock, ReleaseStock).
//
// The package reads like go-kit's addsvc: service.go (domain, catalogue
// logic), errors.go (its errors and their table), stock.go (the reservation
// protocol), marks.go (the batched clearing of its marks), endpoints.go
// (observed with internal/observe: logs and metrics), transport_grpc.go,
// transport_http.go, store.go (MongoDB) and wire.go (assembly for
// cmd/product and cmd/shop).
//
// Stock is kept correct without multi-document transactions; stock.go
// explains how.
package product

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Service is the product service.
type Service interface {
	// CreateSamples creates the five sample products (SampleProducts) unless
	// they exist, and returns how many it created. Concurrent calls create
	// each sample once.
	CreateSamples(ctx context.Context) (created int, err error)
	// GetProductsInfo returns the products with the given ids, each once, in
	// the order of their first mention; if any is unknown it fails with a
	// *ProductsError matching ErrNotFound that names every missing id.
	GetProductsInfo(ctx context.Context, ids []string) ([]Product, error)
	// ListProducts returns a page of the catalogue, in the order the products
	// were added (products added meanwhile come on later pages). pageSize 0
	// means DefaultPageSize; more than MaxPageSize is reduced to it.
	// pageToken is the NextPageToken of the previous page, "" for the first.
	//
	// A q with words (search.go) lists only the products whose name matches
	// every word, in the same order, with page tokens of their own: a page
	// may then hold fewer than pageSize products, even none, while
	// NextPageToken says more may follow. A q without words (empty, spaces,
	// punctuation) is the whole catalogue. A token of the catalogue given
	// with a q, of a search given without, or of another q, is refused with
	// ErrInvalidArgument, as is a q longer than MaxQueryLen bytes or of more
	// than MaxQueryWords words.
	ListProducts(ctx context.Context, q string, pageSize int, pageToken string) (Page, error)
	// GetProduct returns one product.
	GetProduct(ctx context.Context, id string) (Product, error)
	// CreateProduct adds a product with a new id. Only admins may call it;
	// the endpoints check that.
	CreateProduct(ctx context.Context, p NewProduct) (Product, error)
	// AdjustStock adds delta (negative: removes) to a product's stock, which
	// never goes below zero nor above MaxStock. Admins only.
	AdjustStock(ctx context.Context, id string, delta int64) (Product, error)
	// ReserveStock takes stock for an order: all items or none. It is
	// idempotent per order id; see stock.go.
	ReserveStock(ctx context.Context, orderID string, items []Item) (ReserveResult, error)
	// ReleaseStock puts an order's reservation back. It reports whether this
	// call returned stock; releasing twice, or releasing an order never
	// reserved, returns nothing more (and the latter makes a later
	// ReserveStock of that order fail with ErrReservationReleased).
	ReleaseStock(ctx context.Context, orderID string) (released bool, err error)
}

// Product is a catalogue entry. Price is in minor units (KRW: won).
type Product struct {
	ID          string
	Name        string
	Description string
	Price       int64
	Stock       int64
}

// NewProduct is what CreateProduct needs.
type NewProduct struct {
	Name        string
	Description string
	Price       int64
	Stock       int64
}

// Item is a quantity of one product in a reservation.
type Item struct {
	ProductID string
	Quantity  int64
}

// Page is one page of ListProducts. NextPageToken is "" on the last page.
type Page struct {
	Products      []Product
	NextPageToken string
}

// ReserveResult is the outcome of a successful ReserveStock: the items as
// reserved (duplicates summed, sorted by product id) and whether the call
// repeated an earlier reservation of the order.
type ReserveResult struct {
	OrderID  string
	Items    []Item
	Replayed bool
}

// Limits of the inputs. Prices and stock are bounded so that no sum of them an
// order or a reservation makes can overflow int64.
const (
	MaxIDLen          = 128
	MaxNameLen        = 200  // runes
	MaxDescriptionLen = 2000 // runes
	MaxPrice          = 1_000_000_000_000
	MaxStock          = 1_000_000_000_000
	MaxQuantity       = 1_000_000_000
	MaxIDs            = 1000 // ids per GetProductsInfo and distinct items per reservation
	DefaultPageSize   = 20
	MaxPageSize       = 100
)

// SampleProducts returns the five sample products CreateSamples makes, with
// the original system's prices, each with stock units. Their ids are fixed,
// which is what makes CreateSamples idempotent.
func SampleProducts(stock int64) []Product {
	return []Product{
		{ID: "sample-1", Name: "Bottled Water", Description: "Still spring water, 500 ml.", Price: 1000, Stock: stock},
		{ID: "sample-2", Name: "Instant Ramyeon", Description: "Spicy instant noodles, one pack.", Price: 2000, Stock: stock},
		{ID: "sample-3", Name: "Kimbap Roll", Description: "Seaweed rice roll with egg and vegetables.", Price: 3000, Stock: stock},
		{ID: "sample-4", Name: "Canned Coffee", Description: "Sweet milk coffee, 240 ml can.", Price: 2000, Stock: stock},
		{ID: "sample-5", Name: "Banana Milk", Description: "Banana-flavoured milk, 240 ml.", Price: 1500, Stock: stock},
	}
}

// Store is the persistence the service needs. Every method is a single
// atomic operation on one document, or one batch of such operations sent as
// one command; nothing is atomic across documents (see stock.go for how the
// reservation protocol copes). MongoStore implements it.
type Store interface {
	// InsertProducts inserts the products whose ids are new and returns
	// those ids; existing products are left as they are.
	InsertProducts(ctx context.Context, ps []Product) (inserted []string, err error)
	// GetProducts returns the products among ids that exist, in any order.
	GetProducts(ctx context.Context, ids []string) ([]Product, error)
	// ListProducts returns up to limit products in the order they were
	// added, from the position from (the first when negative), and the
	// position of the next page, -1 when none follows. Positions do not
	// change when products are added. Its cost follows limit, not the
	// products stored.
	ListProducts(ctx context.Context, from int64, limit int) (ps []Product, next int64, err error)
	// SearchProducts returns up to limit of the products whose name matches
	// every word of query (search.go; query as parseQuery gives it, with
	// words), in the order they were added, from at (searchFirst for the
	// first page), and where the next page starts, its From -1 when none
	// follows. It reads one word list (search.go) and examines at most
	// searchScan of its entries, so a page may hold fewer than limit
	// products, even none, before the end. Positions do not change when
	// products are added. It reads the products of the matching entries
	// alone: its cost follows limit and how many of the list's entries
	// match, not the products stored.
	SearchProducts(ctx context.Context, query []string, at SearchAt, limit int) (ps []Product, next SearchAt, err error)
	// AdjustStock adds delta to a product's stock if the result stays within
	// 0..maxStock, and returns the product after. It fails with ErrNotFound,
	// ErrInsufficientStock (below zero) or errAboveMax.
	AdjustStock(ctx context.Context, id string, delta, maxStock int64) (Product, error)

	// CreateReservation inserts r and reports true, or, if the order has a
	// reservation already, returns that one and false.
	CreateReservation(ctx context.Context, r Reservation) (Reservation, bool, error)
	// GetReservation returns the order's reservation and whether it exists.
	GetReservation(ctx context.Context, orderID string) (Reservation, bool, error)
	// UpdateReservation applies change to the order's reservation if it
	// matches guard, and returns it as updated; false if it did not match.
	UpdateReservation(ctx context.Context, orderID string, guard Guard, change Change) (Reservation, bool, error)

	// TakeStock decrements each item's product by its quantity and marks the
	// product with the order id, for each product that has enough stock and
	// no mark of the order yet. It reports the items not taken: products
	// that do not exist, and products short of stock; a product that
	// carries the order's mark counts as taken, by this call or an earlier one.
	TakeStock(ctx context.Context, orderID string, items []Item) (TakeResult, error)
	// UndoTakes gives back the quantity of each item whose product carries
	// the order's take mark, removing the mark, and returns how many it
	// gave back.
	UndoTakes(ctx context.Context, orderID string, items []Item) (int, error)
	// ReturnStock adds back each item's quantity to its product unless the
	// product carries the order's return mark, sets that mark, and removes
	// any take mark of the order.
	ReturnStock(ctx context.Context, orderID string, items []Item) error
	// ClearMarks removes marks whose reservations record what they stood
	// for: from each product, the take marks of the orders in Takes and the
	// return marks of those in Returns, marks absent or not. One command
	// for all the products.
	ClearMarks(ctx context.Context, marks []ProductMarks) error
}

// errAboveMax is Store.AdjustStock's error when the stock would exceed the
// maximum.
var errAboveMax = errors.New("stock would exceed its maximum")

// Options tune the service. Zero fields take the defaults.
type Options struct {
	// SampleStock is the stock of each sample product; default
	// DefaultSampleStock.
	SampleStock int64
	// Lease is how long one call may work on an order's reservation before
	// another instance of the service may take over; default DefaultLease.
	Lease time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives warnings about marks left on products when their
	// clearing fails (harmless, see stock.go); nil discards them.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultSampleStock = 1_000_000
	DefaultLease       = 15 * time.Second
)

type service struct {
	store       Store
	sampleStock int64
	lease       time.Duration
	now         func() time.Time
	logger      *slog.Logger

	// instance identifies this service value in the owner of reservations
	// it works on; seq numbers its calls.
	instance string
	seq      atomic.Uint64
	locks    orderLocks

	// marks clears the marks of finished reservations in batches while its
	// run runs (Build makes it a background unit); see marks.go.
	marks *markFlusher
}

// NewService returns the product service on store. Each reservation clears
// its own marks on the products, as one more store command; the service
// Build assembles has them cleared in batches instead (see marks.go).
func NewService(store Store, opts Options) (Service, error) {
	svc, err := newService(store, opts)
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// newService returns the service, whose marks.run the caller may run.
func newService(store Store, opts Options) (*service, error) {
	if store == nil {
		return nil, errors.New("product: store is nil")
	}
	if opts.SampleStock == 0 {
		opts.SampleStock = DefaultSampleStock
	}
	if opts.SampleStock < 0 || opts.SampleStock > MaxStock {
		return nil, fmt.Errorf("product: sample stock %d is not within 1..%d", opts.SampleStock, int64(MaxStock))
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.Lease < time.Second {
		return nil, fmt.Errorf("product: reservation lease %s is shorter than a second", opts.Lease)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &service{
		store:       store,
		sampleStock: opts.SampleStock,
		lease:       opts.Lease,
		now:         opts.Now,
		logger:      opts.Logger,
		instance:    strings.ToLower(rand.Text()),
		locks:       orderLocks{m: make(map[string]*orderLock)},
		marks:       newMarkFlusher(store, opts.Logger),
	}, nil
}

func (s *service) CreateSamples(ctx context.Context) (int, error) {
	inserted, err := s.store.InsertProducts(ctx, SampleProducts(s.sampleStock))
	if err != nil {
		return 0, err
	}
	return len(inserted), nil
}

func (s *service) GetProductsInfo(ctx context.Context, ids []string) ([]Product, error) {
	if len(ids) == 0 {
		return nil, invalid("productIds must not be empty")
	}
	if len(ids) > MaxIDs {
		return nil, invalid("at most %d productIds per call, got %d", MaxIDs, len(ids))
	}
	unique := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if err := checkID(fmt.Sprintf("productIds[%d]", i), id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	found, err := s.store.GetProducts(ctx, unique)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Product, len(found))
	for _, p := range found {
		byID[p.ID] = p
	}
	out := make([]Product, 0, len(unique))
	var missing []string
	for _, id := range unique {
		p, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, p)
	}
	if len(missing) > 0 {
		return nil, &ProductsError{Err: ErrNotFound, ProductIDs: missing}
	}
	return out, nil
}

func (s *service) ListProducts(ctx context.Context, q string, pageSize int, pageToken string) (Page, error) {
	switch {
	case pageSize < 0:
		return Page{}, invalid("pageSize must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	query, err := parseQuery(q)
	if err != nil {
		return Page{}, err
	}
	if len(query) > 0 {
		return s.searchProducts(ctx, query, pageSize, pageToken)
	}
	from, err := decodePageToken(pageToken)
	if err != nil {
		return Page{}, err
	}
	ps, next, err := s.store.ListProducts(ctx, from, pageSize)
	if err != nil {
		return Page{}, err
	}
	page := Page{Products: ps}
	if next >= 0 {
		page.NextPageToken = encodePageToken(next)
	}
	return page, nil
}

// searchProducts is ListProducts with a query of words.
func (s *service) searchProducts(ctx context.Context, query []string, pageSize int, pageToken string) (Page, error) {
	at, err := decodeSearchToken(pageToken, query)
	if err != nil {
		return Page{}, err
	}
	ps, next, err := s.store.SearchProducts(ctx, query, at, pageSize)
	if err != nil {
		return Page{}, err
	}
	page := Page{Products: ps}
	if next.From >= 0 {
		page.NextPageToken = encodeSearchToken(query, next)
	}
	return page, nil
}

// pageTokenPrefix versions the page token, so its format can change later
// (p1: held the last id shown).
const pageTokenPrefix = "p2:"

// encodePageToken returns the opaque token of the page from position from of
// the catalogue.
func encodePageToken(from int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatInt(from, 10)))
}

// decodePageToken returns the position a page token starts from (-1, the
// first, for the empty token).
func decodePageToken(tok string) (int64, error) {
	if tok == "" {
		return -1, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && strings.HasPrefix(string(raw), searchTokenPrefix) {
		return 0, invalid("pageToken is a token of a search (q), not of the catalogue")
	}
	digits, ok := strings.CutPrefix(string(raw), pageTokenPrefix)
	from, perr := strconv.ParseInt(digits, 10, 64)
	if err != nil || !ok || perr != nil || from < 0 || digits != strconv.FormatInt(from, 10) {
		return 0, errForeignToken
	}
	return from, nil
}

// errForeignToken refuses a page token that the service did not issue.
var errForeignToken = invalid("pageToken is not a token this service issued")

func (s *service) GetProduct(ctx context.Context, id string) (Product, error) {
	if err := checkID("productId", id); err != nil {
		return Product{}, err
	}
	ps, err := s.store.GetProducts(ctx, []string{id})
	if err != nil {
		return Product{}, err
	}
	if len(ps) == 0 {
		return Product{}, &ProductsError{Err: ErrNotFound, ProductIDs: []string{id}}
	}
	return ps[0], nil
}

func (s *service) CreateProduct(ctx context.Context, np NewProduct) (Product, error) {
	p := Product{
		Name:        strings.TrimSpace(np.Name),
		Description: strings.TrimSpace(np.Description),
		Price:       np.Price,
		Stock:       np.Stock,
	}
	switch {
	case p.Name == "":
		return Product{}, invalid("name must not be empty")
	case !utf8.ValidString(p.Name) || utf8.RuneCountInString(p.Name) > MaxNameLen:
		return Product{}, invalid("name must be valid UTF-8 of at most %d characters", MaxNameLen)
	case !utf8.ValidString(p.Description) || utf8.RuneCountInString(p.Description) > MaxDescriptionLen:
		return Product{}, invalid("description must be valid UTF-8 of at most %d characters", MaxDescriptionLen)
	case p.Price <= 0 || p.Price > MaxPrice:
		return Product{}, invalid("price must be within 1..%d", int64(MaxPrice))
	case p.Stock < 0 || p.Stock > MaxStock:
		return Product{}, invalid("stock must be within 0..%d", int64(MaxStock))
	}
	// Time-ordered ids, like the user service's: new products list last.
	id, err := uuid.NewV7()
	if err != nil {
		return Product{}, fmt.Errorf("product: new id: %w", err)
	}
	p.ID = id.String()
	inserted, err := s.store.InsertProducts(ctx, []Product{p})
	if err != nil {
		return Product{}, err
	}
	if len(inserted) != 1 {
		// 74 random bits collided: not the client's fault.
		return Product{}, fmt.Errorf("product: generated id %s exists already", p.ID)
	}
	return p, nil
}

func (s *service) AdjustStock(ctx context.Context, id string, delta int64) (Product, error) {
	if err := checkID("productId", id); err != nil {
		return Product{}, err
	}
	if delta == 0 || delta < -MaxStock || delta > MaxStock {
		return Product{}, invalid("delta must be non-zero and within -%d..%d", int64(MaxStock), int64(MaxStock))
	}
	p, err := s.store.AdjustStock(ctx, id, delta, MaxStock)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrInsufficientStock):
		return Product{}, &ProductsError{Err: err, ProductIDs: []string{id}}
	case errors.Is(err, errAboveMax):
		return Product{}, invalid("stock of %s would exceed %d", id, int64(MaxStock))
	}
	return p, err
}

// checkID checks a product or order id: 1 to MaxIDLen bytes of UTF-8 without
// spaces or control characters. name is the field, for the message.
func checkID(name, id string) error {
	bad := id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) ||
		strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	if bad {
		return invalid("%s must be 1 to %d bytes without spaces or control characters", name, MaxIDLen)
	}
	return nil
}

// orderLocks serializes the calls of one service value on one order, so that
// the reservation protocol runs once at a time per order in this process
// (across processes, the reservation's lease does; see stock.go).
type orderLocks struct {
	mu sync.Mutex
	m  map[string]*orderLock
}

type orderLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters; the entry goes when it drops to 0
}

// lock waits until the order is free or ctx ends, and returns the unlock.
func (l *orderLocks) lock(ctx context.Context, orderID string) (unlock func(), err error) {
	l.mu.Lock()
	e := l.m[orderID]
	if e == nil {
		e = &orderLock{ch: make(chan struct{}, 1)}
		l.m[orderID] = e
	}
	e.refs++
	l.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
		return func() {
			<-e.ch
			l.drop(orderID, e)
		}, nil
	case <-ctx.Done():
		l.drop(orderID, e)
		return nil, ctx.Err()
	}
}

func (l *orderLocks) drop(orderID string, e *orderLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, orderID)
	}
}
