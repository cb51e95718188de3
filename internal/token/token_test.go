package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/kitshop/kitshop/internal/token"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	s := newSigner(t, key, token.Options{Now: clock(t0)})
	p, err := s.IssuePair("user-1", token.RoleAdmin, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ExpiresIn != 15*time.Minute {
		t.Errorf("ExpiresIn = %v, want 15m", p.ExpiresIn)
	}
	if want := t0.Add(7 * 24 * time.Hour); !p.RefreshExpiresAt.Equal(want) {
		t.Errorf("RefreshExpiresAt = %v, want %v", p.RefreshExpiresAt, want)
	}
	v := s.Verifier()

	for _, tc := range []struct {
		name   string
		verify func(string) (token.Claims, error)
		tok    string
		kind   token.Kind
		ttl    time.Duration
	}{
		{"access", v.VerifyAccess, p.AccessToken, token.KindAccess, 15 * time.Minute},
		{"refresh", v.VerifyRefresh, p.RefreshToken, token.KindRefresh, 7 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.verify(tc.tok)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			want := token.Claims{
				Subject: "user-1", Role: token.RoleAdmin, Kind: tc.kind, ID: c.ID, SessionID: "session-1",
				IssuedAt: t0, NotBefore: t0, ExpiresAt: t0.Add(tc.ttl),
			}
			if !c.IssuedAt.Equal(want.IssuedAt) || !c.NotBefore.Equal(want.NotBefore) || !c.ExpiresAt.Equal(want.ExpiresAt) ||
				c.Subject != want.Subject || c.Role != want.Role || c.Kind != want.Kind || c.SessionID != want.SessionID {
				t.Errorf("claims = %+v, want %+v", c, want)
			}
			if c.ID == "" {
				t.Error("empty jti")
			}
			hdr, _, _ := strings.Cut(tc.tok, ".")
			raw, err := base64.RawURLEncoding.DecodeString(hdr)
			if err != nil {
				t.Fatal(err)
			}
			var h map[string]any
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			if h["alg"] != "EdDSA" || h["kid"] != token.KeyID(key.Public().(ed25519.PublicKey)) || h["kid"] != s.KeyID() {
				t.Errorf("header = %v, want alg EdDSA and the key thumbprint as kid", h)
			}
		})
	}

	ca, _ := v.VerifyAccess(p.AccessToken)
	cr, _ := v.VerifyRefresh(p.RefreshToken)
	if ca.ID == cr.ID {
		t.Errorf("access and refresh share jti %q", ca.ID)
	}
}

// TestSessionIDIsOptional: a pair issued without a session id has no "sid"
// claim and still verifies, with an empty SessionID, as tokens issued before
// the claim existed do.
func TestSessionIDIsOptional(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	s := newSigner(t, key, token.Options{Now: clock(t0)})
	p := issue(t, s)
	_, payload, _ := strings.Cut(p.AccessToken, ".")
	payload, _, _ = strings.Cut(payload, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["sid"]; ok {
		t.Errorf("a pair without a session id has a sid claim: %s", raw)
	}
	v := s.Verifier()
	if c, err := v.VerifyAccess(p.AccessToken); err != nil || c.SessionID != "" {
		t.Errorf("access token without sid: claims %+v, err %v", c, err)
	}
	if c, err := v.VerifyRefresh(p.RefreshToken); err != nil || c.SessionID != "" {
		t.Errorf("refresh token without sid: claims %+v, err %v", c, err)
	}
	// A hand-made token with a sid of another type is refused, not misread.
	bad := claimsAt(t0)
	bad["sid"] = 7
	if _, err := v.VerifyAccess(sign(t, jwt.SigningMethodEdDSA, key, s.KeyID(), bad)); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("numeric sid: err = %v, want ErrInvalidToken", err)
	}
}

