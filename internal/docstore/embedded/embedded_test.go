package embedded

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/serve/servetest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/kitshop/kitshop/internal/docstore"
)

// TestFerretDBConnectionSettings opens a SQLite file with the URI FerretDB builds from ferretdbSQLiteURL for a
// database (its pool's databaseURI: the directory URI with the file name added) and checks that every setting
// of this package is in effect on such a connection, as SQLite reports it.
func TestFerretDBConnectionSettings(t *testing.T) {
	dir := t.TempDir()
	u, err := url.Parse(ferretdbSQLiteURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = path.Join(u.Path, "settings"+sqliteFileExt)
	u.Opaque = u.Path
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)

	tests := []struct {
		pragma string
		want   int64
	}{
		{"temp_store", 2},  // MEMORY
		{"synchronous", 1}, // NORMAL
		{"wal_autocheckpoint", 0},
		{"journal_size_limit", 64 << 20},
	}
	for _, tt := range tests {
		var got int64
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %d, want %d", tt.pragma, got, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "settings"+sqliteFileExt)); err != nil {
		t.Errorf("the connection did not open the file FerretDB would: %v", err)
	}
}

// shortDataDir returns a temporary data directory that can hold the embedded store's socket, or skips the
// test when the temporary directory of this machine cannot (too deep, or a colon in its path).
func shortDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := docstore.SocketURI(dir); err != nil {
		t.Skipf("no socket in the temporary directory here: %v", err)
	}
	return dir
}

// TestURIIsTheSocket checks the Unix domain socket: URI names it, with the client options, SocketURI of the
// data directory gives the same URI, the socket is the owner's only (0600) in a private directory, no TCP URI
// exists without Addr, a client on URI works, and Close removes the socket file.
func TestURIIsTheSocket(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(shortDataDir(t), "store")
	e := startServer(t, Options{DataDir: dir})
	socket := filepath.Join(dir, docstore.SocketName)

	if e.TCPURI() != "" {
		t.Errorf("TCPURI = %s without Addr, want none", e.TCPURI())
	}
	cs, err := connstring.ParseAndValidate(e.URI())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Hosts) != 1 || cs.Hosts[0] != socket || cs.MaxPoolSize != 1 || cs.RetryWrites {
		t.Errorf("URI %s: hosts %q, maxPoolSize %d, retryWrites %v; want %s, 1, false",
			e.URI(), cs.Hosts, cs.MaxPoolSize, cs.RetryWrites, socket)
	}
	if uri, err := docstore.SocketURI(dir); err != nil || uri != e.URI() {
		t.Errorf("SocketURI(%s) = %s, %v; want URI %s", dir, uri, err, e.URI())
	}
	fi, err := os.Lstat(socket)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("no socket at %s: %v", socket, err)
	}
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("socket mode %v, want 0600", perm)
		}
		if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
			t.Errorf("data directory mode %v (%v), want 0700", di.Mode().Perm(), err)
		}
	}

	s, err := docstore.Connect(ctx, e.URI(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Database("order").Collection("orders")
	if _, err = c.InsertOne(ctx, bson.M{"_id": "o1", "status": "Pending"}); err != nil {
		t.Fatalf("insert through the socket: %v", err)
	}
	var doc struct {
		Status string `bson:"status"`
	}
	if err = c.FindOne(ctx, bson.M{"_id": "o1"}).Decode(&doc); err != nil || doc.Status != "Pending" {
		t.Fatalf("find through the socket: %+v, %v", doc, err)
	}
	if err = s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	if err = e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err = os.Lstat(socket); !os.IsNotExist(err) {
		t.Errorf("the socket file is still there after Close: %v", err)
	}
}

// TestTCPIsOptIn checks a store given a loopback Addr: it listens on the socket and on TCP, warns that TCP is
// unauthenticated, and one server is behind both URIs.
func TestTCPIsOptIn(t *testing.T) {
	ctx := t.Context()
	var logs servetest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := startServer(t, Options{DataDir: shortDataDir(t), Addr: "127.0.0.1:0", Logger: logger})

	if u, err := url.Parse(e.TCPURI()); err != nil || u.Port() == "" {
		t.Fatalf("TCPURI %s is not a TCP URI: %v", e.TCPURI(), err)
	}
	if e.URI() == e.TCPURI() {
		t.Errorf("URI is the TCP URI %s, want the socket's", e.URI())
	}
	if want := `level=WARN msg="embedded document store listens on TCP: it has no authentication`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	if _, err := connect(t, e.URI()).Database("order").Collection("orders").InsertOne(ctx, bson.M{"_id": "o1"}); err != nil {
		t.Fatalf("insert through the socket: %v", err)
	}
	if err := connect(t, e.TCPURI()).Database("order").Collection("orders").FindOne(ctx, bson.M{"_id": "o1"}).Err(); err != nil {
		t.Errorf("find through TCP: %v", err)
	}
}

// TestOpenConnectsThroughSocket checks that Open's client of the embedded store it starts uses the socket:
// the driver's hosts, as Connect logs them, are the socket path.
func TestOpenConnectsThroughSocket(t *testing.T) {
	dir := shortDataDir(t)
	var logs servetest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := Open(t.Context(), Config{DataDir: dir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`msg="document store client created" hosts=[%s]`, filepath.Join(dir, docstore.SocketName))
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}

// TestNoSocketPath checks a data directory too deep for a socket: without Addr the start fails and says what
// to do; with Addr the store listens on TCP only, says so at Info, and URI is the TCP URI.
func TestNoSocketPath(t *testing.T) {
	// Longer than any system's socket path.
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 108))
	if _, err := Start(t.Context(), Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "shorter data directory") {
		t.Fatalf("Start without Addr = %v, want a socket path error", err)
	}
	if _, err := docstore.SocketURI(dir); err == nil {
		t.Errorf("SocketURI(%s) accepted a path too long for a socket", dir)
	}

	var logs servetest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := startServer(t, Options{DataDir: dir, Addr: "127.0.0.1:0", Logger: logger})
	if e.URI() != e.TCPURI() || e.URI() == "" {
		t.Errorf("URI = %s, want TCPURI %s", e.URI(), e.TCPURI())
	}
	if _, err := os.Lstat(filepath.Join(dir, docstore.SocketName)); !os.IsNotExist(err) {
		t.Errorf("a socket file was made: %v", err)
	}
	if want := `level=INFO msg="embedded document store listens on TCP only"`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	if err := connect(t, e.URI()).Ping(t.Context()); err != nil {
		t.Errorf("ping on URI: %v", err)
	}
}

