package docstore

import (
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
)

// SocketName is the file name of the embedded store's Unix domain socket in its data directory; the MongoDB URI
// of a data directory's socket is [SocketURI].
const SocketName = "docstore.sock"

// SocketURI returns the MongoDB URI of the Unix domain socket of the embedded store whose data directory is
// dataDir, with the options of [ClientURI]: what a tool or a service in another process uses to reach a store
// started by cmd/shop or cmd/docstore. It fails if dataDir has no absolute form or the socket's path cannot be
// one: a socket address holds a path of at most 107 bytes on Linux and 103 on macOS and the BSDs, and the
// driver cannot read a path holding a colon from a URI. Whether a store is running there is for the connection
// to find out. A socket URI is a driver URI: the socket's path is escaped in its host part, which
// [net/url.Parse] refuses.
func SocketURI(dataDir string) (string, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("docstore: data directory %q: %w", dataDir, err)
	}
	path := filepath.Join(dir, SocketName)
	if err = usableSocketPath(path); err != nil {
		return "", fmt.Errorf("docstore: %w", err)
	}
	return socketURI(path), nil
}

// ClientURI adds to uri, the URI of an embedded store's TCP listener, the options every client of the
// embedded store uses: maxPoolSize=1, so that a client sends one command at a time (rule 1 of the package
// documentation), and retryWrites=false, since FerretDB advertises sessions but ignores transaction numbers, so
// the driver's retry of a write whose answer was lost would apply it twice.
func ClientURI(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("docstore: parse URI %q: %w", uri, err)
	}
	u.RawQuery = clientOptions(u.Query())
	return u.String(), nil
}

// socketURI is the URI of the Unix domain socket at path, with the options of ClientURI. The MongoDB driver
// reads the path from the host part, query-unescaped (connstring's sanitizeHost), so it is query-escaped
// here: its slashes, and any '+' or '%', survive.
func socketURI(path string) string {
	return "mongodb://" + url.QueryEscape(path) + "/?" + clientOptions(url.Values{})
}

// clientOptions sets in q the options of ClientURI and encodes it.
func clientOptions(q url.Values) string {
	q.Set("maxPoolSize", "1")
	q.Set("retryWrites", "false")
	return q.Encode()
}

// usableSocketPath says why path cannot be the embedded store's Unix domain socket, if it cannot: a socket
// address holds a path of at most maxSocketPath bytes, and the MongoDB driver splits a host at its last
// colon to find a port, even in a socket path.
func usableSocketPath(path string) error {
	if n, limit := len(path), maxSocketPath(); n > limit {
		return fmt.Errorf("socket path %s is %d bytes long, more than the %d a Unix socket address holds on %s",
			path, n, limit, runtime.GOOS)
	}
	if strings.Contains(path, ":") {
		return fmt.Errorf("socket path %s holds a colon, which a MongoDB URI cannot carry", path)
	}
	return nil
}

// maxSocketPath is the longest path of a Unix domain socket, leaving room for the terminating NUL that C
// clients write: sun_path is 104 bytes on macOS and the BSDs and 108 elsewhere (Linux, Windows).
func maxSocketPath() int {
	switch runtime.GOOS {
	case "darwin", "ios", "freebsd", "netbsd", "openbsd", "dragonfly":
		return 103
	}
	return 107
}
