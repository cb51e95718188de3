package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore"
)

// TestConditionalDecrementIsAtomic is FerretDB issue #3040 as measured: 200 concurrent conditional
// decrements of a stock of 20 through one Store must sell exactly 20.
func TestConditionalDecrementIsAtomic(t *testing.T) {
	e := startServer(t, Options{})
	c := connect(t, e.URI()).Database("product").Collection("products")
	ctx := t.Context()
	if _, err := c.InsertOne(ctx, bson.M{"_id": "p1", "stock": int64(20)}); err != nil {
		t.Fatal(err)
	}

	const buyers = 200
	var wg sync.WaitGroup
	results := make(chan error, buyers)
	for range buyers {
		wg.Go(func() {
			results <- c.FindOneAndUpdate(ctx,
				bson.M{"_id": "p1", "stock": bson.M{"$gte": 1}},
				bson.M{"$inc": bson.M{"stock": -1}},
			).Err()
		})
	}
	wg.Wait()
	close(results)

	var sold, refused int
	for err := range results {
		switch {
		case err == nil:
			sold++
		case errors.Is(err, mongo.ErrNoDocuments):
			refused++
		default:
			t.Errorf("decrement: %v", err)
		}
	}
	if sold != 20 || refused != buyers-20 {
		t.Errorf("sold %d, refused %d; want 20 and %d", sold, refused, buyers-20)
	}
	var doc struct {
		Stock int64 `bson:"stock"`
	}
	if err := c.FindOne(ctx, bson.M{"_id": "p1"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Stock != 0 {
		t.Errorf("stock is %d, want 0", doc.Stock)
	}
}

// TestConcurrentUniqueInserts checks that of concurrent inserts of one key, of _id or of a unique index,
// exactly one succeeds and the others are duplicate-key errors.
func TestConcurrentUniqueInserts(t *testing.T) {
	e := startServer(t, Options{})
	db := connect(t, e.URI()).Database("user")
	ctx := t.Context()
	users := db.Collection("users")
	if _, err := users.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		coll *mongo.Collection
		doc  func(i int) bson.M
	}{
		{"same _id", db.Collection("orders"), func(int) bson.M { return bson.M{"_id": "order-1"} }},
		{"same unique email", users, func(i int) bson.M { return bson.M{"_id": fmt.Sprint("user-", i), "email": "a@b.c"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const writers = 50
			var wg sync.WaitGroup
			results := make(chan error, writers)
			for i := range writers {
				wg.Go(func() {
					_, err := tt.coll.InsertOne(ctx, tt.doc(i))
					results <- err
				})
			}
			wg.Wait()
			close(results)
			var ok, dup int
			for err := range results {
				switch {
				case err == nil:
					ok++
				case docstore.IsDuplicateKey(err):
					dup++
				default:
					t.Errorf("insert: %v", err)
				}
			}
			if ok != 1 || dup != writers-1 {
				t.Errorf("%d inserted, %d duplicate; want 1 and %d", ok, dup, writers-1)
			}
		})
	}
}

// TestIsDuplicateKey checks every way FerretDB reports a unique-key violation, and that other errors are not one.
func TestIsDuplicateKey(t *testing.T) {
	e := startServer(t, Options{})
	db := connect(t, e.URI()).Database("user")
	c := db.Collection("users")
	ctx := t.Context()
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertMany(ctx, []any{
		bson.M{"_id": "u1", "email": "one@x.y"},
		bson.M{"_id": "u2", "email": "two@x.y"},
	}); err != nil {
		t.Fatal(err)
	}

	_, insertID := c.InsertOne(ctx, bson.M{"_id": "u1", "email": "new@x.y"})
	_, insertMany := c.InsertMany(ctx, []any{bson.M{"_id": "u3", "email": "three@x.y"}, bson.M{"_id": "u1"}})
	_, insertEmail := c.InsertOne(ctx, bson.M{"_id": "u4", "email": "one@x.y"})
	_, updateEmail := c.UpdateOne(ctx, bson.M{"_id": "u2"}, bson.M{"$set": bson.M{"email": "one@x.y"}})
	_, upsertEmail := c.UpdateOne(ctx, bson.M{"_id": "u5"}, bson.M{"$set": bson.M{"email": "one@x.y"}},
		options.UpdateOne().SetUpsert(true))
	findAndUpsert := c.FindOneAndUpdate(ctx, bson.M{"_id": "u6"}, bson.M{"$set": bson.M{"email": "one@x.y"}},
		options.FindOneAndUpdate().SetUpsert(true)).Err()
	notFound := c.FindOne(ctx, bson.M{"_id": "nobody"}).Err()
	unknownCommand := db.RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err()

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"insert of an existing _id", insertID, true},
		{"insert many with an existing _id", insertMany, true},
		{"insert of an existing unique email", insertEmail, true},
		{"update to an existing unique email", updateEmail, true},
		{"upsert of an existing unique email", upsertEmail, true},
		{"findAndModify upsert of an existing unique email", findAndUpsert, true},
		{"no document", notFound, false},
		{"unknown command", unknownCommand, false},
		{"nil", nil, false},
		{"not a server error", errors.New("E11000 duplicate key"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := docstore.IsDuplicateKey(tt.err); got != tt.want {
				t.Errorf("IsDuplicateKey(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestOpenEmbedded checks the whole life of an embedded store through Open: ping, data, the directory lock,
// and that Close releases everything so that a second Open on the same directory finds the data.
func TestOpenEmbedded(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, Config{DataDir: dir}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err = s.Database("order").Collection("orders").InsertOne(ctx, bson.M{"_id": "o1", "status": "Pending"}); err != nil {
		t.Fatal(err)
	}
	if _, err = Start(ctx, Options{DataDir: dir}); err == nil {
		t.Error("a second embedded store started on a directory in use")
	}
	if err = s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err = s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}

	s, err = Open(ctx, Config{DataDir: dir}, testLogger(t))
	if err != nil {
		t.Fatalf("second Open on the same directory: %v", err)
	}
	defer func() {
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var doc struct {
		Status string `bson:"status"`
	}
	if err = s.Database("order").Collection("orders").FindOne(ctx, bson.M{"_id": "o1"}).Decode(&doc); err != nil {
		t.Fatalf("document written before the restart: %v", err)
	}
	if doc.Status != "Pending" {
		t.Errorf("status %q, want Pending", doc.Status)
	}
}

// TestEmbeddedURI checks that the URI handed out carries the client options the embedded store needs.
func TestEmbeddedURI(t *testing.T) {
	e := startServer(t, Options{Addr: "localhost:0"})
	u, err := url.Parse(e.TCPURI())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := q.Get("maxPoolSize"); got != "1" {
		t.Errorf("maxPoolSize=%q, want 1", got)
	}
	if got := q.Get("retryWrites"); got != "false" {
		t.Errorf("retryWrites=%q, want false", got)
	}
	if u.Scheme != "mongodb" || u.Port() == "0" || u.Port() == "" {
		t.Errorf("TCPURI %s does not name the listening port", e.TCPURI())
	}
}

// TestConfigErrors checks that bad configurations are refused with an error, without starting anything.
func TestConfigErrors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	tests := []struct {
		name string
		run  func() error
	}{
		{"Open without URI nor data directory", func() error { _, err := Open(ctx, Config{}, nil); return err }},
		{"Connect with an empty URI", func() error { _, err := docstore.Connect(ctx, "", nil); return err }},
		{"Connect with a bad URI", func() error { _, err := docstore.Connect(ctx, "postgres://x", nil); return err }},
		{"Open with a bad URI", func() error { _, err := Open(ctx, Config{URI: "mongodb://"}, nil); return err }},
		{"Start without data directory", func() error { _, err := Start(ctx, Options{}); return err }},
		{"Start on a public address", func() error {
			_, err := Start(ctx, Options{DataDir: dir, Addr: "0.0.0.0:0"})
			return err
		}},
		{"Start on a malformed address", func() error {
			_, err := Start(ctx, Options{DataDir: dir, Addr: "127.0.0.1"})
			return err
		}},
		{"Start with a negative interval", func() error {
			_, err := Start(ctx, Options{DataDir: dir, MaintenanceInterval: -time.Second})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil {
				t.Error("no error")
			}
		})
	}
	// None of them may have kept the directory.
	e := startServer(t, Options{DataDir: dir})
	if err := e.Close(); err != nil {
		t.Error(err)
	}
}

// TestConnectToRunningStore checks Connect on its own, as a service in another process would use it.
func TestConnectToRunningStore(t *testing.T) {
	e := startServer(t, Options{})
	s := connect(t, e.URI())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReader: a Reader is a client of its own that sees what the Store wrote, and closing it leaves the Store
// and the embedded store running.
func TestReader(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{DataDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	r, err := s.Reader(ctx, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if r == s {
		t.Fatal("the Reader is the Store itself")
	}
	if _, err := s.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Database("d").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("the Reader counts %d documents (%v), want 1", n, err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("the Store after closing its Reader: %v", err)
	}
}
