package notification

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/callmetrics"
)

// Middleware decorates a Service.
type Middleware func(Service) Service

// LoggingMiddleware logs one line per call: method, order id, outcome and
// duration. Successful sends are logged at Info, reads at Debug, client
// errors at Debug, retryable failures at Warn and other failures at Error.
// Recipient addresses and message contents are not logged.
func LoggingMiddleware(logger *slog.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, logger: logger}
	}
}

type loggingService struct {
	next   Service
	logger *slog.Logger
}

func (s *loggingService) log(ctx context.Context, method, orderID string, okLevel slog.Level, start time.Time, err error) {
	outcome := outcomeOf(err)
	level := okLevel
	switch outcome {
	case "ok":
	case "unavailable", "canceled":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("order_id", orderID),
		slog.String("outcome", outcome),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.logger.LogAttrs(ctx, level, "notification call", attrs...)
}

func (s *loggingService) SendPaymentNotification(ctx context.Context, to, orderID, userID string) (n Notification, err error) {
	defer func(start time.Time) { s.log(ctx, "SendPaymentNotification", orderID, slog.LevelInfo, start, err) }(time.Now())
	return s.next.SendPaymentNotification(ctx, to, orderID, userID)
}

func (s *loggingService) GetNotification(ctx context.Context, orderID string) (n Notification, err error) {
	defer func(start time.Time) { s.log(ctx, "GetNotification", orderID, slog.LevelDebug, start, err) }(time.Now())
	return s.next.GetNotification(ctx, orderID)
}

func (s *loggingService) GetUserNotification(ctx context.Context, userID, orderID string) (n Notification, err error) {
	defer func(start time.Time) { s.log(ctx, "GetUserNotification", orderID, slog.LevelDebug, start, err) }(time.Now())
	return s.next.GetUserNotification(ctx, userID, orderID)
}

// methods are the Service methods, the "method" label values.
var methods = []string{"SendPaymentNotification", "GetNotification", "GetUserNotification"}

// InstrumentingMiddleware records kitshop_notification_requests_total and
// kitshop_notification_request_duration_seconds (a histogram), both labelled
// by method and outcome: ok, invalid_argument, not_found, conflict,
// unavailable (not sent now, retry), canceled or error. reg nil leaves them
// unregistered; collectors registered on reg before are reused, and any other
// registration failure panics, as prometheus.MustRegister does.
func InstrumentingMiddleware(reg prometheus.Registerer) Middleware {
	calls := callmetrics.New(reg, "notification", methods)
	return func(next Service) Service {
		return &instrumentingService{next: next, calls: calls}
	}
}

type instrumentingService struct {
	next  Service
	calls *callmetrics.Calls
}

func (s *instrumentingService) observe(method string, start time.Time, err error) {
	outcome := outcomeOf(err)
	s.calls.Observe(method, outcome, start)
}

func (s *instrumentingService) SendPaymentNotification(ctx context.Context, to, orderID, userID string) (n Notification, err error) {
	defer func(start time.Time) { s.observe("SendPaymentNotification", start, err) }(time.Now())
	return s.next.SendPaymentNotification(ctx, to, orderID, userID)
}

func (s *instrumentingService) GetNotification(ctx context.Context, orderID string) (n Notification, err error) {
	defer func(start time.Time) { s.observe("GetNotification", start, err) }(time.Now())
	return s.next.GetNotification(ctx, orderID)
}

func (s *instrumentingService) GetUserNotification(ctx context.Context, userID, orderID string) (n Notification, err error) {
	defer func(start time.Time) { s.observe("GetUserNotification", start, err) }(time.Now())
	return s.next.GetUserNotification(ctx, userID, orderID)
}

// outcomeOf is the bounded outcome label of a call's error.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrSendFailed), errors.Is(err, ErrInProgress):
		return "unavailable"
	case isContextError(err):
		return "canceled"
	default:
		return "error"
	}
}
