package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the SQLite driver FerretDB uses (pure Go); registers "sqlite" with database/sql
)

// Names and SQL of FerretDB v1.24.2's SQLite backend (internal/backends/sqlite), kept here because its
// packages are internal. Check them again when upgrading FerretDB.
const (
	// sqliteFileExt ends every database file: the database "user" is <DataDir>/user.sqlite.
	sqliteFileExt = ".sqlite"

	// metadataTable lists, per database file, each collection's table (columns name, table_name, settings).
	metadataTable = "_ferretdb_collections"

	// idExpr is, byte for byte, the expression FerretDB filters _id on (metadata.IDColumn):
	//
	//	SELECT _ferretdb_sjson FROM "<table>" WHERE _ferretdb_sjson->'$._id' = ?
	//	UPDATE "<table>" SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?
	//	DELETE FROM "<table>" WHERE _ferretdb_sjson->'$._id' IN (?, ...)
	//
	// SQLite uses an expression index only for the same expression, and FerretDB's own unique index is on
	// _ferretdb_sjson->"_id", which is a different expression.
	idExpr = `_ferretdb_sjson->'$._id'`

	// idIndexPrefix starts the name of the index this package adds; the collection's table name follows.
	// FerretDB names its own indexes <table>_<mongo index name>, so the two never clash.
	idIndexPrefix = "kitshop_id_"

	// sqliteBusyTimeout is how long (ms) a statement here waits for FerretDB's locks, FerretDB's own value.
	sqliteBusyTimeout = "10000"

	// checkpointBusyTimeout is how long (ms) a FULL checkpoint waits for the write lock and for readers of
	// older snapshots; writers wait for it meanwhile.
	checkpointBusyTimeout = "10"

	// restartFrames is the size of the write-ahead log, in pages of 4 KiB, from which checkpoint makes sure
	// the log starts over: SQLite's own default checkpoint threshold.
	restartFrames = 1000
)

// Settings of FerretDB's SQLite connections, passed as _pragma parameters of its SQLite URI; FerretDB adds its
// own (busy_timeout(10000), journal_mode(wal), auto_vacuum(none)) after these.
const (
	// pragmaSynchronous: in WAL mode, NORMAL syncs the log at checkpoints rather than at every commit. A commit
	// survives a crash of the process; a power loss or OS crash may lose the last commits, never the database.
	// It halves the cost of an update (docs/docstore.md).
	pragmaSynchronous = "synchronous(normal)"

	// pragmaAutocheckpoint leaves checkpoints to the maintenance ticker (see checkpoint).
	pragmaAutocheckpoint = "wal_autocheckpoint(0)"

	// pragmaJournalSizeLimit shrinks the write-ahead log file back to 64 MiB when the log starts over after a
	// burst made it bigger.
	pragmaJournalSizeLimit = "journal_size_limit(67108864)"

	// pragmaTempStore keeps SQLite's temporary files, statement journals included, in memory without limit.
	// FerretDB runs each UPDATE inside a transaction; as far as SQLite knows, its WHERE on the _id expression
	// may match several rows (our index on it is not unique) and the new row may break FerretDB's unique _id
	// index, so every update keeps a statement journal, to undo that statement alone should it fail half way.
	// With SQLite's default temp_store, that journal stays in memory only up to 64 KiB and starts with one
	// 64 KiB chunk, which the SQLite FerretDB uses (modernc.org/sqlite: SQLite translated to Go, with its own
	// C library) takes from the OS: one mmap and three munmap system calls per update (strace). With
	// temp_store(memory) the journal grows in 1 KiB chunks from the ordinary heap, and an update costs a
	// fifth less (docs/docstore.md).
	pragmaTempStore = "temp_store(memory)"
)

// sqliteFile is a connection of this package to one database file.
type sqliteFile struct {
	db *sql.DB
	fi os.FileInfo // of the file when it was opened, to notice that it was dropped and made again
}

