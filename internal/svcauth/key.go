package svcauth

import (
	"crypto/ed25519"
	"fmt"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/token"
)

// KeyFileName is the file name of the shared key in its default place (see
// config.ServiceAuth.KeyPath).
const KeyFileName = "service-ed25519.pem"

// LoadOrCreateKey loads the shared service key, an Ed25519 private key in PEM
// PKCS#8 (as `openssl genpkey -algorithm ed25519` writes), from path, or
// generates it there when there is no file: mode 0600, written to a
// temporary file and linked into place, so that several processes starting
// at once agree on the one that appeared first (token.LoadOrCreateKey).
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := token.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("invalid -%s (%s): service key %s: %w", config.FlagServiceKeyFile,
			config.EnvVar(config.FlagServiceKeyFile), path, err)
	}
	return key, nil
}

// Load loads (or creates) the shared key at keyFile and returns the guard
// of service under policy and the credentials it presents to the services it
// calls, with the default Options.
func Load(keyFile, service string, policy Policy) (*Guard, *Credentials, error) {
	key, err := LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, nil, err
	}
	guard, err := NewGuard(service, key.Public().(ed25519.PublicKey), policy, Options{})
	if err != nil {
		return nil, nil, err
	}
	creds, err := NewCredentials(key, service, Options{})
	if err != nil {
		return nil, nil, err
	}
	return guard, creds, nil
}
