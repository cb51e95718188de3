package embedded

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestFerretDBLogHandler(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(ferretdbLogHandler{next: slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})}).
		With(slog.String("component", "ferretdb")).WithGroup("conn").With(slog.Int("id", 7))
	ctx := context.Background()

	logger.InfoContext(ctx, "chatty")
	logger.WarnContext(ctx, "Response message", slog.String("dump", "x"))
	if out.Len() != 0 {
		t.Fatalf("dropped records were written: %q", out.String())
	}
	logger.WarnContext(ctx, "disk almost full", slog.Int("free", 3))
	logger.ErrorContext(ctx, "Response of a failing command")
	got := out.String()
	for _, want := range []string{
		`level=WARN msg="disk almost full" component=ferretdb conn.id=7 conn.free=3`,
		`level=ERROR msg="Response of a failing command" component=ferretdb conn.id=7`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
