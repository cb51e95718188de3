// Package errtabletest holds the check every service's tests make of its
// error messages: each part said once.
package errtabletest

import (
	"strings"
	"testing"
)

// Repeated returns a part of msg (parts are separated by ": ") that msg says
// more than once, as "product not found: product not found: x" says
// "product not found", or "".
func Repeated(msg string) string {
	seen := map[string]bool{}
	for part := range strings.SplitSeq(msg, ": ") {
		if seen[part] {
			return part
		}
		seen[part] = true
	}
	return ""
}

// SaidOnce fails t when msg, the message of what, is empty or says a part
// twice.
func SaidOnce(t testing.TB, what, msg string) {
	t.Helper()
	if msg == "" {
		t.Errorf("%s: empty message", what)
	}
	if part := Repeated(msg); part != "" {
		t.Errorf("%s: %q says %q twice", what, msg, part)
	}
}
