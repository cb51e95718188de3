package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
)

// The collections of the order database besides order_work (work_store.go).
const (
	ordersCollection      = "orders"
	listsCollection       = "order_lists"        // each customer's orders, newest last (a docstore.IDList keyed by user id)
	statusListsCollection = "order_status_lists" // the orders that entered each status, newest last (keyed by status: status_list.go)
)

// MongoStore is the Store on MongoDB (or the embedded FerretDB).
//
// Key design. Four collections:
//
//	orders {_id: orderId, customer{userId,email,name}, products[], deliveryAddress{}, status, payment{},
//	        total, failureReason, fingerprint, createdAt, updatedAt,
//	        notify{to,userId}?, releaseStock?, refund?}     ← the outbox, set only while due
//	order_work {_id: orderId, due, owner?, leaseUntil, attempts, rev, lastError?}  ← only while work is left
//	order_lists {_id: "h:<userId>" or "b:<n>:<userId>", ...}       ← each customer's order ids (docstore.IDList)
//	order_status_lists {_id: "h:<status>" or "b:<n>:<status>", ...} ← "<ms> <orderId>" per status entered
//
// Every read and write of an order by _id goes through the database's
// docstore.Updater: Insert is its InsertOne, Get its FindByID, and every
// update (a transition, adding or clearing outbox fields) its UpdateByID,
// guarded by {status: from} for a transition and unguarded otherwise. On
// MongoDB a transition is one findAndModify on {_id, status}; on the embedded
// store the Updater remembers the documents it wrote or read, so a guard is
// checked and a Get answered without a read, and every command it sends
// filters on _id alone (the only indexed lookup there). Either way, of two
// concurrent transitions from the same status, one wins. The Updater's
// contract is that no write of an order bypasses it: MongoStore has none.
//
// An order placed with an idempotency key has an _id derived from the caller
// and the key, so the unique _id decides between concurrent repeats: Insert
// reports ErrDuplicateOrder and the caller reads the existing order.
//
// The background work of the orders (a Pending order to settle if its
// handler dies, side effects due) is kept in a collection of its own,
// order_work (work_store.go), found by listing that small collection.
//
// A customer's orders are listed from their list in order_lists, which
// Insert appends each new order's id to, and whose pages are read by _id
// (docstore.IDList): a page costs the same few lookups whatever the orders
// stored, on MongoDB and on the embedded store alike, where any query would
// scan the orders collection. The orders of a page are read by _id, through
// a client of their own when one is given (QueryThrough), so that a listing
// does not wait behind the orders in progress.
//
// The orders in a status are listed the same way, from the status's list in
// order_status_lists (status_list.go), which Insert and Transition append to
// before the write that puts the order in the status.
type MongoStore struct {
	orders   *mongo.Collection
	work     *mongo.Collection // order_work (work_store.go)
	queries  *mongo.Collection // the orders, for a listing's reads: orders unless QueryThrough
	lists    *docstore.IDList  // order_lists
	statuses *docstore.IDList  // order_status_lists
	updater  *docstore.Updater // every read and write by _id
}

// orderDoc is an orders document.
type orderDoc struct {
	ID            string      `bson:"_id"`
	Customer      customerRef `bson:"customer"`
	Products      []lineDoc   `bson:"products"`
	Address       addressDoc  `bson:"deliveryAddress"`
	Status        string      `bson:"status"`
	Payment       paymentDoc  `bson:"payment"`
	Total         int64       `bson:"total"`
	FailureReason string      `bson:"failureReason,omitempty"`
	Fingerprint   string      `bson:"fingerprint,omitempty"`
	CreatedAt     time.Time   `bson:"createdAt"`
	UpdatedAt     time.Time   `bson:"updatedAt"`
	Notify        *notifyDoc  `bson:"notify,omitempty"`
	ReleaseStock  bool        `bson:"releaseStock,omitempty"`
	Refund        bool        `bson:"refund,omitempty"`
}

type customerRef struct {
	UserID string `bson:"userId"`
	Email  string `bson:"email"`
	Name   string `bson:"name"`
}

type lineDoc struct {
	ProductID string `bson:"productId"`
	Name      string `bson:"name"`
	Price     int64  `bson:"price"`
	Quantity  int64  `bson:"quantity"`
}

type addressDoc struct {
	Name       string `bson:"name"`
	Street     string `bson:"street"`
	City       string `bson:"city"`
	PostalCode string `bson:"postalCode"`
	Country    string `bson:"country"`
}

// paymentDoc is the payment summary: no card data but the masked number.
type paymentDoc struct {
	PaymentID        string `bson:"paymentId,omitempty"`
	Method           string `bson:"paymentMethod"`
	Name             string `bson:"paymentName"`
	Amount           int64  `bson:"amount"`
	Status           string `bson:"paymentStatus"`
	MaskedCardNumber string `bson:"maskedCardNumber,omitempty"`
}

