package docstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// findParallel is the most lookups FindByIDs runs at once on the embedded store: a Reader's connections.
const findParallel = ReaderConnections

// FindByIDs returns the documents of coll whose _id is among ids (strings or ObjectIDs), in no particular
// order, each once; an id with no document is left out. projection (nil: none) names the fields the caller
// needs: a document may carry more. On MongoDB it is one find with {_id: {$in: ids}}, served by the _id
// index. On the embedded store, where an $in reads the whole collection (rule 2), each document is read as by
// [Updater.FindByID]: from memory when the Updater knows it, by an indexed lookup otherwise. The returned
// bytes are shared: do not modify them.
func (u *Updater) FindByIDs(ctx context.Context, coll *mongo.Collection, ids []any, projection bson.D) ([]bson.Raw, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make(map[docKey]bool, len(ids))
	var distinct []any
	var docs []bson.Raw // on the embedded store, those remembered
	for _, id := range ids {
		key, err := keyOf(coll, id)
		if err != nil {
			return nil, fmt.Errorf("docstore: find by _id in %s: %w", coll.Name(), err)
		}
		if keys[key] {
			continue
		}
		keys[key] = true
		if u.serial {
			if doc, ok := u.docs.Get(key); ok {
				docs = append(docs, doc)
				continue
			}
		}
		distinct = append(distinct, id)
	}
	if u.serial {
		return u.findEach(ctx, coll, distinct, docs)
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: distinct}}}}
	opts := options.Find()
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("docstore: find by _id in %s: %w", coll.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		docs = append(docs, slices.Clone(cur.Current)) // the cursor's buffer is not ours to keep
	}
	if err = cur.Err(); err != nil {
		return nil, fmt.Errorf("docstore: read by _id in %s: %w", coll.Name(), err)
	}
	return docs, nil
}

// findEach appends the documents among ids, which the Updater does not remember, to docs, reading up to
// findParallel at once: through a client with more than one connection (a Reader's) the reads run side by
// side; through one with a single connection they queue as they would anyway.
func (u *Updater) findEach(ctx context.Context, coll *mongo.Collection, ids []any, docs []bson.Raw) ([]bson.Raw, error) {
	found := make([]bson.Raw, len(ids))
	errs := make([]error, len(ids))
	if len(ids) == 1 {
		found[0], errs[0] = u.FindByID(ctx, coll, ids[0])
	} else {
		sem := make(chan struct{}, findParallel)
		var wg sync.WaitGroup
		for i, id := range ids {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				found[i], errs[i] = u.FindByID(ctx, coll, id)
			})
		}
		wg.Wait()
	}
	for i, doc := range found {
		switch err := errs[i]; {
		case errors.Is(err, mongo.ErrNoDocuments):
		case err != nil:
			return nil, fmt.Errorf("docstore: find %v in %s: %w", ids[i], coll.Name(), err)
		default:
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

// An Update is one guarded update of a document by _id, for [Updater.UpdateEach].
type Update struct {
	// ID is the document's _id, a string or an ObjectID.
	ID any
	// Guard holds conditions on the document's other fields, as for [Updater.UpdateByID]; nil: none.
	Guard bson.D
	// Change is the update document ($set, $inc, $push...), as for [Updater.UpdateByID].
	Change any
}

// UpdateEach applies each update to its document if its guard matches, whatever happens to the others, and
// returns how many matched (and were applied). A guard outside the language of UpdateByID or an _id that is
// not a string or an ObjectID, in any update, is an error before anything is sent, on both backends. Past
// that, an error of one update does not stop the others; the error returned joins them, and matched then
// counts the updates known to have applied. On MongoDB they go as one unordered update command with the
// filters {_id, <guard...>}. On the embedded store each is an [Updater.UpdateByID], its guard checked in the
// process and its command filtering on _id alone.
func (u *Updater) UpdateEach(ctx context.Context, coll *mongo.Collection, updates []Update) (int, error) {
	for _, up := range updates {
		if _, err := compileGuard(up.Guard); err != nil {
			return 0, err
		}
		if _, err := keyOf(coll, up.ID); err != nil {
			return 0, fmt.Errorf("docstore: update by _id in %s: %w", coll.Name(), err)
		}
	}
	if len(updates) == 0 {
		return 0, nil
	}
	if u.serial {
		matched := 0
		var errs []error
		for _, up := range updates {
			_, err := u.UpdateByID(ctx, coll, up.ID, up.Guard, up.Change)
			switch {
			case err == nil:
				matched++
			case !errors.Is(err, ErrNoMatch):
				errs = append(errs, err)
			}
		}
		return matched, errors.Join(errs...)
	}
	models := make([]mongo.WriteModel, len(updates))
	for i, up := range updates {
		filter := append(bson.D{{Key: "_id", Value: up.ID}}, up.Guard...)
		models[i] = mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(up.Change)
	}
	res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	matched := 0
	if res != nil {
		matched = int(res.MatchedCount)
	}
	if err != nil {
		return matched, fmt.Errorf("docstore: update %d documents of %s: %w", len(updates), coll.Name(), err)
	}
	return matched, nil
}
