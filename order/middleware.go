package order

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
	methodCreateOrder     = "CreateOrder"
	methodDeliveryStarted = "DeliveryStarted"
	methodGetOrder        = "GetOrder"
	methodListOrders      = "ListOrders"
)

var methods = []string{methodCreateOrder, methodDeliveryStarted, methodGetOrder, methodListOrders}

// outcome classes an error into a bounded label value: "ok", a business
// error class, "canceled", "deadline_exceeded" or "error" (infrastructure).
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, token.ErrMissingToken), errors.Is(err, token.ErrInvalidToken):
		return "invalid_token"
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUserNotFound), errors.Is(err, ErrProductNotFound):
		return "not_found"
	case errors.Is(err, ErrOutOfStock):
		return "out_of_stock"
	case errors.Is(err, ErrPaymentDeclined):
		return "payment_declined"
	case errors.Is(err, ErrIllegalTransition):
		return "failed_precondition"
	case errors.Is(err, ErrIdempotencyKeyReused):
		return "already_exists"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	default:
		return "error"
	}
}

// LoggingMiddleware logs one line per call: method, outcome, duration, the
// order and user ids, and the error. Infrastructure failures and unavailable
// dependencies are logged at error and warn level, order creation and
// DeliveryStarted at info, reads at debug. It never logs card data (an error
// message never holds any) nor e-mail addresses.
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
	switch o {
	case "error":
		level = slog.LevelError
	case "unavailable":
		level = max(level, slog.LevelWarn)
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
	m.logger.LogAttrs(ctx, level, "order service call", attrs...)
}

func (m loggingMiddleware) CreateOrder(ctx context.Context, userID string, req NewOrder) (o Order, replayed bool, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodCreateOrder, slog.LevelInfo, begin, err,
			slog.String("user_id", userID), slog.String("order_id", o.ID), slog.String("status", string(o.Status)),
			slog.Bool("replayed", replayed))
	}(time.Now())
	return m.next.CreateOrder(ctx, userID, req)
}

func (m loggingMiddleware) DeliveryStarted(ctx context.Context, orderID string) (o Order, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodDeliveryStarted, slog.LevelInfo, begin, err, slog.String("order_id", orderID))
	}(time.Now())
	return m.next.DeliveryStarted(ctx, orderID)
}

func (m loggingMiddleware) GetOrder(ctx context.Context, userID, orderID string) (o Order, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodGetOrder, slog.LevelDebug, begin, err, slog.String("user_id", userID), slog.String("order_id", orderID))
	}(time.Now())
	return m.next.GetOrder(ctx, userID, orderID)
}

func (m loggingMiddleware) ListOrders(ctx context.Context, userID string, pageSize int, pageToken string) (p Page, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodListOrders, slog.LevelDebug, begin, err, slog.String("user_id", userID), slog.Int("orders", len(p.Orders)))
	}(time.Now())
	return m.next.ListOrders(ctx, userID, pageSize, pageToken)
}

// InstrumentingMiddleware records every call in
// kitshop_order_requests_total{method,outcome} and
// kitshop_order_request_duration_seconds{method,outcome} on reg (nil: not
// registered). The "ok" series of every method exist from the start. If reg
// already holds identical collectors they are reused; any other registration
// failure panics, as prometheus.MustRegister does.
func InstrumentingMiddleware(reg prometheus.Registerer) Middleware {
	calls := callmetrics.New(reg, "order", methods)
	return func(next Service) Service {
		return instrumentingMiddleware{next: next, calls: calls}
	}
}

// NewStatusCounter returns the Options.RecordStatus that counts orders
// reaching each status in kitshop_orders_total{status} on reg (nil: not
// registered), every status's series existing from the start.
func NewStatusCounter(reg prometheus.Registerer) func(Status) {
	orders := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_orders_total",
		Help: "Orders that reached a status (Pending when stored, then the statuses they moved to).",
	}, []string{"status"})
	if reg != nil {
		orders = callmetrics.Register(reg, orders)
	}
	for _, s := range Statuses() {
		orders.WithLabelValues(string(s))
	}
	return func(s Status) { orders.WithLabelValues(string(s)).Inc() }
}

type instrumentingMiddleware struct {
	next  Service
	calls *callmetrics.Calls
}

func (m instrumentingMiddleware) observe(method string, begin time.Time, err error) {
	o := outcome(err)
	m.calls.Observe(method, o, begin)
}

func (m instrumentingMiddleware) CreateOrder(ctx context.Context, userID string, req NewOrder) (_ Order, _ bool, err error) {
	defer func(begin time.Time) { m.observe(methodCreateOrder, begin, err) }(time.Now())
	return m.next.CreateOrder(ctx, userID, req)
}

func (m instrumentingMiddleware) DeliveryStarted(ctx context.Context, orderID string) (_ Order, err error) {
	defer func(begin time.Time) { m.observe(methodDeliveryStarted, begin, err) }(time.Now())
	return m.next.DeliveryStarted(ctx, orderID)
}

func (m instrumentingMiddleware) GetOrder(ctx context.Context, userID, orderID string) (_ Order, err error) {
	defer func(begin time.Time) { m.observe(methodGetOrder, begin, err) }(time.Now())
	return m.next.GetOrder(ctx, userID, orderID)
}

func (m instrumentingMiddleware) ListOrders(ctx context.Context, userID string, pageSize int, pageToken string) (_ Page, err error) {
	defer func(begin time.Time) { m.observe(methodListOrders, begin, err) }(time.Now())
	return m.next.ListOrders(ctx, userID, pageSize, pageToken)
}