// EnsureIndexes creates the _id expression index on every collection table of every database in the data
// directory that lacks it, and does nothing else. Start-up and the periodic maintenance call it; call it
// yourself to have the index at once, e.g. right after creating collections.
//
// Why here, and why this way: FerretDB's SQLite handler offers no hook on collection creation, and collections
// appear whenever any client first writes to them, from this process or another one served by this server.
// The code that owns the SQLite files therefore keeps them indexed: once at start (existing tables), on demand
// (this method), and at each maintenance tick, which costs one small query per database file, so a table
// created by a client elsewhere is indexed within [Options.MaintenanceInterval], while it is still
// small (until then its _id lookups scan the few rows it has). Creating the index takes FerretDB's write lock
// briefly (FerretDB waits for it, busy_timeout) and is done once per table; SQLite drops it with the table.
func (e *Server) EnsureIndexes(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.refreshFiles(); err != nil {
		return err
	}
	var errs []error
	for name, f := range e.files {
		if err := e.ensureIndexes(ctx, name, f.db); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maintain runs one maintenance tick: index new tables, then checkpoint every write-ahead log.
// The caller holds e.mu.
func (e *Server) maintain(ctx context.Context) error {
	if err := e.refreshFiles(); err != nil {
		return err
	}
	var errs []error
	for name, f := range e.files {
		if err := e.ensureIndexes(ctx, name, f.db); err != nil {
			errs = append(errs, err)
		}
		if err := checkpoint(ctx, name, f.db); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkpoint copies the write-ahead log of db into the database file and, when the log has grown, makes the
// next write start it over. SQLite starts the log over only when a write begins after a checkpoint that copied
// every frame, while no reader uses the log. Checkpointing at commit (SQLite's default) does not get there on
// a busy FerretDB database: an update keeps its read open while it writes, so the frames just written can
// never be copied at that moment, every later commit tries again, and the log grows without end while commits
// get slower. So FerretDB's
// connections do not checkpoint (wal_autocheckpoint(0)) and this runs at every maintenance tick instead:
//   - a PASSIVE checkpoint copies what it can without waiting for or blocking anyone;
//   - once the log is past restartFrames, a FULL checkpoint holds off writers for a moment (at most
//     checkpointBusyTimeout to get the write lock) to copy the few frames committed meanwhile, so the log is
//     complete and the next write can start it over. That works whenever the checkpoint lands between
//     commands or during an insert or a read; during an update it does not, and a later tick tries again.
//     Under an unbroken stream of updates the log keeps growing until the first pause or other command,
//     then journal_size_limit shrinks the file (docs/docstore.md).
func checkpoint(ctx context.Context, name string, db *sql.DB) error {
	var busy, logFrames, copied int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
		return fmt.Errorf("docstore: checkpoint %s: %w", name, err)
	}
	if logFrames < restartFrames { // also -1: not (yet) in WAL mode
		return nil
	}
	if _, err := db.ExecContext(ctx, "PRAGMA busy_timeout = "+checkpointBusyTimeout); err != nil {
		return fmt.Errorf("docstore: checkpoint %s: %w", name, err)
	}
	// busy = 1 only means that the write lock or a reader was not free in time: the next tick tries again.
	err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(FULL)").Scan(&busy, &logFrames, &copied)
	if _, resetErr := db.ExecContext(ctx, "PRAGMA busy_timeout = "+sqliteBusyTimeout); resetErr != nil {
		err = errors.Join(err, resetErr)
	}
	if err != nil {
		return fmt.Errorf("docstore: checkpoint %s: %w", name, err)
	}
	return nil
}

// ensureIndexes creates the missing _id expression indexes in one database file.
func (e *Server) ensureIndexes(ctx context.Context, name string, db *sql.DB) error {
	tables, err := tablesWithoutIDIndex(ctx, db)
	if err != nil {
		return fmt.Errorf("docstore: ensure _id indexes in %s: %w", name, err)
	}
	for _, table := range tables {
		q := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", quoteIdent(idIndexPrefix+table), quoteIdent(table), idExpr)
		if _, err = db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("docstore: create _id index on table %s in %s: %w", table, name, err)
		}
		e.logger.InfoContext(ctx, "created _id expression index",
			slog.String("database", strings.TrimSuffix(name, sqliteFileExt)), slog.String("table", table))
	}
	return nil
}

// tablesWithoutIDIndex lists the collection tables of db that lack the _id expression index.
// A file FerretDB has just created may not have its metadata table yet: it then has no collections either.
func tablesWithoutIDIndex(ctx context.Context, db *sql.DB) ([]string, error) {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, metadataTable).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("look for metadata table: %w", err)
	}
	if n == 0 {
		return nil, nil
	}

	rows, err := db.QueryContext(ctx, fmt.Sprintf(`
		SELECT c.table_name
		FROM %s AS c
		JOIN sqlite_schema AS t ON t.type = 'table' AND t.name = c.table_name
		WHERE NOT EXISTS (
			SELECT 1 FROM sqlite_schema AS i
			WHERE i.type = 'index' AND i.tbl_name = c.table_name AND i.name = ? || c.table_name
		)`, quoteIdent(metadataTable)), idIndexPrefix)
	if err != nil {
		return nil, fmt.Errorf("list collection tables: %w", err)
	}
	defer rows.Close()

	var tables []string
	for rows.Next() {
		var t string
		if err = rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("list collection tables: %w", err)
		}
		tables = append(tables, t)
	}
	if err = rows.Err(); err != nil {
		return nil, fmt.Errorf("list collection tables: %w", err)
	}
	return tables, nil
}

// refreshFiles makes e.files hold one connection to each database file now in the data directory: it opens
// new files, and closes the connections of files that were removed or replaced (a dropped database made
// again). The caller holds e.mu.
func (e *Server) refreshFiles() error {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return fmt.Errorf("docstore: list data directory: %w", err)
	}
	var errs []error
	seen := make(map[string]bool, len(entries))
	for _, entry := range entries {
		name := entry.Name()
		if entry.IsDir() || !strings.HasSuffix(name, sqliteFileExt) {
			continue
		}
		path := filepath.Join(e.dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // dropped just now
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("docstore: %w", err))
			continue
		}
		seen[name] = true
		if f := e.files[name]; f != nil {
			if os.SameFile(f.fi, fi) {
				continue
			}
			_ = f.db.Close()
		}
		db, err := openSQLite(path)
		if err != nil {
			delete(e.files, name)
			errs = append(errs, err)
			continue
		}
		e.files[name] = &sqliteFile{db: db, fi: fi}
	}
	for name, f := range e.files {
		if !seen[name] {
			_ = f.db.Close()
			delete(e.files, name)
		}
	}
	return errors.Join(errs...)
}

// closeFiles closes every connection of this package. The caller holds e.mu.
func (e *Server) closeFiles() error {
	var errs []error
	for name, f := range e.files {
		if err := f.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("docstore: close %s: %w", name, err))
		}
		delete(e.files, name)
	}
	return errors.Join(errs...)
}

// openSQLite opens an existing database file with one connection. mode=rw never creates the file: a database
// that FerretDB drops (removes) while we look must stay gone, or FerretDB would fail to open the empty file
// at its next start.
func openSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "rw")
	q.Add("_pragma", "busy_timeout("+sqliteBusyTimeout+")")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("docstore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// quoteIdent quotes a SQLite identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
