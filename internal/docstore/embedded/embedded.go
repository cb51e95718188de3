package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"

	"github.com/kitshop/kitshop/internal/docstore"
)

// Defaults of [Options].
const (
	// DefaultMaintenanceInterval is how often the embedded server indexes new collection tables and
	// checkpoints the SQLite write-ahead logs (see the package documentation).
	DefaultMaintenanceInterval = 250 * time.Millisecond
)

// ferretdbNewMu serializes ferretdb.New, which writes a package-level variable of FerretDB's
// (version.Get().Package): two embedded stores starting at once (tests, a process with several stores)
// would race on it. It is the only global of this package, and it guards the dependency's, not ours.
var ferretdbNewMu sync.Mutex

// Options configures [Start].
type Options struct {
	// DataDir holds one SQLite file per database (<name>.sqlite). It is created if missing. Required.
	DataDir string

	// Addr is an optional TCP address to listen on besides the Unix domain socket, host:port. The host must be
	// a loopback address or "localhost", and even so any local user of the machine can connect: the embedded
	// store has no authentication, so a TCP listener is logged at Warn. Empty (the default): no TCP listener.
	Addr string

	// Logger receives this package's records, and FerretDB's at Warn level and above (FerretDB is very chatty
	// below that). Nil discards everything.
	Logger *slog.Logger

	// MaintenanceInterval is how often new collection tables get the _id expression index and the
	// write-ahead logs are checkpointed. Zero means [DefaultMaintenanceInterval]; it must not be negative.
	MaintenanceInterval time.Duration
}

// Server is a FerretDB server running inside this process, storing its data in SQLite files under a data
// directory. It owns those files and keeps them fit for a steady load whoever the clients are, in this process
// or another one: every collection table gets the expression index that FerretDB's _id lookups and updates can
// use, and the write-ahead logs are checkpointed in the background (see the package documentation).
//
// Only one Server at a time may use a data directory: [Start] takes an exclusive lock on it, which
// [Server.Close] releases.
type Server struct {
	dir    string
	uri    string // the socket's URI, or tcpURI when there is no socket
	tcpURI string // the TCP listener's URI; empty without one
	socket string // path of the Unix domain socket; empty when it listens on TCP only
	logger *slog.Logger

	lock *dirLock

	stopServer       context.CancelFunc
	serverDone       chan struct{}
	stopMaintenance  context.CancelFunc
	maintenanceDone  chan struct{}
	maintenanceError bool // last periodic maintenance failed; guarded by mu

	// mu serializes the SQLite-side work (EnsureIndexes, the periodic maintenance, Close) and guards files.
	mu    sync.Mutex
	files map[string]*sqliteFile // by file name, e.g. "user.sqlite"

	closeOnce sync.Once
	closeErr  error
}

