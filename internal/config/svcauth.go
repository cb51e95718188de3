package config

import (
	"flag"
	"path/filepath"
)

// ServiceAuth are the settings of the authentication between services
// (internal/svcauth) and of gRPC reflection.
type ServiceAuth struct {
	// KeyFile is the PEM Ed25519 key every service shares to sign and verify
	// service tokens (-service-key-file); empty: DefaultServiceKeyName in
	// the directory the command documents. Generated when missing.
	KeyFile string
	// Reflection registers gRPC server reflection (-grpc-reflection), for
	// grpcurl; on by default for development, off in deploy/.
	Reflection bool
}

// Flag names of ServiceAuth.
const (
	FlagServiceKeyFile = "service-key-file"
	FlagGRPCReflection = "grpc-reflection"
)

// DefaultServiceKeyName is the file name of the service key in its default
// directory.
const DefaultServiceKeyName = "service-ed25519.pem"

// RegisterFlags defines -service-key-file and -grpc-reflection on fs;
// defaultDir describes, in the help, where the key goes when the flag is
// empty. Service.Register calls it; cmd/shop calls it itself.
func (a *ServiceAuth) RegisterFlags(fs *flag.FlagSet, defaultDir string) {
	fs.StringVar(&a.KeyFile, FlagServiceKeyFile, "", "PEM Ed25519 key shared by every service, signing and verifying their calls to each other (generated, 0600, when missing); empty: "+DefaultServiceKeyName+" in "+defaultDir)
	fs.BoolVar(&a.Reflection, FlagGRPCReflection, true, "serve gRPC server reflection (grpcurl's list and describe); turn off in production")
}

// KeyPath is KeyFile, or DefaultServiceKeyName in dir when it is empty.
func (a ServiceAuth) KeyPath(dir string) string {
	if a.KeyFile != "" {
		return a.KeyFile
	}
	return filepath.Join(dir, DefaultServiceKeyName)
}

// ServiceKeyDir is the default directory of a single service's key: the
// parent of its -data-dir, so that services run from one directory with
// -data-dir data/user, data/product... (README) and cmd/shop with -data-dir
// data share data/service-ed25519.pem.
func (c *Service) ServiceKeyDir() string { return filepath.Dir(filepath.Clean(c.DataDir)) }
