// Package callmetrics counts and times a kitshop service's calls in
// Prometheus, the same way for every service:
// kitshop_<service>_requests_total and
// kitshop_<service>_request_duration_seconds, both by method and outcome
// (each service names its own bounded set of outcomes). client_golang is
// called directly: WithLabelValues on the hot path, no adapter. A duration
// observed within a sampled trace carries its trace id as exemplar
// (ObserveDuration), which /metrics shows in the OpenMetrics format.
package callmetrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Calls records one service's calls.
type Calls struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns the call metrics of service on reg (nil: not registered), the
// "ok" series of every method existing from the start. Collectors reg holds
// already are reused (Register).
func New(reg prometheus.Registerer, service string, methods []string) *Calls {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_" + service + "_requests_total",
		Help: "Calls of the " + service + " service, by method and outcome.",
	}, []string{"method", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kitshop_" + service + "_request_duration_seconds",
		Help:    "Time a call of the " + service + " service took, by method and outcome.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "outcome"})
	if reg != nil {
		requests = Register(reg, requests)
		duration = Register(reg, duration)
	}
	c := &Calls{requests: requests, duration: duration}
	for _, m := range methods {
		c.Declare(m)
	}
	return c
}

// Declare makes the "ok" series of method exist before its first call.
func (c *Calls) Declare(method string) {
	c.requests.WithLabelValues(method, "ok")
	c.duration.WithLabelValues(method, "ok")
}

// Observe records a call of method made within ctx that began at begin and
// ended with outcome.
func (c *Calls) Observe(ctx context.Context, method, outcome string, begin time.Time) {
	c.requests.WithLabelValues(method, outcome).Inc()
	ObserveDuration(ctx, c.duration.WithLabelValues(method, outcome), time.Since(begin))
}

// ObserveDuration observes d in seconds on o, with the trace id of ctx's
// span as exemplar when its trace is sampled (Exemplar).
func ObserveDuration(ctx context.Context, o prometheus.Observer, d time.Duration) {
	if labels := Exemplar(ctx); labels != nil {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(d.Seconds(), labels)
			return
		}
	}
	o.Observe(d.Seconds())
}

// Exemplar returns the exemplar labels of an observation within ctx:
// trace_id of its span's trace, when that trace is sampled (so the trace
// can be found); nil otherwise.
func Exemplar(ctx context.Context) prometheus.Labels {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{"trace_id": sc.TraceID().String()}
}

// Register registers c on reg, or returns the identical collector registered
// before (two servers of one service sharing a registry); any other failure
// panics, as prometheus.MustRegister does: it is a programming error.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("registering metrics: %v", err))
}
