package docstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ErrNoMatch is returned by [Updater.UpdateByID] when there is no document with the _id, or when the guard
// does not match it. It wraps [mongo.ErrNoDocuments].
var ErrNoMatch = fmt.Errorf("docstore: no document with this _id matches the guard: %w", mongo.ErrNoDocuments)

// Updater applies guarded single-document updates by _id, atomically on MongoDB and on the embedded store,
// with a cost that does not grow with the collection.
//
// Why it exists: FerretDB v1 with SQLite looks a document up through the _id index only when the whole
// filter is {_id: <string or ObjectID>} (internal/backends/sqlite/collection.go); a filter with any other
// key, such as the guard of {_id: id, status: "Pending"}, reads every document of the collection and
// filters in Go. MongoDB needs the guard in the
// filter for the update to be atomic. The Updater asks the server once which one it is and then:
//
//   - on MongoDB, sends one findAndModify with the filter {_id: id, <guard...>};
//   - on FerretDB, holds an in-process lock keyed by database, collection and id, reads {_id: id},
//     evaluates the guard in Go on that document and, if it matches, sends findAndModify with the
//     filter {_id: id}. Every command filters on _id alone, so each one is an indexed lookup.
//
// On FerretDB, when the Updater remembers the document (below) and can tell what the update makes of it
// (applyUpdate: $set, $unset, $inc, $push, $pull and $pullAll of top-level fields), it sends the update
// as a statement of an update command instead, together with the other updates by _id of the collection
// waiting for the connection meanwhile (batcher): an update command answers with counts only, and costs
// less per document than a findAndModify each, the more so the more it carries.
//
// The FerretDB path is atomic under the embedded store's rule (see the package documentation): the
// service is the only writer of its database and its client sends one command at a time, so no other
// command changes the document in the middle of a command, and the lock keeps other guarded updates
// of the same document out from between the read and the write.
//
// The contract that makes it hold: every write that changes a field some guard reads goes through
// UpdateByID (with a nil guard if it has no condition of its own), through one Updater per database in
// the process; create it once, with the store, and share it. A plain write of a guarded field could land
// between a guarded update's read and its write and make its check stale. A guarded update of a document
// deleted meanwhile finds nothing to update and returns ErrNoMatch. Several processes writing one
// FerretDB database are not supported (FerretDB v1 does not apply even a single update atomically, issue
// #3040). The documents the Updater remembers (below) make the contract stricter still.
//
// The guard language is a subset of MongoDB's query language, evaluated in Go with MongoDB's semantics
// on the FerretDB path and checked on both paths, so that a guard that works in tests works in
// production: see [Updater.UpdateByID]. Ids must be strings or ObjectIDs, the only _id types FerretDB
// looks up by index.
//
// On the embedded store the Updater also remembers the documents it last wrote or read (a bounded LRU of
// [DocumentCacheSize] documents, github.com/hashicorp/golang-lru/v2: well kept, generic, safe for
// concurrent use): [Updater.InsertOne], [Updater.FindByID] and UpdateByID keep the document as the store
// has it, so the guard of a later UpdateByID and a later FindByID need no read: an order's life on the
// embedded store then costs its writes alone. The price is a stricter contract on that path: every write to a document of a collection
// read with FindByID or updated with UpdateByID goes through this Updater (InsertOne, UpdateByID with a
// nil guard for an unconditional change); a plain write elsewhere would leave a remembered copy stale.
// A write whose outcome is unknown (an error, a timeout) forgets the document. On MongoDB nothing is
// remembered: other replicas write the same documents.
//
// An Updater is safe for concurrent use.
type Updater struct {
	// serial says the server is FerretDB: guards are evaluated here, under stripes.
	serial bool

	seed    maphash.Seed
	stripes [lockStripes]chan struct{} // a buffered channel of one is a lock that a context can give up on

	// docs are the documents as last written or read, by database, collection and _id; nil unless serial.
	// An entry changes only under its document's stripe.
	docs *lru.Cache[docKey, bson.Raw]

	// inserters, updaters and deleters batch the inserts, the updates and the deletes by _id of each
	// collection, by database and collection name; serial only.
	batchersMu sync.Mutex
	inserters  map[[2]string]*batcher[bson.Raw]
	updaters   map[[2]string]*batcher[updateByID]
	deleters   map[[2]string]*batcher[any]
}

// DocumentCacheSize is the most documents an Updater remembers on the embedded store, the least recently used
// forgotten first: enough for the documents of the orders of the last few seconds at full load, whose normal
// path needs them for well under a second; an older one is read again when needed. docs/docstore.md gives
// the measurements behind the size.
const DocumentCacheSize = 1024

