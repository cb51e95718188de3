package user

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kitshop/kitshop/internal/errtable"
	"github.com/kitshop/kitshop/internal/token"
)

// Business errors. errorTable says what each means to the transports and
// the metrics; their messages, and those of errors wrapping them, are safe
// to show a client. Token verification failures are the internal/token
// sentinels (token.ErrMissingToken, token.ErrInvalidToken, token.ErrExpired).
var (
	// ErrInvalidArgument is wrapped by every validation failure, with a message
	// naming the problem.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrEmailTaken means another account has the e-mail address.
	ErrEmailTaken = errors.New("e-mail address is already registered")
	// ErrInvalidCredentials is the one answer to a failed login, whether the
	// e-mail is unknown or the password wrong.
	ErrInvalidCredentials = errors.New("invalid e-mail or password")
	// ErrNotFound means no user has the id.
	ErrNotFound = errors.New("user not found")
	// ErrRateLimited is matched by every *RateLimitedError: a login refused
	// by a login rate limit before its password was checked.
	ErrRateLimited = errors.New("too many login attempts")
	// ErrSessionEnded refuses a valid token whose session has ended (logged
	// out) or never existed (a token without a session id, issued before
	// sessions were kept): only a new login helps.
	ErrSessionEnded = errors.New("session has ended, log in again")
	// ErrCartFull refuses to add a product to a cart that has
	// MaxCartItems products already.
	ErrCartFull = fmt.Errorf("cart is full: it holds %d products, remove one first", MaxCartItems)
)

// errorTable is the user service's error table (internal/errtable), read by
// the endpoints (Table.Split), the observing middleware (outcomes) and both
// transports. An error it does not list is an infrastructure failure
// (Internal / 500, outcome "error").
var errorTable = errtable.New(
	errtable.Entry{Err: ErrInvalidArgument, GRPC: codes.InvalidArgument, HTTP: http.StatusBadRequest,
		Code: "invalid_argument", Business: true},
	errtable.Entry{Err: ErrEmailTaken, GRPC: codes.AlreadyExists, HTTP: http.StatusConflict,
		Code: "already_exists", Business: true},
	// No Basic challenge: browsers would answer it with a login dialog.
	errtable.Entry{Err: ErrInvalidCredentials, GRPC: codes.Unauthenticated, HTTP: http.StatusUnauthorized,
		Code: "invalid_credentials", Business: true},
	errtable.Entry{Err: ErrNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "not_found", Business: true},
	// Retry-After and RetryInfo carry the wait in whole seconds, rounded up.
	errtable.Entry{Err: ErrRateLimited, GRPC: codes.ResourceExhausted, HTTP: http.StatusTooManyRequests,
		Code: "rate_limited", Business: true, Headers: retryAfterHeader, Details: retryInfo},
	errtable.Entry{Err: ErrCartFull, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict,
		Code: "cart_full", Business: true},
	errtable.Entry{Err: ErrSessionEnded, GRPC: codes.Unauthenticated, HTTP: http.StatusUnauthorized,
		Code: "session_ended", Business: true, Headers: sessionEndedChallenge},
	// An expired token keeps the outcome of its own that the user service's
	// metrics have always had; the rest of the entry is the shared one.
	sharedEntry(token.ErrExpired, "token_expired"),
)

// sharedEntry returns errtable.Shared's entry of err with the outcome label
// outcome.
func sharedEntry(err error, outcome string) errtable.Entry {
	for _, e := range errtable.Shared {
		if e.Err == err {
			e.Outcome = outcome
			return e
		}
	}
	panic(fmt.Sprintf("user: %v has no shared error entry", err))
}

// sessionEndedChallenge sets the WWW-Authenticate of ErrSessionEnded
// (RFC 6750 section 3): the token is no longer good.
func sessionEndedChallenge(_ error, h http.Header) {
	h.Set("WWW-Authenticate", `Bearer realm="kitshop", error="invalid_token", error_description="session ended"`)
}

// Names of the login rate limits, RateLimitedError.Limit.
const (
	LimitEmail   = "e-mail"
	LimitAddress = "address"
)

// RateLimitedError refuses a login that a login rate limit
// (LoginRateLimitMiddleware) does not allow yet. Its message names the limit,
// never the e-mail or the address.
type RateLimitedError struct {
	// Limit is LimitEmail (too many failed logins for the e-mail address
	// from the client's address) or LimitAddress (too many logins from the
	// client's address).
	Limit string
	// RetryAfter is how long until the limit allows another attempt.
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitedError) Error() string {
	what := "too many login attempts from this address"
	if e.Limit == LimitEmail {
		what = "too many failed logins for this e-mail address from this address"
	}
	return fmt.Sprintf("%s: retry in %d s", what, retryAfterSeconds(e.RetryAfter))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// retryAfterSeconds rounds a wait up to whole seconds, at least one: the
// value of a Retry-After header.
func retryAfterSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// retryAfterHeader sets the Retry-After of a *RateLimitedError.
func retryAfterHeader(err error, h http.Header) {
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(limited.RetryAfter), 10))
	}
}

// retryInfo is the gRPC counterpart of Retry-After for a *RateLimitedError.
func retryInfo(err error) []protoadapt.MessageV1 {
	var limited *RateLimitedError
	if !errors.As(err, &limited) {
		return nil
	}
	delay := time.Duration(retryAfterSeconds(limited.RetryAfter)) * time.Second
	return []protoadapt.MessageV1{&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}}
}

// invalid returns an error wrapping ErrInvalidArgument with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}
