// Command order runs the kitshop order service: gRPC (kitshop.order.v1
// OrderService, health, reflection) on 127.0.0.1:50053 and HTTP (POST /order,
// GET /order, GET /order/{id}, /healthz, /readyz, /metrics) on 127.0.0.1:8083, with the
// embedded document store in -data-dir unless -mongo-uri is set. It calls the
// user, product, payment and notification services over gRPC, and verifies
// callers' tokens with the user service's public key (-jwt-public-key-file, or
// its JWKS, fetched in the background while the servers already serve: until
// it comes, a call with a token answers 503 / Unavailable, one without 401).
// Run it with -h for every flag and its KITSHOP_* environment variable; the
// flags and the assembly are internal/assembly's, which cmd/shop shares.
package main

import (
	"context"
	"io"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
)

func main() { assembly.Main(config.Order, run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	return assembly.Run(ctx, config.Order, args, stderr)
}
