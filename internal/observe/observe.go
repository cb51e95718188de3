// Package observe is the one endpoint middleware of every kitshop service:
// each call of a go-kit endpoint is one span, one log line and one
// observation of kitshop_<service>_requests_total and
// kitshop_<service>_request_duration_seconds (internal/callmetrics),
// labelled by method and by the outcome the service's error table
// (internal/errtable) gives the call's error.
//
// A call's error is the endpoint's own error (an infrastructure failure, or a
// decoding or authentication error) or, when the endpoint succeeded, the
// business failure its response carries (go-kit's endpoint.Failer).
package observe

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/internal/callmetrics"
	"github.com/kitshop/kitshop/internal/errtable"
	"github.com/kitshop/kitshop/internal/telemetry"
)

// scope is the instrumentation scope of the endpoint spans.
const scope = "github.com/kitshop/kitshop/internal/observe"

// OutcomeKey is the span attribute of a call's outcome (the metric label).
const OutcomeKey = attribute.Key("kitshop.outcome")

// Loggable is implemented by requests and responses that add attributes to
// their call's log line. They must never return a secret (a password, card
// data, a token) or an e-mail address.
type Loggable interface {
	LogAttrs() []slog.Attr
}

// Outcomer is implemented by responses whose successful call has an outcome
// of its own (a declined payment: "declined"). The outcome replaces
// errtable.OutcomeOK when the call has no error; empty keeps it. The values
// must form a small fixed set: they are a metric label.
type Outcomer interface {
	Outcome() string
}

// Observer logs and counts the calls of one service's endpoints. It is safe
// for concurrent use.
type Observer struct {
	service string
	table   *errtable.Table
	logger  *slog.Logger
	calls   *callmetrics.Calls
}

// New returns the Observer of service, whose errors table classifies. Log
// lines go to logger (nil: discarded), metrics to reg (nil: not registered;
// collectors reg holds already are reused).
func New(service string, table *errtable.Table, logger *slog.Logger, reg prometheus.Registerer) *Observer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Observer{service: service, table: table, logger: logger, calls: callmetrics.New(reg, service, nil)}
}

// Endpoint returns e, the endpoint of method, observed. Each call is a span
// "<service>/<method>" (kind internal) of the tracer provider of the span in
// its context (the server's: telemetry.FromContext), with its outcome as
// OutcomeKey; a call whose error is logged at Warn or Error has the span's
// status Error. Each call is then logged within the span, at
// level when it succeeds or ends in a business failure, at Warn (at least)
// when its error means a dependency or a deadline failed (the table's gRPC
// code Unavailable, DeadlineExceeded, Canceled or ResourceExhausted), and at
// Error when no entry of the table explains it. The method's "ok" series
// exist from this call on.
func (o *Observer) Endpoint(method string, level slog.Level, e endpoint.Endpoint) endpoint.Endpoint {
	o.calls.Declare(method)
	return func(ctx context.Context, request any) (response any, err error) {
		begin := time.Now()
		ctx, span := telemetry.FromContext(ctx).Tracer(scope).Start(ctx, o.service+"/"+method, trace.WithSpanKind(trace.SpanKindInternal))
		defer span.End()
		response, err = e(ctx, request)
		callErr := err
		if callErr == nil {
			if f, ok := response.(endpoint.Failer); ok {
				callErr = f.Failed()
			}
		}
		outcome := o.table.Outcome(callErr)
		if oc, ok := response.(Outcomer); ok && callErr == nil && oc.Outcome() != "" {
			outcome = oc.Outcome()
		}
		o.calls.Observe(ctx, method, outcome, begin)
		lvl := o.level(level, callErr, outcome)
		if span.IsRecording() {
			span.SetAttributes(OutcomeKey.String(outcome))
			if callErr != nil && lvl >= slog.LevelWarn {
				span.SetStatus(otelcodes.Error, outcome)
			}
		}
		o.log(ctx, method, lvl, begin, outcome, callErr, request, response)
		return response, err
	}
}

// level is the log level of a call that ended with err.
func (o *Observer) level(level slog.Level, err error, outcome string) slog.Level {
	if err == nil {
		return level
	}
	if outcome == errtable.OutcomeError {
		return slog.LevelError
	}
	if e := o.table.Lookup(err); e != nil {
		switch e.GRPC {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
			return max(level, slog.LevelWarn)
		}
	}
	return level
}

func (o *Observer) log(ctx context.Context, method string, level slog.Level, begin time.Time, outcome string, err error, request, response any) {
	if !o.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("outcome", outcome),
		slog.Duration("duration", time.Since(begin)),
	}
	if l, ok := request.(Loggable); ok {
		attrs = append(attrs, l.LogAttrs()...)
	}
	if l, ok := response.(Loggable); ok {
		attrs = append(attrs, l.LogAttrs()...)
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	o.logger.LogAttrs(ctx, level, o.service+" service call", attrs...)
}
