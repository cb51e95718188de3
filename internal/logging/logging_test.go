package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewJSONFiltersBelowLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := New(&buf, "WARN", "json")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("hidden")
	logger.Warn("shown", "k", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if rec["msg"] != "shown" || rec["level"] != "WARN" || rec["k"] != float64(1) {
		t.Fatalf("unexpected record %v", rec)
	}
}

func TestNewText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := New(&buf, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("hello", "who", "world")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "who=world") {
		t.Fatalf("unexpected text output %q", got)
	}
}

func TestNewRejectsUnknownSettings(t *testing.T) {
	t.Parallel()
	if _, err := New(&bytes.Buffer{}, "verbose", "text"); err == nil || !strings.Contains(err.Error(), `"verbose"`) {
		t.Fatalf("level: got %v", err)
	}
	if _, err := New(&bytes.Buffer{}, "info", "xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("format: got %v", err)
	}
}
