// Package svcauth authenticates and authorizes the calls kitshop's services
// make to each other over gRPC.
//
// Every call to an internal method carries the identity of the calling
// service, one of Names ("order", "operator", ...), found in this order:
//
//  1. The mTLS client certificate, when the connection is mutual TLS
//     (internal/tlsconfig): a URI SAN spiffe://kitshop/<name> wins; without
//     a kitshop URI SAN, the certificate's Subject CN if it is one of Names.
//     A certificate with a kitshop URI SAN naming an unknown service is
//     refused (Unauthenticated). A certificate that names no kitshop
//     service (e.g. DNS SANs only) gives no identity: step 2 decides.
//  2. A service token in the MetadataKey metadata: an EdDSA (Ed25519) JWT
//     signed with the key the deployment shares (LoadOrCreateKey), whose
//     iss is Issuer, sub the calling service and aud the called one, valid
//     for TokenLifetime with Leeway of clock skew on iat, nbf and exp.
//     Credentials mints, caches and refreshes them on the client side; they
//     travel beside the end user's "authorization" token, never instead.
//
// No identity, a bad signature, an expired or not yet valid token, another
// audience or an unknown service name: codes.Unauthenticated. Then each
// service's Policy says, per gRPC method, which services may call it: a
// caller not listed gets codes.PermissionDenied, and so does everyone for a
// method the Policy does not name (fail closed). Methods a Policy marks
// EndUsers are the end users' (CreateOrder, Login, ...): they need no service
// identity, the user's own JWT, checked by the service's endpoints as
// before, is their caller's identity.
//
// internal/grpcserver runs the check (Guard.Authorize) in one unary and one
// stream interceptor for every method but the standard health and
// reflection services.
package svcauth
