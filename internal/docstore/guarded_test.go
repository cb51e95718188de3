package docstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
)

// guardedDB opens a Store on a fresh embedded store for the test and returns one of its databases. The
// tests that call it are not parallel: FerretDB's start-up writes a package variable (see
// docstoretest.Start).
func guardedDB(t testing.TB) *mongo.Database {
	t.Helper()
	s, err := embedded.Open(t.Context(), embedded.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s.Database("guarded")
}

// guardedPaths are both ways of an Updater, on the embedded store: the one NewUpdater picks there
// (evaluation in Go), and the MongoDB one forced (FerretDB evaluates the guard in the filter, slowly,
// one command at a time), which shows that both give the same answers.
func guardedPaths(t *testing.T, db *mongo.Database) map[string]*docstore.Updater {
	t.Helper()
	paths := map[string]*docstore.Updater{}
	for name, opts := range map[string][]docstore.UpdaterOption{
		"embedded": nil, // detected
		"mongo":    {docstore.WithBackend(docstore.MongoDB)},
	} {
		u, err := docstore.NewUpdater(t.Context(), db, opts...)
		if err != nil {
			t.Fatalf("NewUpdater: %v", err)
		}
		paths[name] = u
	}
	return paths
}

// guardedBig is an int64 that no double equals.
const guardedBig = int64(1<<53 + 1)

// guardedTime is the datetime of guardedDoc.
func guardedTime() time.Time { return time.Date(2026, 3, 15, 10, 0, 0, 123_000_000, time.UTC) }

// guardedDoc is the document every case of TestUpdateByIDGuards is checked against.
func guardedDoc(id string) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "s", Value: "Pending"},
		{Key: "i32", Value: int32(5)},
		{Key: "i64", Value: int64(5)},
		{Key: "f", Value: 5.0},
		{Key: "half", Value: 5.5},
		{Key: "big", Value: guardedBig},
		{Key: "t", Value: true},
		{Key: "fl", Value: false},
		{Key: "n", Value: nil},
		{Key: "d", Value: guardedTime()},
		{Key: "sub", Value: bson.D{{Key: "s", Value: "x"}, {Key: "deep", Value: bson.D{{Key: "i", Value: int32(1)}}}}},
		{Key: "arr", Value: bson.A{"a", "b"}},
	}
}

// cond builds a guard of one condition; op "" is an implicit equality.
func cond(field, op string, v any) bson.D {
	if op == "" {
		return bson.D{{Key: field, Value: v}}
	}
	return bson.D{{Key: field, Value: bson.D{{Key: op, Value: v}}}}
}

// Outcomes of a guarded update.
const (
	guardMatch   = "match"
	guardNoMatch = "no match"
	guardInvalid = "error" // an error other than docstore.ErrNoMatch
)

type guardCase struct {
	name  string
	guard bson.D
	want  string
	// embeddedOnly: the case is an error on the embedded path only (data the evaluator refuses, which
	// the server would evaluate); the MongoDB path is not checked.
	embeddedOnly bool
}

