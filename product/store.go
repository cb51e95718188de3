package product

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
)

// Collection names in the product database.
const (
	productsCollection     = "products"
	reservationsCollection = "reservations"
	catalogueCollection    = "catalogue" // the products' ids in the order they were added, and the word lists (docstore.IDList)
)

// catalogueList is the key of the catalogue's list in catalogueCollection.
const catalogueList = "products"

// MongoStore is the Store on MongoDB (or the embedded FerretDB). Both
// collections are keyed by their natural id (_id = product id, _id = order
// id); no other index is needed, and none is created (on the embedded store
// a secondary index would serve no lookup and only slow every write). Every
// write is atomic on one document: product changes are conditional updates
// ({_id: p, stock: {$gte: q}, ...}), reservation changes are guarded entries
// appended to the reservation's log (UpdateReservation). Every read and write
// by _id goes through the database's docstore.Updater: the product changes of
// one call as one Updater.UpdateEach, product reads by id as its FindByIDs,
// reservations as its InsertOne, FindByID and UpdateByID. The Updater decides
// how each is sent (see internal/docstore), so the commands per reservation
// stay constant however many orders there are. The catalogue is listed from
// a docstore.IDList of the products' ids in the order they were added, read by
// _id: a page costs the same few lookups however many products there are; it
// is searched from the word lists kept beside it (search.go), read the same
// way.
//
// There must be one MongoStore per database in the process (it holds the
// database's Updater, which must see every write of what it remembers).
type MongoStore struct {
	products     *mongo.Collection
	queries      *mongo.Collection // the products, for the catalogue's reads: products unless QueryThrough
	reservations *mongo.Collection
	catalogue    *docstore.IDList
	// updater carries every read and write by _id.
	updater *docstore.Updater
}

// Compile-time check that MongoStore is a Store.
var _ Store = (*MongoStore)(nil)

// codeNamespaceExists is MongoDB's error code for creating a collection that
// exists.
const codeNamespaceExists = 48

// NewMongoStore returns the store on db, creating its collections if needed
// and listing the products of a database from before the catalogue's list
// (docstore.IDList.Backfill) or from before the word lists (backfillWords).
// opts configure its Updater (docstore.NewUpdater); production passes none.
func NewMongoStore(ctx context.Context, db *mongo.Database, opts ...docstore.UpdaterOption) (*MongoStore, error) {
	if db == nil {
		return nil, errors.New("product: database is nil")
	}
	for _, name := range []string{productsCollection, reservationsCollection, catalogueCollection} {
		err := db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.Code == codeNamespaceExists) {
			return nil, fmt.Errorf("product: create collection %s: %w", name, err)
		}
	}
	u, err := docstore.NewUpdater(ctx, db, opts...)
	if err != nil {
		return nil, fmt.Errorf("product: %w", err)
	}
	m := &MongoStore{
		products:     db.Collection(productsCollection),
		queries:      db.Collection(productsCollection),
		reservations: db.Collection(reservationsCollection),
		catalogue:    docstore.NewIDList(u, db.Collection(catalogueCollection)),
		updater:      u,
	}
	// A database from before the catalogue's list: its products are listed once, in id order (the order
	// the catalogue had then).
	err = m.catalogue.Backfill(ctx, m.products, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 1}},
		func(raw bson.Raw) (string, string) {
			id, _ := raw.Lookup("_id").StringValueOK()
			return catalogueList, id
		})
	if err != nil {
		return nil, fmt.Errorf("product: %w", err)
	}
	if err := m.backfillWords(ctx); err != nil {
		return nil, fmt.Errorf("product: %w", err)
	}
	return m, nil
}

// wordsTask is the one-time task (docstore.IDList.Claim) of listing in the
// word lists the products stored before them.
const wordsTask = "words"

