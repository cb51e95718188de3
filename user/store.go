package user

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/token"
)

// Collection names of the user database.
const (
	usersCollection    = "users"
	emailsCollection   = "emails"
	sessionsCollection = "sessions"
	cartsCollection    = "carts"
)

// compensationTimeout bounds the clean-up of a registration that lost the race
// for its e-mail; it runs even if the caller has gone away.
const compensationTimeout = 5 * time.Second

// MongoStore is the Store on MongoDB (or the embedded FerretDB).
//
// Key design. Four collections, every read and write an _id lookup:
//
//	users     {_id: userId, email, name, age, profile, role, passwordHash, createdAt}
//	emails    {_id: normalized e-mail, userId, createdAt}
//	sessions  {_id: session id, userId, createdAt, expiresAt}
//	carts     {_id: userId, items: {<productId>: quantity}, order: [productId], count, updatedAt}
//
// The hot path is GetUserInfo by user id, which the order service calls on
// every order, and token refresh: both are one _id lookup in users. Login by
// e-mail is rare and costs two _id lookups (emails, then users). On the
// embedded store only _id lookups use an index (see internal/docstore), so no
// query here ever scans; keying users by e-mail instead would have put a scan
// or a second lookup on every order.
//
// E-mail uniqueness is the _id of emails: inserting the claim is atomic on
// MongoDB and on the embedded store alike, with no secondary unique index and
// no multi-document transaction. Create writes the user first and the claim
// second, so an account exists exactly when its claim does:
//   - the claim insert hits a duplicate key of another user: Create deletes its
//     user document and reports ErrEmailTaken;
//   - the process dies between the two inserts: an orphan user document is
//     left whose id was never handed out and that no e-mail leads to; it
//     blocks nothing (users.email has no unique index on purpose);
//   - a driver retry replays the claim insert: the duplicate is our own claim,
//     and Create succeeds.
//
// A claim never points at a missing user, since user documents are never
// deleted once their claim is in.
//
// A session is inserted at login, its expiresAt set at each refresh (the
// expiry of the newest refresh token), read by every call the user service
// authenticates, and deleted at logout. Sessions go through a
// docstore.Updater, which on the embedded store remembers the documents it
// wrote or read, so that the session check of a call costs no command there;
// that holds while every write of sessions goes through this store, one per
// database per process. An expired session is left in place: no query ever
// scans sessions, and its tokens have all expired. (A TTL index on expiresAt
// would delete them on MongoDB; FerretDB v1 does not implement TTL indexes,
// so no test could run it.)
//
// A cart is one document per user, changed only by single-document guarded
// updates through the Updater (atomic on MongoDB and on the embedded store,
// see docstore.Updater), never by a read-modify-write of the whole cart, so
// that of two concurrent changes (two tabs) neither is lost. items maps each
// product to its quantity, order lists the products in the order they were
// added, count is how many there are (what the limit's guard compares):
//   - setting the quantity of a product in the cart: $set items.<id>,
//     guarded by items.<id> existing;
//   - adding a product: $set items.<id>, $push order, $inc count, guarded by
//     items.<id> missing and count below the limit;
//   - removing one: $unset items.<id>, $pull order, $inc count -1, guarded by
//     items.<id> existing;
//   - the first product of a cart inserts the document;
//   - emptying the cart deletes it.
//
// When no guard holds (no cart, a full cart, or another change came in
// between), the cart is read to tell which, and the change tried again, at
// most cartRounds times.
// Product ids are plain field names: the service admits only ASCII letters,
// digits, '-' and '_' (MaxProductIDLen).
type MongoStore struct {
	users    *mongo.Collection
	emails   *mongo.Collection
	sessions *mongo.Collection
	carts    *mongo.Collection
	updater  *docstore.Updater // every read and write of sessions and carts
}

// userDoc is a users document.
type userDoc struct {
	ID           string    `bson:"_id"`
	Email        string    `bson:"email"`
	Name         string    `bson:"name"`
	Age          int32     `bson:"age"`
	Profile      string    `bson:"profile"`
	Role         string    `bson:"role"`
	PasswordHash string    `bson:"passwordHash"`
	CreatedAt    time.Time `bson:"createdAt"`
}

// emailDoc is an emails document, the claim of an e-mail by a user.
type emailDoc struct {
	Email     string    `bson:"_id"`
	UserID    string    `bson:"userId"`
	CreatedAt time.Time `bson:"createdAt"`
}

