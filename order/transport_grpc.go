package order

import (
	"context"
	"errors"
	"time"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// GRPCAccess is who may call each OrderService method (svcauth; any other
// method is refused): the end users' calls carry their own JWT, checked by
// the endpoints; DeliveryStarted, which takes none and which no service calls
// (the order service starts delivery itself), is an operator's.
var GRPCAccess = svcauth.Policy{
	orderv1.OrderService_CreateOrder_FullMethodName:     svcauth.EndUsers,
	orderv1.OrderService_GetOrder_FullMethodName:        svcauth.EndUsers,
	orderv1.OrderService_ListOrders_FullMethodName:      svcauth.EndUsers,
	orderv1.OrderService_DeliveryStarted_FullMethodName: svcauth.Callers(svcauth.Operator),
}

// GRPCServer serves kitshop.order.v1.OrderService from a Set.
//
// Errors: every encoder returns the response's Failer error as its own error,
// so go-kit hands business failures back exactly like decode and endpoint
// errors, and each method converts whatever came back in one place,
// grpcError, with the table grpcCodes.
type GRPCServer struct {
	orderv1.UnimplementedOrderServiceServer

	createOrder     grpctransport.Handler
	deliveryStarted grpctransport.Handler
	getOrder        grpctransport.Handler
	listOrders      grpctransport.Handler
}

var _ orderv1.OrderServiceServer = (*GRPCServer)(nil)

// NewGRPCServer returns the gRPC binding of set; register it with
// orderv1.RegisterOrderServiceServer (Component.RegisterGRPC does). The
// caller's token is read from the "authorization" metadata.
func NewGRPCServer(set Set) *GRPCServer {
	opts := []grpctransport.ServerOption{grpctransport.ServerBefore(token.GRPCToContext)}
	return &GRPCServer{
		createOrder:     grpctransport.NewServer(set.CreateOrderEndpoint, decodeGRPCCreateOrderRequest, encodeGRPCCreateOrderResponse, opts...),
		deliveryStarted: grpctransport.NewServer(set.DeliveryStartedEndpoint, decodeGRPCDeliveryStartedRequest, encodeGRPCDeliveryStartedResponse, opts...),
		getOrder:        grpctransport.NewServer(set.GetOrderEndpoint, decodeGRPCGetOrderRequest, encodeGRPCGetOrderResponse, opts...),
		listOrders:      grpctransport.NewServer(set.ListOrdersEndpoint, decodeGRPCListOrdersRequest, encodeGRPCListOrdersResponse, opts...),
	}
}

// grpcCodes is THE table from business errors to gRPC codes; the first entry
// that matches (errors.Is) wins. Anything else is codes.Internal.
var grpcCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrUserNotFound, codes.NotFound},
	{ErrProductNotFound, codes.NotFound},
	{ErrOutOfStock, codes.FailedPrecondition},
	{ErrPaymentDeclined, codes.FailedPrecondition},
	{ErrIllegalTransition, codes.FailedPrecondition},
	{ErrIdempotencyKeyReused, codes.AlreadyExists},
	{ErrUnavailable, codes.Unavailable},
	{token.ErrMissingToken, codes.Unauthenticated},
	{token.ErrInvalidToken, codes.Unauthenticated}, // token.ErrExpired too
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// errorDomain is the domain of the errdetails.ErrorInfo this service attaches.
const errorDomain = "order.kitshop"

