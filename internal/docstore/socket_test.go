package docstore

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// TestSocketURI checks that the MongoDB driver reads the socket path back from socketURI, whatever the path
// holds besides a colon, and takes it for a Unix domain socket.
func TestSocketURI(t *testing.T) {
	for _, p := range []string{
		"/var/lib/kitshop/docstore.sock",
		"/tmp/a b+c%d,e@f?g#h&i=j/docstore.sock",
	} {
		cs, err := connstring.ParseAndValidate(socketURI(p))
		if err != nil {
			t.Errorf("socketURI(%q) = %q: %v", p, socketURI(p), err)
			continue
		}
		if len(cs.Hosts) != 1 || cs.Hosts[0] != p {
			t.Errorf("socketURI(%q): the driver reads hosts %q", p, cs.Hosts)
		}
		if cs.MaxPoolSize != 1 || !cs.RetryWritesSet || cs.RetryWrites {
			t.Errorf("socketURI(%q) = %q lacks the client options", p, socketURI(p))
		}
	}
}

// TestUsableSocketPath checks which paths the embedded store refuses for its socket, and that the longest it
// accepts can be listened on here.
func TestUsableSocketPath(t *testing.T) {
	const suffix = "/x/" + SocketName
	limit := maxSocketPath()
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"short", "/tmp" + suffix, true},
		{"at the limit", "/" + strings.Repeat("d", limit-1-len(suffix)) + suffix, true},
		{"one byte too long", "/" + strings.Repeat("d", limit-len(suffix)) + suffix, false},
		{"with a colon", "/tmp/a:b" + suffix, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := usableSocketPath(tt.path); (err == nil) != tt.ok {
				t.Errorf("usableSocketPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
			}
		})
	}

	t.Run("listen at the limit", func(t *testing.T) {
		dir := t.TempDir()
		pad := limit - len(filepath.Join(dir, "d", SocketName)) + 1
		if pad < 1 {
			t.Skipf("temporary directory %s is too deep", dir)
		}
		p := filepath.Join(dir, strings.Repeat("d", pad), SocketName)
		if err := os.Mkdir(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if len(p) != limit || usableSocketPath(p) != nil {
			t.Fatalf("path of %d bytes, want %d and usable", len(p), limit)
		}
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatalf("listen on a socket path of %d bytes: %v", len(p), err)
		}
		if err = l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReaderConnections: a Reader of the embedded store, whose URI allows one connection, may open
// ReaderConnections; the writer's client keeps the URI's one; a URI allowing more, or setting no limit,
// is left as it is.
func TestReaderConnections(t *testing.T) {
	embeddedURI := socketURI("/tmp/x.sock") // as the embedded store gives it
	limit := func(uri string, min uint64) uint64 {
		if p := connectOptions(uri, min).MaxPoolSize; p != nil {
			return *p
		}
		return 0 // the driver's default
	}
	for _, tc := range []struct {
		uri            string
		writer, reader uint64
	}{
		{embeddedURI, 1, ReaderConnections},
		{"mongodb://db.example:27017/?maxPoolSize=50", 50, 50},
		{"mongodb://db.example:27017/", 0, 0},
	} {
		if got := limit(tc.uri, 0); got != tc.writer {
			t.Errorf("%s: writer's limit %d, want %d", tc.uri, got, tc.writer)
		}
		if got := limit(tc.uri, ReaderConnections); got != tc.reader {
			t.Errorf("%s: reader's limit %d, want %d", tc.uri, got, tc.reader)
		}
	}
}