// TestStartRefusesNonSocketAtSocketPath checks that a start leaves alone a file that is not a socket where the
// socket goes, fails, and does not keep the directory.
func TestStartRefusesNonSocketAtSocketPath(t *testing.T) {
	dir := shortDataDir(t)
	socket := filepath.Join(dir, docstore.SocketName)
	if err := os.WriteFile(socket, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Start = %v, want a not-a-socket error", err)
	}
	if b, err := os.ReadFile(socket); err != nil || string(b) != "not a socket" {
		t.Errorf("the file was touched: %q, %v", b, err)
	}
	if err := os.Remove(socket); err != nil {
		t.Fatal(err)
	}
	startServer(t, Options{DataDir: dir})
}

// crashDirEnv names, for the process TestRestartAfterUncleanStop starts, the data directory to serve until
// it is killed.
const crashDirEnv = "KITSHOP_DOCSTORE_TEST_CRASH_DIR"

// TestRestartAfterUncleanStop kills a process serving an embedded store (SIGKILL: no Close, the socket file
// and the write-ahead log stay) and starts a store on the same directory: it replaces the stale socket and
// serves the data written before the kill.
func TestRestartAfterUncleanStop(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		serveUntilKilled(t, dir)
		return
	}
	dir := shortDataDir(t)
	socket := filepath.Join(dir, docstore.SocketName)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a bound for a stuck child, not a speed requirement
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRestartAfterUncleanStop$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe() // held open until the kill; the child exits if this process dies first
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err = cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := false
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if sc.Text() == "ready" {
			ready = true
			break
		}
		t.Log("child: ", sc.Text())
	}
	if err = cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	if !ready {
		t.Fatal("the child process did not get its store ready")
	}
	if fi, err := os.Lstat(socket); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("the killed store left no socket file (%v); this test would prove nothing", err)
	}
	if conn, err := net.Dial("unix", socket); err == nil {
		_ = conn.Close()
		t.Fatal("the killed store's socket still accepts connections")
	}

	e := startServer(t, Options{DataDir: dir})
	var doc struct {
		Status string `bson:"status"`
	}
	err = connect(t, e.URI()).Database("order").Collection("orders").FindOne(t.Context(), bson.M{"_id": "o1"}).Decode(&doc)
	if err != nil || doc.Status != "Pending" {
		t.Fatalf("document written before the kill: %+v, %v", doc, err)
	}
}

// serveUntilKilled is the child process of TestRestartAfterUncleanStop: it starts a store on dir, writes a
// document through the socket, says "ready" on stdout and waits to be killed, or for its stdin to close
// should the parent die first.
func serveUntilKilled(t *testing.T, dir string) {
	ctx := t.Context()
	e, err := Start(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := docstore.Connect(ctx, e.URI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = s.Database("order").Collection("orders").InsertOne(ctx, bson.M{"_id": "o1", "status": "Pending"}); err != nil {
		t.Fatal(err)
	}
	if _, err = os.Stdout.WriteString("ready\n"); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.Fatal("the parent test process went away")
}

// TestStartTunesGC checks that hosting the store sets the collector's target and soft memory limit,
// that GOGC and GOMEMLIMIT, when set, win, and that a higher target or a lower limit stays.
func TestStartTunesGC(t *testing.T) {
	prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) })

	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "off")
	startServer(t, Options{})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the target became %d, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, the limit became %d, want it left off", got)
	}

	os.Unsetenv("GOGC") // t.Setenv restores them
	os.Unsetenv("GOMEMLIMIT")
	startServer(t, Options{})
	if got := debug.SetGCPercent(400); got != GCPercent {
		t.Errorf("without GOGC, the target is %d, want %d", got, GCPercent)
	}
	if got := debug.SetMemoryLimit(64 << 20); got != MemoryLimit {
		t.Errorf("without GOMEMLIMIT, the limit is %d, want %d", got, MemoryLimit)
	}
	startServer(t, Options{})
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("a higher target became %d, want it left at 400", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 64<<20 {
		t.Errorf("a lower limit became %d, want it left at %d", got, 64<<20)
	}
}