func TestExpiryBoundariesAndOptions(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	p := issue(t, newSigner(t, key, token.Options{Now: clock(t0), AccessTTL: time.Minute, RefreshTTL: time.Hour}))
	at := func(now time.Time, leeway time.Duration) *token.Verifier {
		return newSigner(t, key, token.Options{Now: clock(now), Leeway: leeway}).Verifier()
	}
	for _, tc := range []struct {
		name    string
		v       *token.Verifier
		refresh bool
		want    error
	}{
		{"access just before expiry", at(t0.Add(time.Minute-time.Second), 0), false, nil},
		{"access at expiry", at(t0.Add(time.Minute), 0), false, token.ErrExpired},
		{"access after expiry within leeway", at(t0.Add(time.Minute+10*time.Second), 30*time.Second), false, nil},
		{"access after expiry beyond leeway", at(t0.Add(time.Minute+31*time.Second), 30*time.Second), false, token.ErrExpired},
		{"refresh after access expiry", at(t0.Add(30*time.Minute), 0), true, nil},
		{"refresh at expiry", at(t0.Add(time.Hour), 0), true, token.ErrExpired},
		{"access before issue within leeway", at(t0.Add(-10*time.Second), 30*time.Second), false, nil},
		{"access before issue", at(t0.Add(-time.Second), 0), false, token.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verify, tok := tc.v.VerifyAccess, p.AccessToken
			if tc.refresh {
				verify, tok = tc.v.VerifyRefresh, p.RefreshToken
			}
			_, err := verify(tok)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	kid := token.KeyID(pub)
	opts := token.Options{Now: clock(t0)}
	s := newSigner(t, key, opts)
	v := s.Verifier()
	good := issue(t, s)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(t0)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(t0)
		mut(c)
		return c
	}
	other := func(o token.Options) string { return issue(t, newSigner(t, key, o)).AccessToken }
	segments := func(tok string) []string { return strings.Split(tok, ".") }

	// The payload of a good token, re-encoded with role admin; the signature is kept.
	parts := segments(good.AccessToken)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["role"] = "admin"
	forged, _ := json.Marshal(m)
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1
	tamperedSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	// 64 signature bytes leave 4 unused bits in the last base64 character;
	// setting one gives the same bytes under lenient decoding.
	last := parts[2][len(parts[2])-1]
	idx := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
	nonCanonical := parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] +
		string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[idx|1])

	for _, tc := range []struct {
		name    string
		tok     string
		refresh bool   // verify as a refresh token
		want    error  // the sentinel
		reason  string // in the message: the case fails for the stated reason
	}{
		{"empty", "", false, token.ErrMissingToken, ""},
		{"empty refresh", "", true, token.ErrMissingToken, ""},
		{"garbage", "garbage", false, token.ErrInvalidToken, "malformed"},
		{"three dots", "...", false, token.ErrInvalidToken, "malformed"},
		{"empty segments", "a.b.c", false, token.ErrInvalidToken, "malformed"},
		{"four segments", good.AccessToken + ".x", false, token.ErrInvalidToken, "malformed"},
		{"two segments", parts[0] + "." + parts[1], false, token.ErrInvalidToken, "malformed"},
		{"header not json", base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], false, token.ErrInvalidToken, "malformed"},
		{"huge", strings.Repeat("a", 100000), false, token.ErrInvalidToken, "too long"},
		{"alg none", none, false, token.ErrInvalidToken, "algorithm"},
		{"alg none with kid", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claimsAt(t0)), false, token.ErrInvalidToken, "algorithm"},
		{"HS256 with public key as secret", sign(t, jwt.SigningMethodHS256, []byte(pub), kid, claimsAt(t0)), false, token.ErrInvalidToken, "algorithm"},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, kid, claimsAt(t0)), false, token.ErrInvalidToken, "algorithm"},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, kid, claimsAt(t0)), false, token.ErrInvalidToken, "algorithm"},
		{"unknown alg", strings.Replace(good.AccessToken, parts[0], base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XX","kid":"`+kid+`"}`)), 1), false, token.ErrInvalidToken, "unverifiable"},
		{"expired access", issue(t, newSigner(t, key, token.Options{Now: clock(t0.Add(-16 * time.Minute))})).AccessToken, false, token.ErrExpired, "expired"},
		{"expired refresh", issue(t, newSigner(t, key, token.Options{Now: clock(t0.Add(-8 * 24 * time.Hour))})).RefreshToken, true, token.ErrExpired, "expired"},
		{"not yet valid", issue(t, newSigner(t, key, token.Options{Now: clock(t0.Add(time.Hour))})).AccessToken, false, token.ErrInvalidToken, "not valid yet"},
		{"not yet valid by nbf only", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Minute).Unix() })), false, token.ErrInvalidToken, "not valid yet"},
		{"issued in the future", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { c["iat"] = t0.Add(time.Minute).Unix() })), false, token.ErrInvalidToken, "not valid yet"},
		{"wrong audience", other(token.Options{Now: clock(t0), Audience: "elsewhere"}), false, token.ErrInvalidToken, "wrong audience"},
		{"wrong issuer", other(token.Options{Now: clock(t0), Issuer: "mallory"}), false, token.ErrInvalidToken, "wrong issuer"},
		{"expired and wrong audience", other(token.Options{Now: clock(t0.Add(-time.Hour)), Audience: "elsewhere"}), false, token.ErrInvalidToken, "wrong audience"},
		{"tampered payload", tamperedPayload, false, token.ErrInvalidToken, "bad signature"},
		{"tampered signature", tamperedSig, false, token.ErrInvalidToken, "bad signature"},
		{"non-canonical signature encoding", nonCanonical, false, token.ErrInvalidToken, "malformed"},
		{"other Ed25519 key, our kid", sign(t, jwt.SigningMethodEdDSA, testKey(2), kid, claimsAt(t0)), false, token.ErrInvalidToken, "bad signature"},
		{"other Ed25519 key, its kid", issue(t, newSigner(t, testKey(2), opts)).AccessToken, false, token.ErrInvalidToken, "unknown signing key"},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, key, "", claimsAt(t0)), false, token.ErrInvalidToken, "unknown signing key"},
		{"refresh as access", good.RefreshToken, false, token.ErrInvalidToken, "wrong kind, want access"},
		{"access as refresh", good.AccessToken, true, token.ErrInvalidToken, "wrong kind, want refresh"},
		{"no token_use", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { delete(c, "token_use") })), false, token.ErrInvalidToken, "wrong kind"},
		{"no sub", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { delete(c, "sub") })), false, token.ErrInvalidToken, "missing claim"},
		{"unknown role", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { c["role"] = "root" })), false, token.ErrInvalidToken, "unknown role"},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { delete(c, "exp") })), false, token.ErrInvalidToken, "missing claim"},
		{"no nbf", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { delete(c, "nbf") })), false, token.ErrInvalidToken, "missing claim"},
		{"no aud", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { delete(c, "aud") })), false, token.ErrInvalidToken, "missing claim"},
		{"exp is a string", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { c["exp"] = "never" })), false, token.ErrInvalidToken, "malformed"},
		{"role is a number", sign(t, jwt.SigningMethodEdDSA, key, kid, with(func(c jwt.MapClaims) { c["role"] = 1 })), false, token.ErrInvalidToken, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			verify := v.VerifyAccess
			if tc.refresh {
				verify = v.VerifyRefresh
			}
			c, err := verify(tc.tok)
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.reason) {
				t.Fatalf("err = %v, want %v with reason %q", err, tc.want, tc.reason)
			}
			if tc.want != token.ErrExpired && errors.Is(err, token.ErrExpired) {
				t.Errorf("err = %v matches ErrExpired; the client would refresh instead of giving up", err)
			}
			if c != (token.Claims{}) {
				t.Errorf("claims = %+v on failure, want zero", c)
			}
			msg := err.Error()
			if x := base64.RawURLEncoding.EncodeToString(pub); strings.Contains(msg, x) ||
				(len(tc.tok) > 8 && strings.Contains(msg, tc.tok)) {
				t.Errorf("error message %q leaks key or token", msg)
			}
		})
	}

	// The good tokens themselves pass, so the cases above fail for their stated reason.
	if _, err := v.VerifyAccess(good.AccessToken); err != nil {
		t.Errorf("good access token: %v", err)
	}
	if _, err := v.VerifyRefresh(good.RefreshToken); err != nil {
		t.Errorf("good refresh token: %v", err)
	}
	if _, err := v.VerifyAccess(sign(t, jwt.SigningMethodEdDSA, key, kid, claimsAt(t0))); err != nil {
		t.Errorf("hand-made token with our claims: %v", err)
	}
}

