package docstore_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
)

// TestApplyUpdateAgreesWithTheStore applies each update the Updater evaluates itself both with
// applyUpdate and with a findAndModify of the embedded store, and wants the same document; the updates it
// must not evaluate (false) are checked to be refused.
func TestApplyUpdateAgreesWithTheStore(t *testing.T) {
	db, _ := cachedDB(t)
	ctx := t.Context()
	coll := db.Collection("apply")
	at := time.Date(2026, 11, 24, 10, 0, 0, 123e6, time.UTC)
	base := bson.D{
		{Key: "_id", Value: "d"}, {Key: "status", Value: "Pending"}, {Key: "stock", Value: int64(10)},
		{Key: "marks", Value: bson.A{"a", "b", "a", "c"}}, {Key: "payment", Value: bson.D{{Key: "amount", Value: int64(3000)}}},
		{Key: "n32", Value: int32(1)}, {Key: "at", Value: at},
	}
	agree := []struct {
		name   string
		update bson.D
	}{
		{"set existing and new fields", bson.D{{Key: "$set", Value: bson.D{
			{Key: "status", Value: "Paid"}, {Key: "updatedAt", Value: at.Add(time.Second)},
			{Key: "payment", Value: bson.D{{Key: "amount", Value: int64(3000)}, {Key: "status", Value: "Approved"}}},
			{Key: "flag", Value: true},
		}}}},
		{"set and unset", bson.D{
			{Key: "$set", Value: bson.D{{Key: "status", Value: "DeliveryStarted"}}},
			{Key: "$unset", Value: bson.D{{Key: "payment", Value: ""}, {Key: "missing", Value: ""}}},
		}},
		{"inc down and up", bson.D{{Key: "$inc", Value: bson.D{{Key: "stock", Value: int64(-3)}, {Key: "sold", Value: int64(3)}}}}},
		{"inc and push", bson.D{
			{Key: "$inc", Value: bson.D{{Key: "stock", Value: int64(-1)}}},
			{Key: "$push", Value: bson.D{{Key: "marks", Value: "o9"}, {Key: "log", Value: bson.D{{Key: "state", Value: "reserved"}, {Key: "at", Value: at}}}}},
		}},
		{"pull a string", bson.D{{Key: "$pull", Value: bson.D{{Key: "marks", Value: "a"}, {Key: "none", Value: "x"}}}}},
		{"pullAll strings", bson.D{{Key: "$pullAll", Value: bson.D{{Key: "marks", Value: bson.A{"a", "c", "zz"}}}}}},
		{"inc, push and pull", bson.D{
			{Key: "$inc", Value: bson.D{{Key: "stock", Value: int64(2)}}},
			{Key: "$push", Value: bson.D{{Key: "returning", Value: "o1"}}},
			{Key: "$pull", Value: bson.D{{Key: "marks", Value: "b"}}},
		}},
	}
	for i, c := range agree {
		id := fmt.Sprintf("d%d", i)
		doc := slices.Clone(base)
		doc[0].Value = id
		before, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		update, err := bson.Marshal(c.update)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(ctx, bson.Raw(before)); err != nil {
			t.Fatal(err)
		}
		got, ok := docstore.ApplyUpdate(before, update)
		if !ok {
			t.Errorf("%s: applyUpdate refused it", c.name)
			continue
		}
		want, err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}}, c.update,
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Raw()
		if err != nil {
			t.Fatal(err)
		}
		var gotD, wantD bson.D
		if err := bson.Unmarshal(got, &gotD); err != nil {
			t.Fatalf("%s: applyUpdate made %v: %v", c.name, got, err)
		}
		if err := bson.Unmarshal(want, &wantD); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotD, wantD) {
			t.Errorf("%s:\n applyUpdate %v\n the store  %v", c.name, gotD, wantD)
		}
	}

	before, _ := bson.Marshal(base)
	for _, update := range []bson.D{
		{{Key: "$set", Value: bson.D{{Key: "payment.amount", Value: int64(1)}}}},
		{{Key: "$set", Value: bson.D{{Key: "_id", Value: "other"}}}},
		{{Key: "$set", Value: bson.D{}}},
		{{Key: "$set", Value: bson.D{{Key: "status", Value: "A"}}}, {Key: "$unset", Value: bson.D{{Key: "status", Value: ""}}}},
		{{Key: "$inc", Value: bson.D{{Key: "n32", Value: int64(1)}}}},
		{{Key: "$inc", Value: bson.D{{Key: "stock", Value: int32(1)}}}},
		{{Key: "$inc", Value: bson.D{{Key: "stock", Value: int64(math.MaxInt64)}}}},
		{{Key: "$inc", Value: bson.D{{Key: "status", Value: int64(1)}}}},
		{{Key: "$push", Value: bson.D{{Key: "status", Value: "x"}}}},
		{{Key: "$push", Value: bson.D{{Key: "marks", Value: bson.D{{Key: "$each", Value: bson.A{"x"}}}}}}},
		{{Key: "$pull", Value: bson.D{{Key: "marks", Value: bson.D{{Key: "$in", Value: bson.A{"a"}}}}}}},
		{{Key: "$pull", Value: bson.D{{Key: "status", Value: "a"}}}},
		{{Key: "$pullAll", Value: bson.D{{Key: "marks", Value: bson.A{int64(1)}}}}},
		{{Key: "$currentDate", Value: bson.D{{Key: "at", Value: true}}}},
		{{Key: "$rename", Value: bson.D{{Key: "status", Value: "state"}}}},
	} {
		raw, err := bson.Marshal(update)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := docstore.ApplyUpdate(before, raw); ok {
			t.Errorf("applyUpdate took %v and made %v; want it refused", update, got)
		}
	}
}

