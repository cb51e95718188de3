package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a token's holder may do.
type Role string

// The roles a token can carry.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleUser || r == RoleAdmin }

// Kind tells access tokens from refresh tokens; it is the "token_use" claim.
type Kind string

// The kinds of token a Signer issues.
const (
	KindAccess  Kind = "access"
	KindRefresh Kind = "refresh"
)

// Default values of Options.
const (
	DefaultIssuer     = "kitshop"
	DefaultAudience   = "kitshop"
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 7 * 24 * time.Hour
)

// maxTokenLen bounds the input of a verification; our tokens are about 400 bytes.
const maxTokenLen = 8 << 10

// Errors every verification failure matches under errors.Is. Their messages
// never contain key material or token contents.
var (
	// ErrMissingToken means no bearer token was presented.
	ErrMissingToken = errors.New("token: missing bearer token")
	// ErrInvalidToken means a token was presented but cannot be trusted:
	// malformed, wrong algorithm, unknown key, bad signature, wrong issuer,
	// audience or kind, not yet valid, or missing a required claim.
	ErrInvalidToken = errors.New("token: invalid token")
	// ErrExpired means the token is otherwise valid but past its expiry. It
	// also matches ErrInvalidToken.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
)

// Options configure a Signer and a Verifier. Zero fields take the defaults.
type Options struct {
	Issuer     string           // "iss" issued and required; default DefaultIssuer
	Audience   string           // "aud" issued and required; default DefaultAudience
	AccessTTL  time.Duration    // access token lifetime; default DefaultAccessTTL
	RefreshTTL time.Duration    // refresh token lifetime; default DefaultRefreshTTL
	Leeway     time.Duration    // clock skew tolerated when verifying exp, nbf and iat; default none
	Now        func() time.Time // the clock; default time.Now
}

func (o Options) withDefaults() (Options, error) {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if o.RefreshTTL == 0 {
		o.RefreshTTL = DefaultRefreshTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.AccessTTL < time.Second:
		return o, fmt.Errorf("token: access TTL %v is shorter than a second", o.AccessTTL)
	case o.RefreshTTL < o.AccessTTL:
		return o, fmt.Errorf("token: refresh TTL %v is shorter than access TTL %v", o.RefreshTTL, o.AccessTTL)
	case o.Leeway < 0:
		return o, fmt.Errorf("token: negative leeway %v", o.Leeway)
	}
	return o, nil
}

// Claims is what a verified token says.
type Claims struct {
	Subject   string // the user id
	Role      Role
	Kind      Kind
	ID        string // "jti", unique per token
	SessionID string // "sid", shared by every token of one login; empty if the token has none
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// jwtClaims is the wire form of Claims. want is the kind the verifier expects;
// the jwt parser calls Validate alongside its checks of the registered claims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Role      Role   `json:"role"`
	Kind      Kind   `json:"token_use"`
	SessionID string `json:"sid,omitempty"`
	want      Kind
}

var (
	errWrongKind = errors.New("wrong token kind")
	errBadRole   = errors.New("unknown role")
)

// Validate implements jwt.ClaimsValidator.
func (c *jwtClaims) Validate() error {
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: sub", jwt.ErrTokenRequiredClaimMissing)
	case !c.Role.Valid():
		return errBadRole
	case c.Kind != c.want:
		return errWrongKind
	}
	return nil
}

// Pair is what a login or a refresh hands out.
type Pair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration // lifetime of the access token
	// RefreshExpiresAt is the refresh token's "exp", to the second as the
	// token has it.
	RefreshExpiresAt time.Time
}

// Signer issues tokens. Only the user service has one. It is safe for
// concurrent use.
type Signer struct {
	key  ed25519.PrivateKey
	kid  string
	opts Options
}

// NewSigner returns a Signer that signs with key, or an error if the key or
// the options are invalid.
func NewSigner(key ed25519.PrivateKey, opts Options) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("token: signing key is %d bytes, want an Ed25519 private key of %d", len(key), ed25519.PrivateKeySize)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Signer{key: key, kid: KeyID(pub), opts: opts}, nil
}

// KeyID returns the "kid" of the signer's key.
func (s *Signer) KeyID() string { return s.kid }

// IssuePair issues an access and a refresh token for subject sub with role,
// both carrying the session id sid ("sid"; "" issues tokens without one).
// Both are issued at one instant: RefreshExpiresAt is the refresh token's
// expiry.
func (s *Signer) IssuePair(sub string, role Role, sid string) (Pair, error) {
	if sub == "" {
		return Pair{}, errors.New("token: empty subject")
	}
	if !role.Valid() {
		return Pair{}, fmt.Errorf("token: unknown role %q", role)
	}
	now := s.opts.Now()
	access, err := s.issue(now, sub, role, sid, KindAccess, s.opts.AccessTTL)
	if err != nil {
		return Pair{}, err
	}
	refresh, err := s.issue(now, sub, role, sid, KindRefresh, s.opts.RefreshTTL)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		AccessToken:      access,
		RefreshToken:     refresh,
		ExpiresIn:        s.opts.AccessTTL,
		RefreshExpiresAt: jwt.NewNumericDate(now.Add(s.opts.RefreshTTL)).Time,
	}, nil
}

