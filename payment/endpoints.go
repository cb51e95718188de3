package payment

import (
	"context"
	"log/slog"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/observe"
	"github.com/kitshop/kitshop/internal/token"
)

// Set holds the endpoints of the payment service. The gRPC methods are for the order service and carry no
// user token; the HTTP route is for admins and uses AdminGetPaymentEndpoint.
type Set struct {
	MakePaymentEndpoint   endpoint.Endpoint
	RefundPaymentEndpoint endpoint.Endpoint
	GetPaymentEndpoint    endpoint.Endpoint
	// AdminGetPaymentEndpoint is GetPaymentEndpoint behind token.Authenticate and
	// token.RequireRole(token.RoleAdmin).
	AdminGetPaymentEndpoint endpoint.Endpoint
}

// Method names, the "method" label of the metrics and the logs.
const (
	methodMakePayment   = "MakePayment"
	methodRefundPayment = "RefundPayment"
	methodGetPayment    = "GetPayment"
)

// NewSet returns the endpoints of svc, each observed (internal/observe): one log line per call on logger
// (nil: discarded) and the call metrics kitshop_payment_requests_total and
// kitshop_payment_request_duration_seconds {method,outcome} on reg (nil: not registered; collectors reg
// holds already are reused). The outcome is the one errorTable gives the call's error, or "declined" for a
// payment answered Rejected. Payments and refunds are logged at Info, reads at Debug; a log line carries
// the order id, the amount, the method, the status and the masked card number, never other card data.
// AdminGetPaymentEndpoint checks its bearer token with verifier inside the observation, so that refused
// calls are counted as GetPayment calls.
func NewSet(svc Service, verifier *token.Verifier, logger *slog.Logger, reg prometheus.Registerer) Set {
	obs := observe.New("payment", errorTable, logger, reg)
	get := MakeGetPaymentEndpoint(svc)
	return Set{
		MakePaymentEndpoint:   obs.Endpoint(methodMakePayment, slog.LevelInfo, MakeMakePaymentEndpoint(svc)),
		RefundPaymentEndpoint: obs.Endpoint(methodRefundPayment, slog.LevelInfo, MakeRefundPaymentEndpoint(svc)),
		GetPaymentEndpoint:    obs.Endpoint(methodGetPayment, slog.LevelDebug, get),
		AdminGetPaymentEndpoint: obs.Endpoint(methodGetPayment, slog.LevelDebug,
			token.Authenticate(verifier)(token.RequireRole(token.RoleAdmin)(get))),
	}
}

// MakePaymentRequest is the request of MakePaymentEndpoint.
type MakePaymentRequest struct {
	Payment PaymentRequest
}

// LogAttrs implements observe.Loggable: the order, the amount, the method and, for a card, its masked
// number only.
func (r MakePaymentRequest) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("order_id", r.Payment.OrderID),
		slog.Int64("amount", r.Payment.Amount),
		slog.String("payment_method", string(r.Payment.Method)),
	}
	if r.Payment.Method == MethodCreditCard {
		attrs = append(attrs, slog.String("card", MaskCardNumber(r.Payment.Card.Number)))
	}
	return attrs
}

// MakePaymentResponse is the response of MakePaymentEndpoint.
type MakePaymentResponse struct {
	Payment Payment
	Err     error
}

// Failed implements endpoint.Failer.
func (r MakePaymentResponse) Failed() error { return r.Err }

// Outcome implements observe.Outcomer: "declined" for a payment answered Rejected.
func (r MakePaymentResponse) Outcome() string {
	if r.Err == nil && r.Payment.Status == StatusRejected {
		return "declined"
	}
	return ""
}

// LogAttrs implements observe.Loggable: the payment's status and, if rejected, why.
func (r MakePaymentResponse) LogAttrs() []slog.Attr { return paymentAttrs(r.Payment, r.Err) }

// RefundPaymentRequest is the request of RefundPaymentEndpoint.
type RefundPaymentRequest struct {
	OrderID string
}

// LogAttrs implements observe.Loggable: the order.
func (r RefundPaymentRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
}

// RefundPaymentResponse is the response of RefundPaymentEndpoint.
type RefundPaymentResponse struct {
	Payment Payment
	Err     error
}

// Failed implements endpoint.Failer.
func (r RefundPaymentResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the payment's status.
func (r RefundPaymentResponse) LogAttrs() []slog.Attr { return paymentAttrs(r.Payment, r.Err) }

// GetPaymentRequest is the request of GetPaymentEndpoint and AdminGetPaymentEndpoint.
type GetPaymentRequest struct {
	OrderID string
}

// LogAttrs implements observe.Loggable: the order.
func (r GetPaymentRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
}

// GetPaymentResponse is the response of GetPaymentEndpoint and AdminGetPaymentEndpoint.
type GetPaymentResponse struct {
	Payment Payment
	Err     error
}

// Failed implements endpoint.Failer.
func (r GetPaymentResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the payment's status.
func (r GetPaymentResponse) LogAttrs() []slog.Attr { return paymentAttrs(r.Payment, r.Err) }

// paymentAttrs are the log attributes of an answered payment: its status and the reason of a rejection
// or a void; none for a failed call.
func paymentAttrs(p Payment, err error) []slog.Attr {
	if err != nil {
		return nil
	}
	attrs := []slog.Attr{slog.String("status", string(p.Status))}
	if p.Reason != "" {
		attrs = append(attrs, slog.String("reason", p.Reason))
	}
	return attrs
}

// MakeMakePaymentEndpoint returns an endpoint for svc.MakePayment.
func MakeMakePaymentEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(MakePaymentRequest)
		p, err := svc.MakePayment(ctx, req.Payment)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return MakePaymentResponse{Payment: p, Err: business}, nil
	}
}

// MakeRefundPaymentEndpoint returns an endpoint for svc.RefundPayment.
func MakeRefundPaymentEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(RefundPaymentRequest)
		p, err := svc.RefundPayment(ctx, req.OrderID)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return RefundPaymentResponse{Payment: p, Err: business}, nil
	}
}

// MakeGetPaymentEndpoint returns an endpoint for svc.GetPayment.
func MakeGetPaymentEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetPaymentRequest)
		p, err := svc.GetPayment(ctx, req.OrderID)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return GetPaymentResponse{Payment: p, Err: business}, nil
	}
}
