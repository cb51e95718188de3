package edgetest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errors
}

const goodProduct = `{"product":{"id":"p1","name":"Mug","description":"","price":9000,"stock":3}}`

// get sends GET path with the Transport to a server answering status with
// body as JSON, and returns what the Transport reported.
func get(t *testing.T, path string, status int, body string) []string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{TB: t}
	client := &http.Client{Transport: New(rec, nil)}
	resp, err := client.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != body || resp.StatusCode != status {
		t.Errorf("the client got %d %s, want the server's %d %s", resp.StatusCode, got, status, body)
	}
	return rec.reported()
}

func TestTransportPassesDocumentedTraffic(t *testing.T) {
	t.Parallel()
	if errs := get(t, "/product/p1", http.StatusOK, goodProduct); len(errs) != 0 {
		t.Errorf("a documented answer was reported: %q", errs)
	}
	if errs := get(t, "/nowhere", http.StatusNotFound, `{"error":{"code":"not_found","message":"no route"}}`); len(errs) != 0 {
		t.Errorf("a 404 of an undocumented path, with the error body, was reported: %q", errs)
	}
}

func TestTransportReportsMismatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		status     int
		body, want string
	}{
		{"undocumented field", "/product/p1", http.StatusOK,
			`{"product":{"id":"p1","name":"Mug","description":"","price":9000,"stock":3,"secret":"x"}}`, "secret"},
		{"missing field", "/product/p1", http.StatusOK, `{"product":{"id":"p1"}}`, "name"},
		{"undocumented status", "/product/p1", http.StatusTeapot, `{"error":{"code":"im_a_teapot","message":"x"}}`, "status is not supported"},
		{"undocumented error code", "/product/p1", http.StatusNotFound, `{"error":{"code":"gone","message":"x"}}`, "code"},
		{"undocumented path answered 200", "/nowhere", http.StatusOK, `{}`, "no documented operation"},
	} {
		errs := get(t, tc.path, tc.status, tc.body)
		if len(errs) != 1 || !strings.Contains(errs[0], tc.want) || !strings.Contains(errs[0], "GET "+tc.path) ||
			!strings.Contains(errs[0], fmt.Sprint(tc.status)) {
			t.Errorf("%s: reported %q, want one error naming GET %s, %d and %q", tc.name, errs, tc.path, tc.status, tc.want)
		}
	}
}

func TestTransportReportsARefusedRequestThatWasServed(t *testing.T) {
	t.Parallel()
	// GET /users/me without a token must not be answered 200.
	user := `{"id":"u1","email":"a@example.com","name":"Kim","age":30,"profile":"","role":"user"}`
	errs := get(t, "/users/me", http.StatusOK, user)
	if len(errs) != 1 || !strings.Contains(errs[0], "not refused") {
		t.Errorf("reported %q, want the request's mismatch", errs)
	}
	if errs := get(t, "/users/me", http.StatusUnauthorized, `{"error":{"code":"unauthenticated","message":"no token"}}`); len(errs) != 0 {
		t.Errorf("a refused request without a token, answered 401, was reported: %q", errs)
	}
}