type notifyDoc struct {
	To     string `bson:"to"`
	UserID string `bson:"userId"`
}

// NewMongoStore returns the store on db, creating its collections if missing
// and ensuring their indexes (docstore.Updater.EnsureIndexes), and listing the
// orders of a database from before order_lists, or before order_status_lists
// (docstore.IDList.Backfill). It makes the Updater of db, configured by opts
// (production passes none): the order service is the only writer of its
// database.
func NewMongoStore(ctx context.Context, db *mongo.Database, opts ...docstore.UpdaterOption) (*MongoStore, error) {
	updater, err := docstore.NewUpdater(ctx, db, opts...)
	if err != nil {
		return nil, fmt.Errorf("order: store: %w", err)
	}
	existing, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("order: store: list collections: %w", err)
	}
	s := &MongoStore{updater: updater}
	for _, c := range []struct {
		name    string
		coll    **mongo.Collection
		indexes []mongo.IndexModel
	}{{ordersCollection, &s.orders, nil}, {listsCollection, nil, nil}, {statusListsCollection, nil, nil}, {workCollection, &s.work, workIndexes}} {
		if !slices.Contains(existing, c.name) {
			err = db.CreateCollection(ctx, c.name)
			var ce mongo.CommandError
			if errors.As(err, &ce) && ce.HasErrorCode(namespaceExists) {
				err = nil // created meanwhile by another replica
			}
			if err != nil {
				return nil, fmt.Errorf("order: store: create collection %s: %w", c.name, err)
			}
		}
		coll := db.Collection(c.name)
		if err = updater.EnsureIndexes(ctx, coll, c.indexes); err != nil {
			return nil, fmt.Errorf("order: store: %w", err)
		}
		if c.coll != nil {
			*c.coll = coll
		}
	}
	s.queries = s.orders
	s.lists = docstore.NewIDList(updater, db.Collection(listsCollection))
	// A database from before order_lists: its orders are listed once, oldest first.
	err = s.lists.Backfill(ctx, s.orders, bson.D{{Key: "customer.userId", Value: 1}},
		bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}, func(raw bson.Raw) (string, string) {
			user, _ := raw.Lookup("customer", "userId").StringValueOK()
			id, _ := raw.Lookup("_id").StringValueOK()
			return user, id
		})
	if err != nil {
		return nil, fmt.Errorf("order: store: %w", err)
	}
	s.statuses = docstore.NewIDList(updater, db.Collection(statusListsCollection))
	// A database from before order_status_lists: each order is listed under
	// its status, once, in the order the orders entered their statuses.
	err = s.statuses.Backfill(ctx, s.orders, bson.D{{Key: "status", Value: 1}, {Key: "updatedAt", Value: 1}},
		bson.D{{Key: "updatedAt", Value: 1}, {Key: "_id", Value: 1}}, func(raw bson.Raw) (string, string) {
			status, _ := raw.Lookup("status").StringValueOK()
			id, _ := raw.Lookup("_id").StringValueOK()
			at, ok := raw.Lookup("updatedAt").DateTimeOK()
			if id == "" || !ok {
				return "", ""
			}
			if Status(status).atWork() {
				return "", "" // listed by its work entry
			}
			return status, statusEntry(id, time.UnixMilli(at))
		})
	if err != nil {
		return nil, fmt.Errorf("order: store: %w", err)
	}
	return s, nil
}

// QueryThrough makes the store read the orders of a listing (ListByCustomer,
// ListByStatus, GetMany) that its Updater does not remember through db, the
// order database reached through another client (docstore.Store.Reader),
// instead of the client of its writes. Call it before the store is used.
// Every write, and every other read, still goes through the client of the
// writes.
func (s *MongoStore) QueryThrough(db *mongo.Database) {
	s.queries = db.Collection(ordersCollection)
}

// namespaceExists is the server error code of creating a collection that exists.
const namespaceExists = 48

var _ Store = (*MongoStore)(nil)

// Insert implements Store: the order's insert, then the append of its id to
// its customer's list (and, for an order not atWork, which no creation
// makes, the append of its entry to its status's list first).
func (s *MongoStore) Insert(ctx context.Context, o Order) error {
	if err := s.listStatus(ctx, o.ID, o.Status, o.UpdatedAt); err != nil {
		return err
	}
	if err := s.updater.InsertOne(ctx, s.orders, toDoc(o)); err != nil {
		if docstore.IsDuplicateKey(err) {
			return ErrDuplicateOrder
		}
		return fmt.Errorf("order: store: insert order: %w", err)
	}
	return s.ListOrder(ctx, o)
}

