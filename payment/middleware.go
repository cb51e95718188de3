package payment

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

// LoggingMiddleware logs one line per call on logger: the method, the order, the outcome, the duration and,
// for payments, the amount, method, status and masked card number. Card data other than the masked number
// never reaches it (the Card type logs masked), nor do birthOrRegistration and passwordTwoDigits. Successes
// and client errors are logged at info, deadlines and cancellations at warn, other failures at error.
func LoggingMiddleware(logger *slog.Logger) Middleware {
	return func(next Service) Service { return loggingMiddleware{next: next, logger: logger} }
}

type loggingMiddleware struct {
	next   Service
	logger *slog.Logger
}

func (m loggingMiddleware) MakePayment(ctx context.Context, req PaymentRequest) (p Payment, err error) {
	defer func(start time.Time) {
		attrs := []slog.Attr{
			slog.String("order_id", req.OrderID),
			slog.Int64("amount", req.Amount),
			slog.String("payment_method", string(req.Method)),
		}
		if req.Method == MethodCreditCard {
			attrs = append(attrs, slog.Any("card", req.Card))
		}
		m.log(ctx, "MakePayment", start, p, err, attrs...)
	}(time.Now())
	return m.next.MakePayment(ctx, req)
}

func (m loggingMiddleware) RefundPayment(ctx context.Context, orderID string) (p Payment, err error) {
	defer func(start time.Time) {
		m.log(ctx, "RefundPayment", start, p, err, slog.String("order_id", orderID))
	}(time.Now())
	return m.next.RefundPayment(ctx, orderID)
}

func (m loggingMiddleware) GetPayment(ctx context.Context, orderID string) (p Payment, err error) {
	defer func(start time.Time) {
		m.log(ctx, "GetPayment", start, p, err, slog.String("order_id", orderID))
	}(time.Now())
	return m.next.GetPayment(ctx, orderID)
}

func (m loggingMiddleware) log(ctx context.Context, method string, start time.Time, p Payment, err error, attrs ...slog.Attr) {
	level := slog.LevelInfo
	attrs = append(attrs, slog.String("method", method), slog.String("outcome", outcome(p, err)), slog.Duration("took", time.Since(start)))
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			level = slog.LevelWarn
		case !isBusinessError(err):
			level = slog.LevelError
		}
	} else {
		attrs = append(attrs, slog.String("status", string(p.Status)))
		if p.Reason != "" {
			attrs = append(attrs, slog.String("reason", p.Reason))
		}
	}
	m.logger.LogAttrs(ctx, level, "payment call", attrs...)
}

// InstrumentingMiddleware records every call in kitshop_payment_requests_total{method,outcome} and
// kitshop_payment_request_duration_seconds{method,outcome} on reg (nil: unregistered). outcome is "ok", "declined" (a payment
// answered Rejected), or an error class: invalid_argument, not_found, already_exists, failed_precondition,
// unavailable, deadline_exceeded, canceled, error. If the metrics are registered on reg already, the
// registered ones are used; any other registration failure panics, as prometheus.MustRegister does.
func InstrumentingMiddleware(reg prometheus.Registerer) Middleware {
	calls := callmetrics.New(reg, "payment", []string{"MakePayment", "RefundPayment", "GetPayment"})
	return func(next Service) Service {
		return instrumentingMiddleware{next: next, calls: calls}
	}
}

type instrumentingMiddleware struct {
	next  Service
	calls *callmetrics.Calls
}

func (m instrumentingMiddleware) MakePayment(ctx context.Context, req PaymentRequest) (p Payment, err error) {
	defer m.observe("MakePayment", time.Now(), &p, &err)
	return m.next.MakePayment(ctx, req)
}

func (m instrumentingMiddleware) RefundPayment(ctx context.Context, orderID string) (p Payment, err error) {
	defer m.observe("RefundPayment", time.Now(), &p, &err)
	return m.next.RefundPayment(ctx, orderID)
}

func (m instrumentingMiddleware) GetPayment(ctx context.Context, orderID string) (p Payment, err error) {
	defer m.observe("GetPayment", time.Now(), &p, &err)
	return m.next.GetPayment(ctx, orderID)
}

func (m instrumentingMiddleware) observe(method string, start time.Time, p *Payment, err *error) {
	o := outcome(*p, *err)
	m.calls.Observe(method, o, start)
}

// outcome classifies a call's result into a bounded label value.
func outcome(p Payment, err error) string {
	var verr *ValidationError
	switch {
	case err == nil && p.Status == StatusRejected:
		return "declined"
	case err == nil:
		return "ok"
	case errors.As(err, &verr):
		return "invalid_argument"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrConflict):
		return "already_exists"
	case errors.Is(err, ErrNotRefundable):
		return "failed_precondition"
	case errors.Is(err, ErrProcessorUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}
