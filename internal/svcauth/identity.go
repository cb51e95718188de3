package svcauth

import (
	"context"
	"crypto/x509"
	"slices"

	"github.com/kitshop/kitshop/internal/config"
)

// Operator is the identity of people and tools that run the shop, e.g. a
// certificate with URI SAN spiffe://kitshop/operator for grpcurl. It may
// call what a Policy lists it for (OrderService/DeliveryStarted).
const Operator = "operator"

// SPIFFE trust domain of kitshop's certificate identities:
// spiffe://kitshop/<name>.
const (
	spiffeScheme = "spiffe"
	TrustDomain  = "kitshop"
)

// Names returns every known caller identity: the five services and Operator.
func Names() []string { return append(config.ServiceNames(), Operator) }

// Known reports whether name is one of Names.
func Known(name string) bool { return slices.Contains(Names(), name) }

// callerKey is the context key of the authenticated caller.
type callerKey struct{}

// withCaller returns ctx carrying the authenticated calling service.
func withCaller(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, callerKey{}, name)
}

// Caller returns the calling service that Guard.Authorize authenticated, if
// any (none for an EndUsers method).
func Caller(ctx context.Context) (string, bool) {
	name, ok := ctx.Value(callerKey{}).(string)
	return name, ok
}

// certIdentity returns the service a verified client certificate names (see
// the package doc), whether it names one, and an error for a kitshop URI
// SAN naming an unknown service.
func certIdentity(cert *x509.Certificate) (string, bool, error) {
	for _, u := range cert.URIs {
		if u.Scheme != spiffeScheme || u.Host != TrustDomain {
			continue
		}
		name := u.Path
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		if !Known(name) {
			return "", false, errUnknownService
		}
		return name, true, nil
	}
	if Known(cert.Subject.CommonName) {
		return cert.Subject.CommonName, true, nil
	}
	return "", false, nil
}
