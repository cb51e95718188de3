package config

import (
	"flag"
	"fmt"
	"strings"
)

// TLS names the files of mutual TLS on a process's internal gRPC: its own
// certificate and key, presented both as a server to its callers and as a
// client to the services it calls, and the CA bundle that every peer's
// certificate must chain to. All three are set, or none: then internal gRPC is
// plaintext. internal/tlsconfig turns them into credentials.
type TLS struct {
	// CertFile is the PEM certificate (chain) of this process (-tls-cert).
	CertFile string
	// KeyFile is the PEM private key of CertFile (-tls-key).
	KeyFile string
	// CAFile is the PEM bundle of the CAs that sign peers' certificates
	// (-tls-ca).
	CAFile string
}

// TLS flag names.
const (
	FlagTLSCert = "tls-cert"
	FlagTLSKey  = "tls-key"
	FlagTLSCA   = "tls-ca"
)

// RegisterFlags defines -tls-cert, -tls-key and -tls-ca on fs, storing into t.
// Service.Register calls it; a process without a Service (cmd/shop) calls it
// itself.
func (t *TLS) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.CertFile, FlagTLSCert, "", "PEM certificate for mutual TLS on internal gRPC, served and presented to the services called (with -tls-key and -tls-ca; none of the three: plaintext)")
	fs.StringVar(&t.KeyFile, FlagTLSKey, "", "PEM private key of -tls-cert")
	fs.StringVar(&t.CAFile, FlagTLSCA, "", "PEM CA bundle that every gRPC peer's certificate must chain to")
}

// Enabled reports whether any TLS file is set (Validate then requires all).
func (t TLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != ""
}

// Validate checks that the three files are all set or all empty, naming each
// missing flag and its environment variable. Whether the files can be read is
// checked when they are loaded (tlsconfig.Load).
func (t TLS) Validate() error {
	if !t.Enabled() {
		return nil
	}
	var missing, given []string
	for _, f := range []struct{ name, value string }{
		{FlagTLSCert, t.CertFile}, {FlagTLSKey, t.KeyFile}, {FlagTLSCA, t.CAFile},
	} {
		named := fmt.Sprintf("-%s (%s)", f.name, EnvVar(f.name))
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, named)
		} else {
			given = append(given, named)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case len(given) == 0:
		return fmt.Errorf("invalid mutual TLS settings: %s are blank; set all three for mutual TLS, or leave them empty for plaintext gRPC",
			strings.Join(missing, ", "))
	}
	return fmt.Errorf("invalid mutual TLS settings: %s given without %s; set all three for mutual TLS, or none for plaintext gRPC",
		strings.Join(given, ", "), strings.Join(missing, ", "))
}
