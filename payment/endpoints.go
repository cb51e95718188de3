package payment

import (
	"context"
	"errors"

	"github.com/go-kit/kit/endpoint"

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

// NewSet returns the endpoints of svc. verifier checks the bearer tokens of AdminGetPaymentEndpoint.
func NewSet(svc Service, verifier *token.Verifier) Set {
	get := MakeGetPaymentEndpoint(svc)
	return Set{
		MakePaymentEndpoint:     MakeMakePaymentEndpoint(svc),
		RefundPaymentEndpoint:   MakeRefundPaymentEndpoint(svc),
		GetPaymentEndpoint:      get,
		AdminGetPaymentEndpoint: token.Authenticate(verifier)(token.RequireRole(token.RoleAdmin)(get)),
	}
}

// MakePaymentRequest is the request of MakePaymentEndpoint.
type MakePaymentRequest struct {
	Payment PaymentRequest
}

// MakePaymentResponse is the response of MakePaymentEndpoint.
type MakePaymentResponse struct {
	Payment Payment
	Err     error
}

// Failed implements endpoint.Failer.
func (r MakePaymentResponse) Failed() error { return r.Err }

// RefundPaymentRequest is the request of RefundPaymentEndpoint.
type RefundPaymentRequest struct {
	OrderID string
}

// RefundPaymentResponse is the response of RefundPaymentEndpoint.
type RefundPaymentResponse struct {
	Payment Payment
	Err     error
}

// Failed implements endpoint.Failer.
func (r RefundPaymentResponse) Failed() error { return r.Err }

// GetPaymentRequest is the request of GetPaymentEndpoint and AdminGetPaymentEndpoint.
type GetPaymentRequest struct {
	OrderID string
}

// GetPaymentResponse is the response of GetPaymentEndpoint and AdminGetPaymentEndpoint.
type GetPaymentResponse struct {
	Payment Payment
	Err     error
}

// Failed implements endpoint.Failer.
func (r GetPaymentResponse) Failed() error { return r.Err }

// MakeMakePaymentEndpoint returns an endpoint for svc.MakePayment.
func MakeMakePaymentEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(MakePaymentRequest)
		p, err := svc.MakePayment(ctx, req.Payment)
		if err != nil && !isBusinessError(err) {
			return nil, err
		}
		return MakePaymentResponse{Payment: p, Err: err}, nil
	}
}

// MakeRefundPaymentEndpoint returns an endpoint for svc.RefundPayment.
func MakeRefundPaymentEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(RefundPaymentRequest)
		p, err := svc.RefundPayment(ctx, req.OrderID)
		if err != nil && !isBusinessError(err) {
			return nil, err
		}
		return RefundPaymentResponse{Payment: p, Err: err}, nil
	}
}

// MakeGetPaymentEndpoint returns an endpoint for svc.GetPayment.
func MakeGetPaymentEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetPaymentRequest)
		p, err := svc.GetPayment(ctx, req.OrderID)
		if err != nil && !isBusinessError(err) {
			return nil, err
		}
		return GetPaymentResponse{Payment: p, Err: err}, nil
	}
}

// isBusinessError tells the failures that are the request's (carried in the response) from infrastructure
// failures (the endpoint's error): store and processor outages, deadlines.
func isBusinessError(err error) bool {
	var verr *ValidationError
	return errors.As(err, &verr) ||
		errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrNotRefundable)
}
