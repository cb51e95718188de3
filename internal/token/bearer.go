package token

import (
	"fmt"
	"strings"
)

// BearerToken extracts the token from an Authorization header value of the
// form "Bearer <token>" (scheme case-insensitive, RFC 6750 §2.1). An empty
// header or another scheme (e.g. Basic) gives ErrMissingToken, since no bearer
// token was presented; "Bearer" without a token, or with more than one word
// after it, gives ErrInvalidToken.
func BearerToken(authorizationHeader string) (string, error) {
	h := strings.TrimSpace(authorizationHeader)
	if h == "" {
		return "", ErrMissingToken
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: authorization scheme is not Bearer", ErrMissingToken)
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", fmt.Errorf("%w: empty bearer credential", ErrInvalidToken)
	}
	if strings.ContainsAny(tok, " \t") {
		return "", fmt.Errorf("%w: malformed bearer credential", ErrInvalidToken)
	}
	return tok, nil
}
