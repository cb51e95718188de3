package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// servedOutsideRoutes are the documented paths no service of Routes owns:
// the document and its page (New), and the probes and the scrape that
// httpserver.New mounts in front of New in cmd/shop and cmd/edge.
var servedOutsideRoutes = map[string]bool{
	"/openapi.json": true, "/docs": true, "/healthz": true, "/readyz": true, "/metrics": true,
}

func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid document: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid31(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1", doc.OpenAPI)
	}
}

// underPattern reports whether path is served by the ServeMux pattern p
// (without a method): p itself, or anything under p when p ends in "/".
func underPattern(path, p string) bool {
	return path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)
}

func TestOpenAPIDocumentCoversRoutes(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	paths := doc.Paths.InMatchingOrder()
	for _, r := range Routes() {
		for _, p := range r.Patterns {
			found := false
			for _, path := range paths {
				found = found || underPattern(path, p)
			}
			if !found {
				t.Errorf("%s's pattern %q has no documented path", r.Service, p)
			}
		}
	}
	for _, path := range paths {
		if servedOutsideRoutes[path] {
			continue
		}
		found := false
		for _, r := range Routes() {
			for _, p := range r.Patterns {
				found = found || underPattern(path, p)
			}
		}
		if !found {
			t.Errorf("documented path %s is under no pattern of Routes", path)
		}
	}
}

func TestNewServesTheDocument(t *testing.T) {
	t.Parallel()
	h := mustNew(t, handlers())

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(OpenAPI()) {
		t.Error("GET /openapi.json is not OpenAPI()")
	}
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Errorf("GET /openapi.json is not JSON: %v", err)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/docs", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if body := rec.Body.String(); !strings.Contains(body, `fetch("/openapi.json")`) {
		t.Errorf("GET /docs does not read /openapi.json: %.200s", body)
	}
	if body := rec.Body.String(); strings.Contains(body, "src=") || strings.Contains(body, "<link") {
		t.Error("GET /docs loads other files; it must be self-contained")
	}
}