func guardCases() []guardCase {
	guardTime := guardedTime()
	later := guardTime.Add(time.Millisecond)
	return []guardCase{
		{"no guard", nil, guardMatch, false},
		{"empty guard", bson.D{}, guardMatch, false},

		// Equality, implicit and $eq, by type.
		{"string", cond("s", "", "Pending"), guardMatch, false},
		{"other string", cond("s", "", "Sent"), guardNoMatch, false},
		{"$eq string", cond("s", "$eq", "Pending"), guardMatch, false},
		{"string vs number", cond("s", "", int32(1)), guardNoMatch, false},
		{"int32 = int64", cond("i32", "", int64(5)), guardMatch, false},
		{"int32 = double", cond("i32", "", 5.0), guardMatch, false},
		{"int64 = int32", cond("i64", "$eq", int32(5)), guardMatch, false},
		{"double = int32", cond("f", "", int32(5)), guardMatch, false},
		{"5.5 = 5", cond("half", "", int32(5)), guardNoMatch, false},
		{"2^53+1 = 2^53 as double", cond("big", "", float64(1<<53)), guardNoMatch, false},
		{"2^53+1 = itself", cond("big", "", guardedBig), guardMatch, false},
		{"true", cond("t", "", true), guardMatch, false},
		{"true = false", cond("t", "", false), guardNoMatch, false},
		{"false", cond("fl", "$eq", false), guardMatch, false},
		{"bool vs number", cond("t", "", int32(1)), guardNoMatch, false},
		{"null = null", cond("n", "", nil), guardMatch, false},
		{"missing = null", cond("missing", "", nil), guardMatch, false},
		{"string = null", cond("s", "$eq", nil), guardNoMatch, false},
		{"datetime", cond("d", "", guardTime), guardMatch, false},
		{"other datetime", cond("d", "", later), guardNoMatch, false},
		{"datetime vs string", cond("d", "", guardTime.Format(time.RFC3339Nano)), guardNoMatch, false},

		// Dotted paths.
		{"sub.s", cond("sub.s", "", "x"), guardMatch, false},
		{"sub.deep.i", cond("sub.deep.i", "", 1.0), guardMatch, false},
		{"sub.s other", cond("sub.s", "", "y"), guardNoMatch, false},
		{"sub.nope = null", cond("sub.nope", "", nil), guardMatch, false},
		{"through a missing field", cond("missing.x", "", nil), guardMatch, false},
		{"through a string", cond("s.x", "", nil), guardMatch, false},
		{"through a string, not null", cond("s.x", "", "P"), guardNoMatch, false},

		// $ne.
		{"$ne other", cond("s", "$ne", "Sent"), guardMatch, false},
		{"$ne same", cond("s", "$ne", "Pending"), guardNoMatch, false},
		{"$ne on missing", cond("missing", "$ne", "x"), guardMatch, false},
		{"$ne null on missing", cond("missing", "$ne", nil), guardNoMatch, false},
		{"$ne null on null", cond("n", "$ne", nil), guardNoMatch, false},
		{"$ne null on string", cond("s", "$ne", nil), guardMatch, false},
		{"$ne across number types", cond("i64", "$ne", 5.0), guardNoMatch, false},
		{"$ne on sub.s", cond("sub.s", "$ne", "x"), guardNoMatch, false},

		// $in and $nin.
		{"$in", cond("s", "$in", bson.A{"A", "Pending"}), guardMatch, false},
		{"$in without it", cond("s", "$in", bson.A{"A"}), guardNoMatch, false},
		{"$in empty", cond("s", "$in", bson.A{}), guardNoMatch, false},
		{"$in null on missing", cond("missing", "$in", bson.A{nil}), guardMatch, false},
		{"$in across number types", cond("i32", "$in", bson.A{"5", 5.0}), guardMatch, false},
		{"$nin", cond("s", "$nin", bson.A{"A"}), guardMatch, false},
		{"$nin with it", cond("s", "$nin", bson.A{"B", "Pending"}), guardNoMatch, false},
		{"$nin on missing", cond("missing", "$nin", bson.A{"x"}), guardMatch, false},
		{"$nin null on missing", cond("missing", "$nin", bson.A{nil}), guardNoMatch, false},
		{"$nin empty", cond("s", "$nin", bson.A{}), guardMatch, false},

		// $exists.
		{"$exists", cond("s", "$exists", true), guardMatch, false},
		{"$exists on missing", cond("missing", "$exists", true), guardNoMatch, false},
		{"$exists false on missing", cond("missing", "$exists", false), guardMatch, false},
		{"$exists false", cond("s", "$exists", false), guardNoMatch, false},
		{"$exists on null", cond("n", "$exists", true), guardMatch, false},
		{"$exists on sub.s", cond("sub.s", "$exists", true), guardMatch, false},
		{"$exists false on sub.nope", cond("sub.nope", "$exists", false), guardMatch, false},
		{"$exists on an array", cond("arr", "$exists", true), guardMatch, false},

		// Ordering.
		{"5 < 6", cond("i32", "$lt", int32(6)), guardMatch, false},
		{"5 < 5", cond("i32", "$lt", int64(5)), guardNoMatch, false},
		{"5 <= 5", cond("i32", "$lte", int64(5)), guardMatch, false},
		{"5 > 4.5", cond("i32", "$gt", 4.5), guardMatch, false},
		{"5 >= 5.5", cond("i64", "$gte", 5.5), guardNoMatch, false},
		{"5.5 > 5", cond("half", "$gt", int64(5)), guardMatch, false},
		{"5.5 < 6", cond("half", "$lt", int32(6)), guardMatch, false},
		{"2^53+1 > 2^53 as double", cond("big", "$gt", float64(1<<53)), guardMatch, false},
		{"number vs string", cond("i64", "$gt", "a"), guardNoMatch, false},
		{"string >", cond("s", "$gt", "Aaa"), guardMatch, false},
		{"string < itself", cond("s", "$lt", "Pending"), guardNoMatch, false},
		{"string <= itself", cond("s", "$lte", "Pending"), guardMatch, false},
		{"string < longer", cond("s", "$lt", "Pendinga"), guardMatch, false},
		{"true > false", cond("t", "$gt", false), guardMatch, false},
		{"false > false", cond("fl", "$gt", false), guardNoMatch, false},
		{"datetime <", cond("d", "$lt", later), guardMatch, false},
		{"datetime >", cond("d", "$gt", later), guardNoMatch, false},
		{"datetime >=", cond("d", "$gte", guardTime), guardMatch, false},
		{"missing < 5", cond("missing", "$lt", int32(5)), guardNoMatch, false},
		{"missing >= 0", cond("missing", "$gte", int32(0)), guardNoMatch, false},
		{"null < 5", cond("n", "$lt", int32(5)), guardNoMatch, false},
		{"missing <= null", cond("missing", "$lte", nil), guardMatch, false},
		{"null >= null", cond("n", "$gte", nil), guardMatch, false},
		{"number <= null", cond("i32", "$lte", nil), guardNoMatch, false},
		{"missing < null", cond("missing", "$lt", nil), guardNoMatch, false},
		{"null > null", cond("n", "$gt", nil), guardNoMatch, false},

		// Several conditions: all must hold.
		{"two fields", bson.D{{Key: "s", Value: "Pending"}, {Key: "t", Value: true}}, guardMatch, false},
		{"two fields, one off", bson.D{{Key: "s", Value: "Pending"}, {Key: "t", Value: false}}, guardNoMatch, false},
		{"range", bson.D{{Key: "i32", Value: bson.D{{Key: "$gte", Value: 1}, {Key: "$lt", Value: 10}}}}, guardMatch, false},
		{"range, out", bson.D{{Key: "i32", Value: bson.D{{Key: "$gte", Value: 1}, {Key: "$lt", Value: 5}}}}, guardNoMatch, false},

		// Misuse: refused on both paths before anything is sent.
		{"unsupported operator", cond("s", "$regex", "^P"), guardInvalid, false},
		{"$or", bson.D{{Key: "$or", Value: bson.A{cond("s", "", "x"), cond("t", "", true)}}}, guardInvalid, false},
		{"guard on _id", cond("_id", "", "x"), guardInvalid, false},
		{"guard on _id.x", cond("_id.x", "", "x"), guardInvalid, false},
		{"document equality", cond("sub", "", bson.D{{Key: "s", Value: "x"}}), guardInvalid, false},
		{"empty document", cond("sub", "", bson.D{}), guardInvalid, false},
		{"operator and field mixed", bson.D{{Key: "s", Value: bson.D{{Key: "$eq", Value: "x"}, {Key: "a", Value: 1}}}}, guardInvalid, false},
		{"$in not an array", cond("s", "$in", "Pending"), guardInvalid, false},
		{"$in with a document", cond("s", "$in", bson.A{bson.D{{Key: "a", Value: 1}}}), guardInvalid, false},
		{"$exists not a boolean", cond("s", "$exists", int32(1)), guardInvalid, false},
		{"$elemMatch", cond("arr", "$elemMatch", bson.D{{Key: "$eq", Value: "a"}}), guardInvalid, false},
		{"empty path segment", cond("sub..s", "", "x"), guardInvalid, false},
		{"ObjectID operand", cond("s", "", bson.NewObjectID()), guardInvalid, false},
		{"regex operand", cond("s", "", bson.Regex{Pattern: "^P"}), guardInvalid, false},
		{"NaN operand", cond("f", "$lt", math.NaN()), guardInvalid, false},
		{"NaN in $in", cond("f", "$in", bson.A{1.0, math.NaN()}), guardInvalid, false},

		// Stored values the evaluator does not handle: refused on the embedded path.
		{"array contains", cond("arr", "", "a"), guardMatch, false},
		{"array lacks", cond("arr", "$eq", "z"), guardNoMatch, false},
		{"$ne: array lacks", cond("arr", "$ne", "z"), guardMatch, false},
		{"$ne: array contains", cond("arr", "$ne", "b"), guardNoMatch, false},
		{"$in: array has one", cond("arr", "$in", bson.A{"z", "b"}), guardMatch, false},
		{"$in: array has none", cond("arr", "$in", bson.A{"y", "z"}), guardNoMatch, false},
		{"$nin: array has one", cond("arr", "$nin", bson.A{"a"}), guardNoMatch, false},
		{"$nin: array has none", cond("arr", "$nin", bson.A{"y", "z"}), guardMatch, false},
		{"array vs number", cond("arr", "", int32(1)), guardNoMatch, false},
		{"ordered on an array", cond("arr", "$gte", "a"), guardInvalid, true},
		{"through an array", cond("arr.x", "", nil), guardInvalid, true},
	}
}

