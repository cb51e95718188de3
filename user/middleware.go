package user

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/callmetrics"
	"github.com/kitshop/kitshop/internal/token"
)

// Middleware decorates a Service.
type Middleware func(Service) Service

// Method names, the "method" label of the metrics and the logs.
const (
	methodRegisterUser     = "RegisterUser"
	methodLoginUser        = "LoginUser"
	methodParseBearerToken = "ParseBearerToken"
	methodRefreshToken     = "RefreshToken"
	methodGetUserInfo      = "GetUserInfo"
	methodKeySet           = "KeySet"
)

var methods = []string{
	methodRegisterUser, methodLoginUser, methodParseBearerToken,
	methodRefreshToken, methodGetUserInfo, methodKeySet,
}

// outcome classes an error into a bounded label value: "ok", a business
// error class, "canceled", "deadline_exceeded" or "error" (infrastructure).
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, ErrEmailTaken):
		return "already_exists"
	case errors.Is(err, ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, token.ErrExpired):
		return "token_expired"
	case errors.Is(err, token.ErrMissingToken), errors.Is(err, token.ErrInvalidToken):
		return "invalid_token"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	default:
		return "error"
	}
}

// LoggingMiddleware logs one line per call: method, outcome, duration, the
// user id when the call yields one, and the error. Infrastructure failures
// are logged at error level; registrations, logins and refreshes at info;
// reads (token checks, GetUserInfo, the key set) at debug, as the order
// service makes them on every order. It never logs a password, a token or
// an e-mail address.
func LoggingMiddleware(logger *slog.Logger) Middleware {
	return func(next Service) Service {
		return loggingMiddleware{next: next, logger: logger}
	}
}

type loggingMiddleware struct {
	next   Service
	logger *slog.Logger
}

func (m loggingMiddleware) log(ctx context.Context, method string, level slog.Level, begin time.Time, err error, attrs ...slog.Attr) {
	o := outcome(err)
	if o == "error" {
		level = slog.LevelError
	}
	if !m.logger.Enabled(ctx, level) {
		return
	}
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("outcome", o),
		slog.Duration("duration", time.Since(begin)))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	m.logger.LogAttrs(ctx, level, "user service call", attrs...)
}

func (m loggingMiddleware) RegisterUser(ctx context.Context, creds Credentials, p Profile) (u User, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodRegisterUser, slog.LevelInfo, begin, err, userIDAttr(u.ID)...)
	}(time.Now())
	return m.next.RegisterUser(ctx, creds, p)
}

func (m loggingMiddleware) LoginUser(ctx context.Context, creds Credentials) (p token.Pair, err error) {
	defer func(begin time.Time) { m.log(ctx, methodLoginUser, slog.LevelInfo, begin, err) }(time.Now())
	return m.next.LoginUser(ctx, creds)
}

func (m loggingMiddleware) ParseBearerToken(ctx context.Context, accessToken string) (c token.Claims, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodParseBearerToken, slog.LevelDebug, begin, err, userIDAttr(c.Subject)...)
	}(time.Now())
	return m.next.ParseBearerToken(ctx, accessToken)
}

func (m loggingMiddleware) RefreshToken(ctx context.Context, refreshToken string) (p token.Pair, err error) {
	defer func(begin time.Time) { m.log(ctx, methodRefreshToken, slog.LevelInfo, begin, err) }(time.Now())
	return m.next.RefreshToken(ctx, refreshToken)
}

func (m loggingMiddleware) GetUserInfo(ctx context.Context, userID string) (u User, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodGetUserInfo, slog.LevelDebug, begin, err, userIDAttr(u.ID)...)
	}(time.Now())
	return m.next.GetUserInfo(ctx, userID)
}

func (m loggingMiddleware) KeySet(ctx context.Context) (k token.JWKS, err error) {
	defer func(begin time.Time) { m.log(ctx, methodKeySet, slog.LevelDebug, begin, err) }(time.Now())
	return m.next.KeySet(ctx)
}

// userIDAttr is the user_id attribute, or none for an empty id.
func userIDAttr(id string) []slog.Attr {
	if id == "" {
		return nil
	}
	return []slog.Attr{slog.String("user_id", id)}
}

// InstrumentingMiddleware records every call in
// kitshop_user_requests_total{method,outcome} and
// kitshop_user_request_duration_seconds{method,outcome} on reg (nil: not
// registered). The "ok" series of every method exist from the start. If reg
// already holds identical collectors they are reused; any other registration
// failure panics, as prometheus.MustRegister does.
func InstrumentingMiddleware(reg prometheus.Registerer) Middleware {
	calls := callmetrics.New(reg, "user", methods)
	return func(next Service) Service {
		return instrumentingMiddleware{next: next, calls: calls}
	}
}

type instrumentingMiddleware struct {
	next  Service
	calls *callmetrics.Calls
}

func (m instrumentingMiddleware) observe(method string, begin time.Time, err error) {
	o := outcome(err)
	m.calls.Observe(method, o, begin)
}

func (m instrumentingMiddleware) RegisterUser(ctx context.Context, creds Credentials, p Profile) (_ User, err error) {
	defer func(begin time.Time) { m.observe(methodRegisterUser, begin, err) }(time.Now())
	return m.next.RegisterUser(ctx, creds, p)
}

func (m instrumentingMiddleware) LoginUser(ctx context.Context, creds Credentials) (_ token.Pair, err error) {
	defer func(begin time.Time) { m.observe(methodLoginUser, begin, err) }(time.Now())
	return m.next.LoginUser(ctx, creds)
}

func (m instrumentingMiddleware) ParseBearerToken(ctx context.Context, accessToken string) (_ token.Claims, err error) {
	defer func(begin time.Time) { m.observe(methodParseBearerToken, begin, err) }(time.Now())
	return m.next.ParseBearerToken(ctx, accessToken)
}

func (m instrumentingMiddleware) RefreshToken(ctx context.Context, refreshToken string) (_ token.Pair, err error) {
	defer func(begin time.Time) { m.observe(methodRefreshToken, begin, err) }(time.Now())
	return m.next.RefreshToken(ctx, refreshToken)
}

func (m instrumentingMiddleware) GetUserInfo(ctx context.Context, userID string) (_ User, err error) {
	defer func(begin time.Time) { m.observe(methodGetUserInfo, begin, err) }(time.Now())
	return m.next.GetUserInfo(ctx, userID)
}

func (m instrumentingMiddleware) KeySet(ctx context.Context) (_ token.JWKS, err error) {
	defer func(begin time.Time) { m.observe(methodKeySet, begin, err) }(time.Now())
	return m.next.KeySet(ctx)
}
