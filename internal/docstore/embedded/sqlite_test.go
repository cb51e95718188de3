package embedded

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ferretdbIDStatements are the statements FerretDB v1.24.2 runs to find, update and delete by _id
// (internal/backends/sqlite/collection.go), written out here on purpose rather than built from idExpr.
var ferretdbIDStatements = []string{
	`SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`,
	`UPDATE %q SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?`,
	`DELETE FROM %q WHERE _ferretdb_sjson->'$._id' IN (?)`,
}

// queryPlan returns SQLite's plan for q, one detail per step, joined by "; ".
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var details []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err = rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		details = append(details, detail)
	}
	if err = rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(details, "; ")
}

// assertIDStatementsUseIndex checks that SQLite runs FerretDB's _id statements on collection coll of
// database dbName through this package's index, not by scanning the table.
func assertIDStatementsUseIndex(t *testing.T, e *Server, dbName, coll string) {
	t.Helper()
	db := openSQLiteFile(t, e, dbName)
	table := tableOf(t, db, coll)
	want := "USING INDEX " + idIndexPrefix + table
	for _, stmt := range ferretdbIDStatements {
		q := fmt.Sprintf(stmt, table)
		args := []any{`"some-id"`}
		if strings.HasPrefix(q, "UPDATE") {
			args = []any{`{"_id":"some-id"}`, `"some-id"`}
		}
		if plan := queryPlan(t, db, q, args...); !strings.Contains(plan, want) {
			t.Errorf("plan of %s is %q, want it %s", q, plan, want)
		}
	}
}

// ferretdbExplain returns FerretDB's own explanation of find(filter): whether it pushes the filter down to
// SQLite, and SQLite's plan for the query it runs.
func ferretdbExplain(t *testing.T, c *mongo.Collection, filter any) (pushdown bool, plan string) {
	t.Helper()
	var res struct {
		FilterPushdown bool `bson:"filterPushdown"`
		QueryPlanner   struct {
			Plan []string `bson:"Plan"`
		} `bson:"queryPlanner"`
	}
	cmd := bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: c.Name()}, {Key: "filter", Value: filter}}}}
	if err := c.Database().RunCommand(t.Context(), cmd).Decode(&res); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return res.FilterPushdown, strings.Join(res.QueryPlanner.Plan, "; ")
}