// Start starts FerretDB v1 with its SQLite handler on opts.DataDir, makes sure every existing collection
// table has the _id expression index, and starts the periodic maintenance. It returns once the server accepts
// connections at [Server.URI]. ctx bounds the start-up only. It sets the process's garbage collection target
// and soft memory limit ([GCPercent], [MemoryLimit]) unless GOGC or GOMEMLIMIT is set (see the
// package documentation).
//
// The server listens on the Unix domain socket <DataDir>/docstore.sock, replacing one a crashed predecessor
// left there, with mode 0600 (set before the server accepts its first connection): only the user running the
// process can connect, the store having no authentication of its own. The data directory is created with mode
// 0700. If the socket's path is longer than the operating system allows (107 bytes on Linux, 103 on macOS and
// the BSDs), holds a colon, which a MongoDB URI cannot carry, or the file system refuses a socket there, the
// start fails, unless opts.Addr is set: then it listens on TCP only (logged). With opts.Addr it also listens on
// that loopback TCP address, which any local user can reach (logged at Warn).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("docstore: embedded store: data directory is required")
	}
	if opts.MaintenanceInterval < 0 {
		return nil, fmt.Errorf("docstore: embedded store: maintenance interval %s is negative", opts.MaintenanceInterval)
	}
	interval := opts.MaintenanceInterval
	if interval == 0 {
		interval = DefaultMaintenanceInterval
	}
	addr := opts.Addr
	if addr != "" {
		if err := checkLoopback(addr); err != nil {
			return nil, err
		}
	}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	logger := base.With(slog.String("component", "docstore"))

	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("docstore: embedded store: data directory %q: %w", opts.DataDir, err)
	}
	if err = os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("docstore: embedded store: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("docstore: embedded store: %w", err)
	}
	socket, socketURI, err := prepareSocket(ctx, logger, dir, addr != "")
	if err != nil {
		_ = lock.release()
		return nil, err
	}

	tuneGC()
	ferretdbNewMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr, Unix: socket},
		Handler:   "sqlite",
		SQLiteURL: ferretdbSQLiteURL(dir),
		Logger:    slog.New(ferretdbLogHandler{next: base.Handler()}).With(slog.String("component", "ferretdb")),
	})
	ferretdbNewMu.Unlock()
	if err != nil {
		_ = lock.release()
		return nil, fmt.Errorf("docstore: embedded store: start FerretDB: %w", err)
	}
	// ferretdb.New has bound the listeners, and Run has not accepted a connection yet.
	if socket != "" {
		if err = os.Chmod(socket, 0o600); err != nil {
			stopped, stop := context.WithCancel(context.Background())
			stop()
			_ = f.Run(stopped) // closes the listeners and the SQLite files
			_ = lock.release()
			return nil, fmt.Errorf("docstore: embedded store: restrict socket %s: %w", socket, err)
		}
	}

	serverCtx, stopServer := context.WithCancel(context.Background())
	e := &Server{
		dir:        dir,
		socket:     socket,
		logger:     logger,
		lock:       lock,
		stopServer: stopServer,
		serverDone: make(chan struct{}),
		files:      map[string]*sqliteFile{},
	}
	go func() {
		defer close(e.serverDone)
		_ = f.Run(serverCtx) // always nil; it returns after the listener, connections and SQLite files are closed
	}()

	if addr != "" {
		// With a TCP listener, FerretDB's URI is the TCP one.
		if e.tcpURI, err = docstore.ClientURI(f.MongoDBURI()); err != nil {
			return nil, errors.Join(fmt.Errorf("docstore: embedded store: %w", err), e.Close())
		}
		logger.WarnContext(ctx, "embedded document store listens on TCP: it has no authentication, any local user can connect",
			slog.String("uri", e.tcpURI))
	}
	e.uri = e.tcpURI
	if socket != "" {
		e.uri = socketURI
	}
	if err = e.EnsureIndexes(ctx); err != nil {
		return nil, errors.Join(err, e.Close())
	}

	maintenanceCtx, stopMaintenance := context.WithCancel(context.Background())
	e.stopMaintenance = stopMaintenance
	e.maintenanceDone = make(chan struct{})
	go e.maintainEvery(maintenanceCtx, interval)

	logger.InfoContext(ctx, "embedded document store started",
		slog.String("dir", dir), slog.String("uri", e.uri), slog.String("tcp", e.tcpURI))
	return e, nil
}

// The garbage collection settings of a process that hosts the embedded store, unless its GOGC or GOMEMLIMIT
// environment variable says otherwise: a target of GCPercent (GOGC) and a soft limit of
// MemoryLimit bytes on the memory the Go runtime manages (GOMEMLIMIT), near which the collector runs
// more often. docs/docstore.md ("Garbage collection") gives the measurements behind the values.
const (
	GCPercent   = 300
	MemoryLimit = 96 << 20
)

// tuneGC applies GCPercent and MemoryLimit, each unless its environment variable is set or the
// process has a higher target or a lower limit already.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		if prev := debug.SetGCPercent(GCPercent); prev > GCPercent || prev < 0 {
			debug.SetGCPercent(prev)
		}
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if prev := debug.SetMemoryLimit(MemoryLimit); prev < MemoryLimit {
			debug.SetMemoryLimit(prev)
		}
	}
}

// URI returns the MongoDB URI of the server's Unix domain socket ([docstore.SocketURI] of its data directory), or of its
// TCP listener when it listens on TCP only, for clients in this process, in other processes of the same user,
// and for tools. It carries maxPoolSize=1 and retryWrites=false, so every client made from it, in any process,
// sends one command at a time and never replays a write (rule 1 of package docstore, [docstore.ClientURI]). A socket URI is a
// driver URI: the socket's path is escaped in its host part, which [net/url.Parse] refuses. Each command costs
// less through the socket than through loopback TCP.
func (e *Server) URI() string { return e.uri }

// TCPURI returns the MongoDB URI of the server's TCP listener, with the options of [Server.URI], or "" when
// [Options.Addr] was empty.
func (e *Server) TCPURI() string { return e.tcpURI }

