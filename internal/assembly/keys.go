package assembly

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kitshop/kitshop/internal/config"
)

// loadKey loads the key that the flag flagName names (file, with load), or
// else loads or creates (create) the one named defaultName in dataDir; what
// names the key in errors.
func loadKey[K any](flagName, file, dataDir, defaultName, what string, load, create func(string) (K, error)) (K, error) {
	if file != "" {
		k, err := load(file)
		if err != nil {
			return k, fmt.Errorf("invalid -%s (%s): %w", flagName, config.EnvVar(flagName), err)
		}
		return k, nil
	}
	var zero K
	if strings.TrimSpace(dataDir) == "" {
		return zero, fmt.Errorf("-%s (%s) or -data-dir (%s) is required to keep the %s",
			flagName, config.EnvVar(flagName), config.EnvVar("data-dir"), what)
	}
	k, err := create(filepath.Join(dataDir, defaultName))
	if err != nil {
		return zero, fmt.Errorf("%s in -data-dir: %w", what, err)
	}
	return k, nil
}
