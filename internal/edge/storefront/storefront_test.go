package storefront

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// fakeAPI answers the API calls a test names, and 404 in JSON otherwise.
type fakeAPI map[string]func(w http.ResponseWriter, r *http.Request)

func (f fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := f[r.Method+" "+r.URL.Path]; h != nil {
		h(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such thing"}}`))
}

func jsonAnswer(status int, body any, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func newTestStorefront(t *testing.T, api fakeAPI) *Storefront {
	t.Helper()
	s, err := New(Options{API: InProcess(api), SessionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := New(Options{SessionKey: testKey}); err == nil {
		t.Error("New without an API")
	}
	if _, err := New(Options{API: InProcess(fakeAPI{}), SessionKey: testKey[:16]}); err == nil {
		t.Error("New with a 16-byte key")
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/cart": "/cart", "/?q=milk": "/?q=milk", "": "/", "https://evil.example/": "/", "//evil.example/x": "/",
		"/\\evil.example": "/", "cart": "/", "javascript:alert(1)": "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWon(t *testing.T) {
	for in, want := range map[int64]string{0: "₩0", 999: "₩999", 1000: "₩1,000", 3500: "₩3,500", 1234567: "₩1,234,567", -2000: "-₩2,000"} {
		if got := won(in); got != want {
			t.Errorf("won(%d) = %q, want %q", in, got, want)
		}
	}
}

// TestForgedCookieIsNoSession: a cookie sealed with another key, or changed,
// is an empty session: the visitor is not signed in and gets a new one.
func TestForgedCookieIsNoSession(t *testing.T) {
	s := newTestStorefront(t, fakeAPI{"GET /users/me": func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the storefront asked for the user of a forged session")
	}})
	other, err := newCodec([]byte("another key, another key, another key"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.sc.Encode(cookieName, session{CSRF: "x", Access: "token", Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{forged, "garbage", ""} {
		req := httptest.NewRequest("GET", "/login", nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: value})
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "Log out") {
			t.Errorf("a forged cookie %.20q: %d, signed in: %v", value, rec.Code, strings.Contains(rec.Body.String(), "Log out"))
		}
	}
}

// TestAnEndedSessionSignsOut: when the API says the session is over (401 at
// /users/me), the visitor is signed out and sent to the log-in page.
func TestAnEndedSessionSignsOut(t *testing.T) {
	s := newTestStorefront(t, fakeAPI{
		"GET /users/me": jsonAnswer(401, map[string]any{"error": map[string]string{"code": "session_ended", "message": "the session has ended"}}),
	})
	v := &visit{s: s, r: httptest.NewRequest("GET", "/cart", nil), w: httptest.NewRecorder(),
		sess: session{CSRF: "c", Access: "a", Refresh: "r", Expires: time.Now().Add(time.Hour).Unix()}}
	u, err := v.currentUser()
	if u != nil || err != nil || v.sess.Access != "" || !v.dirty {
		t.Errorf("currentUser after 401 = %v, %v; session %+v", u, err, v.sess)
	}
}

// TestAnExpiringTokenIsRenewed: an access token about to expire is traded
// for a new pair before the page's calls.
func TestAnExpiringTokenIsRenewed(t *testing.T) {
	var sawBearer string
	s := newTestStorefront(t, fakeAPI{
		"POST /auth/refresh": jsonAnswer(200, map[string]any{"accessToken": "new-access", "refreshToken": "new-refresh", "expiresIn": 900, "tokenType": "Bearer"}),
		"GET /users/me": func(w http.ResponseWriter, r *http.Request) {
			sawBearer = r.Header.Get("Authorization")
			jsonAnswer(200, map[string]any{"id": "u1", "email": "kim@example.com", "name": "Kim", "role": "user"})(w, r)
		},
	})
	v := &visit{s: s, r: httptest.NewRequest("GET", "/", nil), w: httptest.NewRecorder(),
		sess: session{CSRF: "c", Access: "old", Refresh: "old-refresh", Expires: time.Now().Add(10 * time.Second).Unix()}}
	u, err := v.currentUser()
	if err != nil || u == nil || u.Name != "Kim" {
		t.Fatalf("currentUser = %v, %v", u, err)
	}
	if sawBearer != "Bearer new-access" || v.sess.Refresh != "new-refresh" || !v.dirty {
		t.Errorf("the page used %q; session %+v", sawBearer, v.sess)
	}
}

// TestErrorPages: each API error the checkout can meet has its own page
// with the API's status.
func TestErrorPages(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		header []string
		title  string
	}{
		{402, "payment_declined", nil, "Your card was declined"},
		{409, "out_of_stock", nil, "Out of stock"},
		{503, "unavailable", []string{"Retry-After", "7"}, "A part of the shop is not answering"},
		{422, "idempotency_key_reused", nil, "This checkout was already sent with another cart"},
	} {
		s := newTestStorefront(t, fakeAPI{
			"GET /users/me": jsonAnswer(200, map[string]any{"id": "u1", "email": "kim@example.com", "name": "Kim", "role": "user"}),
			"POST /order":   jsonAnswer(tc.status, map[string]any{"error": map[string]string{"code": tc.code, "message": "the message."}}, tc.header...),
		})
		rec := httptest.NewRecorder()
		v := &visit{s: s, r: httptest.NewRequest("POST", "/checkout", strings.NewReader(url.Values{
			"items": {`[{"productId":"sample-1","quantity":1}]`}, "amount": {"1000"}, "idempotencyKey": {"k"}}.Encode())), w: rec,
			sess: session{CSRF: "c", Access: "a", Refresh: "r", Expires: time.Now().Add(time.Hour).Unix()}}
		v.r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := v.r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		s.signedIn(s.checkout)(v)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.title) {
			t.Errorf("%d %s: page %d without %q", tc.status, tc.code, rec.Code, tc.title)
		}
		if tc.status == 503 && rec.Header().Get("Retry-After") != "7" {
			t.Errorf("503: Retry-After %q, want the API's 7", rec.Header().Get("Retry-After"))
		}
	}
}

func TestNotFound(t *testing.T) {
	s := newTestStorefront(t, fakeAPI{})
	req := httptest.NewRequest("GET", "/nowhere", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "Page not found") {
		t.Errorf("a browser at an unknown path: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/nowhere", nil))
	if rec.Code != 404 || strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("an API client at an unknown path: %d %q", rec.Code, rec.Body.String())
	}
}

// signedInVisit is a posted form of a signed-in visitor, from the page at
// referer.
func signedInVisit(s *Storefront, path, referer string, form url.Values) (*visit, *httptest.ResponseRecorder) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Referer", "http://example.com"+referer)
	_ = r.ParseForm()
	return &visit{s: s, r: r, w: rec, sess: session{CSRF: "c", Access: "a", Refresh: "r", Expires: time.Now().Add(time.Hour).Unix()}}, rec
}

// TestCartFormWithoutAProduct: a cart form naming no product changes nothing
// and says so on the page it came from.
func TestCartFormWithoutAProduct(t *testing.T) {
	s := newTestStorefront(t, fakeAPI{
		"GET /users/me":       jsonAnswer(200, map[string]any{"id": "u1", "email": "kim@example.com", "name": "Kim", "role": "user"}),
		"GET /users/me/cart":  jsonAnswer(200, map[string]any{"items": []any{}}),
		"PUT /users/me/cart/": func(http.ResponseWriter, *http.Request) { t.Error("the cart API was called without a product") },
	})
	for _, path := range []string{"/cart/add", "/cart/set", "/cart/remove"} {
		v, rec := signedInVisit(s, path, "/p/sample-1", url.Values{"quantity": {"1"}})
		map[string]handler{"/cart/add": s.cartAdd, "/cart/set": s.cartSet, "/cart/remove": s.cartRemove}[path](v)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/p/sample-1" || v.sess.Flash != "Choose a product first." {
			t.Errorf("%s without a product: %d → %q, flash %q", path, rec.Code, rec.Header().Get("Location"), v.sess.Flash)
		}
	}
}

// TestAFormOfAnEndedSessionComesBack: a form posted by a session the API no
// longer takes leads to the log-in page, and from it back to the page the
// form was on, not to the form's target.
func TestAFormOfAnEndedSessionComesBack(t *testing.T) {
	s := newTestStorefront(t, fakeAPI{
		"GET /users/me/cart": jsonAnswer(401, map[string]any{"error": map[string]string{"code": "session_ended", "message": "ended"}}),
	})
	v, rec := signedInVisit(s, "/cart/add", "/p/sample-1", url.Values{"productId": {"sample-1"}, "quantity": {"1"}})
	s.cartAdd(v)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next=%2Fp%2Fsample-1" || v.sess.Access != "" {
		t.Errorf("a form of an ended session: %d → %q, tokens kept: %v", rec.Code, rec.Header().Get("Location"), v.sess.Access != "")
	}
}
