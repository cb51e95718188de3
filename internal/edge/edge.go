// Package edge is the routing table of kitshop's public HTTP API: which
// service serves which path. cmd/shop uses it with the services' handlers in
// process; cmd/edge with a reverse proxy to each service's HTTP listener.
package edge

import (
	"fmt"
	"net/http"

	"github.com/kitshop/kitshop/internal/config"
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

// New returns a handler sending every public path to handlers[service]; any
// other path is 404. It panics when a service of Routes has no handler, as
// http.ServeMux.Handle does for a nil one: that is a wiring mistake, not a
// runtime condition.
func New(handlers map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, r := range Routes() {
		h := handlers[r.Service]
		if h == nil {
			panic(fmt.Sprintf("edge: no handler for the %s service", r.Service))
		}
		for _, p := range r.Patterns {
			mux.Handle(p, h)
		}
	}
	return mux
}
