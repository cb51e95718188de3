// Package tlsconfig turns the files named by config.TLS (-tls-cert, -tls-key,
// -tls-ca) into the mutual-TLS credentials of kitshop's internal gRPC: server
// options that require a client certificate signed by the CA bundle, and dial
// options that present this process's certificate and verify the server's.
//
//	creds, err := tlsconfig.Load(cfg.TLS, logger) // no files: plaintext, as before
//	serve.Options{..., GRPCOptions: creds.ServerOptions()}
//	conn, err := grpcclient.Dial(addr, creds.DialOptions()...)
//
// The choices:
//
//   - TLS 1.3 only (MinVersion). Both ends are kitshop's own Go binaries (and
//     grpc-health-probe, also Go), so nothing needs TLS 1.2; 1.3 has no
//     cipher suites to get wrong, no renegotiation, a shorter handshake and
//     an encrypted certificate exchange.
//   - One certificate per process, served to callers and presented to the
//     services it calls: it needs the serverAuth and clientAuth extended key
//     usages (or none), and Subject Alternative Names for every host its
//     callers dial: the service's DNS names (e.g. "payment",
//     "order-headless"), and 127.0.0.1 and localhost for loopback and health
//     probes.
//   - The client verifies the server's certificate against the host of the
//     dial target ("payment:50054" → "payment", "dns:///order-headless:50053"
//     → "order-headless", "127.0.0.1:50052" → the IP 127.0.0.1), which is what
//     grpc-go does with TLS credentials that set no ServerName.
//   - Load refuses, at start-up, a certificate that does not chain to the CA
//     bundle, has expired or is not for server use: every peer would refuse
//     it anyway.
//
// Rotation: the certificate and key files are read again at each new TLS
// handshake (connections are long-lived, so handshakes are rare) and a
// changed pair is used from then on; a pair that cannot be used (half
// written, mismatched, not chaining to the CA) is logged once and the
// previous one kept. The CA bundle is read once: changing it needs a restart,
// so rotate a CA by first deploying a bundle with both the old and the new CA.
package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kitshop/kitshop/internal/config"
)

// MinVersion is the oldest TLS version accepted, by servers and clients.
const MinVersion = tls.VersionTLS13

// Credentials are the transport credentials of a process's internal gRPC.
// The zero value is plaintext: no server options, no dial options (so
// grpcclient.Dial stays plaintext).
type Credentials struct {
	server credentials.TransportCredentials
	client credentials.TransportCredentials
}

// Load reads the files of t and returns mutual-TLS credentials, or plaintext
// (zero) Credentials when t names no file. Its errors name the flag and
// environment variable at fault. logger (nil: discard) receives a line when a
// rotated certificate is taken up or refused.
func Load(t config.TLS, logger *slog.Logger) (Credentials, error) {
	if !t.Enabled() {
		return Credentials{}, nil
	}
	if err := t.Validate(); err != nil {
		return Credentials{}, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	roots, err := loadCAs(t.CAFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("invalid -%s (%s): %w", config.FlagTLSCA, config.EnvVar(config.FlagTLSCA), err)
	}
	pair := &keyPair{certFile: t.CertFile, keyFile: t.KeyFile, roots: roots, logger: logger}
	if err := pair.init(); err != nil {
		return Credentials{}, fmt.Errorf("invalid -%s (%s) or -%s (%s): %w", config.FlagTLSCert, config.EnvVar(config.FlagTLSCert),
			config.FlagTLSKey, config.EnvVar(config.FlagTLSKey), err)
	}
	server := &tls.Config{
		MinVersion: MinVersion,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  roots,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return pair.get(), nil
		},
	}
	client := &tls.Config{
		MinVersion: MinVersion,
		RootCAs:    roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return pair.get(), nil
		},
	}
	return Credentials{server: credentials.NewTLS(server), client: credentials.NewTLS(client)}, nil
}

// Enabled reports whether the credentials are mutual TLS.
func (c Credentials) Enabled() bool { return c.server != nil }

// ServerOptions returns the options that make a gRPC server (grpcserver,
// serve.Options.GRPCOptions) require mutual TLS; nil for plaintext.
func (c Credentials) ServerOptions() []grpc.ServerOption {
	if !c.Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(c.server)}
}

// DialOptions returns the options that make a client connection
// (grpcclient.Dial) use mutual TLS; nil for plaintext.
func (c Credentials) DialOptions() []grpc.DialOption {
	if !c.Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(c.client)}
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(file string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// keyPair is this process's certificate, read again from its files at each
// handshake and replaced when they hold a new, usable pair.
type keyPair struct {
	certFile, keyFile string
	roots             *x509.CertPool
	logger            *slog.Logger

	mu sync.Mutex
	// cert is the pair in use.
	cert *tls.Certificate
	// seen is the digest of the files' contents (or of the error reading
	// them) last looked at, so each change is parsed and logged once.
	seen [sha256.Size]byte
}

// init loads the pair for the first time; unlike get, it fails.
func (p *keyPair) init() error {
	certPEM, keyPEM, err := p.read()
	if err != nil {
		return err
	}
	cert, err := p.parse(certPEM, keyPEM)
	if err != nil {
		return err
	}
	p.cert, p.seen = cert, digest(certPEM, keyPEM)
	return nil
}

// get returns the pair to present: the files' pair when it changed and is
// usable, else the one in use.
func (p *keyPair) get() *tls.Certificate {
	certPEM, keyPEM, err := p.read()
	seen := digest(certPEM, keyPEM)
	if err != nil {
		seen = sha256.Sum256([]byte(err.Error()))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if seen == p.seen {
		return p.cert
	}
	p.seen = seen
	if err == nil {
		var cert *tls.Certificate
		if cert, err = p.parse(certPEM, keyPEM); err == nil {
			p.cert = cert
			p.logger.Info("tls certificate reloaded", slog.String("cert", p.certFile),
				slog.String("subject", cert.Leaf.Subject.String()), slog.Time("not_after", cert.Leaf.NotAfter))
			return cert
		}
	}
	p.logger.Warn("tls certificate files changed but cannot be used; keeping the previous certificate",
		slog.String("cert", p.certFile), slog.String("key", p.keyFile), slog.Any("error", err))
	return p.cert
}

func (p *keyPair) read() (certPEM, keyPEM []byte, err error) {
	certPEM, errCert := os.ReadFile(p.certFile)
	keyPEM, errKey := os.ReadFile(p.keyFile)
	return certPEM, keyPEM, errors.Join(errCert, errKey)
}

// parse returns the pair if the key matches the certificate and the
// certificate is valid now for server use under the CA bundle: a pair every
// peer would refuse is refused here.
func (p *keyPair) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil { // GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	intermediates := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate chain: %w", err)
		}
		intermediates.AddCert(c)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{
		Roots:         p.roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("the certificate is not valid under -%s: %w", config.FlagTLSCA, err)
	}
	return &cert, nil
}

// digest identifies the contents of a certificate and key file.
func digest(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	_ = binary.Write(h, binary.BigEndian, uint64(len(certPEM)))
	h.Write(certPEM)
	h.Write(keyPEM)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}
