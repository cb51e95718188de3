package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// TestInternalGRPCNeedsServiceIdentity: the calls of kitshop issue 15, made
// with grpcurl and no credential, are refused by the running shop; a token of
// the wrong service is denied; the operator's calls (DeliveryStarted,
// DeliveryDone) pass for the operator only; the shop made its key in
// -data-dir, 0600.
func TestInternalGRPCNeedsServiceIdentity(t *testing.T) {
	sys := startSystem(t)
	keyFile := filepath.Join(sys.dataDir, svcauth.KeyFileName)
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("service key %s: %v %v, want a 0600 file", keyFile, st, err)
	}
	key, err := svcauth.LoadOrCreateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, caller string) codes.Code {
		svc := svcauth.Audience(method)
		conn, err := grpc.NewClient(sys.shop.grpcAddrs[svc], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if caller != "" {
			tok, err := svcauth.Sign(key, caller, svc, time.Now(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			ctx = metadata.AppendToOutgoingContext(ctx, svcauth.MetadataKey, tok)
		}
		return status.Code(conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{}))
	}
	for _, m := range []string{
		paymentv1.PaymentService_RefundPayment_FullMethodName,
		paymentv1.PaymentService_MakePayment_FullMethodName,
		paymentv1.PaymentService_GetPayment_FullMethodName,
		productv1.ProductService_ReserveStock_FullMethodName,
		productv1.ProductService_ReleaseStock_FullMethodName,
		userv1.UserService_GetUserInfo_FullMethodName,
		notificationv1.NotificationService_SendPaymentNotification_FullMethodName,
		orderv1.OrderService_DeliveryStarted_FullMethodName,
		orderv1.OrderService_DeliveryDone_FullMethodName,
	} {
		if got := call(m, ""); got != codes.Unauthenticated {
			t.Errorf("%s without credential: %v, want Unauthenticated", m, got)
		}
		if got := call(m, config.Payment); got != codes.PermissionDenied {
			t.Errorf("%s as the payment service: %v, want PermissionDenied", m, got)
		}
	}
	// The operator may move an order, and only the operator: the guard lets
	// the call through to the service, which refuses its empty id.
	for _, m := range []string{orderv1.OrderService_DeliveryStarted_FullMethodName, orderv1.OrderService_DeliveryDone_FullMethodName} {
		if got := call(m, svcauth.Operator); got != codes.InvalidArgument {
			t.Errorf("%s as the operator: %v, want InvalidArgument (past the guard, no order id)", m, got)
		}
		for _, svc := range []string{config.Order, config.Notification} {
			if got := call(m, svc); got != codes.PermissionDenied {
				t.Errorf("%s as the %s service: %v, want PermissionDenied", m, svc, got)
			}
		}
	}
}
