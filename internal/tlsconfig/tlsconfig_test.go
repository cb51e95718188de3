package tlsconfig

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/tlsconfig/tlstest"
)

// serveHealth starts a grpcserver with creds on loopback and returns its
// address; it is SERVING.
func serveHealth(t *testing.T, creds Credentials) string {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{ServerOptions: creds.ServerOptions()})
	srv.Ready()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// load is Load that fails the test.
func load(t *testing.T, files config.TLS, logger *slog.Logger) Credentials {
	t.Helper()
	creds, err := Load(files, logger)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// check calls the health service at addr through a new connection made with
// opts, and returns the peer it reached.
func check(t *testing.T, addr string, opts ...grpc.DialOption) (*peer.Peer, error) {
	t.Helper()
	conn, err := grpcclient.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var p peer.Peer
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, want SERVING", resp.GetStatus())
	}
	return &p, err
}

// rawClient returns dial options with a hand-made client TLS config trusting
// roots and presenting certs.
func rawClient(roots *x509.CertPool, maxVersion uint16, certs ...tls.Certificate) grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, Certificates: certs, MaxVersion: maxVersion,
	}))
}

func peerSerial(t *testing.T, p *peer.Peer) *big.Int {
	t.Helper()
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		t.Fatalf("peer auth info %T, want TLS", p.AuthInfo)
	}
	if v := info.State.Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(v))
	}
	return info.State.PeerCertificates[0].SerialNumber
}

func serialOf(t *testing.T, c tlstest.Cert) *big.Int {
	t.Helper()
	block, _ := pem.Decode(c.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	serverCert := ca.Issue(t, tlstest.IssueOptions{})
	serverFiles := ca.Files(t, serverCert)
	addr := serveHealth(t, load(t, serverFiles, nil))
	client := load(t, ca.Files(t, ca.Issue(t, tlstest.IssueOptions{})), nil)

	t.Run("valid client certificate", func(t *testing.T) {
		t.Parallel()
		p, err := check(t, addr, client.DialOptions()...)
		if err != nil {
			t.Fatalf("health over mutual TLS: %v", err)
		}
		if got, want := peerSerial(t, p), serialOf(t, serverCert); got.Cmp(want) != 0 {
			t.Errorf("server presented serial %v, want %v", got, want)
		}
	})
	t.Run("localhost is verified too", func(t *testing.T) {
		t.Parallel()
		_, port, _ := net.SplitHostPort(addr)
		if _, err := check(t, "localhost:"+port, client.DialOptions()...); err != nil {
			t.Fatalf("health over mutual TLS at localhost: %v", err)
		}
	})

	otherCA := tlstest.NewCA(t)
	refused := []struct {
		name string
		opts []grpc.DialOption
		// server is what the server's handshake fails with.
		server string
	}{
		{"no client certificate", []grpc.DialOption{rawClient(ca.Pool(), 0)},
			"client didn't provide a certificate"},
		{"certificate of another CA", []grpc.DialOption{rawClient(ca.Pool(), 0,
			otherCA.Issue(t, tlstest.IssueOptions{}).TLSCertificate(t))},
			"certificate signed by unknown authority"},
		{"expired certificate", []grpc.DialOption{rawClient(ca.Pool(), 0,
			ca.Issue(t, tlstest.IssueOptions{NotAfter: time.Now().Add(-time.Hour)}).TLSCertificate(t))},
			"certificate has expired"},
		{"TLS 1.2 client", []grpc.DialOption{rawClient(ca.Pool(), tls.VersionTLS12,
			ca.Issue(t, tlstest.IssueOptions{}).TLSCertificate(t))},
			"unsupported versions"},
		{"plaintext client", []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
			"does not look like a TLS handshake"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A server of its own, to know which handshake failed.
			creds, handshakeErrs := recordHandshakes(load(t, serverFiles, nil))
			_, err := check(t, serveHealth(t, creds), tt.opts...)
			// The client only sees its connection fail; how depends on
			// timing (TLS 1.3 alert, reset, broken pipe).
			assertRefused(t, err)
			select {
			case serverErr := <-handshakeErrs:
				if !strings.Contains(serverErr.Error(), tt.server) {
					t.Errorf("server handshake failed with %q, want %q", serverErr, tt.server)
				}
			case <-time.After(10 * time.Second): // a bound against hanging, not a speed check
				t.Error("the server recorded no failed handshake")
			}
		})
	}
}

// recordHandshakes returns creds whose server sends each failed handshake's
// error on the returned channel (dropping those it has no room for).
func recordHandshakes(creds Credentials) (Credentials, <-chan error) {
	errs := make(chan error, 8)
	creds.server = recordingCreds{TransportCredentials: creds.server, errs: errs}
	return creds, errs
}

type recordingCreds struct {
	credentials.TransportCredentials
	errs chan<- error
}

func (r recordingCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := r.TransportCredentials.ServerHandshake(c)
	if err != nil {
		select {
		case r.errs <- err:
		default:
		}
	}
	return conn, info, err
}

func (r recordingCreds) Clone() credentials.TransportCredentials {
	return recordingCreds{TransportCredentials: r.TransportCredentials.Clone(), errs: r.errs}
}

// assertRefused checks that err is the Unavailable of a refused connection,
// naming one of want if any is given.
func assertRefused(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded, want it refused")
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("code %v, want Unavailable: %v", status.Code(err), err)
	}
	if len(want) == 0 {
		return
	}
	for _, w := range want {
		if strings.Contains(err.Error(), w) {
			return
		}
	}
	t.Errorf("error %q names none of %q", err, want)
}