// TestUpdateByIDGuards checks every operator and type of the guard evaluator on the real embedded store,
// through both paths: the evaluator in Go must agree with the expected MongoDB semantics, and with
// FerretDB's own evaluation of the same filter.
func TestUpdateByIDGuards(t *testing.T) {
	db := guardedDB(t)
	cases := guardCases()
	for path, u := range guardedPaths(t, db) {
		t.Run(path, func(t *testing.T) {
			coll := db.Collection("cases_" + path)
			docs := make([]any, len(cases))
			for i := range cases {
				docs[i] = guardedDoc(fmt.Sprint(i))
			}
			if _, err := coll.InsertMany(t.Context(), docs); err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				if c.embeddedOnly && path != "embedded" {
					continue
				}
				checkGuardCase(t, u, coll, fmt.Sprint(i), c)
			}
		})
	}
}

// checkGuardCase runs case c on the document id of coll.
func checkGuardCase(t *testing.T, u *docstore.Updater, coll *mongo.Collection, id string, c guardCase) {
	t.Helper()
	got, err := u.UpdateByID(t.Context(), coll, id, c.guard, bson.D{{Key: "$set", Value: bson.D{{Key: "hit", Value: true}}}})
	outcome := guardMatch
	switch {
	case errors.Is(err, docstore.ErrNoMatch):
		outcome = guardNoMatch
	case err != nil:
		outcome = guardInvalid
	}
	if outcome != c.want {
		t.Errorf("%s: %s (%v), want %s", c.name, outcome, err, c.want)
		return
	}
	if outcome == guardMatch {
		if hit, _ := got.Lookup("hit").BooleanOK(); !hit || got.Lookup("_id").StringValue() != id {
			t.Errorf("%s: returned %s, want the document after the update", c.name, got)
		}
		return
	}
	stored, err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stored.LookupErr("hit"); err == nil {
		t.Errorf("%s: %s, but the document was updated", c.name, outcome)
	}
}

