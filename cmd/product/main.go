// Command product runs the kitshop product service: gRPC (kitshop.product.v1
// ProductService, health, reflection) on 127.0.0.1:50052 and HTTP (the /product routes,
// /healthz, /readyz, /metrics) on 127.0.0.1:8082, with the embedded document store in
// -data-dir unless -mongo-uri is set.
//
// Admin calls verify access tokens with the user service's public key: read
// from -jwt-public-key-file, or fetched from -jwks-url in the background,
// retried until the user service answers. Every route serves at once; until
// the keys are in, an admin call with a well-formed token answers 503 +
// Retry-After / Unavailable + RetryInfo, one without a token 401.
//
// Run it with -h for every flag and its KITSHOP_* environment variable; the
// flags and the assembly are internal/assembly's, which cmd/shop shares.
package main

import (
	"context"
	"io"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
)

func main() { assembly.Main(config.Product, run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	return assembly.Run(ctx, config.Product, args, stderr)
}
