package token_test

import (
	"errors"
	"testing"

	"github.com/kitshop/kitshop/internal/token"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, want string
		err          error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc", "abc", nil},
		{"BEARER abc", "abc", nil},
		{"  Bearer   abc  ", "abc", nil},
		{"", "", token.ErrMissingToken},
		{"   ", "", token.ErrMissingToken},
		{"Basic dXNlcjpwYXNz", "", token.ErrMissingToken},
		{"Bearerabc", "", token.ErrMissingToken},
		{"abc.def.ghi", "", token.ErrMissingToken},
		{"Bearer", "", token.ErrInvalidToken},
		{"Bearer   ", "", token.ErrInvalidToken},
		{"Bearer a b", "", token.ErrInvalidToken},
		{"Bearer a\tb", "", token.ErrInvalidToken},
	} {
		got, err := token.BearerToken(tc.header)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}
