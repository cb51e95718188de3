package docstore

import (
	"context"
	"errors"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// maxBatch is the most documents one command of a batcher carries.
const maxBatch = 64

// batcher coalesces the writes into one collection that wait for each other: on the embedded store a
// service's client sends one command at a time, so under load writes queue behind the command in flight,
// and the embedded store writes many documents in one command for less than one command each
// (docs/docstore.md, BenchmarkUpdateBatch). Each caller queues
// its item; the first one finding no command of this batcher in flight sends everything queued, as one
// unordered command, and when it is done hands the turn to the first item queued meanwhile, whose caller
// sends the next batch. No goroutine of its own, and no wait when nothing else is queued: a lone write goes
// at once.
//
// Every item's outcome is its own (see splitWriteError): the error of one document fails that document
// alone; an error of the whole command fails every item of the batch.
type batcher[T any] struct {
	// send writes items as one command and returns each one's outcome.
	send func(ctx context.Context, items []T) []error

	mu      sync.Mutex
	queue   []*batchRequest[T]
	sending bool // a caller is sending a batch; until it is done, others queue
}

// batchRequest is one caller's item, waiting for its batch.
type batchRequest[T any] struct {
	item T
	done chan error    // the item's outcome; buffered
	turn chan struct{} // this caller is to send the next batch; buffered
}

// do writes item as part of the next batch and returns its outcome. ctx bounds the command only if this
// caller sends it (its deadline, not its cancellation: see detach); a caller waiting for another's batch
// waits for its outcome.
func (b *batcher[T]) do(ctx context.Context, item T) error {
	r := &batchRequest[T]{item: item, done: make(chan error, 1), turn: make(chan struct{}, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := !b.sending
	b.sending = true
	b.mu.Unlock()
	if lead {
		b.sendQueued(ctx)
	}
	for {
		select {
		case err := <-r.done:
			return err
		case <-r.turn:
			b.sendQueued(ctx)
		}
	}
}

// sendQueued sends up to maxBatch queued items as one command, gives each its outcome, then passes the
// turn on to the first item still queued, or marks the batcher idle.
func (b *batcher[T]) sendQueued(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.queue), maxBatch)
	batch := b.queue[:n:n]
	b.queue = append([]*batchRequest[T](nil), b.queue[n:]...)
	b.mu.Unlock()

	items := make([]T, len(batch))
	for i, r := range batch {
		items[i] = r.item
	}
	wctx, cancel := detach(ctx)
	outcomes := b.send(wctx, items)
	cancel()
	for i, r := range batch {
		r.done <- outcomes[i]
	}

	b.mu.Lock()
	if len(b.queue) == 0 {
		b.sending = false
	} else {
		b.queue[0].turn <- struct{}{}
	}
	b.mu.Unlock()
}

// newInserter returns the batcher of the inserts into coll.
func newInserter(coll *mongo.Collection) *batcher[bson.Raw] {
	return &batcher[bson.Raw]{send: func(ctx context.Context, docs []bson.Raw) []error {
		anys := make([]any, len(docs))
		for i, d := range docs {
			anys[i] = d
		}
		_, err := coll.InsertMany(ctx, anys, options.InsertMany().SetOrdered(false))
		return splitWriteError(err, len(docs))
	}}
}

// newDeleter returns the batcher of the deletes by _id of coll. A batch is one delete command of statements
// {q: {_id}, limit: 1}: each filter is an index lookup on the embedded store. Its callers delete documents
// they know to exist, under their stripes (Updater.DeleteByID), so each one's outcome is its statement's
// error alone.
func newDeleter(coll *mongo.Collection) *batcher[any] {
	return &batcher[any]{send: func(ctx context.Context, ids []any) []error {
		models := make([]mongo.WriteModel, len(ids))
		for i, id := range ids {
			models[i] = mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}})
		}
		_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		return splitWriteError(err, len(ids))
	}}
}

// updateByID is an update of the document _id=id, for an update batcher.
type updateByID struct {
	id     any
	update bson.Raw
}

// errOutcomeUnknown is an update's outcome when its batch matched fewer documents than it updated and had
// no error for this one: which of them matched is not known.
var errOutcomeUnknown = errors.New("docstore: the batch of updates matched fewer documents than it had")

// newUpdateBatcher returns the batcher of the updates by _id of coll. A batch is one update command of
// statements {q: {_id}, u: update}: each filter is an index lookup on the embedded store.
func newUpdateBatcher(coll *mongo.Collection) *batcher[updateByID] {
	return &batcher[updateByID]{send: func(ctx context.Context, ups []updateByID) []error {
		models := make([]mongo.WriteModel, len(ups))
		for i, up := range ups {
			models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: up.id}}).SetUpdate(up.update)
		}
		res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		out := splitWriteError(err, len(ups))
		failed := 0
		for _, e := range out {
			if e != nil {
				failed++
			}
		}
		if res != nil && failed < len(ups) && res.MatchedCount != int64(len(ups)-failed) {
			for i, e := range out {
				if e == nil {
					out[i] = errOutcomeUnknown
				}
			}
		}
		return out
	}}
}

// splitWriteError turns the error of an unordered write of n documents into each document's.
func splitWriteError(err error, n int) []error {
	out := make([]error, n)
	if err == nil {
		return out
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		for i := range out {
			out[i] = err // the whole command failed, or its outcome is unknown
		}
		return out
	}
	for _, we := range bwe.WriteErrors {
		if we.Index >= 0 && we.Index < n {
			e := we.WriteError
			e.Index = 0
			out[we.Index] = mongo.WriteException{WriteErrors: mongo.WriteErrors{e}}
		}
	}
	return out
}
