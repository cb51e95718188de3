package payment

import (
	"context"
	"encoding/json"
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
// Payments are made by the order service over gRPC only; there is no route to make or refund one. Errors
// are {"error":{"code","message"}} (httpserver.EncodeError) with the status and code errorTable gives. The
// calls are logged by set's endpoints (NewSet).
func NewHTTPHandler(set Set) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /payment/{orderId}", httptransport.NewServer(
		set.AdminGetPaymentEndpoint, decodeHTTPGetPaymentRequest, encodeHTTPGetPaymentResponse,
		httptransport.ServerBefore(token.HTTPToContext),
		httptransport.ServerErrorEncoder(encodeHTTPError)))
	return mux
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

// encodeHTTPError is the ErrorEncoder of every route: err as errorTable answers it.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	httpserver.EncodeError(ctx, errorTable.HTTPError(err), w)
}
