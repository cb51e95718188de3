package token_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/token"
)

func TestVerifierConfigFlags(t *testing.T) {
	t.Parallel()
	var c token.VerifierConfig
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if c.JWKSURL != "http://localhost:8081/.well-known/jwks.json" || c.PublicKeyFile != "" ||
		c.Options.Issuer != token.DefaultIssuer || c.Options.Audience != token.DefaultAudience {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	err := fs.Parse([]string{"-jwks-url=https://users.example/jwks", "-jwt-public-key-file=/keys/pub.pem",
		"-jwt-issuer=iss-x", "-jwt-audience=aud-x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWKSURL != "https://users.example/jwks" || c.PublicKeyFile != "/keys/pub.pem" ||
		c.Options.Issuer != "iss-x" || c.Options.Audience != "aud-x" {
		t.Errorf("parsed: %+v", c)
	}
}

func TestVerifierConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    token.VerifierConfig
		want []string // substrings of the error; none: valid
	}{
		{c: token.VerifierConfig{JWKSURL: "https://users.example/jwks"}},
		{c: token.VerifierConfig{PublicKeyFile: "pub.pem"}},
		{c: token.VerifierConfig{PublicKeyFile: "pub.pem", JWKSURL: "not a url"}}, // the URL is unused
		{c: token.VerifierConfig{}, want: []string{"-jwks-url", "KITSHOP_JWKS_URL", "KITSHOP_JWT_PUBLIC_KEY_FILE"}},
		{c: token.VerifierConfig{JWKSURL: "ftp://users.example/jwks"}, want: []string{"-jwks-url", "KITSHOP_JWKS_URL", "ftp://"}},
		{c: token.VerifierConfig{JWKSURL: "/.well-known/jwks.json"}, want: []string{"KITSHOP_JWKS_URL"}},
		{c: token.VerifierConfig{JWKSURL: "http://"}, want: []string{"KITSHOP_JWKS_URL"}},
	} {
		err := tc.c.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tc.c, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", tc.c)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %q, want it to mention %s", tc.c, err, w)
			}
		}
	}
}

// writePublicKey writes the public half of testKey(n) as a PEM file and
// returns its path.
func writePublicKey(t *testing.T, n byte) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(testKey(n).Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "public.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifierConfigNewVerifierFile(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey(1), token.Options{Issuer: "iss-x", Now: clock(t0)})
	tok := issue(t, s).AccessToken
	// The file wins: a JWKS URL that nothing serves is never tried, and
	// there is nothing to fetch.
	c := token.VerifierConfig{PublicKeyFile: writePublicKey(t, 1), JWKSURL: "http://127.0.0.1:1/jwks",
		Options: token.Options{Issuer: "iss-x", Now: clock(t0)}}
	v, fetch, err := c.NewVerifier(nil)
	if err != nil || fetch != nil {
		t.Fatalf("NewVerifier: fetch %v, %v; want no fetch, no error", fetch != nil, err)
	}
	if claims, err := v.VerifyAccess(tok); err != nil || claims.Subject != "user-1" {
		t.Errorf("VerifyAccess = %+v, %v", claims, err)
	}

	// The options reach the verifier: another issuer is refused.
	c.Options.Issuer = "iss-y"
	if v, _, err = c.NewVerifier(nil); err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if _, err := v.VerifyAccess(tok); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("token of another issuer: %v, want ErrInvalidToken", err)
	}
	// Another key's file does not verify the token.
	c = token.VerifierConfig{PublicKeyFile: writePublicKey(t, 2), Options: token.Options{Issuer: "iss-x", Now: clock(t0)}}
	if v, _, err = c.NewVerifier(nil); err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if _, err := v.VerifyAccess(tok); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("token of another key: %v, want ErrInvalidToken", err)
	}
}

func TestVerifierConfigNewVerifierBadFile(t *testing.T) {
	t.Parallel()
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(t.TempDir(), "missing.pem"), garbage} {
		_, _, err := token.VerifierConfig{PublicKeyFile: path}.NewVerifier(nil)
		if err == nil || !strings.Contains(err.Error(), "-jwt-public-key-file") ||
			!strings.Contains(err.Error(), "KITSHOP_JWT_PUBLIC_KEY_FILE") {
			t.Errorf("NewVerifier(%s) = %v, want an error naming the flag and its variable", path, err)
		}
	}
}

func TestVerifierConfigNewVerifierJWKS(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey(1), token.Options{Now: clock(t0)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(s.JWKS())
	}))
	defer srv.Close()

	v, fetch, err := token.VerifierConfig{JWKSURL: srv.URL, Options: token.Options{Now: clock(t0)}}.NewVerifier(nil)
	if err != nil || fetch == nil {
		t.Fatalf("NewVerifier: fetch %v, %v; want a fetch", fetch != nil, err)
	}
	tok := issue(t, s).AccessToken
	if _, err := v.VerifyAccess(tok); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Errorf("VerifyAccess before the fetch = %v, want ErrKeysUnavailable", err)
	}
	if err := fetch(t.Context()); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if claims, err := v.VerifyAccess(tok); err != nil || claims.Subject != "user-1" {
		t.Errorf("VerifyAccess = %+v, %v", claims, err)
	}
}

func TestVerifierConfigFetchStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		cancel() // the process stops after the first failure
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	v, fetch, err := token.VerifierConfig{JWKSURL: srv.URL}.NewVerifier(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fetch(ctx); err != nil {
		t.Errorf("fetch = %v, want nil: a stop before the keys came is no failure", err)
	}
	if _, err := v.VerifyAccess("a.b.c"); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("malformed token = %v, want ErrInvalidToken", err)
	}
}
