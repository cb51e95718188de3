package docstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// ListBucketSize is the number of ids in each sealed bucket of an [IDList], and the most its head keeps
// before it seals the oldest of them.
const ListBucketSize = 64

// An IDList keeps lists of ids that only grow, one per key (a customer's orders, the products of the
// catalogue), in documents of one collection found by _id alone. Appending costs one update of the list's
// head (its sealing, once every ListBucketSize appends, two commands more); reading a page of the list
// costs the head and at most one bucket per ListBucketSize ids of the page. Neither depends on the list's
// length nor on what else the database holds, on MongoDB as on the embedded store (rule 2 of the package
// documentation): it is how a service lists documents in an order of its own without a query.
//
// Positions count from 0, the first id appended, and never change. The list's head, _id "h:<key>", holds
// the newest ids, from position sealed*ListBucketSize on; sealed bucket j, _id "b:<j>:<key>", holds the ids
// of positions j*ListBucketSize up to (j+1)*ListBucketSize-1 and is never written again. An id appended
// while the head holds it is not appended again, so a repeated append is harmless while the id is among
// the list's newest ListBucketSize; the list does not otherwise tell whether it holds an id.
//
// Every write goes through the Updater of the collection's database, so the contract of [Updater] holds.
//
// Within a process, the appends to one list run one at a time, and those that arrive while one is under
// way go together in the next (a group commit): a list appended to by every request (the catalogue, the
// orders of a status) costs one update per round, not per append, and its seal is not raced.
type IDList struct {
	u    *Updater
	coll *mongo.Collection

	mu     sync.Mutex
	queues map[string]*appendQueue // the lists with an append under way
}

// NewIDList returns the lists kept in coll, written through u, the Updater of coll's database.
func NewIDList(u *Updater, coll *mongo.Collection) *IDList {
	return &IDList{u: u, coll: coll, queues: make(map[string]*appendQueue)}
}

// appendQueue is the append to one list that waits for the one under way.
type appendQueue struct{ next *appendBatch }

// appendBatch is the ids of the appends that go together, and their outcome once done is closed.
type appendBatch struct {
	ctx  context.Context // the first caller's, without its cancellation: its trace
	ids  []string
	has  map[string]bool // the ids, to keep them distinct
	done chan struct{}
	err  error
}

// appendTimeout bounds a round of appends, which no caller's context cancels.
const appendTimeout = 30 * time.Second

// listHead is a list's head document.
type listHead struct {
	ID     string   `bson:"_id"`
	Sealed int64    `bson:"sealed"` // the sealed buckets, 0 to Sealed-1
	IDs    []string `bson:"ids"`    // the ids from position Sealed*ListBucketSize on, oldest first
}

// listBucket is a sealed bucket document.
type listBucket struct {
	ID  string   `bson:"_id"`
	IDs []string `bson:"ids"`
}

func headID(key string) string { return "h:" + key }

func bucketID(key string, j int64) string { return "b:" + strconv.FormatInt(j, 10) + ":" + key }

// len is the number of ids of the list.
func (h listHead) len() int64 { return h.Sealed*ListBucketSize + int64(len(h.IDs)) }

// Len returns the number of ids of key's list, 0 when nothing was appended to it: one read of its head.
func (l *IDList) Len(ctx context.Context, key string) (int64, error) {
	h, _, err := l.head(ctx, key)
	if err != nil {
		return 0, err
	}
	return h.len(), nil
}

