// Command notification runs the kitshop notification service: gRPC
// (kitshop.notification.v1 NotificationService, health, reflection) on 127.0.0.1:50055
// and HTTP (GET /notification, /healthz, /readyz, /metrics) on 127.0.0.1:8085, with the
// embedded document store in -data-dir unless -mongo-uri is set. It calls no
// other service: it sends e-mails through -smtp-addr (or logs them when it is
// empty) and verifies access tokens with the user service's public key
// (-jwt-public-key-file, or -jwks-url, fetched in the background with retries
// while the servers already serve; GET /notification answers 503 until then).
// Run it with -h for every flag and its KITSHOP_* environment variable; the
// flags and the assembly are internal/assembly's, which cmd/shop shares.
package main

import (
	"context"
	"io"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
)

func main() { assembly.Main(config.Notification, run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	return assembly.Run(ctx, config.Notification, args, stderr)
}
