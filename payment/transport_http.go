package payment

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// NewHTTPHandler returns the payment service's public HTTP routes:
//
//	GET /payment/{orderId}   the order's payment (admins only: Authorization: Bearer <access token>)
//
// Payments are made by the order service over gRPC only; there is no route to make or refund one. Failed
// calls are logged at debug level on logger (nil discards).
func NewHTTPHandler(set Set, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []httptransport.ServerOption{
		httptransport.ServerBefore(token.HTTPToContext),
		httptransport.ServerErrorEncoder(encodeHTTPError),
		httptransport.ServerErrorHandler(httpErrorHandler{logger: logger}),
	}
	mux := http.NewServeMux()
	mux.Handle("GET /payment/{orderId}", httptransport.NewServer(
		set.AdminGetPaymentEndpoint, decodeHTTPGetPaymentRequest, encodeHTTPGetPaymentResponse, opts...))
	return mux
}

// httpErrorHandler logs each failed call's error with its cause at debug level (see grpcErrorHandler).
type httpErrorHandler struct{ logger *slog.Logger }

// Handle implements go-kit's transport.ErrorHandler.
func (h httpErrorHandler) Handle(ctx context.Context, err error) {
	h.logger.DebugContext(ctx, "payment http call failed", "err", err)
}

// paymentJSON is a payment in JSON.
type paymentJSON struct {
	ID               string    `json:"id"`
	OrderID          string    `json:"orderId"`
	PaymentStatus    Status    `json:"paymentStatus"`
	PaymentMethod    Method    `json:"paymentMethod"`
	PaymentName      string    `json:"paymentName"`
	Amount           int64     `json:"amount"`
	MaskedCardNumber string    `json:"maskedCardNumber"`
	UserEmail        string    `json:"userEmail"`
	Reason           string    `json:"reason"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

func decodeHTTPGetPaymentRequest(_ context.Context, r *http.Request) (any, error) {
	return GetPaymentRequest{OrderID: r.PathValue("orderId")}, nil
}

func encodeHTTPGetPaymentResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		encodeHTTPError(ctx, f.Failed(), w)
		return nil
	}
	p := response.(GetPaymentResponse).Payment
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	return json.NewEncoder(w).Encode(paymentJSON{
		ID:               p.ID,
		OrderID:          p.OrderID,
		PaymentStatus:    p.Status,
		PaymentMethod:    p.Method,
		PaymentName:      p.Name,
		Amount:           p.Amount,
		MaskedCardNumber: p.MaskedCardNumber,
		UserEmail:        p.UserEmail,
		Reason:           p.Reason,
		CreatedAt:        p.CreatedAt,
		UpdatedAt:        p.UpdatedAt,
	})
}

// encodeHTTPError writes err through httpserver.EncodeError after mapping it with httpError.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	httpserver.EncodeError(ctx, httpError(err), w)
}

// httpError is the table of HTTP statuses: it wraps the errors a client should see with their status.
// Anything else (a store failure) is left to httpserver.EncodeError: 504 for a deadline, 499 when the client
// went away, 500 with a generic message otherwise.
func httpError(err error) error {
	var verr *ValidationError
	status := 0
	switch {
	case errors.Is(err, token.ErrMissingToken):
		return &unauthorizedError{httpserver.RequestError{Status: http.StatusUnauthorized, Msg: "a bearer access token is required", Err: err}}
	case errors.Is(err, token.ErrExpired):
		return &unauthorizedError{httpserver.RequestError{Status: http.StatusUnauthorized, Code: "token_expired", Msg: "the access token has expired", Err: err}}
	case errors.Is(err, token.ErrInvalidToken):
		return &unauthorizedError{httpserver.RequestError{Status: http.StatusUnauthorized, Msg: "the access token is not valid", Err: err}}
	case errors.Is(err, token.ErrForbidden):
		return &httpserver.RequestError{Status: http.StatusForbidden, Msg: "only admins may read payments", Err: err}
	case errors.As(err, &verr):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrNotRefundable):
		status = http.StatusPreconditionFailed
	case errors.Is(err, ErrProcessorUnavailable):
		return &httpserver.RequestError{Status: http.StatusServiceUnavailable, Msg: ErrProcessorUnavailable.Error(), Err: err}
	default:
		return err
	}
	return &httpserver.RequestError{Status: status, Msg: err.Error(), Err: err}
}

// unauthorizedError is a 401 that tells the client how to authenticate (RFC 6750 §3).
type unauthorizedError struct{ httpserver.RequestError }

// Headers implements go-kit's httptransport.Headerer.
func (e *unauthorizedError) Headers() http.Header {
	return http.Header{"WWW-Authenticate": []string{`Bearer realm="kitshop"`}}
}
