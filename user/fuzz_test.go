package user

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// FuzzBasicAuth feeds parseBasicAuth any Authorization value (header) and a
// well-formed one built from email and password. It must never panic; every
// refusal wraps ErrInvalidArgument without echoing the value; and a
// well-formed value within the length limit gives back exactly its e-mail
// and password. Seeds: the f.Add calls and testdata/fuzz/FuzzBasicAuth.
func FuzzBasicAuth(f *testing.F) {
	for _, seed := range []struct{ header, email, password string }{
		{"Basic YUBiLmM6cDpx", "a@b.c", "p:q"},
		{"basic   YUBiLmM6cDpx ", "kim@example.com", "secret123"},
		{"Basic YUBiLmM6", "a@b.c", ""},
		{"", "", ""},
		{"Basic", "", "x"},
		{"Bearer eyJhbGciOiJFZERTQSJ9.e30.sig", "x@y.z", "::"},
		{"Basic not-base64!", "ünïcödé@example.com", "pässwörd"},
		{"Basic YUBiLmM=", "a@b.c", "\x00\xff"},
		{"Basic " + strings.Repeat("A", 2000), strings.Repeat("a", 300) + "@example.com", strings.Repeat("p", 100)},
		{"Basic\tYUBiLmM6cDpx", "a@b.c", "p\nq"},
		{"Basic YUBiLmM6cDpx YUBiLmM6cDpx", "", ""},
		{"Basic YUBiLmM6cDpx====", "a@b.c", "p"},
		{"BASIC " + base64.URLEncoding.EncodeToString([]byte("a@b.c:>>>???")), "a@b.c", ">>>???"},
	} {
		f.Add(seed.header, seed.email, seed.password)
	}
	f.Fuzz(func(t *testing.T, header, email, password string) {
		check := func(h string) (Credentials, error) {
			c, err := parseBasicAuth(h)
			if err != nil {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("parseBasicAuth(%q): error %v does not wrap ErrInvalidArgument", h, err)
				}
				if c != (Credentials{}) {
					t.Fatalf("parseBasicAuth(%q) failed but returned %+v", h, c)
				}
				if _, encoded, _ := strings.Cut(strings.TrimSpace(h), " "); len(encoded) >= 8 && strings.Contains(err.Error(), encoded) {
					t.Fatalf("error %q echoes the credentials", err)
				}
			}
			return c, err
		}
		check(header)

		h := "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
		c, err := check(h)
		fits := len(h) <= maxAuthorizationLen
		switch {
		case !fits:
			if err == nil {
				t.Fatalf("a %d-byte value was accepted; the limit is %d", len(h), maxAuthorizationLen)
			}
		case err != nil:
			t.Fatalf("well-formed value for %q:%q refused: %v", email, password, err)
		case !strings.Contains(email, ":") && (c.Email != email || c.Password != password):
			t.Fatalf("parsed %+v, want e-mail %q and password %q", c, email, password)
		case strings.Contains(email, ":") && c.Email+":"+c.Password != email+":"+password:
			t.Fatalf("parsed %+v, which is not a split of %q", c, email+":"+password)
		}
	})
}