func TestExpiredMatchesInvalid(t *testing.T) {
	t.Parallel()
	if !errors.Is(token.ErrExpired, token.ErrInvalidToken) {
		t.Error("ErrExpired does not match ErrInvalidToken")
	}
	if errors.Is(token.ErrMissingToken, token.ErrInvalidToken) {
		t.Error("ErrMissingToken matches ErrInvalidToken")
	}
}

func TestConstructorsReject(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	for _, tc := range []struct {
		name string
		key  ed25519.PrivateKey
		opts token.Options
	}{
		{"short key", key[:10], token.Options{}},
		{"nil key", nil, token.Options{}},
		{"refresh shorter than access", key, token.Options{AccessTTL: time.Hour, RefreshTTL: time.Minute}},
		{"sub-second access", key, token.Options{AccessTTL: time.Millisecond}},
		{"negative access", key, token.Options{AccessTTL: -time.Minute}},
		{"negative leeway", key, token.Options{Leeway: -time.Second}},
	} {
		if _, err := token.NewSigner(tc.key, tc.opts); err == nil {
			t.Errorf("NewSigner %s: no error", tc.name)
		}
	}

	pub := key.Public().(ed25519.PublicKey)
	for name, keys := range map[string]map[string]ed25519.PublicKey{
		"no keys":   {},
		"nil":       nil,
		"short key": {"k": pub[:5]},
	} {
		if _, err := token.NewVerifier(keys, token.Options{}); err == nil {
			t.Errorf("NewVerifier %s: no error", name)
		}
	}

	s := newSigner(t, key, token.Options{})
	if _, err := s.IssuePair("", token.RoleUser, ""); err == nil {
		t.Error("IssuePair with empty subject: no error")
	}
	if _, err := s.IssuePair("u", token.Role("root"), ""); err == nil {
		t.Error("IssuePair with unknown role: no error")
	}
}

func TestNewVerifierCopiesKeys(t *testing.T) {
	t.Parallel()
	key := testKey(1)
	s := newSigner(t, key, token.Options{Now: clock(t0)})
	keys := map[string]ed25519.PublicKey{s.KeyID(): key.Public().(ed25519.PublicKey)}
	v, err := token.NewVerifier(keys, token.Options{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	delete(keys, s.KeyID())
	if _, err := v.VerifyAccess(issue(t, s).AccessToken); err != nil {
		t.Errorf("verifier changed with the caller's map: %v", err)
	}
}
