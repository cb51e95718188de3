package docstoretest_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

func byID(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }

func set(k string, v any) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: k, Value: v}}}}
}

// seed inserts documents a, b and c, Pending, in db.coll, and forgets the commands so far.
func seed(t *testing.T, coll *mongo.Collection, rec *docstoretest.Recorder) {
	t.Helper()
	docs := []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "status", Value: "Pending"}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "status", Value: "Pending"}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "status", Value: "Pending"}},
	}
	if _, err := coll.InsertMany(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
}

// TestUpdaterOnEmbeddedStoreFiltersOnIDOnly: on the embedded store, the Updater detects FerretDB and every
// command of its guarded updates, matching or not, filters on _id alone. A document written elsewhere is
// read once before its first guarded update; after that the Updater knows it, and refuses a guard that no
// longer holds without a command.
func TestUpdaterOnEmbeddedStoreFiltersOnIDOnly(t *testing.T) {
	client, rec := docstoretest.Start(t)
	db := client.Database("idonly")
	coll := db.Collection("orders")
	u, err := docstore.NewUpdater(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, coll, rec)

	pending := bson.D{{Key: "status", Value: "Pending"}}
	if _, err := u.UpdateByID(t.Context(), coll, "a", pending, set("status", "Paid")); err != nil {
		t.Fatal(err)
	}
	if _, err := u.UpdateByID(t.Context(), coll, "a", pending, set("status", "Failed")); err == nil {
		t.Fatal("the guard of a second transition matched")
	}
	if _, err := u.UpdateByID(t.Context(), coll, "b", nil, set("note", "x")); err != nil {
		t.Fatal(err)
	}
	lease := bson.D{{Key: "status", Value: "Pending"}, {Key: "leaseUntil", Value: bson.D{{Key: "$exists", Value: false}}}}
	if _, err := u.UpdateByID(t.Context(), coll, "c", lease, set("leaseUntil", 1)); err != nil {
		t.Fatal(err)
	}
	rec.AssertIDOnly(t, "idonly", "orders")

	var names []string
	for _, c := range rec.Commands("idonly", "orders") {
		names = append(names, c.Name)
	}
	// A document the Updater knows (read for a guard) is updated by an update command; "b", which it
	// does not know and updates without a guard, by a findAndModify.
	want := []string{"find", "update", "findAndModify", "find", "update"}
	if !slices.Equal(names, want) {
		t.Errorf("commands %v, want %v", names, want)
	}
}

// TestRecorderFlagsScans: every way of filtering on more than _id is reported, with the command; commands
// filtering on _id alone, of several statements too, pass; other collections do not count.
func TestRecorderFlagsScans(t *testing.T) {
	client, rec := docstoretest.Start(t)
	db := client.Database("scans")
	coll := db.Collection("orders")
	seed(t, coll, rec)
	ctx := t.Context()

	if err := rec.CheckIDOnly("scans", "orders"); err == nil || !strings.Contains(err.Error(), "no find") {
		t.Errorf("nothing recorded: %v, want an error saying so", err)
	}

	guarded := bson.D{{Key: "_id", Value: "a"}, {Key: "status", Value: "Pending"}}
	scans := map[string]func() error{
		"guarded findAndModify": func() error { return coll.FindOneAndUpdate(ctx, guarded, set("x", 1)).Err() },
		"guarded update":        func() error { _, err := coll.UpdateOne(ctx, guarded, set("x", 1)); return err },
		"find by status":        func() error { return coll.FindOne(ctx, bson.D{{Key: "status", Value: "Pending"}}).Err() },
		"find all":              func() error { _, err := coll.Find(ctx, bson.D{}); return err },
		"_id $in": func() error {
			_, err := coll.DeleteMany(ctx, byID(bson.D{{Key: "$in", Value: bson.A{"x"}}}))
			return err
		},
		"int _id":   func() error { _, err := coll.DeleteOne(ctx, byID(42)); return err },
		"count":     func() error { _, err := coll.CountDocuments(ctx, byID("a")); return err },
		"aggregate": func() error { _, err := coll.Aggregate(ctx, mongo.Pipeline{}); return err },
		"one of two statements": func() error {
			_, err := coll.BulkWrite(ctx, []mongo.WriteModel{
				mongo.NewUpdateOneModel().SetFilter(byID("b")).SetUpdate(set("x", 1)),
				mongo.NewUpdateOneModel().SetFilter(guarded).SetUpdate(set("x", 1)),
			})
			return err
		},
	}
	for name, op := range scans {
		rec.Reset()
		if err := op(); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			t.Fatalf("%s: %v", name, err)
		}
		if err := rec.CheckIDOnly("scans", "orders"); err == nil || !strings.Contains(err.Error(), "does not filter on _id alone") {
			t.Errorf("%s: CheckIDOnly = %v, want it reported", name, err)
		}
	}

	rec.Reset()
	if err := coll.FindOne(ctx, byID("a")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewUpdateOneModel().SetFilter(byID("b")).SetUpdate(set("x", 1)),
		mongo.NewUpdateOneModel().SetFilter(byID(bson.NewObjectID())).SetUpdate(set("x", 1)),
		mongo.NewDeleteOneModel().SetFilter(byID("c")),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("other").Find(ctx, bson.D{{Key: "status", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := rec.CheckIDOnly("scans", "orders"); err != nil {
		t.Errorf("lookups by _id: %v", err)
	}
	if n := len(rec.Commands("scans", "orders")); n != 3 {
		t.Errorf("%d commands recorded on scans.orders, want 3 (find, update, delete)", n)
	}
	if err := rec.CheckIDOnly("scans", "other"); err == nil {
		t.Error("the scan of another collection was not recorded")
	}
}

// TestRecorderTake: Take counts every command naming the collection, inserts and index creation too, per
// name, and starts again after each call; other collections do not count.
func TestRecorderTake(t *testing.T) {
	client, rec := docstoretest.Start(t)
	ctx := t.Context()
	coll := client.Database("take").Collection("orders")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "b"}}, bson.D{{Key: "_id", Value: "c"}}}); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOne(ctx, byID("a")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Database("take").Collection("other").InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Take("take", "orders"), map[string]int{"insert": 2, "find": 1}; !maps.Equal(got, want) {
		t.Errorf("Take = %v, want %v", got, want)
	}
	if got := rec.Take("take", "orders"); len(got) != 0 {
		t.Errorf("second Take = %v, want nothing", got)
	}
}
