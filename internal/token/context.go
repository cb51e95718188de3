package token

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	grpctransport "github.com/go-kit/kit/transport/grpc"
	httptransport "github.com/go-kit/kit/transport/http"
	"google.golang.org/grpc/metadata"
)

// ErrForbidden means the token is valid but its role may not do this.
var ErrForbidden = errors.New("token: permission denied")

type ctxKey int

const (
	authorizationKey ctxKey = iota
	claimsKey
)

// HTTPToContext is a go-kit ServerBefore that moves the request's
// Authorization header into the context, for Authenticate to verify.
func HTTPToContext(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, authorizationKey, r.Header.Get("Authorization"))
}

// Compile-time checks that the transport hooks have go-kit's shapes.
var (
	_ httptransport.RequestFunc       = HTTPToContext
	_ grpctransport.ServerRequestFunc = GRPCToContext
)

// GRPCToContext is a go-kit ServerBefore that moves the "authorization"
// metadata of an incoming call into the context, for Authenticate to verify.
func GRPCToContext(ctx context.Context, md metadata.MD) context.Context {
	var h string
	if v := md.Get("authorization"); len(v) > 0 {
		h = v[0]
	}
	return context.WithValue(ctx, authorizationKey, h)
}

// NewContext returns ctx carrying verified claims.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey, c)
}

// FromContext returns the claims Authenticate verified, if any.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey).(Claims)
	return c, ok
}

// Authenticate is an endpoint middleware that verifies the bearer access token
// a transport put in the context (HTTPToContext, GRPCToContext) and hands its
// claims to the endpoint (FromContext). A missing or untrusted token fails with
// an error matching ErrMissingToken or ErrInvalidToken, which transports map to
// 401 / Unauthenticated.
func Authenticate(v *Verifier) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			h, _ := ctx.Value(authorizationKey).(string)
			raw, err := BearerToken(h)
			if err != nil {
				return nil, err
			}
			claims, err := v.VerifyAccess(raw)
			if err != nil {
				return nil, err
			}
			return next(NewContext(ctx, claims), request)
		}
	}
}

// RequireRole is an endpoint middleware, placed inside Authenticate, that lets
// only callers with role through; others fail with ErrForbidden (403 /
// PermissionDenied).
func RequireRole(role Role) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			c, ok := FromContext(ctx)
			if !ok {
				return nil, ErrMissingToken
			}
			if c.Role != role {
				return nil, ErrForbidden
			}
			return next(ctx, request)
		}
	}
}