// issue signs a token of kind for sub, role and sid, issued at now and
// valid for ttl.
func (s *Signer) issue(now time.Time, sub string, role Role, sid string, kind Kind, ttl time.Duration) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   sub,
			Audience:  jwt.ClaimStrings{s.opts.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Role:      role,
		Kind:      kind,
		SessionID: sid,
	})
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return signed, nil
}

// Verifier returns a Verifier for the tokens s issues, with the same options.
func (s *Signer) Verifier() *Verifier {
	pub := s.key.Public().(ed25519.PublicKey)
	return newVerifier(map[string]ed25519.PublicKey{s.kid: pub}, s.opts)
}

// JWKS returns the key set that publishes the signer's public key.
func (s *Signer) JWKS() JWKS {
	return JWKS{Keys: []JWK{publicJWK(s.key.Public().(ed25519.PublicKey))}}
}

// Verifier checks tokens against a set of Ed25519 public keys chosen by
// "kid". A Verifier from NewVerifier, LoadVerifier or Signer.Verifier has its
// keys from the start; one from NewJWKSFetcher gets them when the fetch
// succeeds, and until then refuses every well-formed token with
// ErrKeysUnavailable (an absent or malformed token is still ErrMissingToken
// or ErrInvalidToken). It is safe for concurrent use.
type Verifier struct {
	keys   atomic.Pointer[map[string]ed25519.PublicKey] // nil until the keys are known
	parser *jwt.Parser
}

// NewVerifier returns a Verifier that trusts keys (by kid) and requires the
// issuer and audience of opts. TTLs in opts are ignored.
func NewVerifier(keys map[string]ed25519.PublicKey, opts Options) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("token: no verification keys")
	}
	own := make(map[string]ed25519.PublicKey, len(keys))
	for kid, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("token: key %q is %d bytes, want an Ed25519 public key of %d", kid, len(k), ed25519.PublicKeySize)
		}
		own[kid] = k
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return newVerifier(own, opts), nil
}

func newVerifier(keys map[string]ed25519.PublicKey, opts Options) *Verifier {
	v := newPendingVerifier(opts)
	v.keys.Store(&keys)
	return v
}

// newPendingVerifier returns a Verifier without keys: see ErrKeysUnavailable.
func newPendingVerifier(opts Options) *Verifier {
	return &Verifier{
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(opts.Issuer),
			jwt.WithAudience(opts.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(opts.Leeway),
			jwt.WithTimeFunc(opts.Now),
			jwt.WithStrictDecoding(),
		),
	}
}

// VerifyAccess verifies an access token and returns its claims.
func (v *Verifier) VerifyAccess(tok string) (Claims, error) { return v.verify(tok, KindAccess) }

// VerifyRefresh verifies a refresh token and returns its claims.
func (v *Verifier) VerifyRefresh(tok string) (Claims, error) { return v.verify(tok, KindRefresh) }

var (
	errUnknownKey  = errors.New("unknown key id")
	errKeysPending = errors.New("verification keys not loaded")
)

func (v *Verifier) verify(tok string, want Kind) (Claims, error) {
	if tok == "" {
		return Claims{}, ErrMissingToken
	}
	if len(tok) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	c := &jwtClaims{want: want}
	_, err := v.parser.ParseWithClaims(tok, c, func(t *jwt.Token) (any, error) {
		keys := v.keys.Load()
		if keys == nil {
			return nil, errKeysPending
		}
		kid, _ := t.Header["kid"].(string)
		if k, ok := (*keys)[kid]; ok {
			return k, nil
		}
		return nil, errUnknownKey
	})
	if err != nil {
		return Claims{}, classify(err, want)
	}
	return Claims{
		Subject:   c.Subject,
		Role:      c.Role,
		Kind:      c.Kind,
		ID:        c.ID,
		SessionID: c.SessionID,
		IssuedAt:  c.IssuedAt.Time,
		NotBefore: c.NotBefore.Time,
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// classify turns a jwt error into one of our sentinels with a fixed reason.
// Expiry is checked last: a token that is expired and also wrong in another
// way is invalid, not merely expired, so the client must not try to refresh.
// A token that reached the key lookup of a verifier without keys is
// ErrKeysUnavailable: it can be neither trusted nor refused yet.
func classify(err error, want Kind) error {
	reason := "rejected"
	switch {
	case errors.Is(err, errKeysPending):
		return ErrKeysUnavailable
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = "malformed"
	case errors.Is(err, errUnknownKey):
		reason = "unknown signing key"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = "unverifiable"
	case errors.Is(err, errWrongKind):
		reason = "wrong kind, want " + string(want)
	case errors.Is(err, errBadRole):
		reason = "unknown role"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = "missing claim"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = "not valid yet"
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	}
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}