// Append adds ids, distinct and in their order, at the end of key's list, leaving out those its head holds
// already, and returns once they are written (with those of the appends that went together with it). An
// error means that some of them may have been appended: appending them again is how to make sure. A caller
// that gives up (ctx done) gets ctx's error, and its ids may still be appended; one whose ctx is done
// already appends nothing.
func (l *IDList) Append(ctx context.Context, key string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err // the batch would run without ctx's cancellation
	}
	l.mu.Lock()
	q, busy := l.queues[key]
	if !busy {
		q = &appendQueue{}
		l.queues[key] = q
	}
	b := q.next
	if b == nil {
		b = &appendBatch{ctx: context.WithoutCancel(ctx), has: make(map[string]bool), done: make(chan struct{})}
		q.next = b
	}
	for _, id := range ids {
		if !b.has[id] {
			b.has[id] = true
			b.ids = append(b.ids, id)
		}
	}
	l.mu.Unlock()
	if !busy {
		go l.runAppends(key, q)
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runAppends runs key's batches one after the other until none waits.
func (l *IDList) runAppends(key string, q *appendQueue) {
	for {
		l.mu.Lock()
		b := q.next
		q.next = nil
		if b == nil {
			delete(l.queues, key)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(b.ctx, appendTimeout)
		b.err = l.appendNow(ctx, key, b.ids)
		cancel()
		close(b.done)
	}
}

// appendNow is Append's work for ids.
func (l *IDList) appendNow(ctx context.Context, key string, ids []string) error {
	// Each round either appends, or learns that a head was made or changed meanwhile: a few rounds at most.
	for range 4 {
		if len(ids) == 0 {
			return nil
		}
		doc, err := l.u.UpdateByID(ctx, l.coll, headID(key),
			bson.D{{Key: "ids", Value: bson.D{{Key: "$nin", Value: ids}}}},
			bson.D{{Key: "$push", Value: bson.D{{Key: "ids", Value: pushValue(ids)}}}})
		if err == nil {
			var h listHead
			if err := bson.Unmarshal(doc, &h); err != nil {
				return fmt.Errorf("docstore: list %s: decode head: %w", key, err)
			}
			// Best effort: a head that could not be sealed now is sealed by a later append.
			_ = l.seal(ctx, key, h)
			return nil
		}
		if !errors.Is(err, ErrNoMatch) {
			return fmt.Errorf("docstore: list %s: append: %w", key, err)
		}
		// No head, or it holds some of ids already.
		h, found, err := l.head(ctx, key)
		if err != nil {
			return err
		}
		if !found {
			h := listHead{ID: headID(key), IDs: ids}
			err := l.u.InsertOne(ctx, l.coll, h)
			if err == nil {
				_ = l.seal(ctx, key, h) // best effort, as above
				return nil
			}
			if !IsDuplicateKey(err) {
				return fmt.Errorf("docstore: list %s: make head: %w", key, err)
			}
			continue // made meanwhile
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(h.IDs, id) })
	}
	return fmt.Errorf("docstore: list %s: append: its head kept changing", key)
}

// appendersAtOnce bounds the lists AppendEach appends to at once.
const appendersAtOnce = 8

// AppendEach appends to the list of each key of lists its ids, distinct and in their order, as Append
// does, in appends of at most ListBucketSize ids, to several lists at once. An error means that some of
// them may have been appended.
func (l *IDList) AppendEach(ctx context.Context, lists map[string][]string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(appendersAtOnce)
	for key, ids := range lists {
		g.Go(func() error {
			for len(ids) > 0 {
				n := min(len(ids), ListBucketSize)
				if err := l.Append(gctx, key, ids[:n]...); err != nil {
					return err
				}
				ids = ids[n:]
			}
			return nil
		})
	}
	return g.Wait()
}

// pushValue is the argument of $push for ids: the id alone, or $each of them.
func pushValue(ids []string) any {
	if len(ids) == 1 {
		return ids[0]
	}
	return bson.D{{Key: "$each", Value: ids}}
}

// seal moves the oldest ids of head h into new buckets, ListBucketSize at a time, until it holds at most
// ListBucketSize: it inserts each bucket, then takes its ids out of the head, if the head was not sealed
// meanwhile. A bucket's content follows from the head's, so a seal repeated after a crash, or racing
// another, inserts the same bucket.
func (l *IDList) seal(ctx context.Context, key string, h listHead) error {
	for len(h.IDs) > ListBucketSize {
		ids := h.IDs[:ListBucketSize]
		err := l.u.InsertOne(ctx, l.coll, listBucket{ID: bucketID(key, h.Sealed), IDs: ids})
		if err != nil && !IsDuplicateKey(err) {
			return err
		}
		doc, err := l.u.UpdateByID(ctx, l.coll, headID(key), bson.D{{Key: "sealed", Value: h.Sealed}}, bson.D{
			{Key: "$set", Value: bson.D{{Key: "sealed", Value: h.Sealed + 1}}},
			{Key: "$pullAll", Value: bson.D{{Key: "ids", Value: ids}}},
		})
		if errors.Is(err, ErrNoMatch) {
			return nil // sealed by another, who goes on
		}
		if err != nil {
			return err
		}
		h = listHead{}
		if err := bson.Unmarshal(doc, &h); err != nil {
			return err
		}
	}
	return nil
}

// head reads key's list head; found is false when the list has none (nothing was appended).
func (l *IDList) head(ctx context.Context, key string) (h listHead, found bool, err error) {
	raw, err := l.u.FindByID(ctx, l.coll, headID(key))
	if errors.Is(err, mongo.ErrNoDocuments) {
		return listHead{}, false, nil
	}
	if err == nil {
		err = bson.Unmarshal(raw, &h)
	}
	if err != nil {
		return listHead{}, false, fmt.Errorf("docstore: list %s: read head: %w", key, err)
	}
	return h, true, nil
}

// Read returns up to n ids of key's list from position from on: towards the oldest when newestFirst, from
// the newest when from is negative; towards the newest otherwise, from the oldest when from is negative.
// next is the position to read from for the ids after them, -1 when there are none. A from past the end
// of the list reads nothing.
func (l *IDList) Read(ctx context.Context, key string, from int64, n int, newestFirst bool) (ids []string, next int64, err error) {
	h, found, err := l.head(ctx, key)
	if err != nil || !found || n <= 0 {
		return nil, -1, err
	}
	total := h.len()
	var lo, hi int64 // positions lo to hi-1
	switch {
	case newestFirst:
		if from < 0 {
			from = total - 1
		}
		hi = min(from+1, total)
		lo = max(hi-int64(n), 0)
		next = lo - 1
	default:
		lo = max(from, 0)
		hi = min(lo+int64(n), total)
		next = hi
		if next >= total {
			next = -1
		}
	}
	if lo >= hi {
		return nil, -1, nil
	}
	ids = make([]string, 0, hi-lo)
	firstInHead := h.Sealed * ListBucketSize
	var bucket listBucket
	bucketNo := int64(-1)
	for p := lo; p < hi; p++ {
		if p >= firstInHead {
			ids = append(ids, h.IDs[p-firstInHead])
			continue
		}
		if j := p / ListBucketSize; j != bucketNo {
			raw, err := l.u.FindByID(ctx, l.coll, bucketID(key, j))
			if err == nil {
				bucket = listBucket{}
				err = bson.Unmarshal(raw, &bucket)
			}
			if err == nil && len(bucket.IDs) != ListBucketSize {
				err = fmt.Errorf("holds %d ids, not %d", len(bucket.IDs), ListBucketSize)
			}
			if err != nil {
				return nil, -1, fmt.Errorf("docstore: list %s: read bucket %d: %w", key, j, err)
			}
			bucketNo = j
		}
		ids = append(ids, bucket.IDs[p%ListBucketSize])
	}
	if newestFirst {
		slices.Reverse(ids)
	}
	return ids, next, nil
}

// Claim reports whether this call claims task, a one-time task on the lists' collection (a backfill): the
// first call to claim it, of any process, inserts its marker document (_id "m:<task>") and is told true;
// every later call, false, most of them after a read of the marker alone. Of several replicas starting at
// once, one does the task; a task cut short by a crash stays claimed.
func (l *IDList) Claim(ctx context.Context, task string) (bool, error) {
	mark := "m:" + task
	_, err := l.u.FindByID(ctx, l.coll, mark)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return false, fmt.Errorf("docstore: claim %s in %s: %w", task, l.coll.Name(), err)
	}
	err = l.u.InsertOne(ctx, l.coll, bson.D{{Key: "_id", Value: mark}})
	if IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("docstore: claim %s in %s: %w", task, l.coll.Name(), err)
	}
	return true, nil
}

