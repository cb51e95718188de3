package httpserver

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/callmetrics"
)

// metrics are the per-route HTTP series, written with client_golang directly.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kitshop_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kitshop_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler", "method"}),
	}
	if reg != nil {
		m.requests = callmetrics.Register(reg, m.requests)
		m.duration = callmetrics.Register(reg, m.duration)
	}
	return m
}

func (m *metrics) observe(ctx context.Context, route, method string, status int, elapsed time.Duration) {
	method = boundedMethod(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	callmetrics.ObserveDuration(ctx, m.duration.WithLabelValues(route, method), elapsed)
}

// boundedMethod keeps the method label to the standard methods, so that a
// client cannot create series at will.
func boundedMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	default:
		return "OTHER"
	}
}
