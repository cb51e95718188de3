package svcauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Access is who may call one gRPC method.
type Access struct {
	// Callers are the services (Names) allowed.
	Callers []string
	// EndUsers opens the method to every caller, with or without a service
	// identity: it is an end user's call, whose JWT the service's endpoints
	// verify (or a public one, such as Login).
	EndUsers bool
}

// Callers returns the Access of a method the named services may call.
func Callers(names ...string) Access { return Access{Callers: names} }

// EndUsers is the Access of an end user's method.
var EndUsers = Access{EndUsers: true}

// Policy is one service's table of Access by full gRPC method name
// ("/kitshop.product.v1.ProductService/ReserveStock", the generated
// *_FullMethodName constants). A method missing from it is denied.
type Policy map[string]Access

// Guard checks the calls to one service against its Policy.
type Guard struct {
	service string
	policy  Policy
	tokens  *verifier
}

// NewGuard returns the guard of service (one of Names, the aud its tokens
// must carry), trusting tokens signed by key, under policy.
func NewGuard(service string, key ed25519.PublicKey, policy Policy, opts Options) (*Guard, error) {
	if !Known(service) {
		return nil, fmt.Errorf("svcauth: unknown service %q", service)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, errors.New("svcauth: no Ed25519 public key")
	}
	for m, a := range policy {
		for _, c := range a.Callers {
			if !Known(c) {
				return nil, fmt.Errorf("svcauth: %s allows unknown caller %q", m, c)
			}
		}
	}
	return &Guard{service: service, policy: policy, tokens: newVerifier(key, service, opts)}, nil
}

// Authorize decides a call of fullMethod: it returns ctx with the caller
// (Caller) when allowed, else a status error, codes.Unauthenticated without
// a valid identity and codes.PermissionDenied for a caller the Policy does
// not allow (or a method it does not name). The errors never quote a token.
func (g *Guard) Authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	access, ok := g.policy[fullMethod]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to any caller", fullMethod)
	}
	if access.EndUsers {
		return ctx, nil
	}
	caller, err := g.identify(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "service authentication: %v", err)
	}
	if !slices.Contains(access.Callers, caller) {
		return nil, status.Errorf(codes.PermissionDenied, "service %q may not call %s", caller, fullMethod)
	}
	return withCaller(ctx, caller), nil
}

// identify returns the caller named by the verified client certificate, or
// else by the service token (see the package doc).
func (g *Guard) identify(ctx context.Context) (string, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
			name, named, err := certIdentity(info.State.VerifiedChains[0][0])
			if err != nil || named {
				return name, err
			}
		}
	}
	vals := metadata.ValueFromIncomingContext(ctx, MetadataKey)
	if len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
		return "", errNoCredential
	}
	if len(vals) > 1 {
		return "", fmt.Errorf("%w: %d tokens", errInvalidToken, len(vals))
	}
	return g.tokens.verify(vals[0])
}
