// Package storefront is kitshop's web shop and admin console: HTML pages
// rendered on the server with html/template, a little hand-written
// JavaScript (the live order page, a guard against double submits) and a
// style sheet, all embedded in the binary. The edge serves it at / beside the
// public API (internal/edge), and it uses that API like any other client:
// every page is made of the same calls, with the same tokens, checks and
// errors, as curl would make.
//
// Sessions live in a sealed cookie (session); every form carries the
// session's CSRF token and cross-origin form posts are refused
// (http.CrossOriginProtection). A checkout form carries its own
// Idempotency-Key, so that a double click or a resubmitted form places one
// order.
package storefront

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Options configure New.
type Options struct {
	// API reaches the public API, e.g. InProcess(the edge's routes).
	API http.RoundTripper
	// SessionKey seals the session cookies, at least 32 bytes; every replica
	// serving the same browsers needs the same key.
	SessionKey []byte
	// SecureCookies marks the cookie Secure on every answer; without it, only
	// on requests that came over TLS to this process.
	SecureCookies bool
	// Logger gets the failures the visitor cannot do anything about.
	Logger *slog.Logger
}

// Storefront is the web shop's handler.
type Storefront struct {
	api    *api
	codec  *codec
	secure bool
	logger *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
}

// New returns the storefront. It fails on a missing API or a short key.
func New(opts Options) (*Storefront, error) {
	if opts.API == nil {
		return nil, errors.New("storefront: no API transport")
	}
	c, err := newCodec(opts.SessionKey)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Storefront{
		api:    &api{client: &http.Client{Transport: opts.API}},
		codec:  c,
		secure: opts.SecureCookies,
		logger: opts.Logger,
		pages:  pages,
		mux:    http.NewServeMux(),
		cop:    http.NewCrossOriginProtection(),
	}
	s.routes()
	return s, nil
}

// ServeHTTP serves the storefront's pages; a cross-origin form post is 403.
func (s *Storefront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		v := s.newVisit(w, r)
		v.page(http.StatusForbidden, "error", "Refused", errorPage{Title: "This form came from another site",
			Message: "For your safety the shop only takes forms sent from its own pages. Go back, reload the page and try again."})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Paths of the storefront; the public API keeps its own (internal/edge).
func (s *Storefront) routes() {
	static, _ := fs.Sub(staticFiles, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	s.handle("GET /{$}", s.catalogue)
	s.handle("GET /p/{id}", s.productPage)
	s.handle("GET /signup", s.signupForm)
	s.handle("POST /signup", s.form(s.signup))
	s.handle("GET /login", s.loginForm)
	s.handle("POST /login", s.form(s.login))
	s.handle("POST /logout", s.form(s.logout))
	s.handle("GET /cart", s.signedIn(s.cartPage))
	s.handle("POST /cart/add", s.form(s.signedIn(s.cartAdd)))
	s.handle("POST /cart/set", s.form(s.signedIn(s.cartSet)))
	s.handle("POST /cart/remove", s.form(s.signedIn(s.cartRemove)))
	s.handle("GET /checkout", s.signedIn(s.checkoutForm))
	s.handle("POST /checkout", s.form(s.signedIn(s.checkout)))
	s.handle("GET /orders", s.signedIn(s.ordersPage))
	s.handle("GET /orders/{id}", s.signedIn(s.orderPage))
	s.handle("GET /orders/{id}/live", s.signedIn(s.orderLive))
	s.handle("GET /admin", s.admin(s.adminHome))
	s.handle("GET /admin/products", s.admin(s.adminProducts))
	s.handle("POST /admin/products", s.form(s.admin(s.adminCreateProduct)))
	s.handle("POST /admin/products/{id}/stock", s.form(s.admin(s.adminSetStock)))
	s.handle("GET /admin/orders", s.admin(s.adminOrders))
	s.handle("POST /admin/orders/{id}/delivered", s.form(s.admin(s.adminDelivered)))
	s.handle("/", s.notFound)
}

// handler is a page's handler with its visit.
type handler func(v *visit)

func (s *Storefront) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h(s.newVisit(w, r))
	})
}

// form refuses a posted form without the session's CSRF token (403).
func (s *Storefront) form(next handler) handler {
	return func(v *visit) {
		if !v.validForm() {
			v.page(http.StatusForbidden, "error", "Form expired", errorPage{Title: "This form has expired",
				Message: "The form was not sent from your current session (it may be old, or from another tab that logged out). Reload the page and try again."})
			return
		}
		next(v)
	}
}

// signedIn sends a visitor who is not signed in to the log-in page, and
// back here afterwards (to the referring page for a form).
func (s *Storefront) signedIn(next handler) handler {
	return func(v *visit) {
		u, err := v.currentUser()
		if err != nil {
			v.fail(err)
			return
		}
		if u == nil {
			back := v.r.URL.RequestURI()
			if v.r.Method != http.MethodGet {
				back = localPath(refererPath(v.r))
			}
			v.redirect("/login?next=" + urlQueryEscape(back))
			return
		}
		next(v)
	}
}

// admin is signedIn for the admin role; anyone else gets the 403 page.
func (s *Storefront) admin(next handler) handler {
	return s.signedIn(func(v *visit) {
		if v.user.Role != "admin" {
			v.page(http.StatusForbidden, "error", "Admins only", errorPage{Title: "Admins only",
				Message: "The admin console is for the shop's administrators. Your account is a customer account."})
			return
		}
		next(v)
	})
}

// notFound answers a path of no page: 404, in HTML for a browser. The
// request's Pattern is cleared: it matched no route, which is how the edge's
// metrics and logs name it (internal/httpserver's "unmatched").
func (s *Storefront) notFound(v *visit) {
	v.r.Pattern = ""
	if !strings.Contains(v.r.Header.Get("Accept"), "text/html") {
		http.NotFound(v.w, v.r) // an API client's typo: the edge answers it in JSON
		return
	}
	v.page(http.StatusNotFound, "error", "Not found", errorPage{Title: "Page not found",
		Message: fmt.Sprintf("There is no page at %s.", v.r.URL.Path)})
}

// cacheStatic lets browsers keep the embedded assets for an hour.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}
