package docstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnsureIndexes gives coll the secondary indexes in models, for the queries they serve on MongoDB, where it
// creates them all (an index that exists already is accepted: a restart). On the embedded store no query uses
// a secondary index (rule 2 of the package documentation) and each one makes every write dearer, but a unique
// index is enforced, atomically: there it creates only the unique ones, and drops every index of coll that is
// neither _id's nor unique (made by an earlier version, or by the MongoDB mode on the same files).
func (u *Updater) EnsureIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) error {
	if !u.serial {
		return createIndexes(ctx, coll, models)
	}
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("docstore: list indexes of %s: %w", coll.Name(), err)
	}
	for _, s := range specs {
		if s.Name == "_id_" || (s.Unique != nil && *s.Unique) {
			continue
		}
		if err := coll.Indexes().DropOne(ctx, s.Name); err != nil {
			return fmt.Errorf("docstore: drop index %s of %s: %w", s.Name, coll.Name(), err)
		}
	}
	var unique []mongo.IndexModel
	for _, m := range models {
		if isUnique(m) {
			unique = append(unique, m)
		}
	}
	return createIndexes(ctx, coll, unique)
}

// createIndexes creates the indexes of models, one command each: FerretDB v1 breaks the connection when one
// createIndexes command re-creates several indexes that exist.
func createIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) error {
	for _, m := range models {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("docstore: create index of %s: %w", coll.Name(), err)
		}
	}
	return nil
}

// isUnique reports whether m declares a unique index.
func isUnique(m mongo.IndexModel) bool {
	if m.Options == nil {
		return false
	}
	var o options.IndexOptions
	for _, set := range m.Options.List() {
		if set(&o) != nil {
			return false
		}
	}
	return o.Unique != nil && *o.Unique
}

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
	for _, id := range ids {
		key, err := keyOf(coll, id)
		if err != nil {
			return nil, fmt.Errorf("docstore: find by _id in %s: %w", coll.Name(), err)
		}
		if !keys[key] {
			keys[key] = true
			distinct = append(distinct, id)
		}
	}
	if u.serial {
		docs := make([]bson.Raw, 0, len(distinct))
		for _, id := range distinct {
			doc, err := u.FindByID(ctx, coll, id)
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
			case err != nil:
				return nil, fmt.Errorf("docstore: find %v in %s: %w", id, coll.Name(), err)
			default:
				docs = append(docs, doc)
			}
		}
		return docs, nil
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
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, slices.Clone(cur.Current)) // the cursor's buffer is not ours to keep
	}
	if err = cur.Err(); err != nil {
		return nil, fmt.Errorf("docstore: read by _id in %s: %w", coll.Name(), err)
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
