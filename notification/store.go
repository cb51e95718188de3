package notification

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

// collectionName is the collection of notifications in the service's database.
const collectionName = "notifications"

// notificationDoc is a notification as stored. _id is the order id, so the
// unique _id index deduplicates and every lookup and update by order uses it.
type notificationDoc struct {
	ID        string     `bson:"_id"`
	UserID    string     `bson:"user_id"`
	From      string     `bson:"from"`
	To        string     `bson:"to"`
	Subject   string     `bson:"subject"`
	Content   string     `bson:"content"`
	Status    string     `bson:"status"`
	CreatedAt time.Time  `bson:"created_at"`
	SentAt    *time.Time `bson:"sent_at,omitempty"`
	// DeliveryAcked is false until the order service acknowledges
	// DeliveryStarted; Unacknowledged looks for Sent ones still false.
	DeliveryAcked   bool       `bson:"delivery_acked"`
	DeliveryAckedAt *time.Time `bson:"delivery_acked_at,omitempty"`
	// LeaseOwner and LeaseUntil say who may send a Pending notification, and
	// until when. A released or finished lease has the Unix epoch, before
	// any now.
	LeaseOwner string    `bson:"lease_owner"`
	LeaseUntil time.Time `bson:"lease_until"`
}

func (d *notificationDoc) notification() Notification {
	n := Notification{
		OrderID:              d.ID,
		UserID:               d.UserID,
		From:                 d.From,
		To:                   d.To,
		Subject:              d.Subject,
		Content:              d.Content,
		Status:               Status(d.Status),
		CreatedAt:            d.CreatedAt.UTC(),
		DeliveryAcknowledged: d.DeliveryAcked,
	}
	if d.SentAt != nil {
		n.SentAt = d.SentAt.UTC()
	}
	return n
}

// MongoStore is the Store on MongoDB or the embedded document store. Every
// lookup and write is by _id (the order id). The conditional writes (lease
// claim and release, MarkSent, the delivery acknowledgement) go through
// docstore.Updater: one guarded findAndModify on MongoDB, {_id}-only commands
// under a per-notification lock on the embedded store, where a guard in the
// filter would scan every notification.
type MongoStore struct {
	coll    *mongo.Collection
	updater *docstore.Updater // every write after Insert
}

// NewMongoStore returns the store of the notification database db, creating
// its collection and the index of Unacknowledged if missing.
func NewMongoStore(ctx context.Context, db *mongo.Database) (*MongoStore, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: collectionName}})
	if err != nil {
		return nil, fmt.Errorf("notification store: list collections: %w", err)
	}
	if len(names) == 0 {
		// Two processes may race here; the loser's "already exists" is fine.
		if err = db.CreateCollection(ctx, collectionName); err != nil && !isNamespaceExists(err) {
			return nil, fmt.Errorf("notification store: create collection: %w", err)
		}
	}
	coll := db.Collection(collectionName)
	// For MongoDB: Unacknowledged filters on these two fields. The embedded
	// store does not use the index for that filter, which is why
	// Unacknowledged runs once at start-up only (see DeliveryWorker).
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "status", Value: 1}, {Key: "delivery_acked", Value: 1}},
		Options: options.Index().SetName("status_delivery_acked"),
	})
	if err != nil {
		return nil, fmt.Errorf("notification store: create index: %w", err)
	}
	updater, err := docstore.NewUpdater(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("notification store: %w", err)
	}
	return &MongoStore{coll: coll, updater: updater}, nil
}

// isNamespaceExists reports MongoDB's NamespaceExists (48), returned when the
// collection was created meanwhile.
func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 48
}

// Insert implements Store.
func (s *MongoStore) Insert(ctx context.Context, n Notification, lease Lease) error {
	doc := notificationDoc{
		ID:         n.OrderID,
		UserID:     n.UserID,
		From:       n.From,
		To:         n.To,
		Subject:    n.Subject,
		Content:    n.Content,
		Status:     string(StatusPending),
		CreatedAt:  n.CreatedAt,
		LeaseOwner: lease.Owner,
		LeaseUntil: lease.Until,
	}
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		if docstore.IsDuplicateKey(err) {
			return ErrDuplicate
		}
		return fmt.Errorf("notification store: insert %s: %w", n.OrderID, err)
	}
	return nil
}

