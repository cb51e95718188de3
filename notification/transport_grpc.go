package notification

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
)

// GRPCAccess is who may call each NotificationService method (svcauth; any
// other method is refused): the order service sends; GetNotification, which
// takes no user token, is an operator's.
var GRPCAccess = svcauth.Policy{
	notificationv1.NotificationService_SendPaymentNotification_FullMethodName: svcauth.Callers(config.Order),
	notificationv1.NotificationService_GetNotification_FullMethodName:         svcauth.Callers(svcauth.Operator),
}

// GRPCServer serves NotificationService (kitshop.notification.v1) from a Set.
// It is for other kitshop services and carries no authentication: the gRPC
// port is internal.
//
// Errors: every encoder returns the response's Failer error as its own error,
// so go-kit hands business failures back exactly like decode and endpoint
// errors, and each method converts whatever came back in one place,
// errorTable.GRPCStatus. The calls are logged by set's endpoints (NewSet).
type GRPCServer struct {
	notificationv1.UnimplementedNotificationServiceServer

	sendPaymentNotification grpctransport.Handler
	getNotification         grpctransport.Handler
}

// Compile-time check that GRPCServer serves the service.
var _ notificationv1.NotificationServiceServer = (*GRPCServer)(nil)

// NewGRPCServer returns the gRPC binding of set. Register it with
// notificationv1.RegisterNotificationServiceServer (Component.RegisterGRPC
// does).
func NewGRPCServer(set Set) *GRPCServer {
	return &GRPCServer{
		sendPaymentNotification: grpctransport.NewServer(set.SendPaymentNotificationEndpoint,
			decodeGRPCSendPaymentNotificationRequest, encodeGRPCSendPaymentNotificationResponse),
		getNotification: grpctransport.NewServer(set.GetNotificationEndpoint,
			decodeGRPCGetNotificationRequest, encodeGRPCGetNotificationResponse),
	}
}

// SendPaymentNotification implements notificationv1.NotificationServiceServer.
func (s *GRPCServer) SendPaymentNotification(ctx context.Context, req *notificationv1.SendPaymentNotificationRequest) (*notificationv1.SendPaymentNotificationResponse, error) {
	_, resp, err := s.sendPaymentNotification.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*notificationv1.SendPaymentNotificationResponse), nil
}

// GetNotification implements notificationv1.NotificationServiceServer.
func (s *GRPCServer) GetNotification(ctx context.Context, req *notificationv1.GetNotificationRequest) (*notificationv1.GetNotificationResponse, error) {
	_, resp, err := s.getNotification.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*notificationv1.GetNotificationResponse), nil
}

func decodeGRPCSendPaymentNotificationRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*notificationv1.SendPaymentNotificationRequest)
	return SendPaymentNotificationRequest{To: req.GetTo(), OrderID: req.GetOrderId(), UserID: req.GetUserId()}, nil
}

func encodeGRPCSendPaymentNotificationResponse(_ context.Context, response any) (any, error) {
	resp := response.(SendPaymentNotificationResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	n := resp.Notification
	return &notificationv1.SendPaymentNotificationResponse{
		From:    n.From,
		To:      n.To,
		Subject: n.Subject,
		Content: n.Content,
		Status:  pbStatus(n.Status),
	}, nil
}

func decodeGRPCGetNotificationRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*notificationv1.GetNotificationRequest)
	return GetNotificationRequest{OrderID: req.GetOrderId()}, nil
}

func encodeGRPCGetNotificationResponse(_ context.Context, response any) (any, error) {
	resp := response.(GetNotificationResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	n := resp.Notification
	pb := &notificationv1.Notification{
		Id:        n.OrderID,
		OrderId:   n.OrderID,
		UserId:    n.UserID,
		From:      n.From,
		To:        n.To,
		Subject:   n.Subject,
		Content:   n.Content,
		Status:    pbStatus(n.Status),
		CreatedAt: timestamppb.New(n.CreatedAt),
	}
	if !n.SentAt.IsZero() {
		pb.SentAt = timestamppb.New(n.SentAt)
	}
	return &notificationv1.GetNotificationResponse{Notification: pb}, nil
}

// pbStatus is the wire form of a status.
func pbStatus(s Status) notificationv1.NotificationStatus {
	switch s {
	case StatusPending:
		return notificationv1.NotificationStatus_NOTIFICATION_STATUS_PENDING
	case StatusSent:
		return notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT
	default:
		return notificationv1.NotificationStatus_NOTIFICATION_STATUS_UNSPECIFIED
	}
}
