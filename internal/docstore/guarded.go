package docstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
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

	// inserters and updaters batch the inserts and the updates by _id of each collection, by database and
	// collection name; serial only.
	batchersMu sync.Mutex
	inserters  map[[2]string]*batcher[bson.Raw]
	updaters   map[[2]string]*batcher[updateByID]
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
// document's stripe, on the document as remembered or read, and the deleteOne filters on _id alone.
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

// guard is a compiled guard: conditions that must all hold.
type guard []condition

// condition is one operator applied to the value at a path.
type condition struct {
	field string   // the dotted path as written, for messages
	path  []string // field split at dots
	op    operator
	arg   bson.RawValue   // the operand of every operator but $in and $nin
	args  []bson.RawValue // the operands of $in and $nin
}

// operator is a query operator a guard may use.
type operator int

// The operators of guards.
const (
	opEq operator = iota
	opNe
	opIn
	opNin
	opExists
	opLt
	opLte
	opGt
	opGte
)

// parseOperator returns the operator named name ("$eq", ...).
func parseOperator(name string) (operator, bool) {
	switch name {
	case "$eq":
		return opEq, true
	case "$ne":
		return opNe, true
	case "$in":
		return opIn, true
	case "$nin":
		return opNin, true
	case "$exists":
		return opExists, true
	case "$lt":
		return opLt, true
	case "$lte":
		return opLte, true
	case "$gt":
		return opGt, true
	case "$gte":
		return opGte, true
	}
	return 0, false
}

