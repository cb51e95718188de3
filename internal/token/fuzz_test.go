package token_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/kitshop/kitshop/internal/token"
)

func FuzzVerify(f *testing.F) {
	key := testKey(1)
	s := newSigner(f, key, token.Options{Now: clock(t0)})
	v := s.Verifier()
	p := issue(f, s)
	parts := strings.Split(p.AccessToken, ".")
	for _, seed := range []string{
		p.AccessToken,
		p.RefreshToken,
		p.AccessToken[:len(p.AccessToken)-1],
		p.AccessToken + "A",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		strings.ToUpper(p.AccessToken),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, s.KeyID(), claimsAt(t0)),
		sign(f, jwt.SigningMethodHS256, []byte(key.Public().(ed25519.PublicKey)), s.KeyID(), claimsAt(t0)),
		"", ".", "..", "a.b.c", "eyJ.eyJ.eyJ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, tc := range []struct {
			verify func(string) (token.Claims, error)
			kind   token.Kind
		}{{v.VerifyAccess, token.KindAccess}, {v.VerifyRefresh, token.KindRefresh}} {
			c, err := tc.verify(tok)
			if err != nil {
				if !errors.Is(err, token.ErrMissingToken) && !errors.Is(err, token.ErrInvalidToken) {
					t.Fatalf("error %v is none of the sentinels", err)
				}
				continue
			}
			if c.Subject == "" || !c.Role.Valid() || c.Kind != tc.kind {
				t.Fatalf("accepted token with claims %+v as %s", c, tc.kind)
			}
		}
	})
}
