package order

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

// Collection names of the order database.
const (
	ordersCollection    = "orders"
	customersCollection = "customers"
)

// MongoStore is the Store on MongoDB (or the embedded FerretDB).
//
// Key design. Two collections:
//
//	orders     {_id: orderId, customer{userId,email,name}, products[], deliveryAddress{}, status, payment{},
//	            total, failureReason, fingerprint, createdAt, updatedAt,
//	            notify{to,userId}?, releaseStock?, refund?}     ← the outbox, set only while due
//	customers  {_id: userId, orders: [orderId, ...]}            ← oldest first
//
// The hot path (CreateOrder, every transition, DeliveryStarted, GetOrder, the
// workers' reads) is by order _id, the only indexed lookup on the embedded
// store. An order placed with an idempotency key has an _id derived from the
// caller and the key, so the unique _id decides between concurrent repeats.
// Every status change goes through docstore.Updater guarded by {status: from}:
// one findAndModify on {_id, status} on MongoDB, a read-check-write of
// {_id}-only commands under a per-order lock on the embedded store, where a
// guard in the filter would scan every order. Either way, of two concurrent
// transitions from the same status, one wins. The outbox fields and the
// customers list are written by plain _id updates: no guard reads them.
//
// A customer's orders are listed from the customers document (one _id
// lookup, then one per order shown), not by a query on customer.userId that
// would scan every order on the embedded store. Insert appends the id there
// before inserting the order ($addToSet: a repeat adds nothing), so an order
// never exists without its entry; an entry whose order insert failed is
// skipped when listing.
//
// Only the workers' start-up scans (ListPending, ListOutbox) query other
// fields: on MongoDB the indexes NewMongoStore creates serve them; on the
// embedded store they scan once per process start.
type MongoStore struct {
	orders    *mongo.Collection
	customers *mongo.Collection
	updater   *docstore.Updater // every write of status
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

// customerDoc is a customers document.
type customerDoc struct {
	UserID string   `bson:"_id"`
	Orders []string `bson:"orders"`
}

// NewMongoStore returns the store on db, creating its collections and the
// indexes of the start-up scans if missing.
func NewMongoStore(ctx context.Context, db *mongo.Database) (*MongoStore, error) {
	existing, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("order: store: list collections: %w", err)
	}
	for _, name := range []string{ordersCollection, customersCollection} {
		if slices.Contains(existing, name) {
			continue
		}
		err = db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.HasErrorCode(namespaceExists) {
			err = nil // created meanwhile by another replica
		}
		if err != nil {
			return nil, fmt.Errorf("order: store: create collection %s: %w", name, err)
		}
	}
	orders := db.Collection(ordersCollection)
	// One index per command: FerretDB v1.24.2 breaks the connection when a
	// createIndexes of three or more indexes finds them all existing (its
	// handler deletes from the list it ranges over), which made every
	// restart of the order service on its own data fail.
	for _, idx := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}}, Options: options.Index().SetName("status")},
		{Keys: bson.D{{Key: "notify.to", Value: 1}}, Options: options.Index().SetSparse(true).SetName("outbox_notify")},
		{Keys: bson.D{{Key: "releaseStock", Value: 1}}, Options: options.Index().SetSparse(true).SetName("outbox_release")},
		{Keys: bson.D{{Key: "refund", Value: 1}}, Options: options.Index().SetSparse(true).SetName("outbox_refund")},
	} {
		if _, err = orders.Indexes().CreateOne(ctx, idx); err != nil {
			return nil, fmt.Errorf("order: store: create index: %w", err)
		}
	}
	updater, err := docstore.NewUpdater(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("order: store: %w", err)
	}
	return &MongoStore{orders: orders, customers: db.Collection(customersCollection), updater: updater}, nil
}

// namespaceExists is the server error code of creating a collection that exists.
const namespaceExists = 48

var _ Store = (*MongoStore)(nil)

func byID(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }

// Insert implements Store.
func (s *MongoStore) Insert(ctx context.Context, o Order) error {
	// Two upserts of a new customer can race on MongoDB, one failing with a
	// duplicate key; the second try then finds the document.
	for attempt := 0; ; attempt++ {
		_, err := s.customers.UpdateOne(ctx, byID(o.Customer.UserID),
			bson.D{{Key: "$addToSet", Value: bson.D{{Key: "orders", Value: o.ID}}}},
			options.UpdateOne().SetUpsert(true))
		if err == nil {
			break
		}
		if !docstore.IsDuplicateKey(err) || attempt > 0 {
			return fmt.Errorf("order: store: index order for customer: %w", err)
		}
	}
	if _, err := s.orders.InsertOne(ctx, toDoc(o)); err != nil {
		if docstore.IsDuplicateKey(err) {
			return ErrDuplicateOrder
		}
		return fmt.Errorf("order: store: insert order: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *MongoStore) Get(ctx context.Context, id string) (Order, error) {
	var d orderDoc
	err := s.orders.FindOne(ctx, byID(id)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("order: store: find order: %w", err)
	}
	return fromDoc(d), nil
}

// Transition implements Store.
func (s *MongoStore) Transition(ctx context.Context, id string, from, to Status, ch Change) (Order, error) {
	set := bson.D{{Key: "status", Value: string(to)}, {Key: "updatedAt", Value: ch.At}}
	if ch.Payment != nil {
		set = append(set, bson.E{Key: "payment", Value: toPaymentDoc(*ch.Payment)})
	}
	if ch.FailureReason != "" {
		set = append(set, bson.E{Key: "failureReason", Value: ch.FailureReason})
	}
	set = append(set, outboxFields(ch.Outbox)...)
	raw, err := s.updater.UpdateByID(ctx, s.orders, id, bson.D{{Key: "status", Value: string(from)}},
		bson.D{{Key: "$set", Value: set}})
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
	var d orderDoc
	if err = bson.Unmarshal(raw, &d); err != nil {
		return Order{}, fmt.Errorf("order: store: transition %s → %s: decode: %w", from, to, err)
	}
	return fromDoc(d), nil
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

// AddOutbox implements Store.
func (s *MongoStore) AddOutbox(ctx context.Context, id string, b Outbox) error {
	if b.Empty() {
		return nil
	}
	res, err := s.orders.UpdateOne(ctx, byID(id), bson.D{{Key: "$set", Value: outboxFields(b)}})
	if err != nil {
		return fmt.Errorf("order: store: add outbox: %w", err)
	}
	if res.MatchedCount == 0 {
		return ErrNotFound
	}
	return nil
}

// ClearOutbox implements Store.
func (s *MongoStore) ClearOutbox(ctx context.Context, id string, b Outbox) error {
	fields := outboxFields(b)
	if len(fields) == 0 {
		return nil
	}
	unset := make(bson.D, len(fields))
	for i, f := range fields {
		unset[i] = bson.E{Key: f.Key, Value: ""}
	}
	if _, err := s.orders.UpdateOne(ctx, byID(id), bson.D{{Key: "$unset", Value: unset}}); err != nil {
		return fmt.Errorf("order: store: clear outbox: %w", err)
	}
	return nil
}

// ListByCustomer implements Store.
func (s *MongoStore) ListByCustomer(ctx context.Context, userID, afterID string, limit int) ([]Order, error) {
	var c customerDoc
	err := s.customers.FindOne(ctx, byID(userID)).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("order: store: find customer: %w", err)
	}
	end := len(c.Orders) // exclusive; the list is oldest first
	if afterID != "" {
		end = slices.Index(c.Orders, afterID)
		if end < 0 {
			return nil, nil // not this customer's order: nothing follows it
		}
	}
	var out []Order
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		o, err := s.Get(ctx, c.Orders[i])
		if errors.Is(err, ErrNotFound) {
			continue // its insert failed after the index entry was written
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// ListPending implements Store.
func (s *MongoStore) ListPending(ctx context.Context) ([]Pending, error) {
	cur, err := s.orders.Find(ctx, bson.D{{Key: "status", Value: string(StatusPending)}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "createdAt", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("order: store: find pending orders: %w", err)
	}
	var docs []struct {
		ID        string    `bson:"_id"`
		CreatedAt time.Time `bson:"createdAt"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("order: store: read pending orders: %w", err)
	}
	out := make([]Pending, len(docs))
	for i, d := range docs {
		out[i] = Pending{ID: d.ID, CreatedAt: d.CreatedAt}
	}
	return out, nil
}

// ListOutbox implements Store.
func (s *MongoStore) ListOutbox(ctx context.Context) ([]string, error) {
	exists := bson.D{{Key: "$exists", Value: true}}
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "notify.to", Value: exists}},
		bson.D{{Key: "releaseStock", Value: true}},
		bson.D{{Key: "refund", Value: true}},
	}}}
	cur, err := s.orders.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("order: store: find orders with an outbox: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("order: store: read orders with an outbox: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
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