// backfillWords lists the products of a database from before the word lists
// (search.go) in them, in the catalogue's order, when this store is the
// first to claim wordsTask; the first store of this version to open a
// database claims it, whether or not it holds products, and products stored
// afterwards are listed by InsertProducts. It reads the products' names in
// one pass over the collection and the catalogue's list once. Like the
// catalogue's backfill it runs before the service takes writes, and one cut
// short is not resumed (docstore.IDList.Backfill).
func (m *MongoStore) backfillWords(ctx context.Context) error {
	claimed, err := m.catalogue.Claim(ctx, wordsTask)
	if err != nil || !claimed {
		return err
	}
	cur, err := m.products.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "name", Value: 1}}))
	if err != nil {
		return fmt.Errorf("list words: read products: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	names := map[string]string{}
	for cur.Next(ctx) {
		var d productDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("list words: decode product: %w", err)
		}
		names[d.ID] = d.Name
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("list words: read products: %w", err)
	}
	lists := map[string][]string{}
	for from := int64(0); from >= 0 && len(names) > 0; {
		var ids []string
		ids, from, err = m.catalogue.Read(ctx, catalogueList, from, backfillPage, false)
		if err != nil {
			return fmt.Errorf("list words: %w", err)
		}
		for _, id := range ids {
			name, ok := names[id]
			if !ok {
				continue // not stored, or listed twice
			}
			delete(names, id)
			addToWordLists(lists, id, name)
		}
	}
	if err := m.catalogue.AppendEach(ctx, lists); err != nil {
		return fmt.Errorf("list words: %w", err)
	}
	return nil
}

// backfillPage is how many ids of the catalogue backfillWords reads at once.
const backfillPage = 4096

// productDoc is a product document. Inflight and Returning hold the ids of
// orders whose take or return of this product is applied but not yet recorded
// by their reservation (see stock.go); they are never nil, so that $push
// always finds an array.
type productDoc struct {
	ID          string    `bson:"_id"`
	Name        string    `bson:"name"`
	Description string    `bson:"description"`
	Price       int64     `bson:"price"`
	Stock       int64     `bson:"stock"`
	Inflight    []string  `bson:"inflight"`
	Returning   []string  `bson:"returning"`
	CreatedAt   time.Time `bson:"createdAt"`
}

func (d productDoc) product() Product {
	return Product{ID: d.ID, Name: d.Name, Description: d.Description, Price: d.Price, Stock: d.Stock}
}

// catalogueProjection leaves the marks out of catalogue reads.
var catalogueProjection = bson.D{{Key: "inflight", Value: 0}, {Key: "returning", Value: 0}}

// InsertProducts implements Store: the ids not stored yet are appended to the
// catalogue's list, and their entries to the word lists of their names
// (search.go), then inserted. A product whose insert fails, or never comes (a crash), leaves
// its id listed with no product, which a listing or a search leaves out; once
// created, it is found there. Nothing changes a product's name once stored,
// so a product stays right in the word lists it was appended to.
func (m *MongoStore) InsertProducts(ctx context.Context, ps []Product) ([]string, error) {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	stored, err := m.findByIDs(ctx, ids, bson.D{{Key: "_id", Value: 1}})
	if err != nil {
		return nil, err
	}
	exists := make(map[string]bool, len(stored))
	for _, d := range stored {
		exists[d.ID] = true
	}
	ps = slices.DeleteFunc(slices.Clone(ps), func(p Product) bool { return exists[p.ID] })
	if len(ps) == 0 {
		return nil, nil
	}
	lists := map[string][]string{}
	for _, p := range ps {
		lists[catalogueList] = append(lists[catalogueList], p.ID)
		addToWordLists(lists, p.ID, p.Name)
	}
	if err := m.catalogue.AppendEach(ctx, lists); err != nil {
		return nil, fmt.Errorf("product: list products: %w", err)
	}
	now := time.Now().UTC()
	docs := make([]any, len(ps))
	for i, p := range ps {
		docs[i] = productDoc{
			ID: p.ID, Name: p.Name, Description: p.Description, Price: p.Price, Stock: p.Stock,
			Inflight: []string{}, Returning: []string{}, CreatedAt: now,
		}
	}
	// Unordered: every new id is inserted even when others exist.
	_, err = m.products.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	dup := make(map[int]bool)
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return nil, fmt.Errorf("product: insert products: %w", err)
		}
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we.WriteError) {
				return nil, fmt.Errorf("product: insert products: %w", err)
			}
			dup[we.Index] = true
		}
	}
	inserted := make([]string, 0, len(ps))
	for i, p := range ps {
		if !dup[i] {
			inserted = append(inserted, p.ID)
		}
	}
	return inserted, nil
}

