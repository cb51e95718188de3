package errtabletest

import "testing"

func TestRepeated(t *testing.T) {
	for msg, want := range map[string]string{
		"product not found: nope-9":                    "",
		"product not found: product not found: nope-9": "product not found",
		"invalid argument: a: b: a":                    "a",
		"":                                             "",
	} {
		if got := Repeated(msg); got != want {
			t.Errorf("Repeated(%q) = %q, want %q", msg, got, want)
		}
	}
}
