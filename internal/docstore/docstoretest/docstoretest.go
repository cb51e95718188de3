// Package docstoretest helps the tests of the services check how they use the document store: a Recorder
// keeps every command a client sends, and AssertIDOnly fails a test when a command on a collection filters
// on anything but _id, the only lookup the embedded store serves from an index (see
// [docstore.Updater]). Start gives a test an embedded store of its own with a recording client.
package docstoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/docstore/embedded"
)

// Command is a command a client sent that reads or writes documents of a collection.
type Command struct {
	// Name is the command: find, findAndModify, update, delete, count, distinct or aggregate.
	Name string
	// Database and Collection are where it ran.
	Database, Collection string
	// Filters are the filters it selected documents with, one per statement (update and delete may carry
	// several): find's filter, findAndModify's query, each update's and delete's q, count's and distinct's
	// query. A statement without a filter has an empty document; aggregate has none.
	Filters []bson.Raw
}

// IDOnly reports whether c selects its documents by _id alone, the way the embedded store uses its _id
// index: every filter is exactly {_id: <string or ObjectID>}. Aggregations never do.
func (c Command) IDOnly() bool {
	if c.Name == "aggregate" || len(c.Filters) == 0 {
		return false
	}
	for _, f := range c.Filters {
		elems, err := f.Elements()
		if err != nil || len(elems) != 1 || elems[0].Key() != "_id" {
			return false
		}
		if t := elems[0].Value().Type; t != bson.TypeString && t != bson.TypeObjectID {
			return false
		}
	}
	return true
}

// String shows the command and its filters.
func (c Command) String() string {
	return fmt.Sprintf("%s %s.%s %v", c.Name, c.Database, c.Collection, c.Filters)
}

// Recorder keeps the document commands a client sends (see [Command]); other commands (insert, index and
// collection management, handshakes...) are not kept, only counted (see [Recorder.Take]). It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	cmds   []Command
	counts map[[2]string]map[string]int // every command on a collection, inserts too, by database and collection
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Monitor returns the command monitor to give the client ([options.ClientOptions.SetMonitor]).
func (r *Recorder) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: r.started}
}

// started counts e if it names a collection, and records it if it is a document command.
func (r *Recorder) started(_ context.Context, e *event.CommandStartedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if coll, ok := e.Command.Lookup(e.CommandName).StringValueOK(); ok {
		ns := [2]string{e.DatabaseName, coll}
		if r.counts == nil {
			r.counts = make(map[[2]string]map[string]int)
		}
		if r.counts[ns] == nil {
			r.counts[ns] = make(map[string]int)
		}
		r.counts[ns][e.CommandName]++
	}
	if c, ok := parse(e); ok {
		r.cmds = append(r.cmds, c)
	}
}

// Take returns how many commands of each name (insert, find, findAndModify, createIndexes...) the client
// sent on the collection coll of database db since the last Take of it, and starts counting again. Unlike
// [Recorder.Commands], it counts every command that names the collection, inserts included.
func (r *Recorder) Take(db, coll string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := [2]string{db, coll}
	got := r.counts[ns]
	delete(r.counts, ns)
	if got == nil {
		got = map[string]int{}
	}
	return got
}

// parse turns e into a Command if it is one to keep. The driver's started events carry a copy of the
// command, with the statements it sent as a document sequence put back as an array.
func parse(e *event.CommandStartedEvent) (Command, bool) {
	var statements, filter string // where the filters are: a field of the command, or of each statement
	switch e.CommandName {
	case "find":
		filter = "filter"
	case "findAndModify", "count", "distinct":
		filter = "query"
	case "update":
		statements, filter = "updates", "q"
	case "delete":
		statements, filter = "deletes", "q"
	case "aggregate":
	default:
		return Command{}, false
	}
	coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
	c := Command{Name: e.CommandName, Database: e.DatabaseName, Collection: coll}
	switch {
	case filter == "":
	case statements == "":
		c.Filters = append(c.Filters, filterOf(e.Command, filter))
	default:
		stmts, _ := e.Command.Lookup(statements).ArrayOK()
		values, _ := stmts.Values()
		for _, v := range values {
			if doc, ok := v.DocumentOK(); ok {
				c.Filters = append(c.Filters, filterOf(doc, filter))
			}
		}
	}
	return c, true
}

// filterOf returns a copy of the document field key of doc, or an empty document.
func filterOf(doc bson.Raw, key string) bson.Raw {
	if f, ok := doc.Lookup(key).DocumentOK(); ok {
		return slices.Clone(f)
	}
	return bson.Raw{5, 0, 0, 0, 0}
}

// Commands returns the commands recorded on the collection coll of database db, oldest first.
func (r *Recorder) Commands(db, coll string) []Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Command
	for _, c := range r.cmds {
		if c.Database == db && c.Collection == coll {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the commands recorded so far, e.g. those of a test's set-up.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.cmds = nil
	r.mu.Unlock()
}

// CheckIDOnly returns an error listing every command recorded on db.coll that filters on anything but _id,
// or saying that none was recorded (a check of nothing proves nothing).
func (r *Recorder) CheckIDOnly(db, coll string) error {
	cmds := r.Commands(db, coll)
	if len(cmds) == 0 {
		return fmt.Errorf("no find, findAndModify, update, delete, count, distinct or aggregate on %s.%s was recorded", db, coll)
	}
	var errs []error
	for _, c := range cmds {
		if !c.IDOnly() {
			errs = append(errs, fmt.Errorf("%s does not filter on _id alone: it reads the whole collection on the embedded store", c))
		}
	}
	return errors.Join(errs...)
}

// AssertIDOnly fails tb unless commands were recorded on db.coll and all of them filter on _id alone.
func (r *Recorder) AssertIDOnly(tb testing.TB, db, coll string) {
	tb.Helper()
	if err := r.CheckIDOnly(db, coll); err != nil {
		tb.Error(err)
	}
}

// Start starts an embedded store in a temporary directory of tb and returns a client of it that records
// its commands in the returned Recorder. Both are closed when the test ends.
//
// Call it from a test that is not parallel: FerretDB v1's ferretdb.New writes a package variable
// (version.Get().Package), so two embedded stores starting at the same time race, and go test -race
// reports it. A non-parallel test runs while the parallel ones wait.
func Start(tb testing.TB) (*mongo.Client, *Recorder) {
	tb.Helper()
	e, err := embedded.Start(tb.Context(), embedded.Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("docstoretest: start embedded store: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("docstoretest: stop embedded store: %v", err)
		}
	})
	r := NewRecorder()
	client, err := mongo.Connect(options.Client().ApplyURI(e.URI()).SetMonitor(r.Monitor()))
	if err != nil {
		tb.Fatalf("docstoretest: connect: %v", err)
	}
	tb.Cleanup(func() { // registered last, so it runs before the store stops
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			tb.Errorf("docstoretest: disconnect: %v", err)
		}
	})
	return client, r
}
