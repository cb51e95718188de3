package payment

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// GRPCAccess is who may call each PaymentService method (svcauth; any
// other method is refused): only the order service, which pays, refunds and
// looks up the payments of its orders.
var GRPCAccess = svcauth.Policy{
	paymentv1.PaymentService_MakePayment_FullMethodName:   svcauth.Callers(config.Order),
	paymentv1.PaymentService_RefundPayment_FullMethodName: svcauth.Callers(config.Order),
	paymentv1.PaymentService_GetPayment_FullMethodName:    svcauth.Callers(config.Order),
}

// grpcServer adapts the go-kit handlers to the generated service interface.
//
// Errors: a business failure rides in the endpoint's response (endpoint.Failer); each encoder returns it
// as its error, so go-kit hands it back from ServeGRPC like an infrastructure failure, and every method
// passes whatever error it gets through errorTable.GRPCStatus.
type grpcServer struct {
	paymentv1.UnimplementedPaymentServiceServer
	makePayment   grpctransport.Handler
	refundPayment grpctransport.Handler
	getPayment    grpctransport.Handler
}

// NewGRPCServer returns the gRPC PaymentService on set. The calls are logged by set's endpoints (NewSet).
func NewGRPCServer(set Set) paymentv1.PaymentServiceServer {
	return &grpcServer{
		makePayment:   grpctransport.NewServer(set.MakePaymentEndpoint, decodeGRPCMakePaymentRequest, encodeGRPCMakePaymentResponse),
		refundPayment: grpctransport.NewServer(set.RefundPaymentEndpoint, decodeGRPCRefundPaymentRequest, encodeGRPCRefundPaymentResponse),
		getPayment:    grpctransport.NewServer(set.GetPaymentEndpoint, decodeGRPCGetPaymentRequest, encodeGRPCGetPaymentResponse),
	}
}

// MakePayment implements paymentv1.PaymentServiceServer.
func (s *grpcServer) MakePayment(ctx context.Context, req *paymentv1.MakePaymentRequest) (*paymentv1.MakePaymentResponse, error) {
	_, resp, err := s.makePayment.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*paymentv1.MakePaymentResponse), nil
}

// RefundPayment implements paymentv1.PaymentServiceServer.
func (s *grpcServer) RefundPayment(ctx context.Context, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	_, resp, err := s.refundPayment.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*paymentv1.RefundPaymentResponse), nil
}

// GetPayment implements paymentv1.PaymentServiceServer.
func (s *grpcServer) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	_, resp, err := s.getPayment.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*paymentv1.GetPaymentResponse), nil
}

func decodeGRPCMakePaymentRequest(_ context.Context, grpcReq any) (any, error) {
	r := grpcReq.(*paymentv1.MakePaymentRequest)
	return MakePaymentRequest{Payment: PaymentRequest{
		OrderID: r.GetOrderId(),
		Method:  methodFromProto(r.GetPaymentMethod()),
		Name:    r.GetPaymentName(),
		Card: Card{
			Number:              r.GetCardNumber(),
			ExpiryYear:          r.GetExpiryYear(),
			ExpiryMonth:         r.GetExpiryMonth(),
			BirthOrRegistration: r.GetBirthOrRegistration(),
			PasswordTwoDigits:   r.GetPasswordTwoDigits(),
		},
		Amount:    r.GetAmount(),
		UserEmail: r.GetUserEmail(),
	}}, nil
}

func encodeGRPCMakePaymentResponse(_ context.Context, response any) (any, error) {
	r := response.(MakePaymentResponse)
	if r.Err != nil {
		return nil, r.Err
	}
	p := r.Payment
	return &paymentv1.MakePaymentResponse{
		Id:               p.ID,
		PaymentStatus:    statusToProto(p.Status),
		PaymentMethod:    methodToProto(p.Method),
		Reason:           p.Reason,
		Amount:           p.Amount,
		MaskedCardNumber: p.MaskedCardNumber,
	}, nil
}

func decodeGRPCRefundPaymentRequest(_ context.Context, grpcReq any) (any, error) {
	return RefundPaymentRequest{OrderID: grpcReq.(*paymentv1.RefundPaymentRequest).GetOrderId()}, nil
}

func encodeGRPCRefundPaymentResponse(_ context.Context, response any) (any, error) {
	r := response.(RefundPaymentResponse)
	if r.Err != nil {
		return nil, r.Err
	}
	return &paymentv1.RefundPaymentResponse{Payment: paymentToProto(r.Payment)}, nil
}

func decodeGRPCGetPaymentRequest(_ context.Context, grpcReq any) (any, error) {
	return GetPaymentRequest{OrderID: grpcReq.(*paymentv1.GetPaymentRequest).GetOrderId()}, nil
}

func encodeGRPCGetPaymentResponse(_ context.Context, response any) (any, error) {
	r := response.(GetPaymentResponse)
	if r.Err != nil {
		return nil, r.Err
	}
	return &paymentv1.GetPaymentResponse{Payment: paymentToProto(r.Payment)}, nil
}

func paymentToProto(p Payment) *paymentv1.Payment {
	return &paymentv1.Payment{
		Id:               p.ID,
		OrderId:          p.OrderID,
		Status:           statusToProto(p.Status),
		Method:           methodToProto(p.Method),
		PaymentName:      p.Name,
		Amount:           p.Amount,
		MaskedCardNumber: p.MaskedCardNumber,
		UserEmail:        p.UserEmail,
		Reason:           p.Reason,
		CreatedAt:        timestamppb.New(p.CreatedAt),
		UpdatedAt:        timestamppb.New(p.UpdatedAt),
	}
}

// methodFromProto maps the wire method; unspecified or unknown values become "", which validation refuses.
func methodFromProto(m paymentv1.PaymentMethod) Method {
	switch m {
	case paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD:
		return MethodCreditCard
	case paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO:
		return MethodKakao
	default:
		return ""
	}
}

func methodToProto(m Method) paymentv1.PaymentMethod {
	switch m {
	case MethodCreditCard:
		return paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD
	case MethodKakao:
		return paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO
	default:
		return paymentv1.PaymentMethod_PAYMENT_METHOD_UNSPECIFIED
	}
}

func statusToProto(s Status) paymentv1.PaymentStatus {
	switch s {
	case StatusPending:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING
	case StatusRejected:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REJECTED
	case StatusApproved:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED
	case StatusRefunded:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	case StatusVoided:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED
	default:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED
	}
}