// TestClientVerifiesServer: a client refuses a server whose certificate
// does not name the host it dialed, and a server its CA did not sign.
func TestClientVerifiesServer(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	client := load(t, ca.Files(t, ca.Issue(t, tlstest.IssueOptions{})), nil)

	wrongName := ca.Issue(t, tlstest.IssueOptions{Hosts: []string{"payment"}})
	addr := serveHealth(t, load(t, ca.Files(t, wrongName), nil))
	_, err := check(t, addr, client.DialOptions()...)
	assertRefused(t, err, "doesn't contain any IP SANs")
	_, port, _ := net.SplitHostPort(addr)
	_, err = check(t, "localhost:"+port, client.DialOptions()...)
	assertRefused(t, err, "certificate is valid for payment, not localhost")

	// A server with a loopback certificate from another CA, whose own bundle
	// trusts our CA too: the client still refuses it.
	otherCA := tlstest.NewCA(t)
	files := otherCA.Files(t, otherCA.Issue(t, tlstest.IssueOptions{}))
	tlstest.WriteFile(t, files.CAFile, append(append([]byte{}, otherCA.PEM...), ca.PEM...))
	addr = serveHealth(t, load(t, files, nil))
	_, err = check(t, addr, client.DialOptions()...)
	assertRefused(t, err, "certificate signed by unknown authority")
}

func TestLoadWithoutFilesIsPlaintext(t *testing.T) {
	t.Parallel()
	creds := load(t, config.TLS{}, nil)
	if creds.Enabled() || creds.ServerOptions() != nil || creds.DialOptions() != nil {
		t.Fatalf("no files: want plaintext (no options), got %+v", creds)
	}
	addr := serveHealth(t, creds)
	if _, err := check(t, addr, creds.DialOptions()...); err != nil {
		t.Fatalf("plaintext health: %v", err)
	}
}

func TestLoadErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	good := func() config.TLS { return ca.Files(t, ca.Issue(t, tlstest.IssueOptions{})) }
	otherCA := tlstest.NewCA(t)
	tests := []struct {
		name  string
		files func() config.TLS
		want  []string
	}{
		{"key missing", func() config.TLS { f := good(); f.KeyFile = ""; return f },
			[]string{"-tls-key (KITSHOP_TLS_KEY)", "-tls-cert (KITSHOP_TLS_CERT)"}},
		{"CA file absent", func() config.TLS { f := good(); f.CAFile += ".absent"; return f },
			[]string{"-tls-ca (KITSHOP_TLS_CA)", "no such file"}},
		{"CA file without certificate", func() config.TLS {
			f := good()
			tlstest.WriteFile(t, f.CAFile, []byte("not PEM"))
			return f
		}, []string{"-tls-ca (KITSHOP_TLS_CA)", "no PEM certificate"}},
		{"key of another certificate", func() config.TLS {
			f := good()
			tlstest.WriteFile(t, f.KeyFile, ca.Issue(t, tlstest.IssueOptions{}).KeyPEM)
			return f
		}, []string{"-tls-cert (KITSHOP_TLS_CERT) or -tls-key (KITSHOP_TLS_KEY)", "private key does not match"}},
		{"certificate of another CA", func() config.TLS {
			f := good()
			c := otherCA.Issue(t, tlstest.IssueOptions{})
			tlstest.WriteFile(t, f.CertFile, c.CertPEM)
			tlstest.WriteFile(t, f.KeyFile, c.KeyPEM)
			return f
		}, []string{"-tls-cert (KITSHOP_TLS_CERT)", "not valid under -tls-ca", "unknown authority"}},
		{"expired certificate", func() config.TLS {
			return ca.Files(t, ca.Issue(t, tlstest.IssueOptions{NotAfter: time.Now().Add(-time.Minute)}))
		}, []string{"-tls-cert (KITSHOP_TLS_CERT)", "expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.files(), nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRotation: a server takes up a new certificate written over its files
// at the next handshake, and keeps the one in use when the new files are not
// a usable pair.
func TestRotation(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	first := ca.Issue(t, tlstest.IssueOptions{})
	files := ca.Files(t, first)
	var logs syncBuffer
	addr := serveHealth(t, load(t, files, slog.New(slog.NewJSONHandler(&logs, nil))))
	client := load(t, ca.Files(t, ca.Issue(t, tlstest.IssueOptions{})), nil)

	serial := func() *big.Int {
		t.Helper()
		p, err := check(t, addr, client.DialOptions()...) // a new connection: a new handshake
		if err != nil {
			t.Fatal(err)
		}
		return peerSerial(t, p)
	}
	if got := serial(); got.Cmp(serialOf(t, first)) != 0 {
		t.Fatalf("serial %v, want the first certificate's", got)
	}

	second := ca.Issue(t, tlstest.IssueOptions{})
	tlstest.WriteFile(t, files.CertFile, second.CertPEM)
	tlstest.WriteFile(t, files.KeyFile, second.KeyPEM)
	if got := serial(); got.Cmp(serialOf(t, second)) != 0 {
		t.Fatalf("after rotation, serial %v, want the second certificate's", got)
	}

	// Half-way through a rotation: a new certificate, the old key.
	tlstest.WriteFile(t, files.CertFile, ca.Issue(t, tlstest.IssueOptions{}).CertPEM)
	for range 2 {
		if got := serial(); got.Cmp(serialOf(t, second)) != 0 {
			t.Fatalf("with a mismatched pair, serial %v, want the second certificate kept", got)
		}
	}
	if n := strings.Count(logs.String(), "cannot be used"); n != 1 {
		t.Errorf("want one warning for the unusable pair, got %d:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "tls certificate reloaded") {
		t.Errorf("no log line for the reload:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
