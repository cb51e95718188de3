package docstore_test

import (
	"fmt"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// TestEnsureIndexes: on MongoDB every index is created; on the embedded store only the unique one, and a
// secondary index that is not unique is dropped. The unique index holds in both modes.
func TestEnsureIndexes(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		coll, u, _ := manyUpdater(t, m)
		ctx := t.Context()
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "old", Value: 1}},
			Options: options.Index().SetName("old")}); err != nil {
			t.Fatal(err)
		}
		models := []mongo.IndexModel{
			{Keys: bson.D{{Key: "n", Value: 1}}, Options: options.Index().SetName("n")},
			{Keys: bson.D{{Key: "code", Value: 1}}, Options: options.Index().SetName("code").SetUnique(true).SetSparse(true)},
		}
		for range 2 { // a restart finds them
			if err := u.EnsureIndexes(ctx, coll, models); err != nil {
				t.Fatal(err)
			}
		}
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range specs {
			names = append(names, s.Name)
		}
		slices.Sort(names)
		want := "[_id_ code]"
		if !m.Serial() {
			want = "[_id_ code n old]"
		}
		if fmt.Sprint(names) != want {
			t.Errorf("indexes %v, want %s", names, want)
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "d"}, {Key: "code", Value: "x"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "e"}, {Key: "code", Value: "x"}}); !docstore.IsDuplicateKey(err) {
			t.Errorf("a second document with code x: %v, want a duplicate key", err)
		}
	})
}