// docKey names a document: database, collection, and the _id's BSON type and bytes.
type docKey struct {
	db, coll string
	idType   bson.Type
	id       string
}

// lockStripes is the number of locks the documents of an Updater share, by hash of their key. Commands
// go out one at a time anyway on the embedded store; the stripes only keep unrelated documents from
// waiting for each other's read-check-write.
const lockStripes = 256

// serialWriteTimeout bounds the write of a read-check-write on FerretDB when the caller's context has no
// deadline of its own (see detach).
const serialWriteTimeout = 30 * time.Second

// newUpdater returns an Updater that evaluates guards itself when serial is true, and sends them to the
// server otherwise.
func newUpdater(serial bool) *Updater {
	u := &Updater{serial: serial, seed: maphash.MakeSeed()}
	for i := range u.stripes {
		u.stripes[i] = make(chan struct{}, 1)
	}
	if serial {
		// lru.New fails only for a size below one.
		u.docs, _ = lru.New[docKey, bson.Raw](DocumentCacheSize)
	}
	return u
}

// UpdateByID applies update to the document _id=id of coll if it matches guard, and returns the document
// after the update. It returns ErrNoMatch when there is no such document or the guard does not match.
// update is an update document ($set, $inc, $unset, $push...), as for [mongo.Collection.FindOneAndUpdate];
// it never inserts.
//
// guard holds conditions on the document's other fields, all of which must hold (nil: none). A condition
// is {path: value} (equality) or {path: {op: value, ...}}, where path is a field name or a dotted path
// through embedded documents, op is one of $eq, $ne, $in, $nin, $exists, $lt, $lte, $gt, $gte, and values
// are strings, numbers (int32, int64 and double, compared by value), booleans, null and datetimes
// ($in and $nin take an array of those, $exists a boolean). The semantics are MongoDB's: a missing field
// equals null, $ne and $nin match a missing field, $lte and $gte with null match null and missing fields,
// ordering compares values of the same kind only. Anything else (other operators, $or, conditions on _id,
// document or regex values, NaN) is an error on both paths. A stored array is matched as MongoDB does by
// $eq, $ne, $in and $nin ($eq: some element is equal; $ne: none is); on the FerretDB path, an ordered
// comparison of an array, a path through an array, a decimal or a NaN in the stored document is an error
// (FerretDB stores neither decimals nor NaN).
func (u *Updater) UpdateByID(ctx context.Context, coll *mongo.Collection, id any, guard bson.D, update any) (bson.Raw, error) {
	g, err := compileGuard(guard)
	if err != nil {
		return nil, err
	}
	key, err := keyOf(coll, id)
	if err != nil {
		return nil, fmt.Errorf("docstore: update by _id in %s: %w", coll.Name(), err)
	}
	after := options.FindOneAndUpdate().SetReturnDocument(options.After)
	byID := bson.D{{Key: "_id", Value: id}}

	if !u.serial {
		filter := append(byID, guard...)
		doc, err := coll.FindOneAndUpdate(ctx, filter, update, after).Raw()
		return result(coll, id, doc, err)
	}

	unlock, err := u.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("docstore: update %v in %s: %w", id, coll.Name(), err)
	}
	defer unlock()
	cur, known := u.docs.Get(key)
	if len(g) > 0 {
		if !known {
			if cur, err = u.find(ctx, coll, key, id); errors.Is(err, mongo.ErrNoDocuments) {
				return nil, ErrNoMatch
			} else if err != nil {
				return nil, fmt.Errorf("docstore: read %v in %s: %w", id, coll.Name(), err)
			}
			known = true
		}
		ok, err := g.matches(cur)
		if err != nil {
			return nil, fmt.Errorf("docstore: guard on %v in %s: %w", id, coll.Name(), err)
		}
		if !ok {
			return nil, ErrNoMatch
		}
	}
	if known {
		if doc, ok, err := u.batchUpdate(ctx, coll, key, id, cur, update); ok {
			return doc, err
		}
	}
	wctx, cancel := detach(ctx)
	defer cancel()
	doc, err := coll.FindOneAndUpdate(wctx, byID, update, after).Raw()
	if err != nil {
		u.docs.Remove(key) // gone, or the outcome is unknown
	} else {
		u.docs.Add(key, slices.Clone(doc)) // the driver's buffer is not ours to keep
	}
	return result(coll, id, doc, err)
}