// ListOrder implements Store.
func (s *MongoStore) ListOrder(ctx context.Context, o Order) error {
	if err := s.lists.Append(ctx, o.Customer.UserID, o.ID); err != nil {
		return fmt.Errorf("order: store: list order: %w", err)
	}
	return nil
}

// listStatus appends the entry of order id, entering status st at at, to
// st's list (status_list.go); a status atWork has none.
func (s *MongoStore) listStatus(ctx context.Context, id string, st Status, at time.Time) error {
	if st.atWork() {
		return nil
	}
	if err := s.statuses.Append(ctx, string(st), statusEntry(id, at)); err != nil {
		return fmt.Errorf("order: store: list order under %s: %w", st, err)
	}
	return nil
}

// Get implements Store.
func (s *MongoStore) Get(ctx context.Context, id string) (Order, error) {
	raw, err := s.updater.FindByID(ctx, s.orders, id)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("order: store: find order: %w", err)
	}
	return decode(raw)
}

// decode turns a stored document into an Order.
func decode(raw bson.Raw) (Order, error) {
	var d orderDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return Order{}, fmt.Errorf("order: store: decode order: %w", err)
	}
	return fromDoc(d), nil
}

// Transition implements Store: the append of the order's entry to to's
// list (none for a status atWork), then the conditional update.
func (s *MongoStore) Transition(ctx context.Context, id string, from, to Status, ch Change) (Order, error) {
	if err := s.listStatus(ctx, id, to, ch.At); err != nil {
		return Order{}, err
	}
	set := bson.D{{Key: "status", Value: string(to)}, {Key: "updatedAt", Value: ch.At}}
	if ch.Payment != nil {
		set = append(set, bson.E{Key: "payment", Value: toPaymentDoc(*ch.Payment)})
	}
	if ch.FailureReason != "" {
		set = append(set, bson.E{Key: "failureReason", Value: ch.FailureReason})
	}
	set = append(set, outboxFields(ch.Outbox)...)
	update := bson.D{{Key: "$set", Value: set}}
	if unset := unsetFields(doneOnly(ch.Done, ch.Outbox)); len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	raw, err := s.updater.UpdateByID(ctx, s.orders, id, bson.D{{Key: "status", Value: string(from)}}, update)
	if errors.Is(err, docstore.ErrNoMatch) {
		cur, gerr := s.Get(ctx, id)
		if gerr != nil {
			return Order{}, gerr
		}
		return cur, ErrStaleStatus
	}
	if err != nil {
		return Order{}, fmt.Errorf("order: store: transition %s → %s: %w", from, to, err)
	}
	return decode(raw)
}

// doneOnly is done without the side effects that due sets again.
func doneOnly(done, due Outbox) Outbox {
	if due.Notify != nil {
		done.Notify = nil
	}
	done.ReleaseStock = done.ReleaseStock && !due.ReleaseStock
	done.Refund = done.Refund && !due.Refund
	return done
}

// outboxFields are the document fields of the side effects set in b.
func outboxFields(b Outbox) bson.D {
	var f bson.D
	if b.Notify != nil {
		f = append(f, bson.E{Key: "notify", Value: notifyDoc{To: b.Notify.To, UserID: b.Notify.UserID}})
	}
	if b.ReleaseStock {
		f = append(f, bson.E{Key: "releaseStock", Value: true})
	}
	if b.Refund {
		f = append(f, bson.E{Key: "refund", Value: true})
	}
	return f
}

// unsetFields is the $unset of the outbox fields of the side effects set in b.
func unsetFields(b Outbox) bson.D {
	fields := outboxFields(b)
	unset := make(bson.D, len(fields))
	for i, f := range fields {
		unset[i] = bson.E{Key: f.Key, Value: ""}
	}
	return unset
}

// AddOutbox implements Store.
func (s *MongoStore) AddOutbox(ctx context.Context, id string, b Outbox) error {
	if b.Empty() {
		return nil
	}
	_, err := s.updater.UpdateByID(ctx, s.orders, id, nil, bson.D{{Key: "$set", Value: outboxFields(b)}})
	if errors.Is(err, docstore.ErrNoMatch) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("order: store: add outbox: %w", err)
	}
	return nil
}

// ClearOutbox implements Store.
func (s *MongoStore) ClearOutbox(ctx context.Context, id string, b Outbox) error {
	if b.Empty() {
		return nil
	}
	_, err := s.updater.UpdateByID(ctx, s.orders, id, nil, bson.D{{Key: "$unset", Value: unsetFields(b)}})
	if err != nil && !errors.Is(err, docstore.ErrNoMatch) { // an order that is gone has nothing due
		return fmt.Errorf("order: store: clear outbox: %w", err)
	}
	return nil
}

