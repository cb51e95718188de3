package docstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
)

// commandLog keeps the names of the document commands a client sends.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (l *commandLog) started(_ context.Context, e *event.CommandStartedEvent) {
	switch e.CommandName {
	case "find", "insert", "update", "findAndModify", "delete":
		l.mu.Lock()
		l.names = append(l.names, e.CommandName)
		l.mu.Unlock()
	}
}

// take returns the commands sent since the last call.
func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.names
	l.names = nil
	return out
}

// cachedDB returns a database of a fresh embedded store through a client whose commands land in the log.
func cachedDB(t *testing.T) (*mongo.Database, *commandLog) {
	t.Helper()
	e, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("stop the embedded store: %v", err)
		}
	})
	log := &commandLog{}
	client, err := mongo.Connect(options.Client().ApplyURI(e.URI()).SetMonitor(&event.CommandMonitor{Started: log.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	})
	return client.Database("cached"), log
}

// cachedUpdater returns collection name of a fresh embedded store through a client whose commands land in
// the log, and an Updater of its database.
func cachedUpdater(t *testing.T, name string) (*mongo.Collection, *commandLog, *docstore.Updater) {
	t.Helper()
	db, log := cachedDB(t)
	u, err := docstore.NewUpdater(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return db.Collection(name), log, u
}

func wantCommands(t *testing.T, log *commandLog, step string, want ...string) {
	t.Helper()
	if got := log.take(); !slices.Equal(got, want) {
		t.Errorf("%s: commands %v, want %v", step, got, want)
	}
}

func TestUpdaterRemembersWhatItWrites(t *testing.T) {
	coll, log, u := cachedUpdater(t, "orders")
	ctx := t.Context()
	log.take()

	if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: "o1"}, {Key: "status", Value: "Pending"}}); err != nil {
		t.Fatal(err)
	}
	wantCommands(t, log, "insert", "insert")

	doc, err := u.UpdateByID(ctx, coll, "o1", bson.D{{Key: "status", Value: "Pending"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "Paid"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Lookup("status").StringValue(); got != "Paid" {
		t.Errorf("update returned status %q, want Paid", got)
	}
	wantCommands(t, log, "guarded update of an inserted document", "update") // known before and after: a batched update

	doc, err = u.FindByID(ctx, coll, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Lookup("status").StringValue(); got != "Paid" {
		t.Errorf("FindByID: status %q, want Paid", got)
	}
	wantCommands(t, log, "find of an updated document")

	if _, err = u.UpdateByID(ctx, coll, "o1", bson.D{{Key: "status", Value: "Pending"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "Cancelled"}}}}); !errors.Is(err, docstore.ErrNoMatch) {
		t.Errorf("stale guard: err %v, want docstore.ErrNoMatch", err)
	}
	wantCommands(t, log, "refused guard")

	// A second insert of the _id fails and leaves the remembered document as stored.
	err = u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: "o1"}, {Key: "status", Value: "Other"}})
	if !docstore.IsDuplicateKey(err) {
		t.Fatalf("second insert: %v, want a duplicate key", err)
	}
	wantCommands(t, log, "duplicate insert", "insert")
	if doc, _ = u.FindByID(ctx, coll, "o1"); doc.Lookup("status").StringValue() != "Paid" {
		t.Errorf("after a refused insert: %s", doc)
	}
	wantCommands(t, log, "find after a refused insert")

	// What the store has agrees.
	var stored struct{ Status string }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "o1"}}).Decode(&stored); err != nil || stored.Status != "Paid" {
		t.Errorf("stored %+v, %v; want Paid", stored, err)
	}
}

func TestUpdaterReadsWhatItDoesNotKnow(t *testing.T) {
	coll, log, u := cachedUpdater(t, "orders")
	ctx := t.Context()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "o2"}, {Key: "n", Value: "text"}}); err != nil {
		t.Fatal(err)
	}
	log.take()

	for range 2 {
		if _, err := u.FindByID(ctx, coll, "missing"); !errors.Is(err, mongo.ErrNoDocuments) {
			t.Errorf("missing document: %v, want ErrNoDocuments", err)
		}
	}
	wantCommands(t, log, "a missing document is read each time", "find", "find")

	for range 2 {
		if _, err := u.FindByID(ctx, coll, "o2"); err != nil {
			t.Fatal(err)
		}
	}
	wantCommands(t, log, "a document written elsewhere is read once", "find")

	// A write the server refuses forgets the document: the next read goes to the store.
	if _, err := u.UpdateByID(ctx, coll, "o2", nil, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err == nil {
		t.Fatal("$inc of a string: no error")
	}
	wantCommands(t, log, "refused update", "findAndModify")
	if _, err := u.FindByID(ctx, coll, "o2"); err != nil {
		t.Fatal(err)
	}
	wantCommands(t, log, "after a refused update", "find")

	if _, err := u.FindByID(ctx, coll, 42); err == nil {
		t.Error("FindByID with an int _id: no error")
	}
	if err := u.InsertOne(ctx, coll, bson.D{{Key: "n", Value: 1}}); err == nil {
		t.Error("InsertOne without _id: no error")
	}
	wantCommands(t, log, "refused arguments")
}

// On MongoDB nothing is remembered: other replicas write the same documents.
func TestUpdaterMongoPathRemembersNothing(t *testing.T) {
	db, log := cachedDB(t)
	ctx := t.Context()
	coll := db.Collection("orders")
	u, err := docstore.NewUpdater(ctx, db, docstore.WithBackend(docstore.MongoDB))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.InsertOne(ctx, coll, bson.D{{Key: "_id", Value: "o3"}, {Key: "status", Value: "Pending"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		doc, err := u.FindByID(ctx, coll, "o3")
		if err != nil || doc.Lookup("status").StringValue() != "Pending" {
			t.Fatalf("FindByID: %s, %v", doc, err)
		}
	}
	wantCommands(t, log, "MongoDB path", "insert", "find", "find")
}
