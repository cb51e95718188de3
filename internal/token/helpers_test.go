package token_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/kitshop/kitshop/internal/token"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

// testKey returns a deterministic Ed25519 key; different n give different keys.
func testKey(n byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
}

func newSigner(t testing.TB, key ed25519.PrivateKey, opts token.Options) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(key, opts)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func issue(t testing.TB, s *token.Signer) token.Pair {
	t.Helper()
	p, err := s.IssuePair("user-1", token.RoleUser, "")
	if err != nil {
		t.Fatalf("IssuePair: %v", err)
	}
	return p
}

// claimsAt returns the claims our signer would put in an access token at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":       "kitshop",
		"aud":       []string{"kitshop"},
		"sub":       "user-1",
		"role":      "user",
		"token_use": "access",
		"jti":       "id-1",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(15 * time.Minute).Unix(),
	}
}

// sign signs claims with method and key, setting the kid header unless it is empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}
