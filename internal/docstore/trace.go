package docstore

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// traceScope is the instrumentation scope of the command spans.
const traceScope = "github.com/kitshop/kitshop/internal/docstore"

// The attributes of a command span (OpenTelemetry's database conventions).
const (
	dbSystemKey     = attribute.Key("db.system.name")
	dbNamespaceKey  = attribute.Key("db.namespace")
	dbOperationKey  = attribute.Key("db.operation.name")
	dbCollectionKey = attribute.Key("db.collection.name")
)

// commandSpans makes each command sent within a recording span a client
// span "<database>.<command>" of that span's provider, child of it, named by
// database, command and collection only: a command's documents and filters,
// and a failure's message (which can quote a duplicate key, an e-mail), are
// never recorded. Commands sent outside a recording span cost one check.
//
// opentelemetry-go-contrib's otelmongo does the same for the driver, but its
// module for mongo-driver/v2 cannot be had here; this is its small subset.
type commandSpans struct {
	inFlight sync.Map // request id (int64) → trace.Span
}

// monitor is the driver's command monitor that makes the spans.
func (c *commandSpans) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: c.started, Succeeded: c.succeeded, Failed: c.failed}
}

func (c *commandSpans) started(ctx context.Context, e *event.CommandStartedEvent) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{dbSystemKey.String("mongodb"), dbNamespaceKey.String(e.DatabaseName), dbOperationKey.String(e.CommandName)}
	if first, err := e.Command.IndexErr(0); err == nil {
		if coll, ok := first.Value().StringValueOK(); ok {
			attrs = append(attrs, dbCollectionKey.String(coll))
		}
	}
	_, span := parent.TracerProvider().Tracer(traceScope).Start(ctx, e.DatabaseName+"."+e.CommandName,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	c.inFlight.Store(e.RequestID, span)
}

// succeeded ends the span of a command the server answered; one whose
// answer reports write errors (a duplicate key: the command itself succeeds)
// has the status Error.
func (c *commandSpans) succeeded(_ context.Context, e *event.CommandSucceededEvent) {
	if s, ok := c.inFlight.LoadAndDelete(e.RequestID); ok {
		span := s.(trace.Span)
		if _, err := e.Reply.LookupErr("writeErrors"); err == nil {
			span.SetStatus(codes.Error, "write errors")
		}
		span.End()
	}
}

func (c *commandSpans) failed(_ context.Context, e *event.CommandFailedEvent) {
	if s, ok := c.inFlight.LoadAndDelete(e.RequestID); ok {
		span := s.(trace.Span)
		span.SetStatus(codes.Error, "command failed")
		span.End()
	}
}
