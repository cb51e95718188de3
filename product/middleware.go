package product

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

// Method names, the "method" label of the metrics and the logs.
const (
	methodCreateSamples   = "CreateSamples"
	methodGetProductsInfo = "GetProductsInfo"
	methodListProducts    = "ListProducts"
	methodGetProduct      = "GetProduct"
	methodCreateProduct   = "CreateProduct"
	methodAdjustStock     = "AdjustStock"
	methodReserveStock    = "ReserveStock"
	methodReleaseStock    = "ReleaseStock"
)

var methods = []string{
	methodCreateSamples, methodGetProductsInfo, methodListProducts, methodGetProduct,
	methodCreateProduct, methodAdjustStock, methodReserveStock, methodReleaseStock,
}

// outcome classes an error into a bounded label value: "ok", a business
// error class, "canceled", "deadline_exceeded" or "error" (infrastructure).
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInsufficientStock):
		return "insufficient_stock"
	case errors.Is(err, ErrOrderMismatch):
		return "already_exists"
	case errors.Is(err, ErrReservationReleased):
		return "released"
	case errors.Is(err, ErrReservationBusy):
		return "busy"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	default:
		return "error"
	}
}

// LoggingMiddleware logs one line per call: method, outcome, duration, the
// ids involved and the error. Infrastructure failures are logged at error
// level; catalogue changes (samples, creation, stock adjustments) at info;
// reads and reservations, which every order makes, at debug.
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
	m.logger.LogAttrs(ctx, level, "product service call", attrs...)
}

func (m loggingMiddleware) CreateSamples(ctx context.Context) (n int, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodCreateSamples, slog.LevelInfo, begin, err, slog.Int("created", n))
	}(time.Now())
	return m.next.CreateSamples(ctx)
}

func (m loggingMiddleware) GetProductsInfo(ctx context.Context, ids []string) (ps []Product, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodGetProductsInfo, slog.LevelDebug, begin, err, slog.Int("ids", len(ids)))
	}(time.Now())
	return m.next.GetProductsInfo(ctx, ids)
}

func (m loggingMiddleware) ListProducts(ctx context.Context, pageSize int, pageToken string) (p Page, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodListProducts, slog.LevelDebug, begin, err, slog.Int("products", len(p.Products)))
	}(time.Now())
	return m.next.ListProducts(ctx, pageSize, pageToken)
}

func (m loggingMiddleware) GetProduct(ctx context.Context, id string) (p Product, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodGetProduct, slog.LevelDebug, begin, err, slog.String("product", id))
	}(time.Now())
	return m.next.GetProduct(ctx, id)
}

func (m loggingMiddleware) CreateProduct(ctx context.Context, np NewProduct) (p Product, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodCreateProduct, slog.LevelInfo, begin, err, slog.String("product", p.ID))
	}(time.Now())
	return m.next.CreateProduct(ctx, np)
}

func (m loggingMiddleware) AdjustStock(ctx context.Context, id string, delta int64) (p Product, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodAdjustStock, slog.LevelInfo, begin, err,
			slog.String("product", id), slog.Int64("delta", delta), slog.Int64("stock", p.Stock))
	}(time.Now())
	return m.next.AdjustStock(ctx, id, delta)
}

func (m loggingMiddleware) ReserveStock(ctx context.Context, orderID string, items []Item) (r ReserveResult, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodReserveStock, slog.LevelDebug, begin, err,
			slog.String("order", orderID), slog.Int("items", len(items)), slog.Bool("replayed", r.Replayed))
	}(time.Now())
	return m.next.ReserveStock(ctx, orderID, items)
}

func (m loggingMiddleware) ReleaseStock(ctx context.Context, orderID string) (released bool, err error) {
	defer func(begin time.Time) {
		m.log(ctx, methodReleaseStock, slog.LevelDebug, begin, err,
			slog.String("order", orderID), slog.Bool("released", released))
	}(time.Now())
	return m.next.ReleaseStock(ctx, orderID)
}

// InstrumentingMiddleware records kitshop_product_requests_total{method,outcome}
// and kitshop_product_request_duration_seconds{method,outcome} on reg. It
// panics if the metrics cannot be registered for a reason other than being
// registered already (then the existing ones are used), as
// prometheus.MustRegister does.
func InstrumentingMiddleware(reg prometheus.Registerer) Middleware {
	calls := callmetrics.New(reg, "product", methods)
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

func (m instrumentingMiddleware) CreateSamples(ctx context.Context) (n int, err error) {
	defer func(begin time.Time) { m.observe(methodCreateSamples, begin, err) }(time.Now())
	return m.next.CreateSamples(ctx)
}

func (m instrumentingMiddleware) GetProductsInfo(ctx context.Context, ids []string) (ps []Product, err error) {
	defer func(begin time.Time) { m.observe(methodGetProductsInfo, begin, err) }(time.Now())
	return m.next.GetProductsInfo(ctx, ids)
}

func (m instrumentingMiddleware) ListProducts(ctx context.Context, pageSize int, pageToken string) (p Page, err error) {
	defer func(begin time.Time) { m.observe(methodListProducts, begin, err) }(time.Now())
	return m.next.ListProducts(ctx, pageSize, pageToken)
}

func (m instrumentingMiddleware) GetProduct(ctx context.Context, id string) (p Product, err error) {
	defer func(begin time.Time) { m.observe(methodGetProduct, begin, err) }(time.Now())
	return m.next.GetProduct(ctx, id)
}

func (m instrumentingMiddleware) CreateProduct(ctx context.Context, np NewProduct) (p Product, err error) {
	defer func(begin time.Time) { m.observe(methodCreateProduct, begin, err) }(time.Now())
	return m.next.CreateProduct(ctx, np)
}

func (m instrumentingMiddleware) AdjustStock(ctx context.Context, id string, delta int64) (p Product, err error) {
	defer func(begin time.Time) { m.observe(methodAdjustStock, begin, err) }(time.Now())
	return m.next.AdjustStock(ctx, id, delta)
}

func (m instrumentingMiddleware) ReserveStock(ctx context.Context, orderID string, items []Item) (r ReserveResult, err error) {
	defer func(begin time.Time) { m.observe(methodReserveStock, begin, err) }(time.Now())
	return m.next.ReserveStock(ctx, orderID, items)
}

func (m instrumentingMiddleware) ReleaseStock(ctx context.Context, orderID string) (released bool, err error) {
	defer func(begin time.Time) { m.observe(methodReleaseStock, begin, err) }(time.Now())
	return m.next.ReleaseStock(ctx, orderID)
}
