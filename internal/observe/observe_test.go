package observe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/internal/errtable"
)

var (
	errOutOfStock = errors.New("out of stock")
	errDown       = errors.New("dependency down")
)

type request struct{ id string }

func (r request) LogAttrs() []slog.Attr { return []slog.Attr{slog.String("order_id", r.id)} }

type response struct{ err error }

func (r response) Failed() error { return r.err }

func TestEndpoint(t *testing.T) {
	table := errtable.New(
		errtable.Entry{Err: errOutOfStock, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict, Code: "out_of_stock", Business: true},
		errtable.Entry{Err: errDown, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable, Code: "unavailable", Business: true},
	)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	o := New("demo", table, logger, reg)
	e := o.Endpoint("Buy", slog.LevelInfo, func(_ context.Context, req any) (any, error) {
		switch req.(request).id {
		case "sold-out":
			return response{err: errOutOfStock}, nil
		case "down":
			return response{err: errDown}, nil
		case "broken":
			return nil, errors.New("disk on fire")
		}
		return response{}, nil
	})
	for _, id := range []string{"a", "b", "sold-out", "down", "broken"} {
		_, _ = e(context.Background(), request{id: id})
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kitshop_demo_requests_total Calls of the demo service, by method and outcome.
# TYPE kitshop_demo_requests_total counter
kitshop_demo_requests_total{method="Buy",outcome="error"} 1
kitshop_demo_requests_total{method="Buy",outcome="ok"} 2
kitshop_demo_requests_total{method="Buy",outcome="out_of_stock"} 1
kitshop_demo_requests_total{method="Buy",outcome="unavailable"} 1
`), "kitshop_demo_requests_total"); err != nil {
		t.Error(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", len(lines), logs.String())
	}
	for i, want := range []string{
		`level=INFO msg="demo service call" method=Buy outcome=ok`,
		`level=INFO msg="demo service call" method=Buy outcome=ok`,
		`level=INFO msg="demo service call" method=Buy outcome=out_of_stock`,
		`level=WARN msg="demo service call" method=Buy outcome=unavailable`,
		`level=ERROR msg="demo service call" method=Buy outcome=error`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q, want %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[2], "order_id=sold-out") || !strings.Contains(lines[2], `error="out of stock"`) {
		t.Errorf("line %q lacks the request's attributes or the error", lines[2])
	}
}

func TestDeclaredMethodsHaveOKSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := New("demo", errtable.New(), nil, reg)
	o.Endpoint("A", slog.LevelDebug, nil)
	o.Endpoint("B", slog.LevelDebug, nil)
	if n, err := testutil.GatherAndCount(reg, "kitshop_demo_requests_total"); err != nil || n != 2 {
		t.Errorf("%d series (%v) before any call, want the 2 ok series", n, err)
	}
}

type declined struct{ reason string }

func (declined) Failed() error { return nil }

func (d declined) Outcome() string {
	if d.reason != "" {
		return "declined"
	}
	return ""
}

func TestResponseOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := New("demo", errtable.New(), nil, reg)
	e := o.Endpoint("Pay", slog.LevelInfo, func(_ context.Context, req any) (any, error) {
		if req == "fail" {
			return nil, errors.New("disk on fire")
		}
		return declined{reason: req.(string)}, nil
	})
	for _, req := range []string{"", "no funds", "fail"} {
		_, _ = e(context.Background(), req)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kitshop_demo_requests_total Calls of the demo service, by method and outcome.
# TYPE kitshop_demo_requests_total counter
kitshop_demo_requests_total{method="Pay",outcome="declined"} 1
kitshop_demo_requests_total{method="Pay",outcome="error"} 1
kitshop_demo_requests_total{method="Pay",outcome="ok"} 1
`), "kitshop_demo_requests_total"); err != nil {
		t.Error(err)
	}
}