// batchUpdate applies update to cur, the document _id=id of coll as remembered, through the update
// batcher of coll, when applyUpdate can tell the document after it; it reports false when it cannot, and
// the caller sends a findAndModify. The caller holds the document's stripe.
func (u *Updater) batchUpdate(ctx context.Context, coll *mongo.Collection, key docKey, id any, cur bson.Raw,
	update any,
) (bson.Raw, bool, error) {
	raw, ok := update.(bson.Raw)
	if !ok {
		b, err := bson.Marshal(update)
		if err != nil {
			return nil, false, nil // the driver reports it
		}
		raw = b
	}
	next, ok := applyUpdate(cur, raw)
	if !ok {
		return nil, false, nil
	}
	err := batcherOf(u, &u.updaters, coll, newUpdateBatcher).do(ctx, updateByID{id: id, update: raw})
	switch {
	case err == nil:
		u.docs.Add(key, next)
		return slices.Clone(next), true, nil // the caller's to keep, as findAndModify's answer is
	case errors.Is(err, errOutcomeUnknown):
		// Some update of the batch matched nothing: read this one's document to know.
		u.docs.Remove(key)
		rctx, cancel := detach(ctx)
		defer cancel()
		doc, err := u.find(rctx, coll, key, id)
		doc, err = result(coll, id, doc, err)
		return doc, true, err
	default:
		u.docs.Remove(key) // the outcome is unknown
		doc, err := result(coll, id, nil, err)
		return doc, true, err
	}
}

// DeleteByID deletes the document _id=id of coll if it matches guard (the conditions of [Updater.UpdateByID];
// nil: none). It returns ErrNoMatch when there is no such document or the guard does not match. On MongoDB
// it is one deleteOne on {_id: id, <guard...>}; on the embedded store the guard is checked here, under the
// document's stripe, on the document as remembered or read, and the delete filters on _id alone: the
// deletes of documents known to exist (remembered, or read for the guard) that wait for the connection go
// together, as one command per batch (see batcher).
func (u *Updater) DeleteByID(ctx context.Context, coll *mongo.Collection, id any, guard bson.D) error {
	g, err := compileGuard(guard)
	if err != nil {
		return err
	}
	key, err := keyOf(coll, id)
	if err != nil {
		return fmt.Errorf("docstore: delete by _id in %s: %w", coll.Name(), err)
	}
	byID := bson.D{{Key: "_id", Value: id}}
	if !u.serial {
		res, err := coll.DeleteOne(ctx, append(byID, guard...))
		if err != nil {
			return fmt.Errorf("docstore: delete %v in %s: %w", id, coll.Name(), err)
		}
		if res.DeletedCount == 0 {
			return ErrNoMatch
		}
		return nil
	}
	unlock, err := u.lock(ctx, key)
	if err != nil {
		return fmt.Errorf("docstore: delete %v in %s: %w", id, coll.Name(), err)
	}
	defer unlock()
	_, known := u.docs.Get(key)
	if len(g) > 0 {
		cur, err := u.find(ctx, coll, key, id)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return ErrNoMatch
		} else if err != nil {
			return fmt.Errorf("docstore: read %v in %s: %w", id, coll.Name(), err)
		}
		ok, err := g.matches(cur)
		if err != nil {
			return fmt.Errorf("docstore: guard on %v in %s: %w", id, coll.Name(), err)
		}
		if !ok {
			return ErrNoMatch
		}
		known = true
	}
	if known {
		err := batcherOf(u, &u.deleters, coll, newDeleter).do(ctx, id)
		u.docs.Remove(key) // gone, or the outcome is unknown
		if err != nil {
			return fmt.Errorf("docstore: delete %v in %s: %w", id, coll.Name(), err)
		}
		return nil
	}
	wctx, cancel := detach(ctx)
	defer cancel()
	res, err := coll.DeleteOne(wctx, byID)
	u.docs.Remove(key) // gone, or the outcome is unknown
	if err != nil {
		return fmt.Errorf("docstore: delete %v in %s: %w", id, coll.Name(), err)
	}
	if res.DeletedCount == 0 {
		return ErrNoMatch
	}
	return nil
}

// InsertOne inserts doc, which must have an _id (a string or an ObjectID), into coll. On the embedded store
// it remembers the document as inserted, so that FindByID and the guard of UpdateByID need no read (see
// [Updater]), and inserts that wait for the store's one connection go together, as one command per batch
// (see batcher). Errors are the driver's, wrapped: [IsDuplicateKey] recognizes an existing _id.
func (u *Updater) InsertOne(ctx context.Context, coll *mongo.Collection, doc any) error {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("docstore: insert into %s: %w", coll.Name(), err)
	}
	idv, err := bson.Raw(raw).LookupErr("_id")
	if err != nil {
		return fmt.Errorf("docstore: insert into %s: the document has no _id", coll.Name())
	}
	key, err := keyOfRaw(coll, idv)
	if err != nil {
		return fmt.Errorf("docstore: insert into %s: %w", coll.Name(), err)
	}
	if !u.serial {
		_, err = coll.InsertOne(ctx, bson.Raw(raw))
		return err
	}
	unlock, err := u.lock(ctx, key)
	if err != nil {
		return fmt.Errorf("docstore: insert into %s: %w", coll.Name(), err)
	}
	defer unlock()
	if err = batcherOf(u, &u.inserters, coll, newInserter).do(ctx, raw); err != nil {
		if !IsDuplicateKey(err) {
			u.docs.Remove(key) // the outcome is unknown
		}
		return err
	}
	u.docs.Add(key, raw)
	return nil
}

