package token_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// jwksServer serves s's JWK Set while up is true, 503 otherwise.
type jwksServer struct {
	*httptest.Server
	up atomic.Bool
}

func newJWKSServer(t *testing.T, s *token.Signer) *jwksServer {
	t.Helper()
	js := &jwksServer{}
	js.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !js.up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(s.JWKS())
	}))
	t.Cleanup(js.Close)
	return js
}

func TestPendingVerifier(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	s := newSigner(t, key, token.Options{Now: clock(t0)})
	other := newSigner(t, testKey(2), token.Options{Now: clock(t0)})
	srv := newJWKSServer(t, s)
	f, err := token.NewJWKSFetcher(srv.URL, srv.Client(), nil, token.Options{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	v := f.Verifier()
	good := issue(t, s).AccessToken
	cases := []struct {
		name    string
		tok     string
		pending error // while the keys are not in
		loaded  error // once they are; nil: verified
	}{
		{"no token", "", token.ErrMissingToken, token.ErrMissingToken},
		{"malformed", "a.b.c", token.ErrInvalidToken, token.ErrInvalidToken},
		{"unsigned", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, s.KeyID(), claimsAt(t0)), token.ErrInvalidToken, token.ErrInvalidToken},
		{"HMAC with the public key", sign(t, jwt.SigningMethodHS256, []byte(key.Public().(ed25519.PublicKey)), s.KeyID(), claimsAt(t0)), token.ErrInvalidToken, token.ErrInvalidToken},
		{"well-formed", good, token.ErrKeysUnavailable, nil},
		{"another key", issue(t, other).AccessToken, token.ErrKeysUnavailable, token.ErrInvalidToken},
	}
	check := func(phase string, want func(int) error) {
		t.Helper()
		for i, tc := range cases {
			_, err := v.VerifyAccess(tc.tok)
			w := want(i)
			if w == nil {
				if err != nil {
					t.Errorf("%s, %s: %v, want verified", phase, tc.name, err)
				}
				continue
			}
			if !errors.Is(err, w) {
				t.Errorf("%s, %s: %v, want %v", phase, tc.name, err, w)
			}
			if errors.Is(err, token.ErrKeysUnavailable) && (errors.Is(err, token.ErrInvalidToken) || errors.Is(err, token.ErrMissingToken)) {
				t.Errorf("%s, %s: %v also matches a 401 sentinel", phase, tc.name, err)
			}
		}
	}

	check("before any fetch", func(i int) error { return cases[i].pending })
	if err := f.Fetch(t.Context()); err == nil || f.Loaded() {
		t.Fatalf("Fetch from a server answering 503 = %v, loaded %v; want an error, not loaded", err, f.Loaded())
	}
	check("after a failed fetch", func(i int) error { return cases[i].pending })

	srv.up.Store(true)
	if err := f.Fetch(t.Context()); err != nil || !f.Loaded() {
		t.Fatalf("Fetch = %v, loaded %v; want the keys loaded", err, f.Loaded())
	}
	if f.Verifier() != v {
		t.Error("Verifier changed once the keys came")
	}
	check("after the fetch", func(i int) error { return cases[i].loaded })
}

func TestAuthenticatePending(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey(1), token.Options{Now: clock(t0)})
	srv := newJWKSServer(t, s)
	f, err := token.NewJWKSFetcher(srv.URL, srv.Client(), nil, token.Options{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	called := false
	ep := token.Authenticate(f.Verifier())(func(context.Context, any) (any, error) { called = true; return nil, nil })
	ctxWith := func(h string) context.Context {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return token.HTTPToContext(context.Background(), r)
	}
	for _, tc := range []struct {
		header string
		want   error
	}{
		{"", token.ErrMissingToken},
		{"Basic dTpw", token.ErrMissingToken},
		{"Bearer", token.ErrInvalidToken},
		{"Bearer x.y.z", token.ErrInvalidToken},
		{"Bearer " + issue(t, s).AccessToken, token.ErrKeysUnavailable},
	} {
		if _, err := ep(ctxWith(tc.header), nil); !errors.Is(err, tc.want) {
			t.Errorf("Authorization %.20q: %v, want %v", tc.header, err, tc.want)
		}
	}
	if called {
		t.Error("the endpoint ran without verified claims")
	}
}

func TestKeysUnavailableAnswers(t *testing.T) {
	t.Parallel()
	// HTTP, through the encoder every service ends with, even wrapped.
	rec := httptest.NewRecorder()
	httpserver.EncodeError(context.Background(), errors.Join(errors.New("create product"), token.ErrKeysUnavailable), rec)
	var body struct{ Error struct{ Code string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || body.Error.Code != "unavailable" {
		t.Errorf("HTTP: %d, Retry-After %q, code %q; want 503, 1, unavailable", rec.Code, rec.Header().Get("Retry-After"), body.Error.Code)
	}

	// gRPC.
	st := status.Convert(token.ErrKeysUnavailable)
	if st.Code() != codes.Unavailable {
		t.Errorf("gRPC code %v, want Unavailable", st.Code())
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != time.Second {
		t.Errorf("gRPC details %v, want a RetryInfo of 1s", st.Details())
	}
}
