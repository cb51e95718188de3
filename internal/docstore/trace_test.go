package docstore_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
)

// TestCommandSpans: a command sent within a recording span is its child,
// named by database and command, with the collection and no document; a
// failed one has the status Error without the server's message (it quotes
// the duplicate key); one sent outside a span makes none.
func TestCommandSpans(t *testing.T) {
	e, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	st, err := docstore.Connect(t.Context(), e.URI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	coll := st.Database("demo").Collection("things")

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, parent := tp.Tracer("test").Start(t.Context(), "endpoint")
	const secret = "someone@example.com"
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: secret}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: secret}}); !docstore.IsDuplicateKey(err) {
		t.Fatalf("second insert: %v, want a duplicate key", err)
	}
	if err := st.Database("demo").RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err(); err == nil {
		t.Fatal("an unknown command succeeded")
	}
	parent.End()
	if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "untraced"}}); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	if len(spans) != 4 {
		t.Fatalf("%d spans, want the two inserts', the unknown command's and the endpoint's", len(spans))
	}
	if s := spans[2]; s.Name() != "demo.noSuchCommand" || s.Status().Code != codes.Error || s.Status().Description != "command failed" {
		t.Errorf("unknown command: span %q status %v, want demo.noSuchCommand, error \"command failed\"", s.Name(), s.Status())
	}
	for i, s := range spans[:2] {
		if s.Name() != "demo.insert" || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d: %q kind %v, want demo.insert client", i, s.Name(), s.SpanKind())
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: not the child of the caller's span", i)
		}
		attrs := map[attribute.Key]string{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value.Emit()
			if a.Value.Emit() == secret {
				t.Errorf("span %d: attribute %s holds the document's key", i, a.Key)
			}
		}
		if attrs["db.system.name"] != "mongodb" || attrs["db.collection.name"] != "things" || attrs["db.namespace"] != "demo" {
			t.Errorf("span %d: attributes %v", i, attrs)
		}
	}
	if spans[0].Status().Code != codes.Unset || spans[1].Status().Code != codes.Error {
		t.Errorf("statuses %v, %v: want unset, then error", spans[0].Status(), spans[1].Status())
	}
	if d := spans[1].Status().Description; d != "write errors" {
		t.Errorf("failed command's status says %q", d)
	}
}
