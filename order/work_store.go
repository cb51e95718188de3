package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
)

// workCollection holds the orders with background work left: one entry per
// order, _id = the order id, only while the order is Pending or has side
// effects due. It stays as small as the work in progress, however many orders
// are stored, so that listing it is cheap on the embedded store too (where a
// query reads the whole collection).
//
//	order_work {_id: orderId, due, owner?, leaseUntil?, attempts, rev, trace?, lastError?}
//
// trace is the W3C traceparent of the request that caused the work (ids and
// flags only, nothing secret), written by the insert and left as it is by
// every update. lastError is the message of the last failed round's error
// (Work.LastError), for the operators (GET /order/work).
const workCollection = "order_work"

// workDoc is an order_work document.
type workDoc struct {
	ID         string    `bson:"_id"`
	Due        time.Time `bson:"due"`
	Owner      string    `bson:"owner,omitempty"`
	LeaseUntil time.Time `bson:"leaseUntil"`
	Attempts   int       `bson:"attempts"`
	Rev        int64     `bson:"rev"`
	Trace      string    `bson:"trace,omitempty"`
	LastError  string    `bson:"lastError,omitempty"`
}

func toWorkDoc(w Work) workDoc {
	return workDoc{ID: w.OrderID, Due: w.Due, Owner: w.Owner, LeaseUntil: w.LeaseUntil, Attempts: w.Attempts, Rev: w.Rev, Trace: w.Trace,
		LastError: w.LastError}
}

func fromWorkDoc(d workDoc) Work {
	return Work{OrderID: d.ID, Due: d.Due.UTC(), Owner: d.Owner, LeaseUntil: d.LeaseUntil.UTC(), Attempts: d.Attempts, Rev: d.Rev, Trace: d.Trace,
		LastError: d.LastError}
}

// workIndexes are the secondary indexes of order_work: the listing of due work.
var workIndexes = []mongo.IndexModel{
	{Keys: bson.D{{Key: "due", Value: 1}}, Options: options.Index().SetName("due")},
}

// InsertWork implements Store.
func (s *MongoStore) InsertWork(ctx context.Context, w Work) error {
	if err := s.updater.InsertOne(ctx, s.work, toWorkDoc(w)); err != nil {
		if docstore.IsDuplicateKey(err) {
			return ErrDuplicateWork
		}
		return fmt.Errorf("order: store: insert work: %w", err)
	}
	return nil
}

// GetWork implements Store.
func (s *MongoStore) GetWork(ctx context.Context, orderID string) (Work, error) {
	raw, err := s.updater.FindByID(ctx, s.work, orderID)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Work{}, ErrNotFound
	}
	if err != nil {
		return Work{}, fmt.Errorf("order: store: find work: %w", err)
	}
	var d workDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return Work{}, fmt.Errorf("order: store: decode work: %w", err)
	}
	return fromWorkDoc(d), nil
}

// UpdateWork implements Store: one update by _id guarded by {rev: w.Rev}.
func (s *MongoStore) UpdateWork(ctx context.Context, w Work) (Work, error) {
	set := bson.D{
		{Key: "due", Value: w.Due}, {Key: "owner", Value: w.Owner}, {Key: "leaseUntil", Value: w.LeaseUntil},
		{Key: "attempts", Value: w.Attempts}, {Key: "rev", Value: w.Rev + 1}, {Key: "lastError", Value: w.LastError},
	}
	raw, err := s.updater.UpdateByID(ctx, s.work, w.OrderID, bson.D{{Key: "rev", Value: w.Rev}}, bson.D{{Key: "$set", Value: set}})
	if errors.Is(err, docstore.ErrNoMatch) {
		return Work{}, ErrWorkChanged
	}
	if err != nil {
		return Work{}, fmt.Errorf("order: store: update work: %w", err)
	}
	var d workDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return Work{}, fmt.Errorf("order: store: decode work: %w", err)
	}
	return fromWorkDoc(d), nil
}

// DeleteWork implements Store: one delete by _id guarded by {rev: w.Rev}.
func (s *MongoStore) DeleteWork(ctx context.Context, w Work) error {
	err := s.updater.DeleteByID(ctx, s.work, w.OrderID, bson.D{{Key: "rev", Value: w.Rev}})
	if errors.Is(err, docstore.ErrNoMatch) {
		return ErrWorkChanged
	}
	if err != nil {
		return fmt.Errorf("order: store: delete work: %w", err)
	}
	return nil
}

// ListWork implements Store. It reads order_work through the client of the
// writes, not QueryThrough's: the collection is small, and a reader client
// could see it a moment behind the Updater's last write.
func (s *MongoStore) ListWork(ctx context.Context, dueBy time.Time) ([]Work, error) {
	filter := bson.D{}
	if !dueBy.IsZero() {
		filter = bson.D{{Key: "due", Value: bson.D{{Key: "$lte", Value: dueBy}}}}
	}
	cur, err := s.work.Find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("order: store: find work: %w", err)
	}
	var docs []workDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("order: store: read work: %w", err)
	}
	out := make([]Work, len(docs))
	for i, d := range docs {
		out[i] = fromWorkDoc(d)
	}
	return out, nil
}