func (m *MongoStore) GetProducts(ctx context.Context, ids []string) ([]Product, error) {
	docs, err := m.findByIDs(ctx, ids, catalogueProjection)
	if err != nil {
		return nil, err
	}
	return toProducts(docs), nil
}

// findByIDs returns the products among ids that exist, with at least the
// fields of projection, in any order (Updater.FindByIDs).
func (m *MongoStore) findByIDs(ctx context.Context, ids []string, projection bson.D) ([]productDoc, error) {
	return m.findByIDsIn(ctx, m.products, ids, projection)
}

// findByIDsIn is findByIDs reading through coll, the products collection of
// either client.
func (m *MongoStore) findByIDsIn(ctx context.Context, coll *mongo.Collection, ids []string, projection bson.D) ([]productDoc, error) {
	anys := make([]any, len(ids))
	for i, id := range ids {
		anys[i] = id
	}
	raws, err := m.updater.FindByIDs(ctx, coll, anys, projection)
	if err != nil {
		return nil, fmt.Errorf("product: read products: %w", err)
	}
	docs := make([]productDoc, len(raws))
	for i, raw := range raws {
		if err := bson.Unmarshal(raw, &docs[i]); err != nil {
			return nil, fmt.Errorf("product: decode product: %w", err)
		}
	}
	return docs, nil
}

func toProducts(docs []productDoc) []Product {
	ps := make([]Product, len(docs))
	for i, d := range docs {
		ps[i] = d.product()
	}
	return ps
}

// QueryThrough makes the catalogue's pages (ListProducts) read the products
// the Updater does not remember through db, the product database reached
// through another client (docstore.Store.Reader). Call it before the store is
// used. Every write, and every other read, still goes through the client of
// the writes.
func (m *MongoStore) QueryThrough(db *mongo.Database) {
	m.queries = db.Collection(productsCollection)
}

// ListProducts implements Store: a page of the catalogue's list, then its
// products by _id (through QueryThrough's client).
func (m *MongoStore) ListProducts(ctx context.Context, from int64, limit int) ([]Product, int64, error) {
	ids, next, err := m.catalogue.Read(ctx, catalogueList, from, limit, false)
	if err != nil {
		return nil, -1, fmt.Errorf("product: read the catalogue: %w", err)
	}
	found, err := m.listedProducts(ctx, ids)
	if err != nil {
		return nil, -1, err
	}
	return inOrder(ids, found), next, nil
}

// inOrder returns the products of found in the order of ids, leaving out the
// ids found has none of (listed, never stored).
func inOrder(ids []string, found []Product) []Product {
	byID := make(map[string]Product, len(found))
	for _, p := range found {
		byID[p.ID] = p
	}
	ps := make([]Product, 0, len(ids))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			ps = append(ps, p)
		}
	}
	return ps
}

// SearchProducts implements Store: pages of a word list, then their
// products by _id (through QueryThrough's client), as ListProducts.
func (m *MongoStore) SearchProducts(ctx context.Context, query []string, at SearchAt, limit int) ([]Product, SearchAt, error) {
	ps, next, err := search(ctx, m, query, at, limit)
	if err != nil {
		return nil, SearchAt{}, fmt.Errorf("product: search the catalogue: %w", err)
	}
	return ps, next, nil
}

func (m *MongoStore) wordListLen(ctx context.Context, key string) (int64, error) {
	return m.catalogue.Len(ctx, key)
}

func (m *MongoStore) readWordList(ctx context.Context, key string, from int64, n int) ([]string, int64, error) {
	return m.catalogue.Read(ctx, key, from, n, false)
}

// listedProducts returns the products among ids that exist, in any order,
// read through QueryThrough's client.
func (m *MongoStore) listedProducts(ctx context.Context, ids []string) ([]Product, error) {
	docs, err := m.findByIDsIn(ctx, m.queries, ids, catalogueProjection)
	if err != nil {
		return nil, err
	}
	return toProducts(docs), nil
}

