package user

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// JWKSCacheControl is the Cache-Control of the key set: verifiers may keep it
// for five minutes.
const JWKSCacheControl = "public, max-age=300"

// NewHTTPHandler returns the public HTTP routes of the user service, in the
// original gateway's JSON shape:
//
//	POST /auth/register          Basic email:password, {name, age, profile} → 201 user
//	POST /auth/login             Basic email:password → 200 {accessToken, refreshToken, expiresIn, tokenType}
//	                             (rate-limited: 429 with Retry-After; see LoginRateLimitMiddleware)
//	POST /auth/refresh           {refreshToken} → 200 a new pair
//	GET  /users/me               Bearer access token → 200 user
//	GET  /.well-known/jwks.json  the public keys that verify our tokens
//
// A user is {id, email, name, age, profile, role}. Errors are
// {"error":{"code","message"}} (httpserver.EncodeError) with the status of
// the table httpStatuses. Health and metrics routes are added by
// httpserver.New.
func NewHTTPHandler(set Set) http.Handler {
	opts := []httptransport.ServerOption{
		httptransport.ServerErrorEncoder(encodeHTTPError),
	}
	mux := http.NewServeMux()
	mux.Handle("POST /auth/register", httptransport.NewServer(
		set.RegisterUserEndpoint, decodeHTTPRegisterUserRequest, encodeHTTPRegisterUserResponse, opts...))
	mux.Handle("POST /auth/login", httptransport.NewServer(
		set.LoginUserEndpoint, decodeHTTPLoginUserRequest, encodeHTTPTokenPairResponse,
		append(opts, httptransport.ServerBefore(httpClientAddr))...))
	mux.Handle("POST /auth/refresh", httptransport.NewServer(
		set.RefreshTokenEndpoint, decodeHTTPRefreshTokenRequest, encodeHTTPTokenPairResponse, opts...))
	mux.Handle("GET /users/me", httptransport.NewServer(
		set.GetMeEndpoint, decodeHTTPGetMeRequest, encodeHTTPUserResponse,
		append(opts, httptransport.ServerBefore(token.HTTPToContext))...))
	mux.Handle("GET /.well-known/jwks.json", httptransport.NewServer(
		set.KeySetEndpoint, decodeHTTPKeySetRequest, encodeHTTPKeySetResponse, opts...))
	return mux
}

// httpStatuses is THE table from business errors to HTTP statuses and error
// codes; the first entry that matches (errors.Is) wins. challenge, if set, is
// the WWW-Authenticate header (RFC 6750 §3). A *RateLimitedError also sets
// Retry-After, in whole seconds rounded up. Other errors pass to
// httpserver.EncodeError as they are: its own *RequestError (bad JSON: 400,
// body too large: 413), else 500.
var httpStatuses = []struct {
	err       error
	status    int
	code      string
	challenge string
}{
	{ErrInvalidArgument, http.StatusBadRequest, "invalid_argument", ""},
	{ErrEmailTaken, http.StatusConflict, "already_exists", ""},
	// No Basic challenge: browsers would answer it with a login dialog.
	{ErrInvalidCredentials, http.StatusUnauthorized, "invalid_credentials", ""},
	{token.ErrMissingToken, http.StatusUnauthorized, "unauthenticated", `Bearer realm="kitshop"`},
	{token.ErrExpired, http.StatusUnauthorized, "token_expired", `Bearer realm="kitshop", error="invalid_token", error_description="expired"`},
	{token.ErrInvalidToken, http.StatusUnauthorized, "invalid_token", `Bearer realm="kitshop", error="invalid_token"`},
	{ErrNotFound, http.StatusNotFound, "not_found", ""},
	{ErrRateLimited, http.StatusTooManyRequests, "rate_limited", ""},
}

// httpError is a business error with its status, code and headers, in the
// shape httpserver.EncodeError reads.
type httpError struct {
	err     error
	status  int
	code    string
	headers http.Header
}

