package embedded

import (
	"context"
	"log/slog"
	"slices"
	"strings"
)

// ferretdbLogHandler passes FerretDB's records at Warn level and above on to next, except its dumps of failed
// command responses: FerretDB logs each failed command (a duplicate key on upsert, the driver's endSessions at
// disconnect, ...) as two multi-line Warn records, while the client gets the same error and decides whether
// it matters.
//
// FerretDB derives a logger with attributes for every connection and command, and almost none of them ever
// logs at Warn: WithAttrs and WithGroup are therefore only recorded, and replayed on next for a record that
// passes (why: docs/docstore.md, "Logs").
type ferretdbLogHandler struct {
	next slog.Handler
	with []func(slog.Handler) slog.Handler // WithAttrs and WithGroup calls, in order
}

// Enabled implements [slog.Handler].
func (h ferretdbLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.next.Enabled(ctx, l)
}

// Handle implements [slog.Handler].
func (h ferretdbLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || (r.Level < slog.LevelError && strings.HasPrefix(r.Message, "Response ")) {
		return nil
	}
	next := h.next
	for _, with := range h.with {
		next = with(next)
	}
	return next.Handle(ctx, r)
}

// WithAttrs implements [slog.Handler].
func (h ferretdbLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.then(func(n slog.Handler) slog.Handler { return n.WithAttrs(attrs) })
}

// WithGroup implements [slog.Handler].
func (h ferretdbLogHandler) WithGroup(name string) slog.Handler {
	return h.then(func(n slog.Handler) slog.Handler { return n.WithGroup(name) })
}

func (h ferretdbLogHandler) then(with func(slog.Handler) slog.Handler) slog.Handler {
	return ferretdbLogHandler{next: h.next, with: append(slices.Clip(h.with), with)}
}