// Get implements Store.
func (s *MongoStore) Get(ctx context.Context, orderID string) (Notification, error) {
	var doc notificationDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: orderID}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Notification{}, ErrNotFound
	}
	if err != nil {
		return Notification{}, fmt.Errorf("notification store: get %s: %w", orderID, err)
	}
	return doc.notification(), nil
}

// Claim implements Store with one guarded update: it matches only while the
// notification is Pending and its lease has expired, so of concurrent
// claimers exactly one succeeds.
func (s *MongoStore) Claim(ctx context.Context, orderID string, now time.Time, lease Lease) (bool, error) {
	guard := bson.D{
		{Key: "status", Value: string(StatusPending)},
		{Key: "lease_until", Value: bson.D{{Key: "$lt", Value: now}}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "lease_owner", Value: lease.Owner},
		{Key: "lease_until", Value: lease.Until},
	}}}
	_, err := s.updater.UpdateByID(ctx, s.coll, orderID, guard, update)
	switch {
	case errors.Is(err, docstore.ErrNoMatch):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("notification store: claim %s: %w", orderID, err)
	}
	return true, nil
}

// Release implements Store.
func (s *MongoStore) Release(ctx context.Context, orderID, owner string) error {
	guard := bson.D{
		{Key: "status", Value: string(StatusPending)},
		{Key: "lease_owner", Value: owner},
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "lease_owner", Value: ""},
		{Key: "lease_until", Value: time.Unix(0, 0).UTC()},
	}}}
	_, err := s.updater.UpdateByID(ctx, s.coll, orderID, guard, update)
	if err != nil && !errors.Is(err, docstore.ErrNoMatch) {
		return fmt.Errorf("notification store: release %s: %w", orderID, err)
	}
	return nil
}

// MarkSent implements Store. Only a Pending notification changes, so a
// notification is marked Sent once, with the time of the first send.
func (s *MongoStore) MarkSent(ctx context.Context, orderID string, sentAt time.Time) (Notification, error) {
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: string(StatusSent)},
		{Key: "sent_at", Value: sentAt},
		{Key: "lease_owner", Value: ""},
		{Key: "lease_until", Value: time.Unix(0, 0).UTC()},
	}}}
	raw, err := s.updater.UpdateByID(ctx, s.coll, orderID, bson.D{{Key: "status", Value: string(StatusPending)}}, update)
	if errors.Is(err, docstore.ErrNoMatch) {
		// Sent already (or gone): answer with what is stored.
		return s.Get(ctx, orderID)
	}
	if err != nil {
		return Notification{}, fmt.Errorf("notification store: mark %s sent: %w", orderID, err)
	}
	var doc notificationDoc
	if err = bson.Unmarshal(raw, &doc); err != nil {
		return Notification{}, fmt.Errorf("notification store: mark %s sent: decode: %w", orderID, err)
	}
	return doc.notification(), nil
}

// AcknowledgeDelivery implements Store.
func (s *MongoStore) AcknowledgeDelivery(ctx context.Context, orderID string) error {
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "delivery_acked", Value: true},
		{Key: "delivery_acked_at", Value: time.Now().UTC()},
	}}}
	_, err := s.updater.UpdateByID(ctx, s.coll, orderID, bson.D{{Key: "delivery_acked", Value: false}}, update)
	if err != nil && !errors.Is(err, docstore.ErrNoMatch) {
		return fmt.Errorf("notification store: acknowledge delivery of %s: %w", orderID, err)
	}
	return nil
}

// Unacknowledged implements Store. It reads only the _id of each match.
func (s *MongoStore) Unacknowledged(ctx context.Context) ([]string, error) {
	filter := bson.D{
		{Key: "status", Value: string(StatusSent)},
		{Key: "delivery_acked", Value: false},
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("notification store: find unacknowledged: %w", err)
	}
	var rows []struct {
		ID string `bson:"_id"`
	}
	if err = cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("notification store: find unacknowledged: %w", err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, nil
}