// ListByCustomer implements Store: a page of userID's list, then its orders
// by _id, an order not found (a list entry is never removed) left out.
func (s *MongoStore) ListByCustomer(ctx context.Context, userID string, from int64, limit int) ([]Order, int64, error) {
	ids, next, err := s.lists.Read(ctx, userID, from, limit, true)
	if err != nil || len(ids) == 0 {
		return nil, -1, err
	}
	byID, err := s.GetMany(ctx, ids)
	if err != nil {
		return nil, -1, err
	}
	out := make([]Order, 0, len(ids))
	for _, id := range ids {
		if o, ok := byID[id]; ok && o.Customer.UserID == userID {
			out = append(out, o)
		}
	}
	return out, next, nil
}

// ListByStatus implements Store: pages of st's list and their orders by _id
// (statusPage), or for a status atWork, of the work entries' orders
// (atWorkPage).
func (s *MongoStore) ListByStatus(ctx context.Context, st Status, from int64, limit int) ([]Order, int64, error) {
	if st.atWork() {
		listWork := func(ctx context.Context) ([]Work, error) { return s.ListWork(ctx, time.Time{}) }
		return atWorkPage(ctx, st, from, limit, listWork, s.GetMany)
	}
	read := func(ctx context.Context, from int64, n int) ([]string, int64, error) {
		return s.statuses.Read(ctx, string(st), from, n, true)
	}
	return statusPage(ctx, st, from, limit, read, s.GetMany)
}

// GetMany implements Store: the orders by _id, through the listings' client
// (QueryThrough) for those the Updater does not remember.
func (s *MongoStore) GetMany(ctx context.Context, ids []string) (map[string]Order, error) {
	anys := make([]any, len(ids))
	for i, id := range ids {
		anys[i] = id
	}
	raws, err := s.updater.FindByIDs(ctx, s.queries, anys, nil)
	if err != nil {
		return nil, fmt.Errorf("order: store: read the listed orders: %w", err)
	}
	byID := make(map[string]Order, len(raws))
	for _, raw := range raws {
		o, err := decode(raw)
		if err != nil {
			return nil, err
		}
		byID[o.ID] = o
	}
	return byID, nil
}

func toDoc(o Order) orderDoc {
	lines := make([]lineDoc, len(o.Products))
	for i, l := range o.Products {
		lines[i] = lineDoc{ProductID: l.ProductID, Name: l.Name, Price: l.Price, Quantity: l.Quantity}
	}
	d := orderDoc{
		ID:            o.ID,
		Customer:      customerRef{UserID: o.Customer.UserID, Email: o.Customer.Email, Name: o.Customer.Name},
		Products:      lines,
		Address:       addressDoc(o.Address),
		Status:        string(o.Status),
		Payment:       toPaymentDoc(o.Payment),
		Total:         o.Total,
		FailureReason: o.FailureReason,
		Fingerprint:   o.Fingerprint,
		CreatedAt:     o.CreatedAt,
		UpdatedAt:     o.UpdatedAt,
		ReleaseStock:  o.Outbox.ReleaseStock,
		Refund:        o.Outbox.Refund,
	}
	if n := o.Outbox.Notify; n != nil {
		d.Notify = &notifyDoc{To: n.To, UserID: n.UserID}
	}
	return d
}

func toPaymentDoc(p PaymentSummary) paymentDoc {
	return paymentDoc{
		PaymentID:        p.PaymentID,
		Method:           string(p.Method),
		Name:             p.Name,
		Amount:           p.Amount,
		Status:           string(p.Status),
		MaskedCardNumber: p.MaskedCardNumber,
	}
}

func fromDoc(d orderDoc) Order {
	lines := make([]Line, len(d.Products))
	for i, l := range d.Products {
		lines[i] = Line{ProductID: l.ProductID, Name: l.Name, Price: l.Price, Quantity: l.Quantity}
	}
	o := Order{
		ID:            d.ID,
		Customer:      Customer{UserID: d.Customer.UserID, Email: d.Customer.Email, Name: d.Customer.Name},
		Products:      lines,
		Address:       Address(d.Address),
		Status:        Status(d.Status),
		Total:         d.Total,
		FailureReason: d.FailureReason,
		Fingerprint:   d.Fingerprint,
		CreatedAt:     d.CreatedAt.UTC(),
		UpdatedAt:     d.UpdatedAt.UTC(),
		Payment: PaymentSummary{
			PaymentID:        d.Payment.PaymentID,
			Method:           PaymentMethod(d.Payment.Method),
			Name:             d.Payment.Name,
			Amount:           d.Payment.Amount,
			Status:           PaymentStatus(d.Payment.Status),
			MaskedCardNumber: d.Payment.MaskedCardNumber,
		},
		Outbox: Outbox{ReleaseStock: d.ReleaseStock, Refund: d.Refund},
	}
	if d.Notify != nil {
		o.Outbox.Notify = &Notification{To: d.Notify.To, UserID: d.Notify.UserID}
	}
	return o
}
