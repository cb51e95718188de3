package notification

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
)

// collectionName is the collection of notifications in the service's database.
const collectionName = "notifications"

// notificationDoc is a notification as stored. _id is the order id, so the
// unique _id index deduplicates and every lookup and update by order uses it.
// Documents stored before the order service took over the delivery start may
// carry delivery_acked and delivery_acked_at; they are ignored.
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
	// LeaseOwner and LeaseUntil say who may send a Pending notification, and
	// until when. A released or finished lease has the Unix epoch, before
	// any now.
	LeaseOwner string    `bson:"lease_owner"`
	LeaseUntil time.Time `bson:"lease_until"`
}

func (d *notificationDoc) notification() Notification {
	n := Notification{
		OrderID:   d.ID,
		UserID:    d.UserID,
		From:      d.From,
		To:        d.To,
		Subject:   d.Subject,
		Content:   d.Content,
		Status:    Status(d.Status),
		CreatedAt: d.CreatedAt.UTC(),
	}
	if d.SentAt != nil {
		n.SentAt = d.SentAt.UTC()
	}
	return n
}

// decode turns a stored document into a Notification.
func decode(raw bson.Raw) (Notification, error) {
	var doc notificationDoc
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return Notification{}, err
	}
	return doc.notification(), nil
}

// MongoStore is the Store on MongoDB or the embedded document store. Every
// read and write goes through one docstore.Updater and is by _id (the order
// id): Insert is its InsertOne, Get its FindByID, and the conditional writes
// (lease claim and release, MarkSent) its UpdateByID, one guarded
// findAndModify each. On the embedded store the Updater remembers the
// documents it wrote or read, so a guard is checked and a Get answered without
// a read, and a new notification costs an insert and one update. That holds
// while the Updater sees every write of the collection: create one MongoStore
// per database per process and write notifications through it alone.
//
// The collection has no index but _id's: every command looks up by _id.
type MongoStore struct {
	coll    *mongo.Collection
	updater *docstore.Updater // every read and write
}

// legacyIndex is the secondary index of the delivery worker's start-up scan,
// which the service no longer makes; NewMongoStore drops it, since an index
// no query uses only makes every write dearer.
const legacyIndex = "status_delivery_acked"

// NewMongoStore returns the store of the notification database db, creating
// its collection if missing and dropping the index earlier versions created
// (legacyIndex). opts configure its docstore.Updater; production passes none.
func NewMongoStore(ctx context.Context, db *mongo.Database, opts ...docstore.UpdaterOption) (*MongoStore, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: collectionName}})
	if err != nil {
		return nil, fmt.Errorf("notification store: list collections: %w", err)
	}
	coll := db.Collection(collectionName)
	if len(names) == 0 {
		// Two processes may race here; the loser's "already exists" is fine.
		if err = db.CreateCollection(ctx, collectionName); err != nil && !isNamespaceExists(err) {
			return nil, fmt.Errorf("notification store: create collection: %w", err)
		}
	} else if err = dropLegacyIndex(ctx, coll); err != nil {
		return nil, err
	}
	updater, err := docstore.NewUpdater(ctx, db, opts...)
	if err != nil {
		return nil, fmt.Errorf("notification store: %w", err)
	}
	return &MongoStore{coll: coll, updater: updater}, nil
}

// dropLegacyIndex drops legacyIndex from coll if it is there.
func dropLegacyIndex(ctx context.Context, coll *mongo.Collection) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("notification store: list indexes: %w", err)
	}
	for _, spec := range specs {
		if spec.Name != legacyIndex {
			continue
		}
		// Another process may have dropped it meanwhile.
		if err = coll.Indexes().DropOne(ctx, legacyIndex); err != nil && !isIndexNotFound(err) {
			return fmt.Errorf("notification store: drop index %s: %w", legacyIndex, err)
		}
	}
	return nil
}

// isNamespaceExists reports MongoDB's NamespaceExists (48), returned when the
// collection was created meanwhile.
func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 48
}

// isIndexNotFound reports MongoDB's IndexNotFound (27), returned when the
// index was dropped meanwhile.
func isIndexNotFound(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 27
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
	if err := s.updater.InsertOne(ctx, s.coll, doc); err != nil {
		if docstore.IsDuplicateKey(err) {
			return ErrDuplicate
		}
		return fmt.Errorf("notification store: insert %s: %w", n.OrderID, err)
	}
	return nil
}

// Get implements Store.
func (s *MongoStore) Get(ctx context.Context, orderID string) (Notification, error) {
	raw, err := s.updater.FindByID(ctx, s.coll, orderID)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Notification{}, ErrNotFound
	}
	if err != nil {
		return Notification{}, fmt.Errorf("notification store: get %s: %w", orderID, err)
	}
	n, err := decode(raw)
	if err != nil {
		return Notification{}, fmt.Errorf("notification store: get %s: decode: %w", orderID, err)
	}
	return n, nil
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
// notification is marked Sent once, with the time of the first send. The
// answer is the update's, so marking a Pending notification reads nothing.
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
	n, err := decode(raw)
	if err != nil {
		return Notification{}, fmt.Errorf("notification store: mark %s sent: decode: %w", orderID, err)
	}
	return n, nil
}