// TestUpdateByIDBatchesRememberedDocuments: concurrent updates of documents the Updater remembers go in
// fewer commands than updates, each caller gets its document as updated, and the store agrees; an update
// applyUpdate refuses still goes as a findAndModify.
func TestUpdateByIDBatchesRememberedDocuments(t *testing.T) {
	coll, log, u := cachedUpdater(t, "products")
	ctx := t.Context()
	const n = 40
	for i := range n {
		if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: fmt.Sprintf("p%02d", i)}, {Key: "stock", Value: int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	log.take()

	start := make(chan struct{})
	got := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			doc, err := u.UpdateByID(ctx, coll, fmt.Sprintf("p%02d", i), bson.D{{Key: "stock", Value: bson.D{{Key: "$gte", Value: 1}}}},
				bson.D{{Key: "$inc", Value: bson.D{{Key: "stock", Value: int64(-1)}}}, {Key: "$push", Value: bson.D{{Key: "inflight", Value: "o"}}}})
			if err == nil {
				got[i] = doc.Lookup("stock").Int64()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()

	cmds := log.take()
	if len(cmds) == 0 || len(cmds) >= n || slices.ContainsFunc(cmds, func(c string) bool { return c != "update" }) {
		t.Errorf("%d updates sent as %v, want fewer update commands than updates", n, cmds)
	}
	for i := range n {
		switch {
		case i == 0 && !errors.Is(errs[i], docstore.ErrNoMatch):
			t.Errorf("p00 (stock 0): %v, want docstore.ErrNoMatch", errs[i])
		case i > 0 && (errs[i] != nil || got[i] != int64(i-1)):
			t.Errorf("p%02d: stock %d, %v; want %d", i, got[i], errs[i], i-1)
		}
		var stored struct {
			Stock    int64
			Inflight []string
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("p%02d", i)}}).Decode(&stored); err != nil {
			t.Fatal(err)
		}
		if want := max(int64(i-1), 0); stored.Stock != want || (i > 0) != (len(stored.Inflight) == 1) {
			t.Errorf("p%02d stored %+v, want stock %d", i, stored, want)
		}
	}
	log.take()

	if _, err := u.UpdateByID(ctx, coll, "p05", nil, bson.D{{Key: "$set", Value: bson.D{{Key: "a.b", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	wantCommands(t, log, "an update applyUpdate does not evaluate", "findAndModify")
}

// TestUpdateByIDOfADocumentGoneBehindItsBack: a remembered document deleted by another client makes its
// batched update match nothing; the Updater then reads it and reports ErrNoMatch, and forgets it.
func TestUpdateByIDOfADocumentGoneBehindItsBack(t *testing.T) {
	coll, log, u := cachedUpdater(t, "orders")
	ctx := t.Context()
	if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: "gone"}, {Key: "n", Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "gone"}}); err != nil {
		t.Fatal(err)
	}
	log.take()
	_, err := u.UpdateByID(ctx, coll, "gone", nil, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}})
	if !errors.Is(err, docstore.ErrNoMatch) {
		t.Errorf("update of a document deleted meanwhile: %v, want docstore.ErrNoMatch", err)
	}
	wantCommands(t, log, "update of a deleted document", "update", "find")
	if _, err := u.FindByID(ctx, coll, "gone"); err == nil {
		t.Error("the deleted document is still remembered")
	}
}

// TestUpdateByIDBatchFailureForgets: when the batched update command fails as a whole (here: the client is
// gone), the caller gets the error, not ErrNoMatch, and the Updater forgets the document, whose state it no
// longer knows: the next read goes to the store.
func TestUpdateByIDBatchFailureForgets(t *testing.T) {
	coll, _, u := cachedUpdater(t, "orders")
	ctx := t.Context()
	if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: "o"}, {Key: "n", Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if err := coll.Database().Client().Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := u.UpdateByID(ctx, coll, "o", nil, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}})
	if err == nil || errors.Is(err, docstore.ErrNoMatch) {
		t.Fatalf("update through a disconnected client: %v, want the driver's error", err)
	}
	if doc, err := u.FindByID(ctx, coll, "o"); err == nil {
		t.Errorf("the document is still remembered after a failed update: %s", doc)
	}
}