// TestUpdateByIDMissingAndBadID: an unknown _id is ErrNoMatch (also mongo.ErrNoDocuments), and an _id
// that FerretDB cannot look up by index is refused.
func TestUpdateByIDMissingAndBadID(t *testing.T) {
	db := guardedDB(t)
	coll := db.Collection("c")
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}
	for path, u := range guardedPaths(t, db) {
		for _, guard := range []bson.D{nil, cond("s", "", "Pending")} {
			_, err := u.UpdateByID(t.Context(), coll, "nope", guard, set)
			if !errors.Is(err, docstore.ErrNoMatch) || !errors.Is(err, mongo.ErrNoDocuments) {
				t.Errorf("%s: unknown id with guard %v: %v, want docstore.ErrNoMatch wrapping mongo.ErrNoDocuments", path, guard, err)
			}
		}
		if _, err := u.UpdateByID(t.Context(), coll, 42, nil, set); err == nil || errors.Is(err, docstore.ErrNoMatch) {
			t.Errorf("%s: an int _id: %v, want an error", path, err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := u.UpdateByID(ctx, coll, "nope", cond("s", "", "x"), set); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: canceled context: %v, want context.Canceled", path, err)
		}
	}
	// The ids are compared as BSON: a named string type is the same document as a string.
	type orderID string
	if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "o1"}, {Key: "s", Value: "Pending"}}); err != nil {
		t.Fatal(err)
	}
	u := guardedPaths(t, db)["embedded"]
	if _, err := u.UpdateByID(t.Context(), coll, orderID("o1"), cond("s", "", "Pending"), set); err != nil {
		t.Errorf("named string id: %v", err)
	}
}

