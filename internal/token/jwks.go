package token

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// JWK is one public Ed25519 key as an RFC 8037 "OKP" JSON Web Key. It never
// carries private material.
type JWK struct {
	Kty string `json:"kty"`           // "OKP"
	Crv string `json:"crv"`           // "Ed25519"
	X   string `json:"x"`             // the public key, base64url without padding
	Kid string `json:"kid,omitempty"` // the RFC 7638 thumbprint for our keys
	Use string `json:"use,omitempty"` // "sig"
	Alg string `json:"alg,omitempty"` // "EdDSA"
}

// JWKS is an RFC 7517 JSON Web Key Set; encoding/json marshals it as served
// (media type application/jwk-set+json).
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// KeyID returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of pub, the
// "kid" this package gives a key.
func KeyID(pub ed25519.PublicKey) string {
	// Required members in lexicographic order, no whitespace (RFC 7638 §3.2, RFC 8037 §2).
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func publicJWK(pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: KeyID(pub),
		Use: "sig",
		Alg: "EdDSA",
	}
}

// ParseJWKS returns the Ed25519 signing keys of a JWK Set by kid. Keys of
// other types or uses are skipped, as RFC 7517 asks; a key without "kid" is
// filed under its thumbprint. It fails if no usable key remains, if an
// Ed25519 key is malformed or if two keys share a kid.
func ParseJWKS(data []byte) (map[string]ed25519.PublicKey, error) {
	var set JWKS
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("token: JWKS is not a JSON key set: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for i, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" ||
			(k.Use != "" && k.Use != "sig") ||
			(k.Alg != "" && k.Alg != "EdDSA" && k.Alg != "Ed25519") {
			continue
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("token: JWKS key %d: \"x\" is not a base64url Ed25519 public key", i)
		}
		pub := ed25519.PublicKey(x)
		kid := k.Kid
		if kid == "" {
			kid = KeyID(pub)
		}
		if _, dup := keys[kid]; dup {
			return nil, fmt.Errorf("token: JWKS has two keys with kid %q", kid)
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("token: JWKS holds no Ed25519 signing key")
	}
	return keys, nil
}

// Limits of JWKSFetcher.
const (
	maxJWKSSize    = 1 << 20
	attemptTimeout = 5 * time.Second
	firstBackoff   = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
)

// JWKSFetcher loads the user service's JWK Set into a Verifier that exists,
// and serves, before the set does: a service can then answer at once, even
// while the user service is down, refusing well-formed tokens with
// ErrKeysUnavailable until the keys are in. It is safe for concurrent use.
type JWKSFetcher struct {
	url    string
	client *http.Client
	logger *slog.Logger
	v      *Verifier
}

// NewJWKSFetcher returns a fetcher of the JWK Set at rawURL (absolute http or
// https) whose Verifier requires the issuer and audience of opts. client nil
// means a plain http.Client; logger nil logs nothing. Nothing is fetched
// until Fetch or Run is called.
func NewJWKSFetcher(rawURL string, client *http.Client, logger *slog.Logger, opts Options) (*JWKSFetcher, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("token: JWKS URL %q is not an absolute http(s) URL", rawURL)
	}
	if client == nil {
		client = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &JWKSFetcher{url: rawURL, client: client, logger: logger, v: newPendingVerifier(opts)}, nil
}

// Verifier returns the verifier the fetched keys go to; it is the same one
// before and after they arrive.
func (f *JWKSFetcher) Verifier() *Verifier { return f.v }

// Loaded reports whether a fetch has succeeded.
func (f *JWKSFetcher) Loaded() bool { return f.v.keys.Load() != nil }

// Fetch makes one attempt, bounded by ctx and by 5 s, to get the set; on
// success the Verifier trusts its keys from then on. A failure (network,
// non-200, unparsable set) leaves the Verifier as it was.
func (f *JWKSFetcher) Fetch(ctx context.Context) error {
	keys, err := fetchJWKS(ctx, f.client, f.url)
	if err != nil {
		return err
	}
	f.v.keys.Store(&keys)
	return nil
}

// Run fetches the set until an attempt succeeds, retrying any failure with
// jittered exponential backoff (100 ms doubling to 5 s) and logging each at
// Warn, then logs the success at Info and returns nil. It also returns nil
// when ctx ends first: stopping before the keys came is not a failure. It is
// meant as a background unit (rungroup.Group.Background) beside the servers.
func (f *JWKSFetcher) Run(ctx context.Context) error {
	f.logger.InfoContext(ctx, "fetching the user service's public keys", slog.String("url", f.url))
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := f.Fetch(ctx)
		if err == nil {
			f.logger.InfoContext(ctx, "the user service's public keys are loaded", slog.String("url", f.url))
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		f.logger.WarnContext(ctx, "fetching JWKS failed, will retry", "url", f.url, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func fetchJWKS(ctx context.Context, client *http.Client, rawURL string) (map[string]ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSSize))
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSSize {
		return nil, errors.New("JWKS larger than 1 MiB")
	}
	return ParseJWKS(data)
}
