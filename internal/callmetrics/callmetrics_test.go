package callmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := New(reg, "demo", []string{"Get", "Put"})
	if n := testutil.CollectAndCount(c.requests); n != 2 {
		t.Fatalf("%d request series before any call, want the 2 ok series", n)
	}
	c.Observe(t.Context(), "Get", "ok", time.Now())
	c.Observe(t.Context(), "Get", "not_found", time.Now().Add(-time.Second))
	if got := testutil.ToFloat64(c.requests.WithLabelValues("Get", "not_found")); got != 1 {
		t.Errorf("not_found count %v, want 1", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kitshop_demo_requests_total Calls of the demo service, by method and outcome.
# TYPE kitshop_demo_requests_total counter
kitshop_demo_requests_total{method="Get",outcome="not_found"} 1
kitshop_demo_requests_total{method="Get",outcome="ok"} 1
kitshop_demo_requests_total{method="Put",outcome="ok"} 0
`), "kitshop_demo_requests_total"); err != nil {
		t.Error(err)
	}
	// A second New on the same registry shares the series.
	again := New(reg, "demo", []string{"Get"})
	again.Observe(t.Context(), "Get", "ok", time.Now())
	if got := testutil.ToFloat64(c.requests.WithLabelValues("Get", "ok")); got != 2 {
		t.Errorf("shared ok count %v, want 2", got)
	}
}

func TestRegisterPanicsOnConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "a"}))
	defer func() {
		if recover() == nil {
			t.Error("no panic for a conflicting collector")
		}
	}()
	Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "b"}))
}
