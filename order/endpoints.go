package order

import (
	"context"
	"errors"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/internal/token"
)

// Set collects the endpoints of the order service; transports serve them.
type Set struct {
	// CreateOrderEndpoint, GetOrderEndpoint and ListOrdersEndpoint act for
	// the caller, whose bearer access token the transport put in the context
	// (token.HTTPToContext, token.GRPCToContext).
	CreateOrderEndpoint endpoint.Endpoint
	GetOrderEndpoint    endpoint.Endpoint
	ListOrdersEndpoint  endpoint.Endpoint
	// DeliveryStartedEndpoint is the original system's call, for operators
	// and outside callers (the order service starts delivery itself); it
	// takes no token: it is served on gRPC only, on the internal network.
	DeliveryStartedEndpoint endpoint.Endpoint
}

// NewSet returns the endpoints of svc. verifier checks the access tokens
// (public key only).
func NewSet(svc Service, verifier *token.Verifier) Set {
	auth := token.Authenticate(verifier)
	return Set{
		CreateOrderEndpoint:     auth(MakeCreateOrderEndpoint(svc)),
		GetOrderEndpoint:        auth(MakeGetOrderEndpoint(svc)),
		ListOrdersEndpoint:      auth(MakeListOrdersEndpoint(svc)),
		DeliveryStartedEndpoint: MakeDeliveryStartedEndpoint(svc),
	}
}

// businessErrors are the errors that ride in a response (endpoint.Failer);
// anything else is an infrastructure failure, the endpoint's own error.
var businessErrors = []error{
	ErrInvalidArgument,
	ErrNotFound,
	ErrUserNotFound,
	ErrProductNotFound,
	ErrOutOfStock,
	ErrPaymentDeclined,
	ErrIdempotencyKeyReused,
	ErrIllegalTransition,
	ErrUnavailable,
}

// split sorts err into a business failure, for the response, or an
// infrastructure failure, for the endpoint's error.
func split(err error) (business, infra error) {
	for _, b := range businessErrors {
		if errors.Is(err, b) {
			return err, nil
		}
	}
	return nil, err
}

// caller returns the subject of the verified token in ctx.
func caller(ctx context.Context) (string, error) {
	c, ok := token.FromContext(ctx)
	if !ok {
		return "", token.ErrMissingToken
	}
	return c.Subject, nil
}

// CreateOrderRequest is the input of CreateOrder; the caller comes from the
// token.
type CreateOrderRequest struct {
	Order NewOrder
}

// CreateOrderResponse is the output of CreateOrder.
type CreateOrderResponse struct {
	Order    Order
	Replayed bool
	Err      error
}

// Failed implements endpoint.Failer.
func (r CreateOrderResponse) Failed() error { return r.Err }

// MakeCreateOrderEndpoint returns the CreateOrder endpoint of s.
func MakeCreateOrderEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		userID, err := caller(ctx)
		if err != nil {
			return nil, err
		}
		o, replayed, err := s.CreateOrder(ctx, userID, request.(CreateOrderRequest).Order)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return CreateOrderResponse{Order: o, Replayed: replayed, Err: business}, nil
	}
}

// DeliveryStartedRequest is the input of DeliveryStarted.
type DeliveryStartedRequest struct {
	OrderID string
}

// OrderResponse is the output of DeliveryStarted and GetOrder.
type OrderResponse struct {
	Order Order
	Err   error
}

// Failed implements endpoint.Failer.
func (r OrderResponse) Failed() error { return r.Err }

// MakeDeliveryStartedEndpoint returns the DeliveryStarted endpoint of s.
func MakeDeliveryStartedEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		o, err := s.DeliveryStarted(ctx, request.(DeliveryStartedRequest).OrderID)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return OrderResponse{Order: o, Err: business}, nil
	}
}

// GetOrderRequest is the input of GetOrder.
type GetOrderRequest struct {
	OrderID string
}

// MakeGetOrderEndpoint returns the GetOrder endpoint of s.
func MakeGetOrderEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		userID, err := caller(ctx)
		if err != nil {
			return nil, err
		}
		o, err := s.GetOrder(ctx, userID, request.(GetOrderRequest).OrderID)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return OrderResponse{Order: o, Err: business}, nil
	}
}

// ListOrdersRequest is the input of ListOrders.
type ListOrdersRequest struct {
	PageSize  int
	PageToken string
}

// ListOrdersResponse is the output of ListOrders.
type ListOrdersResponse struct {
	Page Page
	Err  error
}

// Failed implements endpoint.Failer.
func (r ListOrdersResponse) Failed() error { return r.Err }

// MakeListOrdersEndpoint returns the ListOrders endpoint of s.
func MakeListOrdersEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		userID, err := caller(ctx)
		if err != nil {
			return nil, err
		}
		req := request.(ListOrdersRequest)
		p, err := s.ListOrders(ctx, userID, req.PageSize, req.PageToken)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return ListOrdersResponse{Page: p, Err: business}, nil
	}
}