// Close stops the periodic maintenance and the server (waiting up to a few seconds for clients still connected
// to go away), closes the SQLite files, removes the socket file and releases the data directory. It is safe to
// call more than once.
func (e *Server) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		if e.stopMaintenance != nil {
			e.stopMaintenance()
			<-e.maintenanceDone
		}
		e.mu.Lock()
		errs = append(errs, e.closeFiles())
		e.mu.Unlock()
		// The server closes its SQLite connections last: the last one to close checkpoints and removes the
		// write-ahead log.
		e.stopServer()
		<-e.serverDone
		// Closing the listener normally removes the socket file; a file left by a failure must not outlive
		// the directory lock that makes it ours.
		if e.socket != "" {
			if err := os.Remove(e.socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("docstore: remove socket: %w", err))
			}
		}
		errs = append(errs, e.lock.release())
		e.closeErr = errors.Join(errs...)
		e.logger.Info("embedded document store stopped", slog.String("dir", e.dir))
	})
	return e.closeErr
}

// maintainEvery runs maintain every interval until ctx is canceled. A failure is logged once, when it starts,
// and the recovery too, so a persistent problem does not flood the log.
func (e *Server) maintainEvery(ctx context.Context, interval time.Duration) {
	defer close(e.maintenanceDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.mu.Lock()
			err := e.maintain(ctx)
			switch {
			case err != nil && ctx.Err() == nil && !e.maintenanceError:
				e.logger.WarnContext(ctx, "embedded store maintenance failed; retrying", slog.Any("error", err))
				e.maintenanceError = true
			case err == nil && e.maintenanceError:
				e.logger.InfoContext(ctx, "embedded store maintenance recovered")
				e.maintenanceError = false
			}
			e.mu.Unlock()
		}
	}
}

// ferretdbSQLiteURL is the SQLite URI handed to FerretDB: the data directory plus connection settings.
// FerretDB adds its own defaults after them (busy_timeout(10000), journal_mode(wal), auto_vacuum(none)), and
// applies every _pragma to each connection it opens. docs/docstore.md ("SQLite settings") gives the reasons.
func ferretdbSQLiteURL(dir string) string {
	q := url.Values{}
	for _, p := range []string{pragmaSynchronous, pragmaAutocheckpoint, pragmaJournalSizeLimit, pragmaTempStore} {
		q.Add("_pragma", p)
	}
	return (&url.URL{Scheme: "file", Path: dir + "/", RawQuery: q.Encode()}).String()
}

// prepareSocket returns the path and URI of the Unix domain socket of the data directory dir if the embedded
// store can listen there, after removing a stale socket file. When it cannot, it fails, or with hasTCP returns
// "" (and logs why). The caller holds the directory lock. Its errors are complete, ready to return.
func prepareSocket(ctx context.Context, logger *slog.Logger, dir string, hasTCP bool) (path, uri string, err error) {
	unusable := func(err error) (string, string, error) {
		if !hasTCP {
			return "", "", fmt.Errorf("docstore: embedded store: %w (use a shorter data directory, or give a loopback TCP address)", err)
		}
		logger.InfoContext(ctx, "embedded document store listens on TCP only", slog.Any("reason", err))
		return "", "", nil
	}
	path = filepath.Join(dir, docstore.SocketName)
	if uri, err = docstore.SocketURI(dir); err != nil {
		return unusable(err)
	}
	if err = removeStaleSocket(path); err != nil {
		return "", "", fmt.Errorf("docstore: embedded store: %w", err)
	}
	// FerretDB gives up entirely when a listener fails (and keeps its TCP port): try the socket first.
	l, err := net.Listen("unix", path)
	if err != nil {
		return unusable(fmt.Errorf("cannot listen on socket %s: %w", path, err))
	}
	if err = l.Close(); err != nil { // which removes the file
		return "", "", fmt.Errorf("docstore: embedded store: try socket %s: %w", path, err)
	}
	return path, uri, nil
}

// removeStaleSocket removes the socket file at path that a store that did not stop cleanly (a crash, a kill)
// left behind; listening on the path would fail with "address already in use" otherwise. The caller holds
// the directory lock, so no running store owns it. Anything there that is not a socket is left alone, and
// the start fails.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	return os.Remove(path)
}

// checkLoopback refuses listen addresses that are reachable from other machines.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("docstore: embedded store: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("docstore: embedded store: listen address %q is not loopback; the embedded store has no authentication", addr)
}
