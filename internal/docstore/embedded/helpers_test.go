package embedded

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/docstore"
)

// testLogger sends records to the test log, so they show only for failing tests or with -v.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// tbWriter writes to the test log.
type tbWriter struct{ tb testing.TB }

// Write implements io.Writer.
func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startServer starts an embedded store in a temporary directory and stops it when the test ends.
func startServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	e, err := Start(tb.Context(), opts)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("Server.Close: %v", err)
		}
	})
	return e
}

// connect makes a Store for uri and closes it when the test ends (before the server it uses stops).
func connect(tb testing.TB, uri string) *docstore.Store {
	tb.Helper()
	s, err := docstore.Connect(tb.Context(), uri, testLogger(tb))
	if err != nil {
		tb.Fatalf("Connect: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("Store.Close: %v", err)
		}
	})
	return s
}

// openSQLiteFile opens the SQLite file of database dbName in e's data directory, as FerretDB's neighbor.
func openSQLiteFile(tb testing.TB, e *Server, dbName string) *sql.DB {
	tb.Helper()
	db, err := openSQLite(filepath.Join(e.dir, dbName+sqliteFileExt))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// tableOf returns the SQLite table FerretDB keeps collection coll in, from its metadata table.
func tableOf(tb testing.TB, db *sql.DB, coll string) string {
	tb.Helper()
	var table string
	q := `SELECT table_name FROM ` + quoteIdent(metadataTable) + ` WHERE name = ?`
	if err := db.QueryRowContext(tb.Context(), q, coll).Scan(&table); err != nil {
		tb.Fatalf("table of collection %s: %v", coll, err)
	}
	return table
}
