// Command edge is the public HTTP entry of kitshop when the five services run
// as separate processes (docker-compose.yml, deploy/k8s): a reverse proxy that
// sends each public path to the HTTP listener of the service that serves it
// (the routing table of internal/edge, the one cmd/shop uses in process),
// plus its own /healthz, /readyz and /metrics. It holds no state, so any
// number of replicas can run side by side.
//
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/edge"
	"github.com/kitshop/kitshop/internal/edge/storefront"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/telemetry"
)

// name is the edge's "service" label and log name.
const name = "edge"

// Defaults of the edge's own settings.
const (
	defaultHTTPAddr        = "127.0.0.1:8080" // loopback: -http-addr 0.0.0.0:8080 exposes it
	defaultUpstreamTimeout = 30 * time.Second
	// dialTimeout bounds connecting to a service; a service that does not
	// accept a connection this fast is down, and the caller gets a 502.
	dialTimeout = 5 * time.Second
	// maxIdlePerService keeps enough warm connections to each service for a
	// busy edge (net/http's default is 2).
	maxIdlePerService = 64
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
}

// settings are everything the edge can be told.
type settings struct {
	httpAddr        string
	upstreams       map[string]*string // base URL of each service's HTTP listener, by service name
	upstreamTimeout time.Duration
	// proc is the logs, the graceful stop and the body limit.
	proc config.Process
	// storefront is the session key and cookies.
	storefront config.Storefront
}

func (s *settings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.httpAddr, "http-addr", defaultHTTPAddr, "listen address (host:port) of the edge")
	s.upstreams = make(map[string]*string)
	for _, svc := range config.ServiceNames() {
		p, _ := config.DefaultPorts(svc)
		s.upstreams[svc] = fs.String(svc+"-url", fmt.Sprintf("http://localhost:%d", p.HTTP),
			"base URL of the "+svc+" service's HTTP listener")
	}
	fs.DurationVar(&s.upstreamTimeout, "upstream-timeout", defaultUpstreamTimeout, "longest wait for a service's answer to start (504 past it)")
	s.proc.Register(fs, true)
	s.storefront.RegisterFlags(fs, "", "; empty: a key of this process only, so sessions end when it stops and work with one edge only")
}

// validate checks the settings and returns the parsed upstream URLs.
func (s *settings) validate() (map[string]*url.URL, error) {
	var errs []error
	bad := config.FlagErrors(&errs)
	if _, _, err := net.SplitHostPort(s.httpAddr); err != nil {
		bad("http-addr", "%q: want host:port or :port", s.httpAddr)
	}
	targets := make(map[string]*url.URL)
	for _, svc := range config.ServiceNames() {
		raw := *s.upstreams[svc]
		u, err := parseUpstream(raw)
		if err != nil {
			bad(svc+"-url", "%v", err) // not echoed: a URL may carry a password
			continue
		}
		targets[svc] = u
	}
	if s.upstreamTimeout <= 0 {
		bad("upstream-timeout", "%s: must be positive", s.upstreamTimeout)
	}
	s.proc.Check(bad)
	return targets, errors.Join(errs...)
}

// parseUpstream accepts an http or https URL with a host and nothing but an
// optional path prefix.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("scheme must be http or https")
	case u.Host == "":
		return nil, errors.New("missing host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("want scheme://host[:port][/prefix], without user, query or fragment")
	}
	return u, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	s.register(fs)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	targets, err := s.validate()
	if err != nil {
		return err
	}
	logger, err := logging.New(stderr, s.proc.LogLevel, s.proc.LogFormat)
	if err != nil {
		return err
	}

	tel, err := telemetry.New(ctx, s.proc.Tracing)
	if err != nil {
		return err
	}
	tp := tel.Provider(name)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	transport := newTransport(s.upstreamTimeout)
	traced := telemetry.HTTPTransport(transport, tp) // the trace goes on to the services
	proxies := make(map[string]http.Handler)
	for svc, u := range targets {
		proxies[svc] = newProxy(svc, u, traced)
	}
	// Readiness is the edge's own: a gateway that went unready whenever one
	// service did would turn the loss of one route into the loss of all.
	if s.storefront.SessionKeyFile == "" {
		logger.Warn("no -session-key-file: the storefront's sessions end when this edge stops and no other edge can read them")
	}
	sessionKey, err := storefront.LoadOrCreateKey(s.storefront.SessionKeyFile)
	if err != nil {
		return err
	}
	app, err := edge.New(proxies, edge.Options{SessionKey: sessionKey, SecureCookies: s.storefront.SecureCookies, Logger: logger})
	if err != nil {
		return err
	}
	handler := httpserver.New(app, httpserver.Options{
		Logger:         logger,
		Registerer:     prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg),
		Gatherer:       reg,
		MaxBodyBytes:   s.proc.MaxBodyBytes,
		TracerProvider: tp,
	})

	g := rungroup.New(logger, s.proc.ShutdownTimeout)
	g.Cleanup("telemetry", tel.Shutdown) // last: the spans of the stop too
	g.Cleanup("upstream-connections", func(context.Context) error {
		transport.CloseIdleConnections()
		return nil
	})
	addr, err := g.HTTP(name, s.httpAddr, handler)
	if err != nil {
		return err
	}
	attrs := []any{slog.String("http", addr), slog.Bool("traces_exported", tel.Exporting())}
	for _, svc := range config.ServiceNames() {
		attrs = append(attrs, slog.String(svc, targets[svc].String()))
	}
	logger.Info("edge started", attrs...)
	return g.Run(ctx)
}

// newTransport is the connection pool to the services: no proxy from the
// environment (the services are reached directly), bounded connect and
// answer waits.
func newTransport(upstreamTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxIdlePerService * len(config.ServiceNames()),
		MaxIdleConnsPerHost:   maxIdlePerService,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: upstreamTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// newProxy forwards requests to the service at target, adding the
// X-Forwarded-* headers. A service that cannot be reached is a 502, one that
// does not answer within the upstream timeout a 504, both in kitshop's JSON
// error envelope and without the service's address.
func newProxy(svc string, target *url.URL, transport http.RoundTripper) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			httpserver.EncodeError(r.Context(), upstreamError(svc, r, err), w)
		},
	}
}

// upstreamError is the client-facing error of a failed forward.
func upstreamError(svc string, r *http.Request, err error) error {
	if r.Context().Err() != nil {
		return r.Context().Err() // the client left or its deadline passed: 499 or 504
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &httpserver.RequestError{Status: http.StatusGatewayTimeout,
			Msg: "the " + svc + " service did not answer in time", Err: err}
	}
	return &httpserver.RequestError{Status: http.StatusBadGateway,
		Msg: "the " + svc + " service is unavailable", Err: err}
}
