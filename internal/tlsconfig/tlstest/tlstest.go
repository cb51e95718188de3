// Package tlstest makes certificate authorities and certificates for tests of
// mutual TLS: ECDSA P-256 keys, short validity, written to a test's temporary
// directory as the -tls-cert, -tls-key and -tls-ca files take them.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/config"
)

// Validity is how long issued certificates and CAs are valid on each side of
// the time they are made (or of IssueOptions.NotAfter).
const Validity = time.Hour

// CA is a certificate authority made for a test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA's certificate.
	PEM []byte
}

// NewCA returns a new self-signed CA valid from an hour ago to an hour from
// now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "kitshop test CA"},
		NotBefore:             now.Add(-Validity),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// IssueOptions shape a certificate; the zero value is a certificate for
// loopback that is valid now.
type IssueOptions struct {
	// Hosts are the certificate's SANs, DNS names or IP addresses; empty:
	// 127.0.0.1, ::1 and localhost.
	Hosts []string
	// NotAfter ends the validity, which starts 2*Validity earlier; zero: an
	// hour from now. A past NotAfter makes an expired certificate.
	NotAfter time.Time
}

// Cert is an issued certificate and its private key, in PEM.
type Cert struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Issue returns a certificate signed by the CA, for both server and client
// use (the serverAuth and clientAuth extended key usages).
func (ca *CA) Issue(t testing.TB, opts IssueOptions) Cert {
	t.Helper()
	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	notAfter := opts.NotAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(Validity)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    notAfter.Add(-2 * Validity),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// TLSCertificate returns c for a tls.Config.
func (c Cert) TLSCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Files writes c and the CA's certificate (as the CA bundle) into a new
// temporary directory and returns their paths.
func (ca *CA) Files(t testing.TB, c Cert) config.TLS {
	t.Helper()
	dir := t.TempDir()
	files := config.TLS{
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		CAFile:   filepath.Join(dir, "ca.pem"),
	}
	WriteFile(t, files.CertFile, c.CertPEM)
	WriteFile(t, files.KeyFile, c.KeyPEM)
	WriteFile(t, files.CAFile, ca.PEM)
	return files
}

// Args returns the command-line flags naming files.
func Args(files config.TLS) []string {
	return []string{
		"-" + config.FlagTLSCert + "=" + files.CertFile,
		"-" + config.FlagTLSKey + "=" + files.KeyFile,
		"-" + config.FlagTLSCA + "=" + files.CAFile,
	}
}

// WriteFile writes data to path, readable by the owner only.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