// batcherOf returns the batcher of coll in m, made by newBatcher the first time.
func batcherOf[T any](u *Updater, m *map[[2]string]*batcher[T], coll *mongo.Collection,
	newBatcher func(*mongo.Collection) *batcher[T],
) *batcher[T] {
	name := [2]string{coll.Database().Name(), coll.Name()}
	u.batchersMu.Lock()
	defer u.batchersMu.Unlock()
	b, ok := (*m)[name]
	if !ok {
		if *m == nil {
			*m = make(map[[2]string]*batcher[T])
		}
		b = newBatcher(coll)
		(*m)[name] = b
	}
	return b
}

// FindByID returns the document _id=id of coll: on the embedded store from memory when this Updater wrote
// or read it last (see [Updater]), otherwise from the store. It returns an error wrapping
// [mongo.ErrNoDocuments] when there is no such document. The returned bytes are shared: do not modify them.
func (u *Updater) FindByID(ctx context.Context, coll *mongo.Collection, id any) (bson.Raw, error) {
	key, err := keyOf(coll, id)
	if err != nil {
		return nil, fmt.Errorf("docstore: find by _id in %s: %w", coll.Name(), err)
	}
	if !u.serial {
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	}
	if doc, ok := u.docs.Get(key); ok {
		return doc, nil
	}
	unlock, err := u.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("docstore: find %v in %s: %w", id, coll.Name(), err)
	}
	defer unlock()
	return u.find(ctx, coll, key, id)
}

// find returns the document from memory, or reads and remembers it; the caller holds the document's stripe.
func (u *Updater) find(ctx context.Context, coll *mongo.Collection, key docKey, id any) (bson.Raw, error) {
	if doc, ok := u.docs.Get(key); ok {
		return doc, nil
	}
	doc, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		return nil, err
	}
	doc = slices.Clone(doc) // the driver's buffer is not ours to keep
	u.docs.Add(key, doc)
	return doc, nil
}

// keyOf names the document _id=id of coll; id must be a string or an ObjectID.
func keyOf(coll *mongo.Collection, id any) (docKey, error) {
	t, b, err := bson.MarshalValue(id)
	if err != nil {
		return docKey{}, err
	}
	return keyOfRaw(coll, bson.RawValue{Type: t, Value: b})
}

// keyOfRaw names the document of coll whose _id is v.
func keyOfRaw(coll *mongo.Collection, v bson.RawValue) (docKey, error) {
	if v.Type != bson.TypeString && v.Type != bson.TypeObjectID {
		return docKey{}, fmt.Errorf("_id is a %s; want a string or an ObjectID", v.Type)
	}
	return docKey{db: coll.Database().Name(), coll: coll.Name(), idType: v.Type, id: string(v.Value)}, nil
}

// result turns the answer of findAndModify into UpdateByID's.
func result(coll *mongo.Collection, id any, doc bson.Raw, err error) (bson.Raw, error) {
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil, ErrNoMatch
	case err != nil:
		return nil, fmt.Errorf("docstore: update %v in %s: %w", id, coll.Name(), err)
	}
	return doc, nil
}

// lock takes the stripe of the document within ctx, and returns the function that releases it.
func (u *Updater) lock(ctx context.Context, key docKey) (func(), error) {
	var h maphash.Hash
	h.SetSeed(u.seed)
	h.WriteString(key.db)
	h.WriteByte(0)
	h.WriteString(key.coll)
	h.WriteByte(0)
	h.WriteByte(byte(key.idType))
	h.WriteString(key.id)
	s := u.stripes[h.Sum64()%lockStripes]
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// detach returns a context for the write of a read-check-write: ctx's values and deadline, but not its
// cancellation. A canceled command makes the driver close its connection while the server may still
// apply it; the lock would then be released with the write still running, and the next guarded update
// of the document could read the state from before it. When a deadline expires instead, the driver keeps
// the connection and reads the late answer before sending anything else on it, and the embedded store's
// client has only one connection.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(serialWriteTimeout)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}