// grpcError converts an error from a go-kit handler into a gRPC status
// error. A declined payment carries an errdetails.ErrorInfo (reason
// PAYMENT_DECLINED, metadata orderId); an unavailable dependency an ErrorInfo
// (DEPENDENCY_UNAVAILABLE, metadata dependency and orderId if one was stored)
// and, when its breaker refused the call, an errdetails.RetryInfo with the
// time left rounded up to whole seconds (at least one).
// token.ErrKeysUnavailable is its own status: Unavailable with a RetryInfo.
func grpcError(err error) error {
	if errors.Is(err, token.ErrKeysUnavailable) {
		return token.ErrKeysUnavailable // its own status: Unavailable with a RetryInfo
	}
	for _, m := range grpcCodes {
		if !errors.Is(err, m.err) {
			continue
		}
		st := status.New(m.code, err.Error())
		var details []protoadapt.MessageV1
		var declined *DeclinedError
		var unavailable *UnavailableError
		switch {
		case errors.As(err, &declined):
			details = append(details, &errdetails.ErrorInfo{Reason: "PAYMENT_DECLINED", Domain: errorDomain,
				Metadata: map[string]string{"orderId": declined.OrderID, "reason": declined.Reason}})
		case errors.As(err, &unavailable):
			md := map[string]string{"dependency": unavailable.Dependency}
			if unavailable.OrderID != "" {
				md["orderId"] = unavailable.OrderID
			}
			details = append(details, &errdetails.ErrorInfo{Reason: "DEPENDENCY_UNAVAILABLE", Domain: errorDomain, Metadata: md})
			details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter(unavailable.RetryAfter))})
		}
		if len(details) > 0 {
			if withDetails, derr := st.WithDetails(details...); derr == nil {
				st = withDetails
			}
		}
		return st.Err()
	}
	return internalError{cause: err}
}

// retryAfter rounds a breaker's remaining open time up to whole seconds, at
// least one: what a client should wait.
func retryAfter(d time.Duration) time.Duration {
	return max(time.Second, (d+time.Second-1)/time.Second*time.Second)
}

// internalError is an infrastructure failure: the client sees only
// codes.Internal "internal error", while Error() keeps the cause for the
// server's logging interceptor (internal/grpcserver).
type internalError struct{ cause error }

func (e internalError) Error() string { return e.cause.Error() }
func (e internalError) Unwrap() error { return e.cause }

// GRPCStatus is what grpc-go sends the client.
func (e internalError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, "internal error")
}

// CreateOrder implements orderv1.OrderServiceServer.
func (s *GRPCServer) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	_, resp, err := s.createOrder.ServeGRPC(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp.(*orderv1.CreateOrderResponse), nil
}

// DeliveryStarted implements orderv1.OrderServiceServer.
func (s *GRPCServer) DeliveryStarted(ctx context.Context, req *orderv1.DeliveryStartedRequest) (*orderv1.DeliveryStartedResponse, error) {
	_, resp, err := s.deliveryStarted.ServeGRPC(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp.(*orderv1.DeliveryStartedResponse), nil
}

// GetOrder implements orderv1.OrderServiceServer.
func (s *GRPCServer) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	_, resp, err := s.getOrder.ServeGRPC(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp.(*orderv1.GetOrderResponse), nil
}

// ListOrders implements orderv1.OrderServiceServer.
func (s *GRPCServer) ListOrders(ctx context.Context, req *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	_, resp, err := s.listOrders.ServeGRPC(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp.(*orderv1.ListOrdersResponse), nil
}

func decodeGRPCCreateOrderRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*orderv1.CreateOrderRequest)
	items := make([]Item, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = Item{ProductID: it.GetProductId(), Quantity: it.GetQuantity()}
	}
	a, p := req.GetAddress(), req.GetPayment()
	return CreateOrderRequest{Order: NewOrder{
		ProductIDs: req.GetProductIds(),
		Items:      items,
		Address: Address{
			Name:       a.GetName(),
			Street:     a.GetStreet(),
			City:       a.GetCity(),
			PostalCode: a.GetPostalCode(),
			Country:    a.GetCountry(),
		},
		Payment: PaymentDetails{
			Method:              methodFromProto(p.GetPaymentMethod()),
			Name:                p.GetPaymentName(),
			CardNumber:          p.GetCardNumber(),
			ExpiryYear:          p.GetExpiryYear(),
			ExpiryMonth:         p.GetExpiryMonth(),
			BirthOrRegistration: p.GetBirthOrRegistration(),
			PasswordTwoDigits:   p.GetPasswordTwoDigits(),
			Amount:              p.GetAmount(),
		},
		IdempotencyKey: req.GetIdempotencyKey(),
	}}, nil
}

