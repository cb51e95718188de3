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
		"JWK Set of the user service, fetched until it answers; unused with -jwt-public-key-file")
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

// Load returns a Verifier for the key in PublicKeyFile or, without one, for
// the JWK Set at JWKSURL, retried until it is served or ctx ends (see
// FetchVerifier), logging the fetch and its failures on logger (nil: no
// logs).
func (c VerifierConfig) Load(ctx context.Context, logger *slog.Logger) (*Verifier, error) {
	if c.PublicKeyFile != "" {
		v, err := LoadVerifier(c.PublicKeyFile, c.Options)
		if err != nil {
			return nil, fmt.Errorf("invalid -jwt-public-key-file (%s): %w", config.EnvVar("jwt-public-key-file"), err)
		}
		return v, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger.InfoContext(ctx, "fetching the user service's public keys", slog.String("url", c.JWKSURL))
	v, err := FetchVerifier(ctx, c.JWKSURL, nil, logger, c.Options)
	if err != nil {
		return nil, fmt.Errorf("-jwks-url (%s): %w", config.EnvVar("jwks-url"), err)
	}
	return v, nil
}
