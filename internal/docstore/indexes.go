package docstore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnsureIndexes gives coll the secondary indexes in models, for the queries they serve on MongoDB, where it
// creates them all (an index that exists already is accepted: a restart). On the embedded store no query uses
// a secondary index (rule 2 of the package documentation) and each one makes every write dearer, but a unique
// index is enforced, atomically: there it creates only the unique ones, and drops every index of coll that is
// neither _id's nor unique, whoever made it (an earlier version, the MongoDB mode on the same files, or
// someone by hand): none serves a query there. A unique index is never dropped, declared or not.
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
