package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
)

// CollectionName is the collection of payments in the payment database.
const CollectionName = "payments"

// MarksCollectionName is the collection of the marks of payments that may be Pending ([Store.Mark]):
// {_id: orderId, at, trace?}, trace the traceparent of the MakePayment that made it (ids only). It holds only the payments not yet final, so listing it stays cheap however many
// payments are stored (on the embedded store a query reads its whole collection).
const MarksCollectionName = "pending_payments"

// codeNamespaceExists is the server error of creating a collection that exists (MongoDB and FerretDB).
const codeNamespaceExists = 48

// MongoStore is the [Store] on MongoDB (or the embedded store). Payments are keyed by order id (_id), the
// only key the service looks them up by, so no other index is needed (and on the embedded store any other
// would only make writes dearer). Every read and write goes through one [docstore.Updater], by _id: Create is
// its InsertOne (the unique _id refuses a second payment for an order), Get its FindByID, and Transition its
// UpdateByID guarded by the current status, one findAndModify. On the embedded store the Updater remembers
// the payments it wrote or read, so a guard is checked and a Get answered without a read: a new payment
// costs an insert and one update. That holds while the Updater sees every write of the collection: create
// one MongoStore per database per process and write payments through it alone.
type MongoStore struct {
	coll    *mongo.Collection
	marks   *mongo.Collection
	updater *docstore.Updater // every read and write by _id
}

// markDoc is a mark as stored.
type markDoc struct {
	OrderID string    `bson:"_id"`
	At      time.Time `bson:"at"`
	Trace   string    `bson:"trace,omitempty"`
}

// paymentDoc is the stored form of a Payment.
type paymentDoc struct {
	OrderID          string    `bson:"_id"`
	ID               string    `bson:"paymentId"`
	Status           string    `bson:"status"`
	Method           string    `bson:"method"`
	Name             string    `bson:"name,omitempty"`
	Amount           int64     `bson:"amount"`
	MaskedCardNumber string    `bson:"maskedCardNumber,omitempty"`
	CardFingerprint  string    `bson:"cardHmac,omitempty"`
	UserEmail        string    `bson:"userEmail"`
	Reason           string    `bson:"reason,omitempty"`
	ChargeID         string    `bson:"chargeId,omitempty"`
	RefundID         string    `bson:"refundId,omitempty"`
	CreatedAt        time.Time `bson:"createdAt"`
	UpdatedAt        time.Time `bson:"updatedAt"`
}

// NewMongoStore returns the store on db, creating the payments collection if it does not exist. It creates
// the store's docstore.Updater, configured by opts (production passes none): make one MongoStore per
// database per process.
func NewMongoStore(ctx context.Context, db *mongo.Database, opts ...docstore.UpdaterOption) (*MongoStore, error) {
	for _, name := range []string{CollectionName, MarksCollectionName} {
		err := db.CreateCollection(ctx, name)
		var se mongo.ServerError
		if err != nil && !(errors.As(err, &se) && se.HasErrorCode(codeNamespaceExists)) {
			return nil, fmt.Errorf("payment store: create collection %s: %w", name, err)
		}
	}
	updater, err := docstore.NewUpdater(ctx, db, opts...)
	if err != nil {
		return nil, fmt.Errorf("payment store: %w", err)
	}
	return &MongoStore{coll: db.Collection(CollectionName), marks: db.Collection(MarksCollectionName), updater: updater}, nil
}

// Mark implements [Store]: an insert, whose duplicate is a mark already there.
func (s *MongoStore) Mark(ctx context.Context, m Mark) (bool, error) {
	err := s.updater.InsertOne(ctx, s.marks, markDoc{OrderID: m.OrderID, At: m.At, Trace: m.Trace})
	switch {
	case docstore.IsDuplicateKey(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("payment store: mark: %w", err)
	}
	return true, nil
}

// Marks implements [Store].
func (s *MongoStore) Marks(ctx context.Context) ([]Mark, error) {
	cur, err := s.marks.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("payment store: marks: %w", err)
	}
	var docs []markDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("payment store: marks: %w", err)
	}
	out := make([]Mark, len(docs))
	for i, d := range docs {
		out[i] = Mark{OrderID: d.OrderID, At: d.At.UTC(), Trace: d.Trace}
	}
	return out, nil
}

