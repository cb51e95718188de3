package grpcclient

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/go-kit/kit/endpoint"
	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Client makes the client endpoints of one dependency over one connection.
type Client struct {
	conn    *grpc.ClientConn
	dep     string
	cfg     Config
	metrics *Metrics
	logger  *slog.Logger
}

// New returns a Client of the dependency named dependency (the metrics'
// "dependency" label, e.g. "payment") calling over conn with cfg. m nil means
// unregistered metrics; logger nil discards the breakers' state-change logs.
// It fails if cfg does not validate.
func New(conn *grpc.ClientConn, dependency string, cfg Config, m *Metrics, logger *slog.Logger) (*Client, error) {
	if conn == nil {
		return nil, errors.New("grpcclient: nil connection")
	}
	if dependency == "" {
		return nil, errors.New("grpcclient: empty dependency name")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{conn: conn, dep: dependency, cfg: cfg, metrics: m, logger: logger}, nil
}

// Method describes one remote method.
type Method struct {
	// Service is the full gRPC service name, e.g.
	// paymentv1.PaymentService_ServiceDesc.ServiceName.
	Service string
	// Name is the method name, e.g. "MakePayment" (the "method" label).
	Name string
	// Idempotent allows retries: set it only when the callee guarantees that
	// a repeat has no further effect (e.g. it dedupes by order id).
	Idempotent bool
	// Reply is a zero response message, e.g. &paymentv1.MakePaymentResponse{}.
	Reply any
	// Encode turns the endpoint's request into the gRPC request; nil passes
	// it through (the request is the generated message).
	Encode grpctransport.EncodeRequestFunc
	// Decode turns the gRPC response into the endpoint's response; nil
	// passes it through (the response is the generated message).
	Decode grpctransport.DecodeResponseFunc
	// Options are go-kit client options, e.g. grpctransport.ClientBefore to
	// forward metadata.
	Options []grpctransport.ClientOption
}

// Endpoint returns the endpoint of method m:
// instrumenting → retry (m.Idempotent only) → breaker → deadline → gRPC call.
// Each call makes a new breaker for the dependency and m.Name, so call it
// once per method and keep the endpoint.
func (c *Client) Endpoint(m Method) endpoint.Endpoint {
	enc, dec := m.Encode, m.Decode
	if enc == nil {
		enc = passThrough
	}
	if dec == nil {
		dec = passThrough
	}
	e := grpctransport.NewClient(c.conn, m.Service, m.Name, enc, dec, m.Reply, m.Options...).Endpoint()
	fullMethod := "/" + m.Service + "/" + m.Name
	e = deadline(c.cfg.AttemptTimeout, func() bool { return boundedByGRPC(c.conn, fullMethod, c.cfg.AttemptTimeout) })(e)
	b := newBreaker(c.dep, m.Name, c.cfg, c.logger)
	c.metrics.breakers.add(b)
	e = b.middleware(e)
	if m.Idempotent {
		e = retry(c.cfg)(e)
	}
	return instrument(c.metrics, c.dep, m.Name)(e)
}

func passThrough(_ context.Context, v any) (any, error) { return v, nil }

// deadline bounds each attempt by d, on a context derived from the caller's.
// It leaves the caller's context as it is when the attempt is bounded
// already: by gRPC itself (grpcBounded, see Config.DialOption) or by a
// caller's deadline that comes first. A derived context would only add a
// timer and its allocations.
func deadline(d time.Duration, grpcBounded func() bool) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			if grpcBounded() {
				return next(ctx, request)
			}
			end := time.Now().Add(d)
			if caller, ok := ctx.Deadline(); ok && !caller.After(end) {
				return next(ctx, request)
			}
			ctx, cancel := context.WithDeadline(ctx, end)
			defer cancel()
			return next(ctx, request)
		}
	}
}

// boundedByGRPC reports whether gRPC itself bounds each call of method (e.g.
// "/kitshop.payment.v1.PaymentService/GetPayment") on conn by d or less: the
// method config in force has a positive timeout no longer than d. It reads
// the config each time, as gRPC does for each call: a service config that
// the resolver sends later replaces Config.DialOption's.
func boundedByGRPC(conn *grpc.ClientConn, method string, d time.Duration) bool {
	t := conn.GetMethodConfig(method).Timeout
	return t != nil && *t > 0 && *t <= d
}

// instrument counts and times each call in the dependency's and method's
// series, by outcome.
func instrument(m *Metrics, dep, method string) endpoint.Middleware {
	series := m.method(dep, method)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			start := time.Now()
			resp, err := next(ctx, request)
			series.observe(ctx, outcomeOf(err), start)
			return resp, err
		}
	}
}

// Outcome is the "outcome" label of a call's result: "ok", "breaker_open" for
// an *OpenError, or the snake_case name of its gRPC code ("unavailable",
// "deadline_exceeded", "not_found", ...; "unknown" for a non-gRPC error).
func Outcome(err error) string {
	return outcomeName(outcomeOf(err))
}

// codeName returns the snake_case name of a gRPC code.
func codeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "ok"
	case codes.Canceled:
		return "canceled"
	case codes.InvalidArgument:
		return "invalid_argument"
	case codes.DeadlineExceeded:
		return "deadline_exceeded"
	case codes.NotFound:
		return "not_found"
	case codes.AlreadyExists:
		return "already_exists"
	case codes.PermissionDenied:
		return "permission_denied"
	case codes.ResourceExhausted:
		return "resource_exhausted"
	case codes.FailedPrecondition:
		return "failed_precondition"
	case codes.Aborted:
		return "aborted"
	case codes.OutOfRange:
		return "out_of_range"
	case codes.Unimplemented:
		return "unimplemented"
	case codes.Internal:
		return "internal"
	case codes.Unavailable:
		return "unavailable"
	case codes.DataLoss:
		return "data_loss"
	case codes.Unauthenticated:
		return "unauthenticated"
	default:
		return "unknown"
	}
}