// compileGuard checks g and turns it into conditions. It works on g's BSON encoding, so Go values of any
// type are seen as the server would see them (a time.Time is a datetime, a named string type a string).
func compileGuard(g bson.D) (guard, error) {
	if len(g) == 0 {
		return nil, nil
	}
	raw, err := bson.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("docstore: guard: %w", err)
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return nil, fmt.Errorf("docstore: guard: %w", err)
	}
	var out guard
	for _, e := range elems {
		field, v := e.Key(), e.Value()
		path, err := splitPath(field)
		if err != nil {
			return nil, err
		}
		if v.Type != bson.TypeEmbeddedDocument {
			if err = checkOperand(field, "equality", v); err != nil {
				return nil, err
			}
			out = append(out, condition{field: field, path: path, op: opEq, arg: v})
			continue
		}
		ops, err := v.Document().Elements()
		if err != nil {
			return nil, fmt.Errorf("docstore: guard on %s: %w", field, err)
		}
		if len(ops) == 0 || !strings.HasPrefix(ops[0].Key(), "$") {
			return nil, fmt.Errorf("docstore: guard on %s: equality with a document is not supported", field)
		}
		for _, o := range ops {
			c, err := compileOperator(field, path, o.Key(), o.Value())
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// splitPath checks a guarded field name and splits it at dots.
func splitPath(field string) ([]string, error) {
	if strings.HasPrefix(field, "$") {
		return nil, fmt.Errorf("docstore: guard: operator %s is not supported; use conditions on fields", field)
	}
	path := strings.Split(field, ".")
	if path[0] == "_id" {
		return nil, fmt.Errorf("docstore: guard on %s: the guard holds conditions on fields other than _id", field)
	}
	for _, p := range path {
		if p == "" || strings.HasPrefix(p, "$") {
			return nil, fmt.Errorf("docstore: guard: field path %q is not supported", field)
		}
	}
	return path, nil
}

// compileOperator compiles {field: {name: v}}.
func compileOperator(field string, path []string, name string, v bson.RawValue) (condition, error) {
	op, ok := parseOperator(name)
	if !ok {
		return condition{}, fmt.Errorf("docstore: guard on %s: operator %s is not supported", field, name)
	}
	c := condition{field: field, path: path, op: op, arg: v}
	switch op {
	case opExists:
		if v.Type != bson.TypeBoolean {
			return condition{}, fmt.Errorf("docstore: guard on %s: $exists takes true or false, not a %s", field, v.Type)
		}
	case opIn, opNin:
		if v.Type != bson.TypeArray {
			return condition{}, fmt.Errorf("docstore: guard on %s: %s takes an array, not a %s", field, name, v.Type)
		}
		args, err := v.Array().Values()
		if err != nil {
			return condition{}, fmt.Errorf("docstore: guard on %s: %w", field, err)
		}
		for _, a := range args {
			if err := checkOperand(field, name, a); err != nil {
				return condition{}, err
			}
		}
		c.arg, c.args = bson.RawValue{}, args
	default:
		if err := checkOperand(field, name, v); err != nil {
			return condition{}, err
		}
	}
	return c, nil
}

// checkOperand accepts the values guards may compare with.
func checkOperand(field, op string, v bson.RawValue) error {
	switch v.Type {
	case bson.TypeDouble:
		if math.IsNaN(v.Double()) {
			// FerretDB v1 cannot store NaN, and MongoDB's rules for it are their own.
			return fmt.Errorf("docstore: guard on %s: %s with NaN is not supported", field, op)
		}
		return nil
	case bson.TypeString, bson.TypeInt32, bson.TypeInt64, bson.TypeBoolean, bson.TypeNull, bson.TypeDateTime:
		return nil
	}
	return fmt.Errorf("docstore: guard on %s: %s with a %s is not supported", field, op, v.Type)
}

// projection is the projection that reads the top-level fields the guard looks at.
func (g guard) projection() bson.D {
	var p bson.D
	seen := make(map[string]bool, len(g))
	for _, c := range g {
		if !seen[c.path[0]] {
			seen[c.path[0]] = true
			p = append(p, bson.E{Key: c.path[0], Value: 1})
		}
	}
	return p
}

// matches reports whether doc satisfies every condition of g.
func (g guard) matches(doc bson.Raw) (bool, error) {
	for _, c := range g {
		v, found, err := lookup(doc, c.path)
		if err != nil {
			return false, fmt.Errorf("field %s: %w", c.field, err)
		}
		ok, err := c.eval(v, found)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// lookup returns the value at path in doc, following embedded documents; found is false when a field on
// the way is missing or is not a document (MongoDB's "missing"). An array on the way is an error: MongoDB
// would match its elements one by one, which guards do not support.
func lookup(doc bson.Raw, path []string) (bson.RawValue, bool, error) {
	cur := doc
	for i, key := range path {
		v, found, err := fieldValue(cur, key)
		if err != nil || !found || i == len(path)-1 {
			return v, found, err
		}
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			cur = v.Document()
		case bson.TypeArray:
			return bson.RawValue{}, false, errors.New("guards through arrays are not supported")
		default:
			return bson.RawValue{}, false, nil
		}
	}
	return bson.RawValue{}, false, nil // not reached: a path has at least one key
}

// fieldValue returns the value of the top-level field key of doc.
func fieldValue(doc bson.Raw, key string) (bson.RawValue, bool, error) {
	elems, err := doc.Elements()
	if err != nil {
		return bson.RawValue{}, false, err
	}
	for _, e := range elems {
		if e.Key() == key {
			return e.Value(), true, nil
		}
	}
	return bson.RawValue{}, false, nil
}

// eval applies c to the value v found (or not) at its path.
func (c condition) eval(v bson.RawValue, found bool) (bool, error) {
	if c.op == opExists {
		return found == c.arg.Boolean(), nil
	}
	if found && v.Type == bson.TypeArray {
		return c.evalArray(v)
	}
	if found {
		switch v.Type {
		case bson.TypeDecimal128, bson.TypeUndefined:
			// MongoDB matches decimals by value and undefined as null: not supported.
			return false, fmt.Errorf("a stored %s is not supported by guards", v.Type)
		case bson.TypeDouble:
			if math.IsNaN(v.Double()) {
				return false, errors.New("a stored NaN is not supported by guards")
			}
		}
	}
	switch c.op {
	case opEq:
		return equal(v, found, c.arg), nil
	case opNe:
		return !equal(v, found, c.arg), nil
	case opIn, opNin:
		in := false
		for _, a := range c.args {
			if equal(v, found, a) {
				in = true
				break
			}
		}
		return in == (c.op == opIn), nil
	default:
		return ordered(c.op, v, found, c.arg), nil
	}
}

// evalArray applies an equality condition to a stored array the way MongoDB does for a value that is not
// an array itself: $eq and $in match when some element is equal, $ne and $nin when none is ("does not
// contain"). An element that is an array or an embedded document equals no guard value. Ordered
// comparisons of arrays are not supported.
func (c condition) evalArray(arr bson.RawValue) (bool, error) {
	positive := condition{field: c.field, path: c.path, op: c.op, arg: c.arg, args: c.args}
	switch c.op {
	case opEq, opIn:
	case opNe:
		positive.op = opEq
	case opNin:
		positive.op = opIn
	default:
		return false, errors.New("ordered comparisons of a stored array are not supported by guards")
	}
	elems, err := arr.Array().Values()
	if err != nil {
		return false, err
	}
	some := false
	for _, e := range elems {
		if e.Type == bson.TypeArray || e.Type == bson.TypeEmbeddedDocument {
			continue
		}
		ok, err := positive.eval(e, true)
		if err != nil {
			return false, err
		}
		if ok {
			some = true
			break
		}
	}
	return some == (c.op == opEq || c.op == opIn), nil
}

// equal is MongoDB's equality match of the value v found (or not) with the operand arg.
func equal(v bson.RawValue, found bool, arg bson.RawValue) bool {
	if arg.Type == bson.TypeNull {
		return !found || v.Type == bson.TypeNull
	}
	if !found {
		return false
	}
	cmp, ok := compare(v, arg)
	return ok && cmp == 0
}

// ordered is MongoDB's match of $lt, $lte, $gt and $gte: values of different kinds never match, except
// that $lte and $gte with null match null and missing fields like an equality.
func ordered(op operator, v bson.RawValue, found bool, arg bson.RawValue) bool {
	if arg.Type == bson.TypeNull {
		return (op == opLte || op == opGte) && (!found || v.Type == bson.TypeNull)
	}
	if !found {
		return false
	}
	cmp, ok := compare(v, arg)
	if !ok {
		return false
	}
	switch op {
	case opLt:
		return cmp < 0
	case opLte:
		return cmp <= 0
	case opGt:
		return cmp > 0
	default:
		return cmp >= 0
	}
}

// kind is a class of BSON types whose values compare with each other.
type kind int

// The kinds guards compare; every other type is kindOther and compares with nothing.
const (
	kindOther kind = iota
	kindNull
	kindNumber
	kindString
	kindBool
	kindDate
)

// kindOf returns the kind of v.
func kindOf(v bson.RawValue) kind {
	switch v.Type {
	case bson.TypeNull:
		return kindNull
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
		return kindNumber
	case bson.TypeString:
		return kindString
	case bson.TypeBoolean:
		return kindBool
	case bson.TypeDateTime:
		return kindDate
	}
	return kindOther
}

// compare orders a and b when they are of the same kind (ok), as MongoDB does: numbers by value whatever
// their types, strings byte by byte, false before true, datetimes in time.
func compare(a, b bson.RawValue) (cmp int, ok bool) {
	k := kindOf(a)
	if k == kindOther || k != kindOf(b) {
		return 0, false
	}
	switch k {
	case kindNull:
		return 0, true
	case kindNumber:
		return compareNumbers(a, b), true
	case kindString:
		return strings.Compare(a.StringValue(), b.StringValue()), true
	case kindBool:
		return compareInts(boolInt(a.Boolean()), boolInt(b.Boolean())), true
	default:
		return compareInts(a.DateTime(), b.DateTime()), true
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func compareInts(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareNumbers compares two numbers (neither is NaN: see checkOperand and eval) exactly, including an
// int64 beyond 2^53 with a double.
func compareNumbers(a, b bson.RawValue) int {
	ai, aInt := integer(a)
	bi, bInt := integer(b)
	switch {
	case aInt && bInt:
		return compareInts(ai, bi)
	case aInt:
		return compareIntFloat(ai, b.Double())
	case bInt:
		return -compareIntFloat(bi, a.Double())
	}
	af, bf := a.Double(), b.Double()
	switch {
	case af < bf:
		return -1
	case af > bf:
		return 1
	}
	return 0
}

// integer returns the value of an int32 or int64.
func integer(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	}
	return 0, false
}

// compareIntFloat compares i with f (not NaN) without rounding i to a double.
func compareIntFloat(i int64, f float64) int {
	const two63 = 1 << 63 // as a float64, exactly 2^63
	switch {
	case f >= two63:
		return -1
	case f < -two63:
		return 1
	}
	t := math.Trunc(f) // in [-2^63, 2^63): converts exactly
	if c := compareInts(i, int64(t)); c != 0 {
		return c
	}
	switch {
	case f > t:
		return -1
	case f < t:
		return 1
	}
	return 0
}
