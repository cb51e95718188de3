// Package edge is the routing table of kitshop's public HTTP API: which
// service serves which path. cmd/shop uses it with the services' handlers in
// process; cmd/edge with a reverse proxy to each service's HTTP listener.
//
// The API's contract is the OpenAPI 3.1 document openapi.json (OpenAPI),
// which New serves with a page that lists it (GET /openapi.json, GET /docs).
// Every other path is the storefront and admin console (internal/edge/
// storefront), which New serves with the routes of Routes as its API.
//
// OpenAPI 3.1 because kin-openapi, which the tests validate real traffic
// with (edgetest), loads, validates and checks traffic against 3.1
// documents (JSON Schema 2020-12: "type": ["string", "null"]).
package edge

import (
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/edge/storefront"
)

// Route is one service's share of the public HTTP paths.
type Route struct {
	// Service is the service's name (config.User, config.Product, ...).
	Service string
	// Patterns are http.ServeMux patterns without a method: "/order" is the
	// path itself, "/order/" everything under it. The service's own handler
	// matches method and path exactly; the edge only picks the service.
	Patterns []string
}

// Routes returns the public HTTP routes of every service, in the order of
// config.ServiceNames.
func Routes() []Route {
	return []Route{
		{Service: config.User, Patterns: []string{"/auth/", "/users/", "/.well-known/"}},
		{Service: config.Product, Patterns: []string{"/product", "/product/"}},
		{Service: config.Order, Patterns: []string{"/order", "/order/"}},
		{Service: config.Payment, Patterns: []string{"/payment/"}},
		{Service: config.Notification, Patterns: []string{"/notification"}},
	}
}

//go:embed openapi.json
var openapiJSON []byte

//go:embed docs.html
var docsHTML []byte

// OpenAPI returns the OpenAPI 3.1 document of every public HTTP route: those
// of Routes, GET /openapi.json and GET /docs (which New serves), and GET
// /healthz, /readyz and /metrics (which httpserver.New adds in front of it,
// in cmd/shop and cmd/edge). The caller may modify the copy it gets.
func OpenAPI() []byte { return slices.Clone(openapiJSON) }

// Options configure New's storefront.
type Options struct {
	// SessionKey seals the storefront's session cookies, at least 32 bytes;
	// every edge serving the same browsers needs the same key.
	SessionKey []byte
	// SecureCookies marks the session cookie Secure even on requests that
	// reached this process in plain HTTP (behind a TLS-terminating proxy).
	SecureCookies bool
	// Logger gets the storefront's failures.
	Logger *slog.Logger
	// WrapAPI, when set, wraps the transport of the storefront's calls to the
	// public API, e.g. to check them against OpenAPI (the tests do).
	WrapAPI func(http.RoundTripper) http.RoundTripper
}

// New returns a handler sending every public path to handlers[service],
// serving GET /openapi.json (OpenAPI, application/json) and GET /docs (an
// HTML page listing the document's operations), and every other path to the
// storefront, whose API calls go to those same routes in process. It panics
// when a service of Routes has no handler, as http.ServeMux.Handle does for a
// nil one: that is a wiring mistake, not a runtime condition. It fails on a
// session key shorter than 32 bytes.
func New(handlers map[string]http.Handler, opts Options) (http.Handler, error) {
	api := http.NewServeMux()
	for _, r := range Routes() {
		h := handlers[r.Service]
		if h == nil {
			panic(fmt.Sprintf("edge: no handler for the %s service", r.Service))
		}
		for _, p := range r.Patterns {
			api.Handle(p, h)
		}
	}
	api.HandleFunc("GET /openapi.json", serveBytes("application/json", openapiJSON))
	api.HandleFunc("GET /docs", serveBytes("text/html; charset=utf-8", docsHTML))
	transport := storefront.InProcess(api)
	if opts.WrapAPI != nil {
		transport = opts.WrapAPI(transport)
	}
	shop, err := storefront.New(storefront.Options{API: transport, SessionKey: opts.SessionKey,
		SecureCookies: opts.SecureCookies, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	root := http.NewServeMux()
	root.Handle("/", shop)
	for _, r := range Routes() {
		for _, p := range r.Patterns {
			root.Handle(p, api)
		}
	}
	root.Handle("/openapi.json", api)
	root.Handle("/docs", api)
	return root, nil
}

// serveBytes returns a handler answering 200 with body as contentType.
func serveBytes(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}
}
