package grpcclient

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/internal/callmetrics"
)

// Metrics holds the client series of a process: create one per Registerer
// with NewMetrics and share it by every Client of that process.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	breakers *breakerStates
}

// NewMetrics creates the client series and registers them on reg (nil: not
// registered, e.g. in tests that read them with prometheus/testutil):
//
//	kitshop_client_requests_total{dependency,method,outcome}            counter
//	kitshop_client_request_duration_seconds{dependency,method,outcome}  histogram
//	kitshop_circuit_breaker_state{dependency,method}                    gauge: 0 closed, 1 half-open, 2 open
//
// Calling it again with the same reg returns series backed by the collectors
// registered first. It panics if reg refuses them for another reason, as
// prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"dependency", "method", "outcome"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kitshop_client_requests_total",
			Help: "Calls to other services, retries included, by dependency, method and outcome (ok, breaker_open or the gRPC code).",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kitshop_client_request_duration_seconds",
			Help:    "Time of calls to other services, retries and backoff included, by dependency, method and outcome.",
			Buckets: prometheus.DefBuckets,
		}, labels),
		breakers: newBreakerStates(),
	}
	if reg != nil {
		m.requests = callmetrics.Register(reg, m.requests)
		m.duration = callmetrics.Register(reg, m.duration)
		m.breakers = callmetrics.Register(reg, m.breakers)
	}
	return m
}

// The values of the "outcome" label are numbered for methodSeries: a gRPC
// code's number (codes.OK for "ok", codes.Unknown for anything past the last
// code), then breakerOpen.
const (
	breakerOpen  = int(codes.Unauthenticated) + 1 // "breaker_open"
	numOutcomes  = breakerOpen + 1
	outcomeOK    = int(codes.OK)
	outcomeOther = int(codes.Unknown)
)

// outcomeOf returns the number of err's outcome (see Outcome).
func outcomeOf(err error) int {
	if err == nil {
		return outcomeOK
	}
	if isOpen(err) {
		return breakerOpen
	}
	if c := Code(err); c <= codes.Unauthenticated {
		return int(c)
	}
	return outcomeOther
}

// outcomeName returns the "outcome" label value of outcome number i.
func outcomeName(i int) string {
	if i == breakerOpen {
		return "breaker_open"
	}
	return codeName(codes.Code(i))
}

// methodSeries records the calls of one dependency's method. Each outcome's
// counter and histogram are looked up in their vectors once, on its first
// call, and kept: a call then costs no label hashing, no vector lock and no
// allocation. (The vectors are never Reset nor have series deleted, so a
// kept series stays the exported one.)
type methodSeries struct {
	requests  *prometheus.CounterVec // curried with dependency and method
	duration  prometheus.ObserverVec // idem
	byOutcome [numOutcomes]atomic.Pointer[outcomeSeries]
}

// outcomeSeries is the pair of series of one outcome of a method.
type outcomeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// method returns the series of dependency dep's method, for one endpoint.
func (m *Metrics) method(dep, method string) *methodSeries {
	labels := prometheus.Labels{"dependency": dep, "method": method}
	return &methodSeries{
		requests: m.requests.MustCurryWith(labels),
		duration: m.duration.MustCurryWith(labels),
	}
}

// observe records a call that began at start and ended with outcome number
// outcome; the duration carries the trace id of ctx's span as exemplar when
// it is sampled (callmetrics.ObserveDuration).
func (s *methodSeries) observe(ctx context.Context, outcome int, start time.Time) {
	o := s.byOutcome[outcome].Load()
	if o == nil {
		// Concurrent first calls may both get here: the vectors hand both the
		// same series, so either store is right.
		name := outcomeName(outcome)
		o = &outcomeSeries{requests: s.requests.WithLabelValues(name), duration: s.duration.WithLabelValues(name)}
		s.byOutcome[outcome].Store(o)
	}
	o.requests.Inc()
	callmetrics.ObserveDuration(ctx, o.duration, time.Since(start))
}

// BreakerState is the state of one circuit breaker of a dependency's method,
// as Metrics.Breakers reports it.
type BreakerState struct {
	Dependency string // e.g. "payment"
	Method     string // e.g. "MakePayment"
	// State is gobreaker.StateClosed, StateHalfOpen or StateOpen; String
	// spells it "closed", "half-open" or "open".
	State gobreaker.State
	// RetryAfter is how long an open breaker stays open; zero unless open.
	RetryAfter time.Duration
}

// Breakers returns the state of every breaker made by a Client of m
// (Client.Endpoint), sorted by dependency, then method; of two made for the
// same dependency and method, the later. It reads each breaker when called,
// so an open breaker whose open time has passed shows half-open even before
// the next call (gobreaker moves states lazily). kitshop_circuit_breaker_state
// reports the same reading.
func (m *Metrics) Breakers() []BreakerState { return m.breakers.states() }

// breakerStates holds the breakers of a Metrics and is the collector of
// kitshop_circuit_breaker_state, which it reads when scraped (states).
type breakerStates struct {
	desc *prometheus.Desc

	mu       sync.Mutex
	breakers map[[2]string]*breaker // by {dependency, method}
}

func newBreakerStates() *breakerStates {
	return &breakerStates{
		desc: prometheus.NewDesc("kitshop_circuit_breaker_state",
			"State of the circuit breaker of a dependency's method: 0 closed, 1 half-open, 2 open.",
			[]string{"dependency", "method"}, nil),
		breakers: make(map[[2]string]*breaker),
	}
}

// add exports b's state; a later breaker of the same dependency and method
// replaces it.
func (s *breakerStates) add(b *breaker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breakers[[2]string{b.dep, b.meth}] = b
}

// states reads every breaker, sorted by dependency, then method.
func (s *breakerStates) states() []BreakerState {
	s.mu.Lock()
	out := make([]BreakerState, 0, len(s.breakers))
	for _, b := range s.breakers {
		out = append(out, b.state())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b BreakerState) int {
		return cmp.Or(strings.Compare(a.Dependency, b.Dependency), strings.Compare(a.Method, b.Method))
	})
	return out
}

// Describe implements prometheus.Collector.
func (s *breakerStates) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

// Collect implements prometheus.Collector.
func (s *breakerStates) Collect(ch chan<- prometheus.Metric) {
	for _, b := range s.states() {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(b.State), b.Dependency, b.Method)
	}
}