func encodeGRPCCreateOrderResponse(_ context.Context, response any) (any, error) {
	resp := response.(CreateOrderResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &orderv1.CreateOrderResponse{Order: orderToProto(resp.Order), Replayed: resp.Replayed}, nil
}

func decodeGRPCDeliveryStartedRequest(_ context.Context, grpcReq any) (any, error) {
	return DeliveryStartedRequest{OrderID: grpcReq.(*orderv1.DeliveryStartedRequest).GetId()}, nil
}

func encodeGRPCDeliveryStartedResponse(_ context.Context, response any) (any, error) {
	resp := response.(OrderResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &orderv1.DeliveryStartedResponse{Order: orderToProto(resp.Order)}, nil
}

func decodeGRPCGetOrderRequest(_ context.Context, grpcReq any) (any, error) {
	return GetOrderRequest{OrderID: grpcReq.(*orderv1.GetOrderRequest).GetId()}, nil
}

func encodeGRPCGetOrderResponse(_ context.Context, response any) (any, error) {
	resp := response.(OrderResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &orderv1.GetOrderResponse{Order: orderToProto(resp.Order)}, nil
}

func decodeGRPCListOrdersRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*orderv1.ListOrdersRequest)
	return ListOrdersRequest{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}, nil
}

func encodeGRPCListOrdersResponse(_ context.Context, response any) (any, error) {
	resp := response.(ListOrdersResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	orders := make([]*orderv1.Order, len(resp.Page.Orders))
	for i, o := range resp.Page.Orders {
		orders[i] = orderToProto(o)
	}
	return &orderv1.ListOrdersResponse{Orders: orders, NextPageToken: resp.Page.NextPageToken}, nil
}

func orderToProto(o Order) *orderv1.Order {
	lines := make([]*orderv1.OrderLine, len(o.Products))
	for i, l := range o.Products {
		lines[i] = &orderv1.OrderLine{ProductId: l.ProductID, Name: l.Name, Price: l.Price, Quantity: l.Quantity}
	}
	return &orderv1.Order{
		Id:       o.ID,
		Customer: &orderv1.Customer{UserId: o.Customer.UserID, Email: o.Customer.Email, Name: o.Customer.Name},
		Products: lines,
		DeliveryAddress: &orderv1.Address{
			Name:       o.Address.Name,
			Street:     o.Address.Street,
			City:       o.Address.City,
			PostalCode: o.Address.PostalCode,
			Country:    o.Address.Country,
		},
		Status: statusToProto(o.Status),
		Payment: &orderv1.PaymentSummary{
			PaymentId:        o.Payment.PaymentID,
			PaymentMethod:    methodToProto(o.Payment.Method),
			PaymentName:      o.Payment.Name,
			Amount:           o.Payment.Amount,
			PaymentStatus:    paymentStatusToProto(o.Payment.Status),
			MaskedCardNumber: o.Payment.MaskedCardNumber,
		},
		Total:         o.Total,
		FailureReason: o.FailureReason,
		CreatedAt:     timestamppb.New(o.CreatedAt),
		UpdatedAt:     timestamppb.New(o.UpdatedAt),
	}
}

func statusToProto(s Status) orderv1.OrderStatus {
	switch s {
	case StatusPending:
		return orderv1.OrderStatus_ORDER_STATUS_PENDING
	case StatusPaymentCancelled:
		return orderv1.OrderStatus_ORDER_STATUS_PAYMENT_CANCELLED
	case StatusPaymentFailed:
		return orderv1.OrderStatus_ORDER_STATUS_PAYMENT_FAILED
	case StatusPaymentProcessed:
		return orderv1.OrderStatus_ORDER_STATUS_PAYMENT_PROCESSED
	case StatusDeliveryStarted:
		return orderv1.OrderStatus_ORDER_STATUS_DELIVERY_STARTED
	case StatusDeliveryDone:
		return orderv1.OrderStatus_ORDER_STATUS_DELIVERY_DONE
	}
	return orderv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}
