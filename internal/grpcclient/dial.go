package grpcclient

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// serviceConfig spreads calls over every address the resolver returns (a
// "dns:///" target naming several instances) instead of pick_first's one.
const serviceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// Keepalive settings of Dial. Pings are sent only while a call is in flight
// (PermitWithoutStream false), so they stay within grpc-go's default server
// enforcement policy for the short calls kitshop makes.
const (
	KeepaliveTime    = time.Minute
	KeepaliveTimeout = 20 * time.Second
)

// ReconnectMaxDelay caps the wait between attempts to reconnect to a
// dependency that went away. grpc-go's default grows to 120 s, and while it
// waits every call fails at once: after a long outage a dependency that is
// back would stay unreachable for up to two minutes, its breaker's half-open
// probes wasted on the wait. Five seconds keeps reconnecting cheap and
// recovery quick.
const ReconnectMaxDelay = 5 * time.Second

// Dial returns a client connection to target without connecting yet (it
// connects on the first call, and reconnects by itself). target is
// "host:port" (resolved by DNS) or any gRPC name such as
// "dns:///orders.internal:50053"; calls are load-balanced round-robin over the
// resolved addresses, with keepalive pings. The connection is plaintext;
// extra options are appended and win (e.g. tlsconfig.Credentials.DialOptions
// for mutual TLS, or a bufconn dialer in tests).
func Dial(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	reconnect := grpcbackoff.DefaultConfig
	reconnect.MaxDelay = ReconnectMaxDelay
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    KeepaliveTime,
			Timeout: KeepaliveTimeout,
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           reconnect,
			MinConnectTimeout: 5 * time.Second,
		}),
	}, extra...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: dial %q: %w", target, err)
	}
	return conn, nil
}
