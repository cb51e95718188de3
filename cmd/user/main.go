// Command user runs the kitshop user service: gRPC (kitshop.user.v1
// AuthService and UserService, health, reflection) on 127.0.0.1:50051 and HTTP (the
// /auth and /users routes, the JWKS, /healthz, /readyz, /metrics) on 127.0.0.1:8081,
// with the embedded document store in -data-dir unless -mongo-uri is set.
// Run it with -h for every flag and its KITSHOP_* environment variable; the
// flags and the assembly are internal/assembly's, which cmd/shop shares.
package main

import (
	"context"
	"io"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
)

func main() { assembly.Main(config.User, run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	return assembly.Run(ctx, config.User, args, stderr)
}
