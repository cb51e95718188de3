// Package httpserver is the HTTP plumbing every kitshop service shares: the
// JSON error envelope for go-kit transports (EncodeError), strict JSON request
// decoding (DecodeJSON), and New, which wraps a service's routes with health
// and metrics endpoints, Prometheus instrumentation, a body size limit and
// panic recovery.
package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/telemetry"
)

// Defaults used when Options leaves a field zero.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultReadyTimeout = 2 * time.Second
)

// Timeouts of the *http.Server built by NewServer.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 2 * time.Minute
)

// Options configures New.
type Options struct {
	// Logger receives one line per failed request (5xx at error level, other
	// failures at debug). Nil discards.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics. Nil leaves them unregistered. When
	// several servers share a registry (cmd/shop), give each its own
	// prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg):
	// servers registering on the very same Registerer share one set of series.
	Registerer prometheus.Registerer
	// Gatherer is served on GET /metrics. Nil leaves /metrics unmounted.
	Gatherer prometheus.Gatherer
	// Ready reports whether the service can do its work (e.g. a store ping);
	// GET /readyz answers 503 when it fails. Nil means always ready.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds one Ready call; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// MaxBodyBytes is the largest request body accepted; zero or less means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TracerProvider traces every request but the probes and the scrape
	// (telemetry.HTTPHandler); nil: telemetry.Disabled.
	TracerProvider trace.TracerProvider
}

// New returns the handler of a service's HTTP listener. It mounts
//
//	GET /healthz  200 {"status":"ok"} while the process is alive
//	GET /readyz   200 {"status":"ok"}, or 503 {"status":"unavailable"} when opts.Ready fails
//	GET /metrics  Prometheus exposition of opts.Gatherer (OpenMetrics, with
//	              the exemplars, to a scraper that asks for it)
//
// and routes everything else to app. Every request is counted in
// kitshop_http_requests_total{handler,method,code} and timed in
// kitshop_http_request_duration_seconds{handler,method}, where handler is the
// matched http.ServeMux pattern (app should be a ServeMux for per-route
// labels), bodies over opts.MaxBodyBytes are refused with 413, and a panic
// becomes a logged 500 JSON error. Every request continues its caller's
// trace (a W3C traceparent) or starts one, and every response names it in
// the X-Trace-Id header (telemetry.TraceIDHeader).
//
// New panics if the metrics cannot be registered for a reason other than
// being registered already (then the existing collectors are reused), as
// prometheus.MustRegister does.
func New(app http.Handler, opts Options) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	readyTimeout := opts.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = DefaultReadyTimeout
	}
	maxBody := opts.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	})
	mux.Handle("GET /readyz", readyHandler(opts.Ready, readyTimeout))
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	}
	mux.Handle("/", app)

	return telemetry.HTTPHandler(&handler{
		next:    LimitBody(maxBody, mux),
		metrics: newMetrics(opts.Registerer),
		logger:  logger,
	}, opts.TracerProvider)
}

type statusBody struct {
	Status string `json:"status"`
}

func readyHandler(ready func(context.Context) error, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				noteError(r.Context(), err)
				writeJSON(w, http.StatusServiceUnavailable, statusBody{Status: "unavailable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	})
}

// NewServer returns an *http.Server for h on addr with timeouts that bound
// slow clients: ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// LimitBody refuses request bodies larger than n bytes with 413: at once when
// Content-Length says so, otherwise when reading passes the limit (the reader
// is an http.MaxBytesReader, whose error DecodeJSON and EncodeError map to 413).
func LimitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			WriteError(w, http.StatusRequestEntityTooLarge, "", tooLargeMessage(n))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

// requestState is what the layers inside a request tell the outer handler,
// which logs at most one line per request.
type requestState struct {
	err   error
	panic any
	stack []byte
}

type stateKey struct{}

// noteError records err as the cause of the current request's failure and
// reports whether the request is served by New (so it will be logged).
func noteError(ctx context.Context, err error) bool {
	st, ok := ctx.Value(stateKey{}).(*requestState)
	if ok {
		st.err = err
	}
	return ok
}

// handler is the outermost layer built by New: instrumentation, logging and
// panic recovery around the body limit and the routes.
type handler struct {
	next    http.Handler
	metrics *metrics
	logger  *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		w.Header().Set(telemetry.TraceIDHeader, sc.TraceID().String())
	}
	st := &requestState{}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	sw := &statusWriter{ResponseWriter: w, req: r}
	defer func() {
		p := recover()
		if p == http.ErrAbortHandler {
			// net/http's sanctioned way to abort a response: let it through.
			panic(p)
		}
		if p != nil {
			st.panic, st.stack = p, debug.Stack()
			if !sw.wrote {
				WriteError(sw, http.StatusInternalServerError, "", internalMessage)
			}
		}
		h.finish(r, sw.statusCode(), time.Since(start), st)
	}()
	h.next.ServeHTTP(sw, r)
}

// finish records the metrics of a served request and logs it if it failed.
// r.Pattern is set by the ServeMux that routed r (the app's own ServeMux when
// app is one, as it receives the same *http.Request).
func (h *handler) finish(r *http.Request, status int, elapsed time.Duration, st *requestState) {
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	} else if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetName(spanName(r))
	}
	h.metrics.observe(r.Context(), route, r.Method, status, elapsed)

	if status < 400 && st.panic == nil {
		return
	}
	attrs := []any{
		"method", r.Method, "route", route, "status", status, "duration", elapsed,
	}
	if st.err != nil {
		attrs = append(attrs, "error", st.err.Error())
	}
	if st.panic != nil {
		attrs = append(attrs, "panic", st.panic, "stack", string(st.stack))
	}
	level := slog.LevelDebug
	if status >= 500 || st.panic != nil {
		level = slog.LevelError
	}
	h.logger.Log(r.Context(), level, "http request failed", attrs...)
}

// spanName is the name of the server span of r, routed by a ServeMux: its
// pattern, with the method when the pattern has none ("POST /order",
// "GET /order/{id}"), never the path, whose ids would make every name new.
func spanName(r *http.Request) string {
	if strings.Contains(r.Pattern, " ") {
		return r.Pattern
	}
	return r.Method + " " + r.Pattern
}

// statusWriter remembers the status written through it. It also turns the
// plain-text 404 and 405 that http.ServeMux writes when no route matches
// (r.Pattern is then empty, or, when the mux is a service's behind an outer
// one that matched a prefix, http.Error's text/plain is set) into the JSON
// error envelope, so every error a client gets has the same shape.
type statusWriter struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	wrote   bool
	swallow bool // the mux's plain-text body, replaced by the envelope
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote || code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status, w.wrote = code, true
	plain := w.req.Pattern == "" || strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain")
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) && plain {
		w.swallow = true
		msg := "no route for " + w.req.Method + " " + w.req.URL.Path
		if code == http.StatusMethodNotAllowed {
			msg = "method " + w.req.Method + " not allowed on " + w.req.URL.Path
		}
		w.Header().Del("Content-Length")
		WriteError(w.ResponseWriter, code, "", msg)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) statusCode() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}