func (m *MongoStore) AdjustStock(ctx context.Context, id string, delta, maxStock int64) (Product, error) {
	bound := bson.D{{Key: "$lte", Value: maxStock - delta}}
	if delta < 0 {
		bound = bson.D{{Key: "$gte", Value: -delta}}
	}
	var d productDoc
	raw, err := m.updater.UpdateByID(ctx, m.products, id, bson.D{{Key: "stock", Value: bound}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "stock", Value: delta}}}})
	if err == nil {
		if err = bson.Unmarshal(raw, &d); err != nil {
			return Product{}, fmt.Errorf("product: adjust stock of %s: decode: %w", id, err)
		}
		return d.product(), nil
	}
	if !errors.Is(err, docstore.ErrNoMatch) {
		return Product{}, fmt.Errorf("product: adjust stock of %s: %w", id, err)
	}
	// Unknown product, or the bound refused the change.
	ps, err := m.GetProducts(ctx, []string{id})
	switch {
	case err != nil:
		return Product{}, err
	case len(ps) == 0:
		return Product{}, ErrNotFound
	case delta < 0:
		return ps[0], ErrInsufficientStock
	default:
		return ps[0], errAboveMax
	}
}

type itemDoc struct {
	ProductID string `bson:"productId"`
	Quantity  int64  `bson:"quantity"`
}

type failureDoc struct {
	Reason     string   `bson:"reason"`
	ProductIDs []string `bson:"productIds"`
}

// reservationDoc is a reservation document, _id = order id. State, Owner
// and LeaseUntil are as created and never change; every later change is an
// entry of Log, applied in order when its guard holds (see
// UpdateReservation).
type reservationDoc struct {
	ID         string      `bson:"_id"`
	Items      []itemDoc   `bson:"items"`
	State      string      `bson:"state"`
	Owner      string      `bson:"owner"`
	LeaseUntil time.Time   `bson:"leaseUntil"`
	CreatedAt  time.Time   `bson:"createdAt"`
	Log        []changeDoc `bson:"log"`
}

// changeDoc is a guarded change of a reservation: it applies if, when its
// turn comes in the log, the reservation is in IfState (and owned by IfOwner
// unless that is empty).
type changeDoc struct {
	IfState    string      `bson:"ifState"`
	IfOwner    string      `bson:"ifOwner,omitempty"`
	State      string      `bson:"state,omitempty"`
	Owner      string      `bson:"owner,omitempty"`
	LeaseUntil time.Time   `bson:"leaseUntil,omitempty"`
	Failure    *failureDoc `bson:"failure,omitempty"`
	At         time.Time   `bson:"at"`
}

