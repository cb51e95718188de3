// Command payment runs the kitshop payment service: gRPC (kitshop.payment.v1 PaymentService, health,
// reflection) on 127.0.0.1:50054 and HTTP (GET /payment/{orderId} for admins, /healthz, /readyz, /metrics) on 127.0.0.1:8084,
// with the embedded document store in -data-dir unless -mongo-uri is set, and the simulated card processor
// (see payment.Simulator for its test cards). Admin tokens are verified with the user service's public key,
// read from -jwt-public-key-file or fetched from -jwks-url in the background, retried until it answers, while
// the servers already serve (the admin route answers 503 with a token, 401 without one, until then).
// Run it with -h for every flag and its KITSHOP_* environment variable; the
// flags and the assembly are internal/assembly's, which cmd/shop shares.
package main

import (
	"context"
	"io"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
)

func main() { assembly.Main(config.Payment, run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	return assembly.Run(ctx, config.Payment, args, stderr)
}