// TestIDIndexOnCollectionCreatedByClient checks the _id index on a collection a client creates after start:
// SQLite's plans for FerretDB's _id statements, and FerretDB's own explain, which also shows which filters
// it pushes down to SQLite at all (the package documentation relies on this).
func TestIDIndexOnCollectionCreatedByClient(t *testing.T) {
	e := startServer(t, Options{MaintenanceInterval: time.Hour}) // only the explicit call indexes
	c := connect(t, e.URI()).Database("order").Collection("orders")
	ctx := t.Context()
	oid := bson.NewObjectID()
	if _, err := c.InsertMany(ctx, []any{
		bson.M{"_id": "o1", "userId": "u1", "n": int64(1)},
		bson.M{"_id": oid, "userId": "u1", "n": int64(2)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	assertIDStatementsUseIndex(t, e, "order", "orders")

	// FerretDB's explain is prepared on one of its pooled SQLite connections, which reads the new schema only
	// when it next runs a real statement; a find first makes the explain below run on an up-to-date one.
	if err := c.FindOne(ctx, bson.M{"_id": "o1"}).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		filter       any
		wantPushdown bool
	}{
		{"string _id", bson.M{"_id": "o1"}, true},
		{"ObjectID _id", bson.M{"_id": oid}, true},
		{"integer _id", bson.M{"_id": 7}, false},
		{"_id with $eq", bson.M{"_id": bson.M{"$eq": "o1"}}, false},
		{"_id with $in", bson.M{"_id": bson.M{"$in": bson.A{"o1"}}}, false},
		{"_id and another field", bson.M{"_id": "o1", "n": bson.M{"$gte": 1}}, false},
		{"another field", bson.M{"userId": "u1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pushdown, plan := ferretdbExplain(t, c, tt.filter)
			if pushdown != tt.wantPushdown {
				t.Errorf("filterPushdown = %v, want %v (plan %q)", pushdown, tt.wantPushdown, plan)
			}
			usesIndex := strings.Contains(plan, "USING INDEX "+idIndexPrefix)
			if usesIndex != tt.wantPushdown {
				t.Errorf("plan %q: uses the _id index = %v, want %v", plan, usesIndex, tt.wantPushdown)
			}
		})
	}
}

// TestIDIndexFromPeriodicMaintenance checks that a collection created by a client of its own, as a service in
// another process would, gets the index from the periodic maintenance without anyone asking.
func TestIDIndexFromPeriodicMaintenance(t *testing.T) {
	e := startServer(t, Options{MaintenanceInterval: 10 * time.Millisecond})
	other := connect(t, e.URI())
	ctx := t.Context()
	if _, err := other.Database("payment").Collection("payments").InsertOne(ctx, bson.M{"_id": "pay-1"}); err != nil {
		t.Fatal(err)
	}
	db := openSQLiteFile(t, e, "payment")
	table := tableOf(t, db, "payments")
	deadline := time.Now().Add(20 * time.Second) // a bound for a stuck loop, not a speed requirement
	for !hasIDIndex(t, db, table) {
		if time.Now().After(deadline) {
			t.Fatal("the periodic maintenance did not index the new collection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	assertIDStatementsUseIndex(t, e, "payment", "payments")
}

// hasIDIndex reports whether table has this package's index.
func hasIDIndex(t *testing.T, db *sql.DB, table string) bool {
	t.Helper()
	var n int
	err := db.QueryRowContext(t.Context(),
		`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, idIndexPrefix+table).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestIDIndexCreatedAtStart checks that start-up indexes tables that exist already, e.g. made by FerretDB run
// alone or while no maintenance tick came.
func TestIDIndexCreatedAtStart(t *testing.T) {
	dir := t.TempDir()
	e, err := Start(t.Context(), Options{DataDir: dir, Logger: testLogger(t), MaintenanceInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := connect(t, e.URI())
	if _, err = s.Database("notification").Collection("notifications").InsertOne(t.Context(), bson.M{"_id": "n1"}); err != nil {
		t.Fatal(err)
	}
	if err = s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err = e.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := openSQLite(filepath.Join(dir, "notification.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if hasIDIndex(t, db, tableOf(t, db, "notifications")) {
		t.Fatal("the table got the index before the restart; this test would prove nothing")
	}
	if err = db.Close(); err != nil {
		t.Fatal(err)
	}

	e = startServer(t, Options{DataDir: dir, MaintenanceInterval: time.Hour})
	assertIDStatementsUseIndex(t, e, "notification", "notifications")
}

// TestIDIndexAfterDatabaseRecreated checks that a database dropped and made again (a new file under the
// same name) is indexed in the new file, not through a connection to the removed one.
func TestIDIndexAfterDatabaseRecreated(t *testing.T) {
	e := startServer(t, Options{MaintenanceInterval: time.Hour})
	db := connect(t, e.URI()).Database("product")
	ctx := t.Context()
	if _, err := db.Collection("products").InsertOne(ctx, bson.M{"_id": "p1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "product.sqlite")); !os.IsNotExist(err) {
		t.Fatalf("FerretDB kept the file of the dropped database: %v", err)
	}
	if _, err := db.Collection("products").InsertOne(ctx, bson.M{"_id": "p2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	assertIDStatementsUseIndex(t, e, "product", "products")
}

// TestCheckpointRestartsLog checks the write-ahead log handling: FerretDB's connections do not checkpoint
// (the log grows past SQLite's default threshold), and one maintenance tick between commands lets the next
// write start the log over.
func TestCheckpointRestartsLog(t *testing.T) {
	e := startServer(t, Options{MaintenanceInterval: time.Hour}) // the tick is run by hand below
	c := connect(t, e.URI()).Database("order").Collection("orders")
	ctx := t.Context()
	pad := strings.Repeat("x", 3000)
	for i := range 2 * restartFrames {
		if _, err := c.InsertOne(ctx, bson.M{"_id": fmt.Sprint("o", i), "pad": pad}); err != nil {
			t.Fatal(err)
		}
	}
	// The log file never shrinks below what was written since the log last started over.
	const walFrameSize = 24 + 4096
	fi, err := os.Stat(filepath.Join(e.dir, "order.sqlite-wal"))
	if err != nil {
		t.Fatal(err)
	}
	if frames := fi.Size() / walFrameSize; frames < 2*restartFrames {
		t.Fatalf("log file holds %d frames after %d inserts; FerretDB's connections still checkpoint", frames, 2*restartFrames)
	}

	e.mu.Lock()
	err = e.maintain(ctx)
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.InsertOne(ctx, bson.M{"_id": "after"}); err != nil {
		t.Fatal(err)
	}
	var busy, logFrames, copied int
	db := openSQLiteFile(t, e, "order")
	if err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
		t.Fatal(err)
	}
	if logFrames >= restartFrames {
		t.Errorf("log has %d frames after a maintenance tick and one insert; it did not start over", logFrames)
	}
}
