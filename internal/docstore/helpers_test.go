package docstore

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// startEmbedded starts an embedded store in a temporary directory and stops it when the test ends.
func startEmbedded(tb testing.TB, opts EmbeddedOptions) *Embedded {
	tb.Helper()
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	e, err := StartEmbedded(tb.Context(), opts)
	if err != nil {
		tb.Fatalf("StartEmbedded: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("Embedded.Close: %v", err)
		}
	})
	return e
}

// connect makes a Store for uri and closes it when the test ends (before the server it uses stops).
func connect(tb testing.TB, uri string) *Store {
	tb.Helper()
	s, err := Connect(tb.Context(), uri, testLogger(tb))
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
func openSQLiteFile(tb testing.TB, e *Embedded, dbName string) *sql.DB {
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