// TestUpdateByIDRace: 50 goroutines move one Pending document to a status of their own, guarded by
// {status: "Pending"}; exactly one wins, on both paths, and the document holds the winner's status and
// nothing of the losers'.
func TestUpdateByIDRace(t *testing.T) {
	db := guardedDB(t)
	coll := db.Collection("race")
	for path, u := range guardedPaths(t, db) {
		for round := range 3 {
			id := fmt.Sprintf("%s-%d", path, round)
			if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: id}, {Key: "status", Value: "Pending"}}); err != nil {
				t.Fatal(err)
			}
			const n = 50
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				winners []string
			)
			for i := range n {
				mine := fmt.Sprintf("winner-%d", i)
				wg.Go(func() {
					doc, err := u.UpdateByID(t.Context(), coll, id, cond("status", "", "Pending"),
						bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: mine}, {Key: "by", Value: mine}}}})
					switch {
					case err == nil:
						if got := doc.Lookup("status").StringValue(); got != mine {
							t.Errorf("%s: winner %s got back status %s", path, mine, got)
						}
						mu.Lock()
						winners = append(winners, mine)
						mu.Unlock()
					case !errors.Is(err, docstore.ErrNoMatch):
						t.Errorf("%s: %v", path, err)
					}
				})
			}
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("%s round %d: winners %v, want exactly one", path, round, winners)
			}
			var final struct{ Status, By string }
			if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&final); err != nil {
				t.Fatal(err)
			}
			if final.Status != winners[0] || final.By != winners[0] {
				t.Errorf("%s round %d: stored %+v, want status and by %s", path, round, final, winners[0])
			}
		}
	}
}

// BenchmarkGuardedUpdateByID measures a guarded transition ({status: "Pending"} → $set) on the embedded store with
// 1k and 20k documents in the collection: its cost must not grow with them. The documents are visited in
// a scattered order, every one once per round, and each round moves them all the other way, so every
// iteration matches.
func BenchmarkGuardedUpdateByID(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		b.Run(fmt.Sprintf("docs=%dk", n/1000), func(b *testing.B) {
			db := guardedDB(b)
			coll := db.Collection("orders")
			docs := make([]any, 0, 1000)
			for i := range n {
				docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("order-%06d", i)}, {Key: "status", Value: "Pending"}})
				if len(docs) == cap(docs) || i == n-1 {
					if _, err := coll.InsertMany(b.Context(), docs); err != nil {
						b.Fatal(err)
					}
					docs = docs[:0]
				}
			}
			time.Sleep(2 * embedded.DefaultMaintenanceInterval) // the maintenance adds the _id expression index
			u, err := docstore.NewUpdater(b.Context(), db)
			if err != nil {
				b.Fatal(err)
			}
			statuses := [2]string{"Pending", "Paid"}
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("order-%06d", (i*7919)%n)
				round := (i / n) % 2
				from, to := statuses[round], statuses[1-round]
				if _, err := u.UpdateByID(b.Context(), coll, id, bson.D{{Key: "status", Value: from}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: to}}}}); err != nil {
					b.Fatalf("%s %s → %s: %v", id, from, to, err)
				}
			}
		})
	}
}

// TestDeleteByID checks a guarded delete on both paths: a guard that does not hold deletes nothing, one
// that holds deletes the document and forgets it, and a missing document is ErrNoMatch.
func TestDeleteByID(t *testing.T) {
	db := guardedDB(t)
	for name, u := range guardedPaths(t, db) {
		t.Run(name, func(t *testing.T) {
			coll := db.Collection("delete_" + name)
			ctx := t.Context()
			if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: "a"}, {Key: "rev", Value: int64(1)}}); err != nil {
				t.Fatalf("InsertOne: %v", err)
			}
			if err := u.DeleteByID(ctx, coll, "a", bson.D{{Key: "rev", Value: int64(2)}}); !errors.Is(err, docstore.ErrNoMatch) {
				t.Fatalf("DeleteByID with a guard that does not hold = %v, want docstore.ErrNoMatch", err)
			}
			if _, err := u.FindByID(ctx, coll, "a"); err != nil {
				t.Fatalf("the document is gone after a refused delete: %v", err)
			}
			if err := u.DeleteByID(ctx, coll, "a", bson.D{{Key: "rev", Value: int64(1)}}); err != nil {
				t.Fatalf("DeleteByID: %v", err)
			}
			if _, err := u.FindByID(ctx, coll, "a"); !errors.Is(err, mongo.ErrNoDocuments) {
				t.Fatalf("FindByID after the delete = %v, want no document (the docstore.Updater must forget it)", err)
			}
			if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
				t.Fatalf("documents left: %d, %v", n, err)
			}
			if err := u.DeleteByID(ctx, coll, "a", nil); !errors.Is(err, docstore.ErrNoMatch) {
				t.Fatalf("DeleteByID of a missing document = %v, want docstore.ErrNoMatch", err)
			}
			if err := u.DeleteByID(ctx, coll, 7, nil); err == nil {
				t.Fatal("DeleteByID with an integer _id succeeded")
			}
		})
	}
}
