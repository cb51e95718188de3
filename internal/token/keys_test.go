package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kitshop/kitshop/internal/token"
)

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "jwt.pem")

	created, err := token.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm()&0o077 != 0 {
		t.Errorf("data dir mode = %v (%v), want no group or other access", di.Mode().Perm(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the key (no temporary file left)", len(entries))
	}

	loaded, err := token.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	if !created.Equal(loaded) {
		t.Error("second start loaded a different key")
	}
	direct, err := token.LoadPrivateKey(path)
	if err != nil || !created.Equal(direct) {
		t.Errorf("LoadPrivateKey = different key, %v", err)
	}
}

func TestLoadOrCreateKeyConcurrentStarts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt.pem")
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = token.LoadOrCreateKey(path) })
	}
	wg.Wait()
	stored, err := token.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil || !keys[i].Equal(stored) {
			t.Errorf("start %d: key differs from the stored one (err %v)", i, errs[i])
		}
	}
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestLoadPrivateKeyRejects(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(testKey(1).Public())
	if err != nil {
		t.Fatal(err)
	}
	good, err := x509.MarshalPKCS8PrivateKey(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty file", "", "no PEM block"},
		{"not PEM", "this is not a key", "no PEM block"},
		{"truncated PEM", string(pemOf("PRIVATE KEY", good))[:60], "no PEM block"},
		{"public key PEM", string(pemOf("PUBLIC KEY", pubDER)), `want "PRIVATE KEY"`},
		{"garbage DER", string(pemOf("PRIVATE KEY", []byte("garbage"))), "not a PKCS#8 private key"},
		{"ECDSA key", string(pemOf("PRIVATE KEY", ecDER)), "want an Ed25519 key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, []byte(tc.data))
			_, err := token.LoadPrivateKey(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadPrivateKey err = %v, want it to say %q", err, tc.want)
			}
			// A corrupt key is reported, never replaced by a fresh one.
			if _, err := token.LoadOrCreateKey(path); err == nil {
				t.Fatal("LoadOrCreateKey accepted a corrupt key file")
			}
			if data, _ := os.ReadFile(path); string(data) != tc.data {
				t.Error("LoadOrCreateKey changed the corrupt key file")
			}
		})
	}
	if _, err := token.LoadPrivateKey(filepath.Join(t.TempDir(), "absent.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadPublicKeyAndVerifier(t *testing.T) {
	t.Parallel()
	key := testKey(3)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, pemOf("PUBLIC KEY", der))
	pub, err := token.LoadPublicKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Error("LoadPublicKey returned a different key")
	}
	v, err := token.LoadVerifier(path, token.Options{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	p := issue(t, newSigner(t, key, token.Options{Now: clock(t0)}))
	if c, err := v.VerifyAccess(p.AccessToken); err != nil || c.Subject != "user-1" {
		t.Errorf("VerifyAccess = %+v, %v", c, err)
	}
	if _, err := v.VerifyAccess(issue(t, newSigner(t, testKey(4), token.Options{Now: clock(t0)})).AccessToken); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("token of another key: err = %v, want ErrInvalidToken", err)
	}

	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.LoadPublicKey(writeFile(t, pemOf("PRIVATE KEY", priv))); err == nil {
		t.Error("LoadPublicKey accepted a private key file")
	}
	if _, err := token.LoadVerifier(writeFile(t, []byte("junk")), token.Options{}); err == nil {
		t.Error("LoadVerifier accepted junk")
	}
}
