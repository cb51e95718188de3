package order

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// GRPCAccess is who may call each OrderService method (svcauth; any other
// method is refused): the end users' calls carry their own JWT, checked by
// the endpoints; DeliveryStarted, DeliveryDone and ListOrdersByStatus, which
// take none and which no service calls (the order service starts delivery
// itself), are an operator's (a courier's tool reports "delivered" as one;
// an admin lists a status over HTTP, GET /order/status/{status}).
var GRPCAccess = svcauth.Policy{
	orderv1.OrderService_CreateOrder_FullMethodName:        svcauth.EndUsers,
	orderv1.OrderService_GetOrder_FullMethodName:           svcauth.EndUsers,
	orderv1.OrderService_ListOrders_FullMethodName:         svcauth.EndUsers,
	orderv1.OrderService_DeliveryStarted_FullMethodName:    svcauth.Callers(svcauth.Operator),
	orderv1.OrderService_DeliveryDone_FullMethodName:       svcauth.Callers(svcauth.Operator),
	orderv1.OrderService_ListOrdersByStatus_FullMethodName: svcauth.Callers(svcauth.Operator),
}

// GRPCServer serves kitshop.order.v1.OrderService from a Set.
//
// Errors: every encoder returns the response's Failer error as its own error,
// so go-kit hands business failures back exactly like decode and endpoint
// errors, and each method converts whatever came back with the service's
// error table (errorTable.GRPCStatus): its code, the error's message and its
// details (an errdetails.ErrorInfo for a declined payment or an unavailable
// dependency, with an errdetails.RetryInfo for the latter); an
// infrastructure failure is Internal "internal error".
type GRPCServer struct {
	orderv1.UnimplementedOrderServiceServer

	createOrder     grpctransport.Handler
	deliveryStarted grpctransport.Handler
	deliveryDone    grpctransport.Handler
	getOrder        grpctransport.Handler
	listOrders      grpctransport.Handler
	listByStatus    grpctransport.Handler
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
		deliveryDone:    grpctransport.NewServer(set.DeliveryDoneEndpoint, decodeGRPCDeliveryDoneRequest, encodeGRPCDeliveryDoneResponse, opts...),
		getOrder:        grpctransport.NewServer(set.GetOrderEndpoint, decodeGRPCGetOrderRequest, encodeGRPCGetOrderResponse, opts...),
		listOrders:      grpctransport.NewServer(set.ListOrdersEndpoint, decodeGRPCListOrdersRequest, encodeGRPCListOrdersResponse, opts...),
		listByStatus:    grpctransport.NewServer(set.ListOrdersByStatusEndpoint, decodeGRPCListOrdersByStatusRequest, encodeGRPCListOrdersByStatusResponse, opts...),
	}
}

// CreateOrder implements orderv1.OrderServiceServer.
func (s *GRPCServer) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	_, resp, err := s.createOrder.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*orderv1.CreateOrderResponse), nil
}

// DeliveryStarted implements orderv1.OrderServiceServer.
func (s *GRPCServer) DeliveryStarted(ctx context.Context, req *orderv1.DeliveryStartedRequest) (*orderv1.DeliveryStartedResponse, error) {
	_, resp, err := s.deliveryStarted.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*orderv1.DeliveryStartedResponse), nil
}

// DeliveryDone implements orderv1.OrderServiceServer.
func (s *GRPCServer) DeliveryDone(ctx context.Context, req *orderv1.DeliveryDoneRequest) (*orderv1.DeliveryDoneResponse, error) {
	_, resp, err := s.deliveryDone.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*orderv1.DeliveryDoneResponse), nil
}

// GetOrder implements orderv1.OrderServiceServer.
func (s *GRPCServer) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	_, resp, err := s.getOrder.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*orderv1.GetOrderResponse), nil
}

// ListOrders implements orderv1.OrderServiceServer.
func (s *GRPCServer) ListOrders(ctx context.Context, req *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	_, resp, err := s.listOrders.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*orderv1.ListOrdersResponse), nil
}

// ListOrdersByStatus implements orderv1.OrderServiceServer.
func (s *GRPCServer) ListOrdersByStatus(ctx context.Context, req *orderv1.ListOrdersByStatusRequest) (*orderv1.ListOrdersByStatusResponse, error) {
	_, resp, err := s.listByStatus.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*orderv1.ListOrdersByStatusResponse), nil
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

func decodeGRPCDeliveryDoneRequest(_ context.Context, grpcReq any) (any, error) {
	return DeliveryDoneRequest{OrderID: grpcReq.(*orderv1.DeliveryDoneRequest).GetId()}, nil
}

func encodeGRPCDeliveryDoneResponse(_ context.Context, response any) (any, error) {
	resp := response.(OrderResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &orderv1.DeliveryDoneResponse{Order: orderToProto(resp.Order)}, nil
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
	return &orderv1.ListOrdersResponse{Orders: ordersToProto(resp.Page.Orders), NextPageToken: resp.Page.NextPageToken}, nil
}

func decodeGRPCListOrdersByStatusRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*orderv1.ListOrdersByStatusRequest)
	return ListOrdersByStatusRequest{Status: statusFromProto(req.GetStatus()), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}, nil
}

func encodeGRPCListOrdersByStatusResponse(_ context.Context, response any) (any, error) {
	resp := response.(ListOrdersByStatusResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &orderv1.ListOrdersByStatusResponse{Orders: ordersToProto(resp.Page.Orders), NextPageToken: resp.Page.NextPageToken}, nil
}

func ordersToProto(orders []Order) []*orderv1.Order {
	out := make([]*orderv1.Order, len(orders))
	for i, o := range orders {
		out[i] = orderToProto(o)
	}
	return out
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

// statusFromProto is the Status of s; "" for ORDER_STATUS_UNSPECIFIED or an
// unknown number, which the service refuses (checkStatus).
func statusFromProto(s orderv1.OrderStatus) Status {
	for _, st := range Statuses() {
		if statusToProto(st) == s {
			return st
		}
	}
	return ""
}
