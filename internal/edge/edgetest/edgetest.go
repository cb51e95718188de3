// Package edgetest checks HTTP traffic against kitshop's OpenAPI document
// (edge.OpenAPI), for the tests of any package that calls the public API:
// give the test's http.Client a Transport and every request it sends, with
// its answer, is validated.
package edgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/kitshop/kitshop/internal/edge"
)

// Transport is an http.RoundTripper that sends each request through Base
// and checks it and its response against the document, reporting every
// mismatch with TB.Errorf (method, path and query, status, the validation
// error); it never changes what the caller gets. Bodies are read whole
// before they are passed on.
//
// What passes:
//   - a request of a documented operation whose response (status, headers,
//     body) the operation documents; undocumented statuses fail;
//   - a request the document refuses (a wrong type, a missing credential, an
//     unknown field, ...) when the service refused it too with a documented
//     4xx: a test of the services' own checks;
//   - a request of no documented operation answered 404 or 405 with the
//     JSON error body (components.schemas.Error).
//
// Credentials are checked for presence and scheme only (Basic or Bearer, as
// the operation requires): the services check them.
type Transport struct {
	// TB receives the mismatches.
	TB testing.TB
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// New returns a Transport reporting to tb and sending through base (nil:
// http.DefaultTransport). It fails tb at once if the document does not load.
func New(tb testing.TB, base http.RoundTripper) *Transport {
	tb.Helper()
	if _, err := loadSpec(); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	return &Transport{TB: tb, Base: base}
}

// spec is the loaded document and its router.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

// loadSpec loads and validates edge.OpenAPI once per process.
var loadSpec = sync.OnceValues(func() (*spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(edge.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing the OpenAPI document: %w", err)
	}
	return &spec{doc: doc, router: router}, nil
})

// RoundTrip sends req and validates it with its response. A transport error
// is returned as it is, unvalidated.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
	}
	out := withBody(req, reqBody)
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := check(withBody(req, reqBody), reqBody, resp, respBody); err != nil {
		t.TB.Errorf("openapi: %s %s → %d: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return resp, nil
}

// withBody returns a copy of req reading body (none if nil).
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	if body == nil {
		r.Body = http.NoBody
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return r
}

// check validates req (whose body is reqBody) and resp (whose body is
// respBody) as Transport says.
func check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	s, err := loadSpec()
	if err != nil {
		return err
	}
	ctx := context.Background()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return checkErrorBody(s.doc, resp, respBody)
		}
		return fmt.Errorf("no documented operation (%v), yet not answered 404 or 405", err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: presentCredentials}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		return fmt.Errorf("the request does not match the document, yet was not refused with a 4xx: %w", reqErr)
	}
	// The request's own body has been read by ValidateRequest: give the
	// response's check a fresh one (it looks at the request only for its
	// route and method).
	in.Request = withBody(req, reqBody)
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	})
}

// checkErrorBody checks that resp is a JSON error body
// (components.schemas.Error).
func checkErrorBody(doc *openapi3.T, resp *http.Response, body []byte) error {
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return fmt.Errorf("no documented operation, answered with Content-Type %q, want the JSON error body", resp.Header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("no documented operation, answered with a body that is not JSON: %w", err)
	}
	ref := doc.Components.Schemas["Error"]
	if ref == nil || ref.Value == nil {
		return errors.New("the document has no components.schemas.Error")
	}
	if err := ref.Value.VisitJSON(v); err != nil {
		return fmt.Errorf("no documented operation, answered with a body that is not the error body: %w", err)
	}
	return nil
}

// presentCredentials is the AuthenticationFunc of the checks: the request
// has an Authorization header of the scheme's kind (Basic or Bearer) with
// something after it.
func presentCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme := in.SecurityScheme
	if scheme == nil || scheme.Type != "http" {
		return fmt.Errorf("security scheme %q: only http schemes are checked", in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	kind, cred, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(kind, scheme.Scheme) || strings.TrimSpace(cred) == "" {
		return fmt.Errorf("no %s credentials in Authorization", scheme.Scheme)
	}
	return nil
}
