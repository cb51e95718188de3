package notification

import (
	"context"
	"log/slog"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/observe"
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

// Method names, the "method" label of the metrics and the logs.
const (
	methodSendPaymentNotification = "SendPaymentNotification"
	methodGetNotification         = "GetNotification"
	methodGetUserNotification     = "GetUserNotification"
)

// NewSet returns the endpoints of svc, each observed (internal/observe): one
// log line per call on logger (nil: discarded) and the call metrics
// kitshop_notification_requests_total and
// kitshop_notification_request_duration_seconds {method,outcome} on reg (nil:
// not registered; collectors reg holds already are reused), with the outcome
// errorTable gives. Sends are logged at Info, reads at Debug; a log line
// names the order, never the recipient's address or the message. The
// customer endpoint verifies access tokens with verifier inside the
// observation, so that refused calls are counted.
func NewSet(svc Service, verifier *token.Verifier, logger *slog.Logger, reg prometheus.Registerer) Set {
	obs := observe.New("notification", errorTable, logger, reg)
	return Set{
		SendPaymentNotificationEndpoint: obs.Endpoint(methodSendPaymentNotification, slog.LevelInfo,
			MakeSendPaymentNotificationEndpoint(svc)),
		GetNotificationEndpoint: obs.Endpoint(methodGetNotification, slog.LevelDebug, MakeGetNotificationEndpoint(svc)),
		GetUserNotificationEndpoint: obs.Endpoint(methodGetUserNotification, slog.LevelDebug,
			token.Authenticate(verifier)(MakeGetUserNotificationEndpoint(svc))),
	}
}

// SendPaymentNotificationRequest asks to notify To that the payment of order
// OrderID, owned by UserID, went through.
type SendPaymentNotificationRequest struct {
	To      string
	OrderID string
	UserID  string
}

// LogAttrs implements observe.Loggable: the order only, not the recipient.
func (r SendPaymentNotificationRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
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

// LogAttrs implements observe.Loggable: the order.
func (r GetNotificationRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
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
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return SendPaymentNotificationResponse{Notification: n, Err: business}, nil
	}
}

// MakeGetNotificationEndpoint returns the endpoint of Service.GetNotification.
func MakeGetNotificationEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetNotificationRequest)
		n, err := s.GetNotification(ctx, req.OrderID)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return GetNotificationResponse{Notification: n, Err: business}, nil
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
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return GetNotificationResponse{Notification: n, Err: business}, nil
	}
}
