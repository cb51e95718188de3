package order

import (
	"context"
	"log/slog"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/observe"
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
	// DeliveryStartedEndpoint and DeliveryDoneEndpoint are an operator's
	// calls (the order service starts delivery itself; a courier's tool
	// reports it done): they take no token, and are served on gRPC only, on
	// the internal network, where the service credentials decide
	// (GRPCAccess).
	DeliveryStartedEndpoint endpoint.Endpoint
	DeliveryDoneEndpoint    endpoint.Endpoint
	// AdminDeliveryDoneEndpoint is DeliveryDone for an admin's bearer access
	// token (the HTTP route POST /order/{id}/delivered): a user's token is
	// token.ErrForbidden.
	AdminDeliveryDoneEndpoint endpoint.Endpoint
	// ListOrdersByStatusEndpoint is an operator's, on gRPC only, like
	// DeliveryDoneEndpoint; AdminListOrdersByStatusEndpoint is the same for
	// an admin's bearer access token (GET /order/status/{status}).
	ListOrdersByStatusEndpoint      endpoint.Endpoint
	AdminListOrdersByStatusEndpoint endpoint.Endpoint
	// AdminPendingWorkEndpoint is PendingWork and AdminBreakersEndpoint
	// Breakers, for an admin's bearer access token (GET /order/work,
	// GET /order/breakers).
	AdminPendingWorkEndpoint endpoint.Endpoint
	AdminBreakersEndpoint    endpoint.Endpoint
}

// Method names, the "method" label of the metrics and the logs.
const (
	methodCreateOrder     = "CreateOrder"
	methodDeliveryStarted = "DeliveryStarted"
	methodDeliveryDone    = "DeliveryDone"
	methodGetOrder        = "GetOrder"
	methodListOrders      = "ListOrders"
	methodListByStatus    = "ListOrdersByStatus"
	methodPendingWork     = "PendingWork"
	methodBreakers        = "Breakers"
)

// NewSet returns the endpoints of svc. verifier checks the access tokens
// (public key only). Each endpoint is observed (internal/observe): one log
// line per call on logger (nil: discarded; writes at Info, reads at Debug,
// unavailable dependencies at Warn, infrastructure failures at Error) and
// kitshop_order_requests_total and kitshop_order_request_duration_seconds
// {method, outcome} on reg (nil: not registered), the outcome from the
// service's error table; a refused token counts too ("invalid_token",
// "permission_denied").
func NewSet(svc Service, verifier *token.Verifier, logger *slog.Logger, reg prometheus.Registerer) Set {
	obs := observe.New("order", errorTable, logger, reg)
	auth := token.Authenticate(verifier)
	admin := func(next endpoint.Endpoint) endpoint.Endpoint {
		return auth(token.RequireRole(token.RoleAdmin)(next))
	}
	return Set{
		CreateOrderEndpoint:       obs.Endpoint(methodCreateOrder, slog.LevelInfo, auth(MakeCreateOrderEndpoint(svc))),
		GetOrderEndpoint:          obs.Endpoint(methodGetOrder, slog.LevelDebug, auth(MakeGetOrderEndpoint(svc))),
		ListOrdersEndpoint:        obs.Endpoint(methodListOrders, slog.LevelDebug, auth(MakeListOrdersEndpoint(svc))),
		DeliveryStartedEndpoint:   obs.Endpoint(methodDeliveryStarted, slog.LevelInfo, MakeDeliveryStartedEndpoint(svc)),
		DeliveryDoneEndpoint:      obs.Endpoint(methodDeliveryDone, slog.LevelInfo, MakeDeliveryDoneEndpoint(svc)),
		AdminDeliveryDoneEndpoint: obs.Endpoint(methodDeliveryDone, slog.LevelInfo, admin(MakeDeliveryDoneEndpoint(svc))),

		ListOrdersByStatusEndpoint:      obs.Endpoint(methodListByStatus, slog.LevelDebug, MakeListOrdersByStatusEndpoint(svc)),
		AdminListOrdersByStatusEndpoint: obs.Endpoint(methodListByStatus, slog.LevelDebug, admin(MakeListOrdersByStatusEndpoint(svc))),
		AdminPendingWorkEndpoint:        obs.Endpoint(methodPendingWork, slog.LevelDebug, admin(MakePendingWorkEndpoint(svc))),
		AdminBreakersEndpoint:           obs.Endpoint(methodBreakers, slog.LevelDebug, admin(MakeBreakersEndpoint(svc))),
	}
}

// split sorts err into a business failure, for the response, or an
// infrastructure failure, for the endpoint's error (errorTable).
func split(err error) (business, infra error) { return errorTable.Split(err) }

// caller returns the subject of the verified token in ctx.
func caller(ctx context.Context) (string, error) {
	c, ok := token.FromContext(ctx)
	if !ok {
		return "", token.ErrMissingToken
	}
	return c.Subject, nil
}

