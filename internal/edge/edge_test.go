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

func TestNewRoutesEveryPublicPath(t *testing.T) {
	t.Parallel()
	h := New(handlers())
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

func TestNewRefusesOtherPaths(t *testing.T) {
	t.Parallel()
	h := New(handlers())
	for _, path := range []string{"/", "/orders", "/products", "/notification/x", "/metrics", "/healthz"} {
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
	New(hs)
}
