package svcauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// MetadataKey is the gRPC metadata key of the service token; the end user's
// token keeps "authorization".
const MetadataKey = "x-kitshop-service-token"

// Issuer is the iss of every service token, which keeps any other JWT signed
// with the same key (a user's access token, should a deployment share one
// key file) from passing as one.
const Issuer = "kitshop-service"

// Defaults of Options.
const (
	// TokenLifetime is how long a service token is valid.
	TokenLifetime = 5 * time.Minute
	// RefreshBefore is how long before its expiry Credentials replaces a
	// cached token, so that a token never reaches a server about to expire.
	RefreshBefore = time.Minute
	// Leeway is the clock skew tolerated on iat, nbf and exp.
	Leeway = 30 * time.Second
)

// Options tune tokens; the zero value takes the defaults above.
type Options struct {
	Lifetime      time.Duration
	RefreshBefore time.Duration
	Leeway        time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Lifetime <= 0 {
		o.Lifetime = TokenLifetime
	}
	if o.RefreshBefore <= 0 || o.RefreshBefore >= o.Lifetime {
		o.RefreshBefore = min(RefreshBefore, o.Lifetime/2)
	}
	if o.Leeway <= 0 {
		o.Leeway = Leeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Audience returns the service a full gRPC method belongs to, the aud of
// the tokens calling it: "/kitshop.product.v1.ProductService/ReserveStock"
// → "product". It returns "" for a method outside kitshop's packages (health,
// reflection), which gets no token.
func Audience(fullMethod string) string {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(fullMethod, "/"), TrustDomain+".")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, ".")
	if !Known(name) {
		return ""
	}
	return name
}

// Credentials are the grpc.PerRPCCredentials of one calling service: on each
// call to a kitshop method they send a token whose aud is the called
// service, minted once per audience and reused until RefreshBefore its
// expiry. Safe for concurrent use.
type Credentials struct {
	key    ed25519.PrivateKey
	caller string
	opts   Options

	mu     sync.Mutex
	tokens map[string]cachedToken // by audience
}

type cachedToken struct {
	token   string
	refresh time.Time
}

// NewCredentials returns the credentials of service caller (one of Names),
// signing with key.
func NewCredentials(key ed25519.PrivateKey, caller string, opts Options) (*Credentials, error) {
	if !Known(caller) {
		return nil, fmt.Errorf("svcauth: unknown service %q", caller)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("svcauth: no Ed25519 private key")
	}
	return &Credentials{key: key, caller: caller, opts: opts.withDefaults(), tokens: make(map[string]cachedToken)}, nil
}

// DialOption returns the dial option that makes a connection send c.
func (c *Credentials) DialOption() grpc.DialOption { return grpc.WithPerRPCCredentials(c) }

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c *Credentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok {
		return nil, nil
	}
	aud := Audience(ri.Method)
	if aud == "" {
		return nil, nil
	}
	tok, err := c.Token(aud)
	if err != nil {
		return nil, err
	}
	return map[string]string{MetadataKey: tok}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: tokens
// also travel on plaintext connections (loopback, a private network), where
// their short life and single audience bound what a captured one is worth;
// turn on mTLS (-tls-*) on any other network.
func (c *Credentials) RequireTransportSecurity() bool { return false }

// Token returns a valid token for audience aud, from the cache or newly
// minted.
func (c *Credentials) Token(aud string) (string, error) {
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[aud]; ok && now.Before(t.refresh) {
		return t.token, nil
	}
	tok, err := Sign(c.key, c.caller, aud, now, c.opts.Lifetime)
	if err != nil {
		return "", err
	}
	c.tokens[aud] = cachedToken{token: tok, refresh: now.Add(c.opts.Lifetime - c.opts.RefreshBefore)}
	return tok, nil
}

// Sign returns a token of caller for aud, issued at now and valid for
// lifetime. Credentials use it; so can a tool acting as Operator.
func Sign(key ed25519.PrivateKey, caller, aud string, now time.Time, lifetime time.Duration) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   caller,
		Audience:  jwt.ClaimStrings{aud},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(lifetime)),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("svcauth: sign: %w", err)
	}
	return tok, nil
}

// Errors of Verify, all codes.Unauthenticated for the caller.
var (
	errNoCredential   = errors.New("no service credential")
	errInvalidToken   = errors.New("invalid service token")
	errUnknownService = errors.New("unknown service")
)

// verifier checks the tokens sent to one service. An Ed25519 verification
// is expensive (BenchmarkVerify) and a caller sends the same token for
// minutes, so the verifier remembers the tokens it accepted, until they
// expire: a remembered token costs a map lookup (BenchmarkVerifyRemembered;
// figures in docs/benchmarks-history.md).
type verifier struct {
	key    ed25519.PublicKey
	parser *jwt.Parser
	now    func() time.Time
	leeway time.Duration

	mu sync.Mutex
	// accepted are the tokens verified, by their text, with their caller and
	// expiry; at most maxAccepted.
	accepted map[string]acceptedToken
}

type acceptedToken struct {
	caller string
	exp    time.Time
}

// maxAccepted bounds the remembered tokens. Each caller has one live token
// per audience (two around a refresh), so a service sees a handful; the bound
// only stops a flood of valid tokens minted by a key holder from growing it.
const maxAccepted = 256

func newVerifier(key ed25519.PublicKey, audience string, opts Options) *verifier {
	opts = opts.withDefaults()
	return &verifier{key: key, now: opts.Now, leeway: opts.Leeway, accepted: make(map[string]acceptedToken),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(opts.Leeway),
			jwt.WithTimeFunc(opts.Now),
		)}
}

// verify returns the calling service of tok. Its errors never quote the
// token.
func (v *verifier) verify(tok string) (string, error) {
	now := v.now()
	v.mu.Lock()
	a, ok := v.accepted[tok]
	v.mu.Unlock()
	if ok && !now.After(a.exp.Add(v.leeway)) {
		return a.caller, nil // its iat and nbf only get further behind
	}
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return "", fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	if !Known(claims.Subject) {
		return "", errUnknownService
	}
	v.remember(tok, acceptedToken{caller: claims.Subject, exp: claims.ExpiresAt.Time}, now)
	return claims.Subject, nil
}

// remember adds an accepted token, first dropping the expired ones when the
// map is full, and all of them if none is.
func (v *verifier) remember(tok string, a acceptedToken, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.accepted) >= maxAccepted {
		for t, old := range v.accepted {
			if now.After(old.exp.Add(v.leeway)) {
				delete(v.accepted, t)
			}
		}
		if len(v.accepted) >= maxAccepted {
			clear(v.accepted)
		}
	}
	v.accepted[tok] = a
}
