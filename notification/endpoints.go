package notification

import (
	"context"
	"errors"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/internal/token"
)

// Set holds the endpoints of the notification service.
type Set struct {
	// SendPaymentNotificationEndpoint and GetNotificationEndpoint serve other
	// services (gRPC, unauthenticated: the gRPC port is internal).
	SendPaymentNotificationEndpoint endpoint.Endpoint
	GetNotificationEndpoint         endpoint.Endpoint
	// GetUserNotificationEndpoint serves customers (HTTP): it requires a
	// verified access token and answers only about the caller's own orders.
	GetUserNotificationEndpoint endpoint.Endpoint
}

// NewSet returns the endpoints of svc; the customer endpoint verifies access
// tokens with verifier.
func NewSet(svc Service, verifier *token.Verifier) Set {
	return Set{
		SendPaymentNotificationEndpoint: MakeSendPaymentNotificationEndpoint(svc),
		GetNotificationEndpoint:         MakeGetNotificationEndpoint(svc),
		GetUserNotificationEndpoint:     token.Authenticate(verifier)(MakeGetUserNotificationEndpoint(svc)),
	}
}

// SendPaymentNotificationRequest asks to notify To that the payment of order
// OrderID, owned by UserID, went through.
type SendPaymentNotificationRequest struct {
	To      string
	OrderID string
	UserID  string
}

// SendPaymentNotificationResponse is the notification as stored, or the
// business error.
type SendPaymentNotificationResponse struct {
	Notification Notification
	Err          error
}

// Failed implements endpoint.Failer.
func (r SendPaymentNotificationResponse) Failed() error { return r.Err }

// GetNotificationRequest names an order.
type GetNotificationRequest struct {
	OrderID string
}

// GetNotificationResponse is the order's notification, or the business error.
type GetNotificationResponse struct {
	Notification Notification
	Err          error
}

// Failed implements endpoint.Failer.
func (r GetNotificationResponse) Failed() error { return r.Err }

// MakeSendPaymentNotificationEndpoint returns the endpoint of
// Service.SendPaymentNotification. Only infrastructure failures are its
// error; business errors ride in the response.
func MakeSendPaymentNotificationEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(SendPaymentNotificationRequest)
		n, err := s.SendPaymentNotification(ctx, req.To, req.OrderID, req.UserID)
		if err != nil && !isBusinessError(err) {
			return nil, err
		}
		return SendPaymentNotificationResponse{Notification: n, Err: err}, nil
	}
}

// MakeGetNotificationEndpoint returns the endpoint of Service.GetNotification.
func MakeGetNotificationEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetNotificationRequest)
		n, err := s.GetNotification(ctx, req.OrderID)
		if err != nil && !isBusinessError(err) {
			return nil, err
		}
		return GetNotificationResponse{Notification: n, Err: err}, nil
	}
}

// MakeGetUserNotificationEndpoint returns the endpoint of
// Service.GetUserNotification for the caller whose claims token.Authenticate
// put in the context; without them it fails with token.ErrMissingToken.
func MakeGetUserNotificationEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetNotificationRequest)
		claims, ok := token.FromContext(ctx)
		if !ok {
			return nil, token.ErrMissingToken
		}
		n, err := s.GetUserNotification(ctx, claims.Subject, req.OrderID)
		if err != nil && !isBusinessError(err) {
			return nil, err
		}
		return GetNotificationResponse{Notification: n, Err: err}, nil
	}
}

// isBusinessError reports whether err is one of the service's business
// errors, which ride in a response instead of failing the endpoint.
func isBusinessError(err error) bool {
	for _, target := range []error{ErrInvalidArgument, ErrNotFound, ErrConflict, ErrSendFailed, ErrInProgress} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