func (e *httpError) Error() string     { return e.err.Error() }
func (e *httpError) Unwrap() error     { return e.err }
func (e *httpError) StatusCode() int   { return e.status }
func (e *httpError) ErrorCode() string { return e.code }

// Headers implements go-kit's httptransport.Headerer.
func (e *httpError) Headers() http.Header { return e.headers }

// encodeHTTPError is the ErrorEncoder of every route.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	for _, m := range httpStatuses {
		if !errors.Is(err, m.err) {
			continue
		}
		h := http.Header{}
		if m.challenge != "" {
			h.Set("WWW-Authenticate", m.challenge)
		}
		var limited *RateLimitedError
		if errors.As(err, &limited) {
			h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(limited.RetryAfter), 10))
		}
		err = &httpError{err: err, status: m.status, code: m.code, headers: h}
		break
	}
	httpserver.EncodeError(ctx, err, w)
}

// httpClientAddr is a go-kit ServerBefore that puts the address of the
// request's connection (r.RemoteAddr) and its X-Forwarded-For in the
// context, for the login rate limit, which believes X-Forwarded-For only
// from Options.TrustedProxies.
func httpClientAddr(ctx context.Context, r *http.Request) context.Context {
	return withClientAddr(ctx, r.RemoteAddr, strings.Join(r.Header.Values("X-Forwarded-For"), ","))
}

// userJSON is a user in the original gateway's shape.
type userJSON struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Age     int32  `json:"age"`
	Profile string `json:"profile"`
	Role    string `json:"role"`
}

func toUserJSON(u User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Age: u.Age, Profile: u.Profile, Role: string(u.Role)}
}

// tokenPairJSON is a login or refresh answer (RFC 6749 §5.1, lowerCamelCase).
type tokenPairJSON struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"` // seconds
	TokenType    string `json:"tokenType"`
}

// registerBody is the body of POST /auth/register.
type registerBody struct {
	Name    string `json:"name"`
	Age     int32  `json:"age"`
	Profile string `json:"profile"`
}

func decodeHTTPRegisterUserRequest(_ context.Context, r *http.Request) (any, error) {
	creds, err := parseBasicAuth(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	var body registerBody
	if err = httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return RegisterUserRequest{
		Credentials: creds,
		Profile:     Profile{Name: body.Name, Age: body.Age, Profile: body.Profile},
	}, nil
}

func decodeHTTPLoginUserRequest(_ context.Context, r *http.Request) (any, error) {
	creds, err := parseBasicAuth(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	return LoginUserRequest{Credentials: creds}, nil
}

// refreshBody is the body of POST /auth/refresh.
type refreshBody struct {
	RefreshToken string `json:"refreshToken"`
}

func decodeHTTPRefreshTokenRequest(_ context.Context, r *http.Request) (any, error) {
	var body refreshBody
	if err := httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return RefreshTokenRequest{RefreshToken: body.RefreshToken}, nil
}

func decodeHTTPGetMeRequest(context.Context, *http.Request) (any, error) {
	return GetMeRequest{}, nil
}

func decodeHTTPKeySetRequest(context.Context, *http.Request) (any, error) {
	return KeySetRequest{}, nil
}

// failed writes the response's business error, if any, and reports whether
// it did.
func failed(ctx context.Context, w http.ResponseWriter, response any) bool {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		encodeHTTPError(ctx, f.Failed(), w)
		return true
	}
	return false
}

func encodeHTTPRegisterUserResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	return writeJSON(w, http.StatusCreated, toUserJSON(response.(RegisterUserResponse).User))
}

func encodeHTTPTokenPairResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	p := response.(TokenPairResponse).Pair
	// Tokens must not be cached (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, tokenPairJSON{
		AccessToken:  p.AccessToken,
		RefreshToken: p.RefreshToken,
		ExpiresIn:    int64(p.ExpiresIn.Seconds()),
		TokenType:    tokenType,
	})
}

func encodeHTTPUserResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, toUserJSON(response.(UserResponse).User))
}

func encodeHTTPKeySetResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", JWKSCacheControl)
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(response.(KeySetResponse).Keys)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
