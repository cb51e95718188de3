package user

import (
	"encoding/base64"
	"strings"

	"github.com/kitshop/kitshop/internal/token"
)

// maxAuthorizationLen bounds the Authorization value parsed: base64 of the
// longest e-mail and password with some room, far beyond any honest header.
const maxAuthorizationLen = 1024

// parseBasicAuth reads the credentials of an "Authorization: Basic
// base64(email:password)" value (RFC 7617; scheme case-insensitive, the
// password may contain ':'), which both transports receive: the HTTP header,
// or the token field of RegisterUser and LoginUser. The credentials are not
// validated here; the service does that. Errors wrap ErrInvalidArgument and
// never echo the value.
func parseBasicAuth(authorization string) (Credentials, error) {
	h := strings.TrimSpace(authorization)
	switch {
	case h == "":
		return Credentials{}, invalid(`credentials are required: Authorization "Basic base64(email:password)"`)
	case len(h) > maxAuthorizationLen:
		return Credentials{}, invalid("authorization value is longer than %d bytes", maxAuthorizationLen)
	}
	scheme, encoded, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return Credentials{}, invalid(`authorization must use the Basic scheme: "Basic base64(email:password)"`)
	}
	encoded = strings.TrimSpace(encoded)
	if encoded == "" {
		return Credentials{}, invalid(`Basic credentials are missing: "Basic base64(email:password)"`)
	}
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return Credentials{}, invalid("Basic credentials are not valid base64")
	}
	email, password, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return Credentials{}, invalid(`Basic credentials must be "email:password"`)
	}
	return Credentials{Email: email, Password: password}, nil
}

// bareToken returns the token of "Bearer <token>" or of a bare token, as
// ParseBearerToken accepts both. An empty value is token.ErrMissingToken.
func bareToken(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", token.ErrMissingToken
	}
	if !strings.ContainsAny(s, " \t") {
		return s, nil
	}
	return token.BearerToken(s)
}
