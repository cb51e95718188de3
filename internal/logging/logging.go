// Package logging builds the log/slog logger every kitshop process uses, from
// the -log-level and -log-format settings.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Format is an output format of the logger.
type Format string

// The output formats New accepts.
const (
	// FormatText writes logfmt-style key=value lines (slog.TextHandler).
	FormatText Format = "text"
	// FormatJSON writes one JSON object per line (slog.JSONHandler).
	FormatJSON Format = "json"
)

// ParseLevel parses one of "debug", "info", "warn" or "error" (case-insensitive).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
}

// ParseFormat parses "text" or "json" (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatText, FormatJSON:
		return f, nil
	default:
		return "", fmt.Errorf("unknown log format %q (want text or json)", s)
	}
}

// New returns a logger writing to w at the given minimum level ("debug",
// "info", "warn", "error") in the given format ("text", "json"). A record
// logged with a context carrying a span gets its trace_id and span_id.
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f == FormatJSON {
		return slog.New(traceHandler{slog.NewJSONHandler(w, opts)}), nil
	}
	return slog.New(traceHandler{slog.NewTextHandler(w, opts)}), nil
}
