package edge

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/config"
)

// named answers with its service's name, so a test sees who got the request.
type named string

func (n named) ServeHTTP(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(n)) }

func handlers() map[string]http.Handler {
	hs := make(map[string]http.Handler)
	for _, name := range config.ServiceNames() {
		hs[name] = named(name)
	}
	return hs
}

// testKey is a session key for the storefront.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// mustNew is New with a test key.
func mustNew(t *testing.T, hs map[string]http.Handler) http.Handler {
	t.Helper()
	h, err := New(hs, Options{SessionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewRoutesEveryPublicPath(t *testing.T) {
	t.Parallel()
	h := mustNew(t, handlers())
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/auth/register", config.User},
		{"POST", "/auth/login", config.User},
		{"POST", "/auth/logout", config.User},
		{"GET", "/users/me", config.User},
		{"GET", "/users/me/cart", config.User},
		{"DELETE", "/users/me/cart", config.User},
		{"PUT", "/users/me/cart/items/sample-1", config.User},
		{"DELETE", "/users/me/cart/items/sample-1", config.User},
		{"GET", "/.well-known/jwks.json", config.User},
		{"GET", "/product", config.Product},
		{"POST", "/product/sample", config.Product},
		{"GET", "/product/sample-1", config.Product},
		{"POST", "/order", config.Order},
		{"GET", "/order/abc", config.Order},
		{"GET", "/payment/abc", config.Payment},
		{"GET", "/notification", config.Notification},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s %s went to %q (%d), want %s", tc.method, tc.path, rec.Body.String(), rec.Code, tc.want)
		}
	}
}

// TestNewRefusesOtherPaths: a path of no route is 404 for an API client
// (the storefront's pages answer browsers).
func TestNewRefusesOtherPaths(t *testing.T) {
	t.Parallel()
	h := mustNew(t, handlers())
	for _, path := range []string{"/products", "/notification/x", "/metrics", "/healthz", "/orders/x/y"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d %q, want 404", path, rec.Code, rec.Body.String())
		}
	}
}

func TestRoutesCoverEveryServiceOnce(t *testing.T) {
	t.Parallel()
	var got []string
	for _, r := range Routes() {
		got = append(got, r.Service)
		if len(r.Patterns) == 0 {
			t.Errorf("%s has no patterns", r.Service)
		}
	}
	if !slices.Equal(got, config.ServiceNames()) {
		t.Errorf("Routes services = %v, want %v", got, config.ServiceNames())
	}
}

func TestNewPanicsOnAMissingHandler(t *testing.T) {
	t.Parallel()
	hs := handlers()
	delete(hs, config.Payment)
	defer func() {
		p := recover()
		if s, _ := p.(string); !strings.Contains(s, config.Payment) {
			t.Errorf("New without a payment handler panicked with %v, want a message naming payment", p)
		}
	}()
	_, _ = New(hs, Options{SessionKey: testKey})
}

func TestNewRefusesAShortSessionKey(t *testing.T) {
	t.Parallel()
	if _, err := New(handlers(), Options{SessionKey: testKey[:31]}); err == nil {
		t.Error("New took a 31-byte session key")
	}
}

func TestNewServesTheStorefrontToBrowsers(t *testing.T) {
	t.Parallel()
	h := mustNew(t, handlers())
	for _, path := range []string{"/static/style.css", "/static/app.js", "/login", "/signup", "/no-such-page"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", "text/html")
		h.ServeHTTP(rec, req)
		want := http.StatusOK
		if path == "/no-such-page" {
			want = http.StatusNotFound
		}
		if rec.Code != want || rec.Header().Get("Content-Type") == "" || strings.HasPrefix(rec.Body.String(), "{") {
			t.Errorf("GET %s = %d %q, want %d from the storefront", path, rec.Code, rec.Header().Get("Content-Type"), want)
		}
	}
}
