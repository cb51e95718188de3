package docstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// manyUpdater returns a fresh collection of an embedded store with documents a, b and c ({n: 1}, {n: 2},
// {n: 3}), an Updater of its database in mode m, and the Recorder of the client's commands, reset.
func manyUpdater(t *testing.T, m docstoretest.Mode) (*mongo.Collection, *docstore.Updater, *docstoretest.Recorder) {
	t.Helper()
	client, rec := docstoretest.Start(t)
	coll := client.Database("many").Collection("docs")
	if _, err := coll.InsertMany(t.Context(), []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "n", Value: 2}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "n", Value: 3}},
	}); err != nil {
		t.Fatal(err)
	}
	u, err := docstore.NewUpdater(t.Context(), coll.Database(), m.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	return coll, u, rec
}

// TestFindByIDs: the documents among the ids, each once, in both modes; on the embedded store by _id alone
// and, once read, from memory; on MongoDB in one find.
func TestFindByIDs(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		coll, u, rec := manyUpdater(t, m)
		ctx := t.Context()
		for round := range 2 {
			docs, err := u.FindByIDs(ctx, coll, []any{"c", "zz", "a", "c"}, bson.D{{Key: "n", Value: 1}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, fmt.Sprint(d.Lookup("_id").StringValue(), "=", d.Lookup("n").Int32()))
			}
			slices.Sort(got)
			if fmt.Sprint(got) != "[a=1 c=3]" {
				t.Errorf("round %d: %v, want [a=1 c=3]", round, got)
			}
		}
		cmds := rec.Commands("many", "docs")
		if m.Serial() {
			rec.AssertIDOnly(t, "many", "docs")
			if len(cmds) != 4 { // c, zz, a; then zz again
				t.Errorf("commands %v, want 4 finds by _id", cmds)
			}
		} else if len(cmds) != 2 {
			t.Errorf("commands %v, want one find a round", cmds)
		}
		if docs, err := u.FindByIDs(ctx, coll, nil, nil); err != nil || len(docs) != 0 {
			t.Errorf("no ids: %v, %v", docs, err)
		}
		if _, err := u.FindByIDs(ctx, coll, []any{"a", 42}, nil); err == nil {
			t.Error("an integer _id: no error")
		}
	})
}

// TestUpdateEach: each update applies if its guard matches, whatever the others do, in both modes; a bad
// guard is refused.
func TestUpdateEach(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		coll, u, rec := manyUpdater(t, m)
		ctx := t.Context()
		inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 10}}}}
		matched, err := u.UpdateEach(ctx, coll, []docstore.Update{
			{ID: "a", Guard: bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 1}}}}, Change: inc},
			{ID: "b", Guard: bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 5}}}}, Change: inc}, // no match
			{ID: "zz", Change: inc}, // missing
			{ID: "c", Change: inc},
		})
		if err != nil || matched != 2 {
			t.Fatalf("UpdateEach = %d, %v; want 2", matched, err)
		}
		for id, want := range map[string]int32{"a": 11, "b": 2, "c": 13} {
			var d struct{ N int32 }
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil || d.N != want {
				t.Errorf("%s: n = %d (%v), want %d", id, d.N, err, want)
			}
		}
		if !m.Serial() {
			if cmds := rec.Commands("many", "docs"); len(cmds) == 0 || cmds[0].Name != "update" || len(cmds[0].Filters) != 4 {
				t.Errorf("commands %v, want one update of four statements first", cmds)
			}
		} else {
			rec.AssertIDOnly(t, "many", "docs")
		}
		if n, err := u.UpdateEach(ctx, coll, nil); n != 0 || err != nil {
			t.Errorf("no updates: %d, %v", n, err)
		}
		// A bad guard or _id in any update refuses them all, before anything is sent, on both backends.
		for name, bad := range map[string]docstore.Update{
			"a guard with $or": {ID: "b", Guard: bson.D{{Key: "$or", Value: bson.A{}}}, Change: inc},
			"an integer _id":   {ID: 42, Change: inc},
		} {
			n, err := u.UpdateEach(ctx, coll, []docstore.Update{{ID: "a", Change: inc}, bad})
			if n != 0 || err == nil || errors.Is(err, docstore.ErrNoMatch) {
				t.Errorf("%s: %d, %v; want 0 and the update refused", name, n, err)
			}
		}
		if doc, err := u.FindByID(ctx, coll, "a"); err != nil || doc.Lookup("n").Int32() != 11 {
			t.Errorf("a after the refused updates: %v, %v; want n = 11", doc, err)
		}
	})
}

// TestUpdateEachPartialFailure: an update the server refuses (an $inc of a string) fails alone; the others
// apply, and matched counts them. That is MongoDB's answer to an unordered update command, which the mongodb
// mode cannot show here: FerretDB v1 stops the command at its first failed statement and answers nMatched 0
// (docs/docstore.md), so in that mode only the error and the refused document are checked.
func TestUpdateEachPartialFailure(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		coll, u, _ := manyUpdater(t, m)
		ctx := t.Context()
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "s"}, {Key: "n", Value: "text"}}); err != nil {
			t.Fatal(err)
		}
		inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 10}}}}
		matched, err := u.UpdateEach(ctx, coll, []docstore.Update{{ID: "a", Change: inc}, {ID: "s", Change: inc}, {ID: "c", Change: inc}})
		if err == nil || errors.Is(err, docstore.ErrNoMatch) {
			t.Errorf("UpdateEach: %v, want the error of s", err)
		}
		want := map[string]any{"s": "text"}
		if m.Serial() {
			if matched != 2 {
				t.Errorf("matched %d, want 2", matched)
			}
			want["a"], want["c"] = int32(11), int32(13)
		}
		for id, w := range want {
			var d struct{ N any }
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil || d.N != w {
				t.Errorf("%s: n = %v (%v), want %v", id, d.N, err, w)
			}
		}
	})
}
