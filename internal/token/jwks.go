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

// Limits of FetchVerifier.
const (
	maxJWKSSize    = 1 << 20
	attemptTimeout = 5 * time.Second
	firstBackoff   = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
)

// FetchVerifier gets the JWK Set at rawURL (absolute http or https) and returns a Verifier for its keys.
// Because the user service may start after its callers, it retries any
// failure (network, non-200, unparsable set) with jittered exponential
// backoff until ctx ends, logging each failure at Warn on logger (nil: no
// logs). client nil means a plain http.Client; each attempt is bounded by ctx
// and by 5 s. The keys are read once: a Verifier does not follow later key
// rotation.
func FetchVerifier(ctx context.Context, rawURL string, client *http.Client, logger *slog.Logger, opts Options) (*Verifier, error) {
	if _, err := opts.withDefaults(); err != nil {
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
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		keys, err := fetchJWKS(ctx, client, rawURL)
		if err == nil {
			return NewVerifier(keys, opts)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("token: fetch JWKS from %s: %w (last error: %v)", rawURL, ctx.Err(), err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		logger.WarnContext(ctx, "fetching JWKS failed, will retry", "url", rawURL, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("token: fetch JWKS from %s: %w (last error: %v)", rawURL, ctx.Err(), err)
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