// backfillTask is the task Backfill claims.
const backfillTask = "backfill"

// Backfill lists the documents of source in a collection of lists made after them (a database from before
// the lists existed): when the lists' collection holds nothing and source holds documents, the caller that
// first claims the backfill (Claim, so that of several replicas starting at once one does it) reads every
// document of source with projection (nil: whole), in the order sort gives, and appends each to the list
// entry names ("" leaves it out), in that order. It reads the whole of source once; a backfill cut short
// is not resumed. It is meant to run before the service takes writes: a document that a writer of this
// version stores and lists meanwhile may be listed twice (once by its own append, once here, if its list's
// head has moved past it by then), and one stored meanwhile by a writer from before the lists is not listed
// at all.
func (l *IDList) Backfill(ctx context.Context, source *mongo.Collection, projection, sort bson.D,
	entry func(bson.Raw) (key, id string),
) error {
	err := l.coll.FindOne(ctx, bson.D{}).Err()
	if err == nil {
		return nil // lists exist
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("docstore: backfill %s: %w", l.coll.Name(), err)
	}
	if err := source.FindOne(ctx, bson.D{}).Err(); errors.Is(err, mongo.ErrNoDocuments) {
		return nil // nothing to list
	} else if err != nil {
		return fmt.Errorf("docstore: backfill %s: %w", l.coll.Name(), err)
	}
	if claimed, err := l.Claim(ctx, backfillTask); err != nil || !claimed {
		return err // claimed by another, or the error
	}
	opts := options.Find().SetSort(sort)
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := source.Find(ctx, bson.D{}, opts)
	if err != nil {
		return fmt.Errorf("docstore: backfill %s: read %s: %w", l.coll.Name(), source.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	lists := map[string][]string{}
	for cur.Next(ctx) {
		key, id := entry(cur.Current)
		if id != "" {
			lists[key] = append(lists[key], id)
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("docstore: backfill %s: read %s: %w", l.coll.Name(), source.Name(), err)
	}
	if err := l.AppendEach(ctx, lists); err != nil {
		return fmt.Errorf("docstore: backfill %s: %w", l.coll.Name(), err)
	}
	return nil
}
