package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// web is a browser without JavaScript: a cookie jar and forms, redirects
// not followed, so that a test sees each answer.
type web struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWeb(t *testing.T, sys *system) *web {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &web{t: t, base: sys.base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the status, the body and the Location.
func (w *web) do(req *http.Request) (int, string, string) {
	w.t.Helper()
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

func (w *web) get(path string) (int, string, string) {
	w.t.Helper()
	req, err := http.NewRequest("GET", w.base+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return w.do(req)
}

func (w *web) post(path string, form url.Values, header ...string) (int, string, string) {
	w.t.Helper()
	req, err := http.NewRequest("POST", w.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return w.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the forms of the page at path.
func (w *web) csrf(path string) string {
	w.t.Helper()
	code, body, _ := w.get(path)
	m := csrfField.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		w.t.Fatalf("GET %s = %d without a CSRF token: %.300s", path, code, body)
	}
	return m[1]
}

// signUp registers through the sign-up form, which logs the user in.
func (w *web) signUp(email string) {
	w.t.Helper()
	code, body, loc := w.post("/signup", url.Values{"csrf": {w.csrf("/signup")}, "name": {"Kim"}, "email": {email},
		"password": {userPassword}, "age": {"30"}, "next": {"/"}})
	if code != http.StatusSeeOther || loc != "/" {
		w.t.Fatalf("sign-up = %d → %q: %.500s", code, loc, body)
	}
}

// session returns the session cookie's value.
func (w *web) session() *http.Cookie {
	u, _ := url.Parse(w.base)
	for _, c := range w.c.Jar.Cookies(u) {
		if c.Name == "kitshop_session" {
			return c
		}
	}
	w.t.Fatal("no session cookie")
	return nil
}

func TestStorefrontSessionCookie(t *testing.T) {
	sys := startSystem(t)
	w := newWeb(t, sys)
	req, _ := http.NewRequest("GET", sys.base+"/login", nil)
	resp, err := w.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var set *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "kitshop_session" {
			set = c
		}
	}
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/" || set.Secure {
		t.Fatalf("the session cookie over plain HTTP is %+v, want HttpOnly, SameSite=Lax, Path=/, not Secure", set)
	}
	if strings.Contains(set.Value, "eyJ") {
		t.Error("the session cookie shows a token in the clear")
	}
}

// TestStorefrontLogoutEndsACopiedCookie: a copy of the session cookie,
// taken while signed in, signs no one in once the user has logged out.
func TestStorefrontLogoutEndsACopiedCookie(t *testing.T) {
	sys := startSystem(t)
	w := newWeb(t, sys)
	w.signUp("copied@example.com")
	if code, body, _ := w.get("/cart"); code != http.StatusOK || !strings.Contains(body, "Your cart") {
		t.Fatalf("GET /cart signed in = %d: %.300s", code, body)
	}
	stolen := w.session()

	thief := newWeb(t, sys)
	u, _ := url.Parse(sys.base)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: stolen.Name, Value: stolen.Value, Path: "/"}})
	if code, _, _ := thief.get("/cart"); code != http.StatusOK {
		t.Fatalf("the copied cookie before log-out: GET /cart = %d, want 200 (the test's copy is not a session)", code)
	}

	if code, _, loc := w.post("/logout", url.Values{"csrf": {w.csrf("/")}}); code != http.StatusSeeOther || loc != "/" {
		t.Fatalf("log-out = %d → %q", code, loc)
	}
	if code, _, loc := w.get("/cart"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("GET /cart after log-out = %d → %q, want the log-in page", code, loc)
	}
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: stolen.Name, Value: stolen.Value, Path: "/"}})
	if code, _, loc := thief.get("/cart"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("the copied cookie after log-out: GET /cart = %d → %q, want the log-in page", code, loc)
	}
	if code, body, _ := thief.get("/"); code != http.StatusOK || strings.Contains(body, "Log out") {
		t.Errorf("the copied cookie after log-out still shows a signed-in page (%d)", code)
	}
}

// TestStorefrontFormsNeedTheirCSRFToken: a form without the session's token,
// with another session's, or posted from another site is refused with 403
// and changes nothing.
func TestStorefrontFormsNeedTheirCSRFToken(t *testing.T) {
	sys := startSystem(t)
	w := newWeb(t, sys)
	w.signUp("csrf@example.com")
	other := newWeb(t, sys)
	othersToken := other.csrf("/login")
	add := func(token string, header ...string) int {
		form := url.Values{"productId": {"sample-1"}, "quantity": {"1"}}
		if token != "" {
			form.Set("csrf", token)
		}
		code, _, _ := w.post("/cart/add", form, header...)
		return code
	}
	if code := add(""); code != http.StatusForbidden {
		t.Errorf("add to cart without a CSRF token = %d, want 403", code)
	}
	if code := add(othersToken); code != http.StatusForbidden {
		t.Errorf("add to cart with another session's CSRF token = %d, want 403", code)
	}
	if code := add(w.csrf("/"), "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("add to cart posted from another site = %d, want 403", code)
	}
	if code, _, _ := w.post("/logout", url.Values{}); code != http.StatusForbidden {
		t.Errorf("log-out without a CSRF token = %d, want 403", code)
	}
	if code, body, _ := w.get("/cart"); code != http.StatusOK || !strings.Contains(body, "Your cart is empty") {
		t.Errorf("after refused forms the cart is not empty and signed in (%d): %.400s", code, body)
	}
	if code, _, _ := other.post("/login", url.Values{"email": {"csrf@example.com"}, "password": {userPassword}}); code != http.StatusForbidden {
		t.Errorf("log-in without a CSRF token = %d, want 403", code)
	}
	if code := add(w.csrf("/")); code != http.StatusSeeOther {
		t.Errorf("add to cart with the session's token = %d, want 303", code)
	}
}
