package config

import "flag"

// Storefront are the settings of the edge's storefront (internal/edge).
type Storefront struct {
	// SessionKeyFile is the key sealing the session cookies
	// (-session-key-file): a PEM Ed25519 private key, generated when
	// missing; every edge serving the same browsers needs the same file.
	SessionKeyFile string
	// SecureCookies marks the session cookie Secure on every answer
	// (-secure-cookies), for an edge behind a TLS-terminating proxy.
	SecureCookies bool
}

// Flag names of Storefront.
const FlagSessionKeyFile = "session-key-file"

// RegisterFlags defines -session-key-file (default def, which may be empty:
// the command says what that means in emptyMeans) and -secure-cookies.
func (s *Storefront) RegisterFlags(fs *flag.FlagSet, def, emptyMeans string) {
	fs.StringVar(&s.SessionKeyFile, FlagSessionKeyFile, def, "PEM Ed25519 key sealing the storefront's session cookies, generated when missing; every edge serving the same browsers needs the same file"+emptyMeans)
	fs.BoolVar(&s.SecureCookies, "secure-cookies", false, "mark the session cookie Secure on every answer (behind a TLS-terminating proxy); without it only over TLS to this process")
}
