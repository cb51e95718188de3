package notification

import (
	"context"
	"errors"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
// grpcError, with the table grpcCodes.
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

// grpcCodes is THE table from business errors to gRPC codes; the first entry
// that matches (errors.Is) wins. Anything else is codes.Internal.
// ErrSendFailed and ErrInProgress are Unavailable: the notification is not
// sent yet, and the caller (the order service's outbox) must retry.
var grpcCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrConflict, codes.AlreadyExists},
	{ErrSendFailed, codes.Unavailable},
	{ErrInProgress, codes.Unavailable},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// grpcError converts an error from a go-kit handler into a gRPC status error.
// The client sees the message of the business error; for ErrSendFailed only
// the sentinel's, as the Sender's own error may name mail servers.
func grpcError(err error) error {
	for _, m := range grpcCodes {
		if errors.Is(err, m.err) {
			msg := err.Error()
			if m.err == ErrSendFailed {
				msg = ErrSendFailed.Error()
			}
			return detailedError{cause: err, status: status.New(m.code, msg)}
		}
	}
	return detailedError{cause: err, status: status.New(codes.Internal, "internal error")}
}

// detailedError is what a method returns: grpc-go sends the client status,
// while Error() keeps the whole cause for the server's logging interceptor
// (internal/grpcserver).
type detailedError struct {
	cause  error
	status *status.Status
}

func (e detailedError) Error() string { return e.cause.Error() }
func (e detailedError) Unwrap() error { return e.cause }

// GRPCStatus is what grpc-go sends the client.
func (e detailedError) GRPCStatus() *status.Status { return e.status }

// SendPaymentNotification implements notificationv1.NotificationServiceServer.
func (s *GRPCServer) SendPaymentNotification(ctx context.Context, req *notificationv1.SendPaymentNotificationRequest) (*notificationv1.SendPaymentNotificationResponse, error) {
	_, resp, err := s.sendPaymentNotification.ServeGRPC(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp.(*notificationv1.SendPaymentNotificationResponse), nil
}

// GetNotification implements notificationv1.NotificationServiceServer.
func (s *GRPCServer) GetNotification(ctx context.Context, req *notificationv1.GetNotificationRequest) (*notificationv1.GetNotificationResponse, error) {
	_, resp, err := s.getNotification.ServeGRPC(ctx, req)
	if err != nil {
		return nil, grpcError(err)
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