// sessionDoc is a sessions document.
type sessionDoc struct {
	ID        string    `bson:"_id"`
	UserID    string    `bson:"userId"`
	CreatedAt time.Time `bson:"createdAt"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

// storedTime returns t as a BSON datetime keeps it: UTC, to the millisecond.
func storedTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// NewMongoStore returns the store on db, creating its collections if missing.
// No other index is needed: every access is by _id. opts configure its
// docstore.Updater; production passes none.
func NewMongoStore(ctx context.Context, db *mongo.Database, opts ...docstore.UpdaterOption) (*MongoStore, error) {
	existing, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("user: store: list collections: %w", err)
	}
	have := make(map[string]bool, len(existing))
	for _, n := range existing {
		have[n] = true
	}
	for _, name := range []string{usersCollection, emailsCollection, sessionsCollection, cartsCollection} {
		if have[name] {
			continue
		}
		err = db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.HasErrorCode(namespaceExists) {
			err = nil // created meanwhile by another replica
		}
		if err != nil {
			return nil, fmt.Errorf("user: store: create collection %s: %w", name, err)
		}
	}
	updater, err := docstore.NewUpdater(ctx, db, opts...)
	if err != nil {
		return nil, fmt.Errorf("user: store: %w", err)
	}
	return &MongoStore{
		users:    db.Collection(usersCollection),
		emails:   db.Collection(emailsCollection),
		sessions: db.Collection(sessionsCollection),
		carts:    db.Collection(cartsCollection),
		updater:  updater,
	}, nil
}

// namespaceExists is the server error code of creating a collection that exists.
const namespaceExists = 48

// Create implements Store.
func (s *MongoStore) Create(ctx context.Context, a Account) error {
	u := userDoc{
		ID:           a.ID,
		Email:        a.Email,
		Name:         a.Name,
		Age:          a.Age,
		Profile:      a.Profile,
		Role:         string(a.Role),
		PasswordHash: string(a.PasswordHash),
		CreatedAt:    a.CreatedAt,
	}
	// The id is a fresh random UUID: a duplicate key can only be our own
	// insert replayed by a driver retry.
	if _, err := s.users.InsertOne(ctx, u); err != nil && !docstore.IsDuplicateKey(err) {
		return fmt.Errorf("user: store: insert user: %w", err)
	}
	_, err := s.emails.InsertOne(ctx, emailDoc{Email: a.Email, UserID: a.ID, CreatedAt: a.CreatedAt})
	if err == nil {
		return nil
	}
	if !docstore.IsDuplicateKey(err) {
		// The claim may or may not be in: leave the user document, which is
		// harmless without a claim and needed with one.
		return fmt.Errorf("user: store: claim e-mail: %w", err)
	}
	var claim emailDoc
	if err = s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: a.Email}}).Decode(&claim); err != nil {
		return fmt.Errorf("user: store: read e-mail claim: %w", err)
	}
	if claim.UserID == a.ID {
		return nil // our own claim, written by a retried insert
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
	defer cancel()
	if _, err = s.users.DeleteOne(cctx, bson.D{{Key: "_id", Value: a.ID}}); err != nil {
		return errors.Join(ErrEmailTaken, fmt.Errorf("user: store: delete user that lost its e-mail: %w", err))
	}
	return ErrEmailTaken
}

// ByID implements Store.
func (s *MongoStore) ByID(ctx context.Context, id string) (Account, error) {
	var d userDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("user: store: find user: %w", err)
	}
	return Account{
		User: User{
			ID:      d.ID,
			Email:   d.Email,
			Name:    d.Name,
			Age:     d.Age,
			Profile: d.Profile,
			Role:    token.Role(d.Role),
		},
		PasswordHash: []byte(d.PasswordHash),
		CreatedAt:    d.CreatedAt,
	}, nil
}

// ByEmail implements Store.
func (s *MongoStore) ByEmail(ctx context.Context, email string) (Account, error) {
	var claim emailDoc
	err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&claim)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("user: store: find e-mail: %w", err)
	}
	return s.ByID(ctx, claim.UserID)
}

// SetRole implements Store.
func (s *MongoStore) SetRole(ctx context.Context, id string, role token.Role) error {
	res, err := s.users.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "role", Value: string(role)}}}})
	if err != nil {
		return fmt.Errorf("user: store: set role: %w", err)
	}
	if res.MatchedCount == 0 {
		return ErrNotFound
	}
	return nil
}

// CreateSession implements Store.
func (s *MongoStore) CreateSession(ctx context.Context, sess Session) error {
	err := s.updater.InsertOne(ctx, s.sessions, sessionDoc{
		ID:        sess.ID,
		UserID:    sess.UserID,
		CreatedAt: sess.CreatedAt,
		ExpiresAt: sess.ExpiresAt,
	})
	if err != nil {
		return fmt.Errorf("user: store: insert session: %w", err)
	}
	return nil
}

// Session implements Store.
func (s *MongoStore) Session(ctx context.Context, id string) (Session, error) {
	raw, err := s.updater.FindByID(ctx, s.sessions, id)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Session{}, ErrSessionEnded
	}
	if err != nil {
		return Session{}, fmt.Errorf("user: store: find session: %w", err)
	}
	var d sessionDoc
	if err = bson.Unmarshal(raw, &d); err != nil {
		return Session{}, fmt.Errorf("user: store: decode session: %w", err)
	}
	return Session{ID: d.ID, UserID: d.UserID, CreatedAt: d.CreatedAt.UTC(), ExpiresAt: d.ExpiresAt.UTC()}, nil
}

// ExtendSession implements Store.
func (s *MongoStore) ExtendSession(ctx context.Context, id string, expiresAt time.Time) error {
	_, err := s.updater.UpdateByID(ctx, s.sessions, id, nil,
		bson.D{{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: expiresAt}}}})
	if errors.Is(err, docstore.ErrNoMatch) {
		return ErrSessionEnded
	}
	if err != nil {
		return fmt.Errorf("user: store: extend session: %w", err)
	}
	return nil
}

// DeleteSession implements Store.
func (s *MongoStore) DeleteSession(ctx context.Context, id string) error {
	err := s.updater.DeleteByID(ctx, s.sessions, id, nil)
	if err != nil && !errors.Is(err, docstore.ErrNoMatch) {
		return fmt.Errorf("user: store: delete session: %w", err)
	}
	return nil
}