func toReservationDoc(r Reservation) reservationDoc {
	items := make([]itemDoc, len(r.Items))
	for i, it := range r.Items {
		items[i] = itemDoc{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return reservationDoc{
		ID: r.OrderID, Items: items, State: string(r.State), Owner: r.Owner, LeaseUntil: r.LeaseUntil,
		CreatedAt: r.CreatedAt, Log: []changeDoc{},
	}
}

// reservation folds the log into the reservation's current value and
// reports whether the last change applied.
func (d reservationDoc) reservation() (Reservation, bool) {
	var items []Item
	for _, it := range d.Items {
		items = append(items, Item{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	r := Reservation{
		OrderID: d.ID, Items: items, State: ReservationState(d.State), Owner: d.Owner,
		LeaseUntil: d.LeaseUntil, CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt,
	}
	applied := false
	for _, c := range d.Log {
		applied = string(r.State) == c.IfState && (c.IfOwner == "" || r.Owner == c.IfOwner)
		if !applied {
			continue
		}
		r.UpdatedAt = c.At
		if c.State != "" {
			r.State = ReservationState(c.State)
		}
		if c.Owner != "" {
			r.Owner = c.Owner
		}
		if !c.LeaseUntil.IsZero() {
			r.LeaseUntil = c.LeaseUntil
		}
		if c.Failure != nil {
			r.Failure = &Failure{Reason: FailureReason(c.Failure.Reason), ProductIDs: c.Failure.ProductIDs}
		}
	}
	return r, applied
}

func (m *MongoStore) CreateReservation(ctx context.Context, r Reservation) (Reservation, bool, error) {
	err := m.updater.InsertOne(ctx, m.reservations, toReservationDoc(r))
	if err == nil {
		return r, true, nil
	}
	if !docstore.IsDuplicateKey(err) {
		return Reservation{}, false, fmt.Errorf("product: insert reservation of order %s: %w", r.OrderID, err)
	}
	existing, found, err := m.GetReservation(ctx, r.OrderID)
	if err != nil {
		return Reservation{}, false, err
	}
	if !found {
		// Reservations are never deleted.
		return Reservation{}, false, fmt.Errorf("product: reservation of order %s exists and is not found", r.OrderID)
	}
	return existing, false, nil
}

// GetReservation reads {_id: orderID}, from the Updater's memory when it
// has the reservation.
func (m *MongoStore) GetReservation(ctx context.Context, orderID string) (Reservation, bool, error) {
	raw, err := m.updater.FindByID(ctx, m.reservations, orderID)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Reservation{}, false, nil
	}
	if err != nil {
		return Reservation{}, false, fmt.Errorf("product: read reservation of order %s: %w", orderID, err)
	}
	var d reservationDoc
	if err = bson.Unmarshal(raw, &d); err != nil {
		return Reservation{}, false, fmt.Errorf("product: decode reservation of order %s: %w", orderID, err)
	}
	r, _ := d.reservation()
	return r, true, nil
}

// UpdateReservation is a compare-and-set made of an unconditional append:
// the guarded change is pushed onto the reservation's log with a bare {_id}
// filter (Updater.UpdateByID without a guard), and the document as it is
// right after the push, folded, tells whether the change applied:
// single-document atomicity orders the log, so exactly one of two competing
// changes with the same guard applies. It is done this way because the
// embedded FerretDB uses the _id index only for a filter that is exactly
// {_id: <string>}; a guard in the filter would scan every reservation ever
// made. The log grows by one entry per change (two to four per order); the
// service appends only changes it expects to apply.
func (m *MongoStore) UpdateReservation(ctx context.Context, orderID string, guard Guard, change Change) (Reservation, bool, error) {
	c := changeDoc{
		IfState: string(guard.State), IfOwner: guard.Owner,
		State: string(change.State), Owner: change.Owner, LeaseUntil: change.LeaseUntil,
		Failure: toFailureDoc(change.Failure), At: change.UpdatedAt,
	}
	raw, err := m.updater.UpdateByID(ctx, m.reservations, orderID, nil,
		bson.D{{Key: "$push", Value: bson.D{{Key: "log", Value: c}}}})
	if errors.Is(err, docstore.ErrNoMatch) {
		return Reservation{}, false, nil
	}
	if err != nil {
		return Reservation{}, false, fmt.Errorf("product: update reservation of order %s: %w", orderID, err)
	}
	var d reservationDoc
	if err = bson.Unmarshal(raw, &d); err != nil {
		return Reservation{}, false, fmt.Errorf("product: decode reservation of order %s: %w", orderID, err)
	}
	r, applied := d.reservation()
	if !applied {
		return Reservation{}, false, nil
	}
	return r, true, nil
}

func toFailureDoc(f *Failure) *failureDoc {
	if f == nil {
		return nil
	}
	return &failureDoc{Reason: string(f.Reason), ProductIDs: f.ProductIDs}
}

// The update documents of the reservation protocol (see stock.go), for
// product p, order o and quantity q:
//
//	take:   {_id: p, stock: {$gte: q}, inflight: {$ne: o}} → {$inc: {stock: -q}, $push: {inflight: o}}
//	undo:   {_id: p, inflight: o}                          → {$inc: {stock: q}, $pull: {inflight: o}}
//	return: {_id: p, returning: {$ne: o}}                  → {$inc: {stock: q}, $push: {returning: o}, $pull: {inflight: o}}
//	clear:  {_id: p}                                       → {$pullAll: {inflight: [o...], returning: [o...]}}
//
// The clearing filters on _id alone, an index lookup on the embedded store:
// pulling a mark that is not there changes nothing. It uses $pullAll, not
// $pull with {$in: [...]}, which FerretDB v1 takes for an equality with the
// document {$in: [...]} and which then pulls nothing.

func (m *MongoStore) TakeStock(ctx context.Context, orderID string, items []Item) (TakeResult, error) {
	updates := make([]docstore.Update, len(items))
	for i, it := range items {
		updates[i] = docstore.Update{
			ID: it.ProductID,
			Guard: bson.D{
				{Key: "stock", Value: bson.D{{Key: "$gte", Value: it.Quantity}}},
				{Key: "inflight", Value: bson.D{{Key: "$ne", Value: orderID}}},
			},
			Change: bson.D{
				{Key: "$inc", Value: bson.D{{Key: "stock", Value: -it.Quantity}}},
				{Key: "$push", Value: bson.D{{Key: "inflight", Value: orderID}}},
			},
		}
	}
	matched, err := m.updater.UpdateEach(ctx, m.products, updates)
	if err != nil {
		return TakeResult{}, fmt.Errorf("product: take stock for order %s: %w", orderID, err)
	}
	if matched == len(items) {
		return TakeResult{}, nil
	}

	// Some were not taken now: tell the taken ones (marked, by this call or
	// an earlier one) from the missing and the short.
	docs, err := m.findByIDs(ctx, productIDs(items), bson.D{{Key: "inflight", Value: 1}})
	if err != nil {
		return TakeResult{}, fmt.Errorf("product: read stock marks for order %s: %w", orderID, err)
	}
	marked := make(map[string]bool, len(docs))
	for _, d := range docs {
		marked[d.ID] = false
		for _, o := range d.Inflight {
			if o == orderID {
				marked[d.ID] = true
				break
			}
		}
	}
	var r TakeResult
	for _, it := range items {
		isMarked, exists := marked[it.ProductID]
		switch {
		case !exists:
			r.Missing = append(r.Missing, it.ProductID)
		case !isMarked:
			r.Short = append(r.Short, it.ProductID)
		}
	}
	return r, nil
}

func (m *MongoStore) UndoTakes(ctx context.Context, orderID string, items []Item) (int, error) {
	updates := make([]docstore.Update, len(items))
	for i, it := range items {
		updates[i] = docstore.Update{
			ID:    it.ProductID,
			Guard: bson.D{{Key: "inflight", Value: orderID}},
			Change: bson.D{
				{Key: "$inc", Value: bson.D{{Key: "stock", Value: it.Quantity}}},
				{Key: "$pull", Value: bson.D{{Key: "inflight", Value: orderID}}},
			},
		}
	}
	matched, err := m.updater.UpdateEach(ctx, m.products, updates)
	if err != nil {
		return 0, fmt.Errorf("product: undo takes of order %s: %w", orderID, err)
	}
	return matched, nil
}

func (m *MongoStore) ReturnStock(ctx context.Context, orderID string, items []Item) error {
	updates := make([]docstore.Update, len(items))
	for i, it := range items {
		updates[i] = docstore.Update{
			ID:    it.ProductID,
			Guard: bson.D{{Key: "returning", Value: bson.D{{Key: "$ne", Value: orderID}}}},
			Change: bson.D{
				{Key: "$inc", Value: bson.D{{Key: "stock", Value: it.Quantity}}},
				{Key: "$push", Value: bson.D{{Key: "returning", Value: orderID}}},
				{Key: "$pull", Value: bson.D{{Key: "inflight", Value: orderID}}},
			},
		}
	}
	if _, err := m.updater.UpdateEach(ctx, m.products, updates); err != nil {
		return fmt.Errorf("product: return stock of order %s: %w", orderID, err)
	}
	return nil
}

// ClearMarks applies one unguarded update per product (see the clear above).
func (m *MongoStore) ClearMarks(ctx context.Context, marks []ProductMarks) error {
	updates := make([]docstore.Update, 0, len(marks))
	for _, pm := range marks {
		pull := bson.D{}
		if len(pm.Takes) > 0 {
			pull = append(pull, bson.E{Key: "inflight", Value: pm.Takes})
		}
		if len(pm.Returns) > 0 {
			pull = append(pull, bson.E{Key: "returning", Value: pm.Returns})
		}
		if len(pull) == 0 {
			continue
		}
		updates = append(updates, docstore.Update{ID: pm.ProductID, Change: bson.D{{Key: "$pullAll", Value: pull}}})
	}
	if _, err := m.updater.UpdateEach(ctx, m.products, updates); err != nil {
		return fmt.Errorf("product: clear the marks of %d products: %w", len(updates), err)
	}
	return nil
}
