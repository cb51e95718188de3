package grpcclient

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// serviceConfig returns the default service config of Dial's connections.
// It spreads calls over every address the resolver returns (a "dns:///"
// target naming several instances) instead of pick_first's one; with
// attemptTimeout positive, gRPC itself bounds every call by it (the "timeout"
// of a method config naming all methods).
func serviceConfig(attemptTimeout time.Duration) string {
	const roundRobin = `"loadBalancingConfig":[{"round_robin":{}}]`
	if attemptTimeout <= 0 {
		return "{" + roundRobin + "}"
	}
	return fmt.Sprintf(`{%s,"methodConfig":[{"name":[{}],"timeout":"%d.%09ds"}]}`,
		roundRobin, attemptTimeout/time.Second, attemptTimeout%time.Second)
}

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
// extra options are appended and win (e.g. Config.DialOption,
// tlsconfig.Credentials.DialOptions for mutual TLS, or a bufconn dialer in
// tests).
func Dial(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	reconnect := grpcbackoff.DefaultConfig
	reconnect.MaxDelay = ReconnectMaxDelay
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig(0)),
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

// DialOption is the option of Dial that has gRPC itself bound every call on
// the connection by c.AttemptTimeout (the service config's method timeout),
// as the per-attempt deadline of a Client with c would. Such a Client then
// leaves the deadline to gRPC, which sets it on the context it derives for
// the call anyway, and spares each attempt a context and a timer of its own:
//
//	conn, err := grpcclient.Dial(addr, cfg.DialOption())
//	client, err := grpcclient.New(conn, "payment", cfg, metrics, logger)
//
// It replaces Dial's default service config by the same one with the
// timeout, so a later grpc.WithDefaultServiceConfig undoes it (the Client
// then sets its own deadline again). Every call made on the connection is
// bounded, without a Client too, and streams as well.
func (c Config) DialOption() grpc.DialOption {
	return grpc.WithDefaultServiceConfig(serviceConfig(c.AttemptTimeout))
}
