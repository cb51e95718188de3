// Package token issues and verifies the JSON Web Tokens every kitshop service
// trusts.
//
// Tokens are signed with Ed25519 (JWS "EdDSA", RFC 8037) and carry the
// registered claims exp, iat, nbf, iss, aud, sub and jti, plus a "role" claim
// ([RoleUser] or [RoleAdmin]) and a "token_use" claim ([KindAccess] or
// [KindRefresh], the name AWS Cognito uses for the same purpose) so that a
// refresh token is never accepted as an access token and vice versa. A "sid"
// claim (OpenID Connect's session id) names the login both tokens of a pair
// belong to: verification only reads it ([Claims].SessionID), and whoever
// keeps sessions (the user service) decides whether it has ended. The
// header names the signing key by "kid", its RFC 7638 thumbprint.
//
// Only the user service holds the private key ([Signer]); every other service
// verifies with the public key alone ([Verifier]), read from a PEM file
// ([LoadVerifier]) or fetched from the user service's JWKS document in the
// background ([JWKSFetcher]) while the service already serves.
//
// Every verification failure is [ErrMissingToken], [ErrInvalidToken] or
// [ErrExpired] under errors.Is, all of which a transport maps to 401, except
// [ErrKeysUnavailable]: a well-formed token met before the JWKS came
// (503 / Unavailable, retry shortly).
// [ErrExpired] also matches [ErrInvalidToken], so a table that checks
// [ErrExpired] first can tell a client to refresh instead of logging in again.
//
// JWT handling is github.com/golang-jwt/jwt/v5, the maintained successor of the
// most used Go JWT library; this package pins its algorithm list to EdDSA.
package token