// Unmark implements [Store]: a delete by _id.
func (s *MongoStore) Unmark(ctx context.Context, orderID string) error {
	err := s.updater.DeleteByID(ctx, s.marks, orderID, nil)
	if err != nil && !errors.Is(err, docstore.ErrNoMatch) {
		return fmt.Errorf("payment store: unmark: %w", err)
	}
	return nil
}

// Create implements [Store].
func (s *MongoStore) Create(ctx context.Context, p Payment) error {
	err := s.updater.InsertOne(ctx, s.coll, toDoc(p))
	switch {
	case docstore.IsDuplicateKey(err):
		return ErrDuplicate
	case err != nil:
		return fmt.Errorf("payment store: insert: %w", err)
	}
	return nil
}

// Get implements [Store].
func (s *MongoStore) Get(ctx context.Context, orderID string) (Payment, error) {
	raw, err := s.updater.FindByID(ctx, s.coll, orderID)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return Payment{}, ErrNotFound
	case err != nil:
		return Payment{}, fmt.Errorf("payment store: get: %w", err)
	}
	var d paymentDoc
	if err = bson.Unmarshal(raw, &d); err != nil {
		return Payment{}, fmt.Errorf("payment store: get: decode: %w", err)
	}
	return d.payment(), nil
}

// Transition implements [Store]. The answer is the update's, so a transition that applies reads nothing.
func (s *MongoStore) Transition(ctx context.Context, orderID string, from Status, t Transition) (Payment, error) {
	set := bson.D{{Key: "status", Value: string(t.To)}, {Key: "updatedAt", Value: t.At}}
	for _, f := range []struct{ key, value string }{
		{"reason", t.Reason}, {"chargeId", t.ChargeID}, {"refundId", t.RefundID},
	} {
		if f.value != "" {
			set = append(set, bson.E{Key: f.key, Value: f.value})
		}
	}
	raw, err := s.updater.UpdateByID(ctx, s.coll, orderID, bson.D{{Key: "status", Value: string(from)}},
		bson.D{{Key: "$set", Value: set}})
	switch {
	case errors.Is(err, docstore.ErrNoMatch):
		return s.Get(ctx, orderID) // not in status from (or missing): report it as it is
	case err != nil:
		return Payment{}, fmt.Errorf("payment store: update: %w", err)
	}
	var d paymentDoc
	if err = bson.Unmarshal(raw, &d); err != nil {
		return Payment{}, fmt.Errorf("payment store: update: decode: %w", err)
	}
	return d.payment(), nil
}

func toDoc(p Payment) paymentDoc {
	return paymentDoc{
		OrderID:          p.OrderID,
		ID:               p.ID,
		Status:           string(p.Status),
		Method:           string(p.Method),
		Name:             p.Name,
		Amount:           p.Amount,
		MaskedCardNumber: p.MaskedCardNumber,
		CardFingerprint:  p.CardFingerprint,
		UserEmail:        p.UserEmail,
		Reason:           p.Reason,
		ChargeID:         p.ChargeID,
		RefundID:         p.RefundID,
		CreatedAt:        p.CreatedAt,
		UpdatedAt:        p.UpdatedAt,
	}
}

func (d paymentDoc) payment() Payment {
	return Payment{
		ID:               d.ID,
		OrderID:          d.OrderID,
		Status:           Status(d.Status),
		Method:           Method(d.Method),
		Name:             d.Name,
		Amount:           d.Amount,
		MaskedCardNumber: d.MaskedCardNumber,
		CardFingerprint:  d.CardFingerprint,
		UserEmail:        d.UserEmail,
		Reason:           d.Reason,
		ChargeID:         d.ChargeID,
		RefundID:         d.RefundID,
		CreatedAt:        d.CreatedAt.UTC(),
		UpdatedAt:        d.UpdatedAt.UTC(),
	}
}
