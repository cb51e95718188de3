package token

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/kitshop/kitshop/internal/config"
)

// VerifierConfig is where a service that verifies access tokens gets the
// user service's public key, as set by the flags RegisterFlags defines: a PEM
// file (-jwt-public-key-file), or else the user service's JWK Set
// (-jwks-url).
type VerifierConfig struct {
	// JWKSURL is the user service's JWK Set (-jwks-url); unused when
	// PublicKeyFile is set.
	JWKSURL string
	// PublicKeyFile is a PEM Ed25519 public key (-jwt-public-key-file).
	PublicKeyFile string
	// Options carry the issuer and audience required of access tokens
	// (-jwt-issuer, -jwt-audience).
	Options Options
}

// RegisterFlags defines -jwks-url, -jwt-public-key-file, -jwt-issuer and
// -jwt-audience on fs, storing into c. -jwks-url defaults to the JWK Set of
// a user service on localhost at its default HTTP port.
func (c *VerifierConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.JWKSURL, "jwks-url", fmt.Sprintf("http://localhost:%d/.well-known/jwks.json", config.UserHTTPPort),
		"JWK Set of the user service, fetched in the background until it answers; unused with -jwt-public-key-file")
	fs.StringVar(&c.PublicKeyFile, "jwt-public-key-file", "", "PEM Ed25519 public key that verifies access tokens, instead of -jwks-url")
	fs.StringVar(&c.Options.Issuer, "jwt-issuer", DefaultIssuer, "required \"iss\" claim of access tokens")
	fs.StringVar(&c.Options.Audience, "jwt-audience", DefaultAudience, "required \"aud\" claim of access tokens")
}

// Validate checks that the key has a source: a public key file, or an
// absolute http(s) JWK Set URL. Its messages name the flag and its
// environment variable.
func (c VerifierConfig) Validate() error {
	if c.PublicKeyFile != "" {
		return nil
	}
	if c.JWKSURL == "" {
		return fmt.Errorf("invalid -jwks-url (%s): must not be empty without -jwt-public-key-file (%s)",
			config.EnvVar("jwks-url"), config.EnvVar("jwt-public-key-file"))
	}
	if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid -jwks-url (%s): %q is not an absolute http(s) URL", config.EnvVar("jwks-url"), c.JWKSURL)
	}
	return nil
}

// NewVerifier returns the Verifier for the key in PublicKeyFile, complete,
// with a nil fetch. Without a file, the Verifier's keys come from the JWK Set
// at JWKSURL, which fetch gets (JWKSFetcher.Run, logging on logger, nil: no
// logs): run it in the background beside the servers, which can serve at
// once; until it has the keys, well-formed tokens fail with
// ErrKeysUnavailable (503 / Unavailable), absent or malformed ones with
// ErrMissingToken or ErrInvalidToken as always. Call Validate first.
func (c VerifierConfig) NewVerifier(logger *slog.Logger) (v *Verifier, fetch func(context.Context) error, err error) {
	if c.PublicKeyFile != "" {
		v, err := LoadVerifier(c.PublicKeyFile, c.Options)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid -jwt-public-key-file (%s): %w", config.EnvVar("jwt-public-key-file"), err)
		}
		return v, nil, nil
	}
	f, err := NewJWKSFetcher(c.JWKSURL, nil, logger, c.Options)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid -jwks-url (%s): %w", config.EnvVar("jwks-url"), err)
	}
	return f.Verifier(), f.Run, nil
}
