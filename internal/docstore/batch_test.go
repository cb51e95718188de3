package docstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/kitshop/kitshop/internal/docstore"
)

// TestInsertOneBatchesWaitingInserts: concurrent inserts into one collection go in fewer commands than
// documents, each caller gets its own document's outcome (a duplicate _id fails that one alone), and every
// inserted document is remembered.
func TestInsertOneBatchesWaitingInserts(t *testing.T) {
	coll, log, u := cachedUpdater(t, "orders")
	ctx := t.Context()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "taken"}, {Key: "n", Value: -1}}); err != nil {
		t.Fatal(err)
	}
	log.take()

	const n = 40
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("o%02d", i)
		if i%10 == 0 {
			id = "taken" // already there
		}
		wg.Go(func() {
			<-start
			errs[i] = u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: i}})
		})
	}
	close(start)
	wg.Wait()

	cmds := log.take()
	if len(cmds) == 0 || len(cmds) >= n || slices.ContainsFunc(cmds, func(c string) bool { return c != "insert" }) {
		t.Errorf("%d inserts sent as %v, want fewer insert commands than documents", n, cmds)
	}
	for i, err := range errs {
		switch {
		case i%10 == 0 && !docstore.IsDuplicateKey(err):
			t.Errorf("insert %d of an existing _id: %v, want a duplicate key", i, err)
		case i%10 != 0 && err != nil:
			t.Errorf("insert %d: %v", i, err)
		}
	}
	for i := range n {
		if i%10 == 0 {
			continue
		}
		doc, err := u.FindByID(ctx, coll, fmt.Sprintf("o%02d", i))
		if err != nil || doc.Lookup("n").Int32() != int32(i) {
			t.Errorf("o%02d: %s, %v", i, doc, err)
		}
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("reading the inserted documents sent %v, want nothing (remembered)", got)
	}
	stored, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || stored != n-n/10+1 {
		t.Errorf("%d documents stored (%v), want %d", stored, err, n-n/10+1)
	}
	var taken struct{ N int32 }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "taken"}}).Decode(&taken); err != nil || taken.N != -1 {
		t.Errorf("the existing document became %+v (%v)", taken, err)
	}
}

// TestDeleteByIDBatchesKnownDocuments: concurrent deletes of documents the Updater knows go in fewer
// commands than documents and each caller learns its own outcome; a guard that does not match deletes
// nothing, and a document the Updater does not know is deleted alone, ErrNoMatch when there is none.
func TestDeleteByIDBatchesKnownDocuments(t *testing.T) {
	coll, log, u := cachedUpdater(t, "work")
	ctx := t.Context()
	const n = 40
	for i := range n {
		if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: fmt.Sprintf("w%02d", i)}, {Key: "rev", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "unknown"}}); err != nil {
		t.Fatal(err)
	}
	log.take()

	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			var guard bson.D
			if i%10 == 0 {
				guard = bson.D{{Key: "rev", Value: -1}} // does not match
			}
			errs[i] = u.DeleteByID(ctx, coll, fmt.Sprintf("w%02d", i), guard)
		})
	}
	close(start)
	wg.Wait()
	cmds := log.take()
	if len(cmds) == 0 || len(cmds) >= n-n/10 || slices.ContainsFunc(cmds, func(c string) bool { return c != "delete" }) {
		t.Errorf("%d deletes sent as %v, want fewer delete commands than documents deleted", n-n/10, cmds)
	}
	for i, err := range errs {
		switch {
		case i%10 == 0 && !errors.Is(err, docstore.ErrNoMatch):
			t.Errorf("delete %d, its guard not matching: %v, want ErrNoMatch", i, err)
		case i%10 != 0 && err != nil:
			t.Errorf("delete %d: %v", i, err)
		}
	}
	if left, err := coll.CountDocuments(ctx, bson.D{}); err != nil || left != n/10+1 {
		t.Errorf("%d documents left (%v), want %d", left, err, n/10+1)
	}
	if err := u.DeleteByID(ctx, coll, "unknown", nil); err != nil {
		t.Errorf("delete of a document the Updater does not know: %v", err)
	}
	if err := u.DeleteByID(ctx, coll, "unknown", nil); !errors.Is(err, docstore.ErrNoMatch) {
		t.Errorf("delete of a document that is gone: %v, want ErrNoMatch", err)
	}
}
