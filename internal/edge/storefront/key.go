package storefront

import (
	"crypto/rand"
	"fmt"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/token"
)

// LoadOrCreateKey returns the session key kept at path, a PEM Ed25519
// private key (as the service and signing keys are; token.LoadOrCreateKey
// creates it atomically when missing): its 32-byte seed, from which New
// derives the cookie's keys. An empty path gives a random key of this
// process only: its sessions end when it stops and no other replica can read
// them.
func LoadOrCreateKey(path string) ([]byte, error) {
	if path == "" {
		return []byte(rand.Text() + rand.Text()), nil
	}
	key, err := token.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("invalid -%s (%s): session key %s: %w", config.FlagSessionKeyFile, config.EnvVar(config.FlagSessionKeyFile), path, err)
	}
	return key.Seed(), nil
}