// The log attributes of a call (observe.Loggable): the order and user ids,
// the status reached, never card data nor e-mail addresses. The caller's id
// comes from the token, which the endpoint reads: the responses carry it for
// the log line.

// CreateOrderRequest is the input of CreateOrder; the caller comes from the
// token. It adds nothing to the log line: it holds card data.
type CreateOrderRequest struct {
	Order NewOrder
}

// CreateOrderResponse is the output of CreateOrder.
type CreateOrderResponse struct {
	Order    Order
	Replayed bool
	Err      error

	userID string // the caller, for the log
}

// Failed implements endpoint.Failer.
func (r CreateOrderResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable.
func (r CreateOrderResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("user_id", r.userID), slog.String("order_id", r.Order.ID),
		slog.String("status", string(r.Order.Status)), slog.Bool("replayed", r.Replayed)}
}

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
		return CreateOrderResponse{Order: o, Replayed: replayed, Err: business, userID: userID}, nil
	}
}

// DeliveryStartedRequest is the input of DeliveryStarted.
type DeliveryStartedRequest struct {
	OrderID string
}

// LogAttrs implements observe.Loggable.
func (r DeliveryStartedRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
}

// DeliveryDoneRequest is the input of DeliveryDone.
type DeliveryDoneRequest struct {
	OrderID string
}

// LogAttrs implements observe.Loggable.
func (r DeliveryDoneRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
}

// OrderResponse is the output of DeliveryStarted, DeliveryDone and GetOrder.
type OrderResponse struct {
	Order Order
	Err   error

	userID string // the caller of GetOrder, for the log
}

// Failed implements endpoint.Failer.
func (r OrderResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable.
func (r OrderResponse) LogAttrs() []slog.Attr {
	if r.userID == "" {
		return nil
	}
	return []slog.Attr{slog.String("user_id", r.userID)}
}

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

// MakeDeliveryDoneEndpoint returns the DeliveryDone endpoint of s; who may
// call it is the transport's (GRPCAccess) or NewSet's admin check.
func MakeDeliveryDoneEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		o, err := s.DeliveryDone(ctx, request.(DeliveryDoneRequest).OrderID)
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

// LogAttrs implements observe.Loggable.
func (r GetOrderRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order_id", r.OrderID)}
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
		return OrderResponse{Order: o, Err: business, userID: userID}, nil
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

	userID string // the caller, for the log
}

// Failed implements endpoint.Failer.
func (r ListOrdersResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable.
func (r ListOrdersResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("user_id", r.userID), slog.Int("orders", len(r.Page.Orders))}
}

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
		return ListOrdersResponse{Page: p, Err: business, userID: userID}, nil
	}
}

// ListOrdersByStatusRequest is the input of ListOrdersByStatus.
type ListOrdersByStatusRequest struct {
	Status    Status
	PageSize  int
	PageToken string
}

// LogAttrs implements observe.Loggable.
func (r ListOrdersByStatusRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("status", string(r.Status))}
}

// ListOrdersByStatusResponse is the output of ListOrdersByStatus.
type ListOrdersByStatusResponse struct {
	Page Page
	Err  error
}

// Failed implements endpoint.Failer.
func (r ListOrdersByStatusResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable.
func (r ListOrdersByStatusResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Int("orders", len(r.Page.Orders))}
}

// MakeListOrdersByStatusEndpoint returns the ListOrdersByStatus endpoint of
// s; who may call it is the transport's (GRPCAccess) or NewSet's admin check.
func MakeListOrdersByStatusEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ListOrdersByStatusRequest)
		p, err := s.ListOrdersByStatus(ctx, req.Status, req.PageSize, req.PageToken)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return ListOrdersByStatusResponse{Page: p, Err: business}, nil
	}
}

// PendingWorkRequest is the input of PendingWork.
type PendingWorkRequest struct{}

// PendingWorkResponse is the output of PendingWork.
type PendingWorkResponse struct {
	Work WorkList
	Err  error
}

// Failed implements endpoint.Failer.
func (r PendingWorkResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable.
func (r PendingWorkResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Int("work", r.Work.Total)}
}

// MakePendingWorkEndpoint returns the PendingWork endpoint of s; who may
// call it is NewSet's admin check.
func MakePendingWorkEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		w, err := s.PendingWork(ctx)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return PendingWorkResponse{Work: w, Err: business}, nil
	}
}

// BreakersRequest is the input of Breakers.
type BreakersRequest struct{}

// BreakersResponse is the output of Breakers.
type BreakersResponse struct {
	Breakers []grpcclient.BreakerState
}

// LogAttrs implements observe.Loggable.
func (r BreakersResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Int("breakers", len(r.Breakers))}
}

// MakeBreakersEndpoint returns the Breakers endpoint of s; who may call it
// is NewSet's admin check.
func MakeBreakersEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		return BreakersResponse{Breakers: s.Breakers(ctx)}, nil
	}
}
