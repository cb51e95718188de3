package token_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kitshop/kitshop/internal/token"
)

func TestKeyIDIsRFC8037Thumbprint(t *testing.T) {
	t.Parallel()
	// RFC 8037 appendix A.2 and A.3.
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := token.KeyID(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
}

func TestJWKSRoundTrip(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	s := newSigner(t, key, token.Options{Now: clock(t0)})
	data, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Keys []map[string]string }
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": s.KeyID(),
		"x": base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	}
	if len(raw.Keys) != 1 || len(raw.Keys[0]) != len(want) {
		t.Fatalf("JWKS = %s, want exactly one key with members %v", data, want)
	}
	for k, v := range want {
		if raw.Keys[0][k] != v {
			t.Errorf("JWKS member %s = %q, want %q", k, raw.Keys[0][k], v)
		}
	}

	keys, err := token.ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(keys, token.Options{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.VerifyAccess(issue(t, s).AccessToken); err != nil || c.Subject != "user-1" {
		t.Errorf("VerifyAccess = %+v, %v", c, err)
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	pub1 := testKey(1).Public().(ed25519.PublicKey)
	pub2 := testKey(2).Public().(ed25519.PublicKey)
	x1 := base64.RawURLEncoding.EncodeToString(pub1)
	x2 := base64.RawURLEncoding.EncodeToString(pub2)
	rsa := `{"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"}`
	for _, tc := range []struct {
		name string
		data string
		want map[string]ed25519.PublicKey // nil: an error is expected
	}{
		{"two keys by kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `","kid":"a"},{"kty":"OKP","crv":"Ed25519","x":"` + x2 + `","kid":"b","use":"sig","alg":"EdDSA"}]}`,
			map[string]ed25519.PublicKey{"a": pub1, "b": pub2}},
		{"no kid: thumbprint", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `"}]}`,
			map[string]ed25519.PublicKey{token.KeyID(pub1): pub1}},
		{"other key types skipped", `{"keys":[` + rsa + `,{"kty":"OKP","crv":"X25519","x":"` + x2 + `","kid":"x"},{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `","kid":"a"}]}`,
			map[string]ed25519.PublicKey{"a": pub1}},
		{"encryption and foreign alg skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x2 + `","kid":"e","use":"enc"},{"kty":"OKP","crv":"Ed25519","x":"` + x2 + `","kid":"r","alg":"RS256"},{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `","kid":"a","alg":"Ed25519"}]}`,
			map[string]ed25519.PublicKey{"a": pub1}},
		{"not JSON", `<html>`, nil},
		{"empty", ``, nil},
		{"no keys member", `{}`, nil},
		{"empty set", `{"keys":[]}`, nil},
		{"keys not an array", `{"keys":{}}`, nil},
		{"only RSA", `{"keys":[` + rsa + `]}`, nil},
		{"short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`, nil},
		{"x not base64url", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + strings.Repeat("+", 43) + `"}]}`, nil},
		{"x padded", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `="}]}`, nil},
		{"duplicate kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `","kid":"a"},{"kty":"OKP","crv":"Ed25519","x":"` + x2 + `","kid":"a"}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := token.ParseJWKS([]byte(tc.data))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("ParseJWKS = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseJWKS = %d keys, want %d", len(got), len(tc.want))
			}
			for kid, k := range tc.want {
				if !k.Equal(got[kid]) {
					t.Errorf("key %q differs", kid)
				}
			}
		})
	}
}

func TestJWKSFetcherRunRetriesUntilServed(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey(1), token.Options{Now: clock(t0)})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case 2:
			_, _ = w.Write([]byte("<html>proxy page</html>"))
		default:
			w.Header().Set("Content-Type", "application/jwk-set+json")
			_ = json.NewEncoder(w).Encode(s.JWKS())
		}
	}))
	defer srv.Close()

	f, err := token.NewJWKSFetcher(srv.URL, srv.Client(), nil, token.Options{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(t.Context()); err != nil || !f.Loaded() {
		t.Fatalf("Run = %v, loaded %v; want nil, loaded", err, f.Loaded())
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
	if c, err := f.Verifier().VerifyAccess(issue(t, s).AccessToken); err != nil || c.Subject != "user-1" {
		t.Errorf("VerifyAccess = %+v, %v", c, err)
	}
}

// TestJWKSFetcherRunStopsWithContext: Run returns nil, without the keys,
// when its context ends; here the server ends it on its second request.
func TestJWKSFetcherRunStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			cancel()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	f, err := token.NewJWKSFetcher(srv.URL, srv.Client(), nil, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(ctx); err != nil || f.Loaded() {
		t.Errorf("Run = %v, loaded %v; want nil, not loaded", err, f.Loaded())
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2 (a retry, then the end)", n)
	}
	if _, err := f.Verifier().VerifyAccess(issue(t, newSigner(t, testKey(1), token.Options{})).AccessToken); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Errorf("VerifyAccess after a stopped Run: %v, want ErrKeysUnavailable", err)
	}
}

func TestNewJWKSFetcherRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "not a url", "ftp://host/jwks", "/relative/jwks", "http://"} {
		if _, err := token.NewJWKSFetcher(u, nil, nil, token.Options{}); err == nil {
			t.Errorf("NewJWKSFetcher(%q): no error", u)
		}
	}
	if _, err := token.NewJWKSFetcher("http://localhost/jwks", nil, nil, token.Options{Leeway: -1}); err == nil {
		t.Error("NewJWKSFetcher with invalid options: no error")
	}
}
