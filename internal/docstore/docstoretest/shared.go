package docstoretest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
)

// Shared is one embedded store for all the tests of a package, started on
// first use in a temporary directory; each test gets a database of its own
// (NewDB), so tests stay independent while paying the store's start once.
//
//	var testStore = docstoretest.NewShared("user")
//	func TestMain(m *testing.M) { os.Exit(testStore.Run(m)) }
type Shared struct {
	prefix string
	seq    atomic.Int64

	once  sync.Once
	dir   string
	store *docstore.Store
	err   error
}

// NewShared returns a shared store whose test databases are named after
// prefix.
func NewShared(prefix string) *Shared { return &Shared{prefix: prefix} }

// Run runs the package's tests, then closes the store (if a test started it)
// and removes its directory. It returns m.Run's exit code, for os.Exit.
func (s *Shared) Run(m *testing.M) int {
	code := m.Run()
	if s.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.store.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "close embedded store:", err)
		}
		cancel()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	return code
}

// NewDB returns a database of the shared store that only the calling test
// uses, starting the store on first use.
func (s *Shared) NewDB(tb testing.TB) *mongo.Database {
	tb.Helper()
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "kitshop-"+s.prefix+"-test-"); s.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.store, s.err = embedded.Open(ctx, embedded.Config{DataDir: s.dir}, nil)
	})
	if s.err != nil {
		tb.Fatalf("embedded store: %v", s.err)
	}
	return s.store.Database(fmt.Sprintf("%s_test_%d", s.prefix, s.seq.Add(1)))
}

// Reader returns db, a database of the shared store, through a client of its
// own (docstore.Store.Reader), closed when tb ends.
func (s *Shared) Reader(tb testing.TB, db *mongo.Database) *mongo.Database {
	tb.Helper()
	r, err := s.store.Reader(tb.Context(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Close(context.Background()) })
	return r.Database(db.Name())
}
