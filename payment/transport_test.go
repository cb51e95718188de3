package payment

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// transportFixture is a service on an in-memory store and the simulator, served over bufconn gRPC and
// httptest, with a token signer standing in for the user service.
type transportFixture struct {
	store  *memStore
	client paymentv1.PaymentServiceClient
	http   *httptest.Server
	signer *token.Signer
	key    ed25519.PrivateKey // the signer's key
}

func newTransportFixture(t *testing.T, proc Processor) *transportFixture {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	set := NewSet(newTestService(t, store, proc), signer.Verifier(), nil, nil)

	srv := grpcserver.New(grpcserver.Options{})
	paymentv1.RegisterPaymentServiceServer(srv, NewGRPCServer(set))
	srv.Ready()
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	h := httptest.NewServer(httpserver.New(NewHTTPHandler(set), httpserver.Options{}))
	t.Cleanup(h.Close)
	return &transportFixture{store: store, client: paymentv1.NewPaymentServiceClient(conn), http: h, signer: signer, key: key}
}

func grpcCardRequest(orderID, number string) *paymentv1.MakePaymentRequest {
	return &paymentv1.MakePaymentRequest{
		OrderId:             orderID,
		PaymentMethod:       paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD,
		PaymentName:         "Hong Gildong",
		CardNumber:          number,
		ExpiryYear:          "29",
		ExpiryMonth:         "12",
		BirthOrRegistration: "880715",
		PasswordTwoDigits:   "58",
		Amount:              9500,
		UserEmail:           "buyer@example.com",
	}
}

// wantCode fails unless err is a gRPC status with code and, when msg is not empty, message msg.
func wantCode(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || (msg != "" && st.Message() != msg) {
		t.Errorf("%s: got %s %q, want %s %q", what, st.Code(), st.Message(), code, msg)
	}
}

func TestGRPCMakePayment(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t, NewSimulator(SimulatorOptions{}))
	ctx := context.Background()

	resp, err := f.client.MakePayment(ctx, grpcCardRequest("order-1", "4242 4242 4242 4242"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetId() == "" || resp.GetPaymentStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED ||
		resp.GetPaymentMethod() != paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD || resp.GetAmount() != 9500 ||
		resp.GetMaskedCardNumber() != "**** **** **** 4242" || resp.GetReason() != "" {
		t.Errorf("approved: got %v", resp)
	}
	again, err := f.client.MakePayment(ctx, grpcCardRequest("order-1", "4242424242424242"))
	if err != nil || again.GetId() != resp.GetId() {
		t.Errorf("repeat: got %v, %v; want payment %s", again, err, resp.GetId())
	}

	declined, err := f.client.MakePayment(ctx, grpcCardRequest("order-2", TestCardInsufficientFunds))
	if err != nil || declined.GetPaymentStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_REJECTED || declined.GetReason() != ReasonInsufficientFunds {
		t.Errorf("declined: got %v, %v; want REJECTED insufficient_funds and no error", declined, err)
	}

	kakao, err := f.client.MakePayment(ctx, &paymentv1.MakePaymentRequest{
		OrderId: "order-3", PaymentMethod: paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO, Amount: 1000, UserEmail: "k@example.com",
	})
	if err != nil || kakao.GetPaymentStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED || kakao.GetPaymentMethod() != paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO {
		t.Errorf("kakao: got %v, %v", kakao, err)
	}

	other := grpcCardRequest("order-1", TestCardApproved)
	other.Amount = 1
	_, err = f.client.MakePayment(ctx, other)
	wantCode(t, "other amount", err, codes.AlreadyExists, ErrConflict.Error())

	noOrder := grpcCardRequest("", TestCardApproved)
	_, err = f.client.MakePayment(ctx, noOrder)
	wantCode(t, "no order id", err, codes.InvalidArgument, "orderId is required")
	noMethod := grpcCardRequest("order-4", TestCardApproved)
	noMethod.PaymentMethod = paymentv1.PaymentMethod_PAYMENT_METHOD_UNSPECIFIED
	_, err = f.client.MakePayment(ctx, noMethod)
	wantCode(t, "no method", err, codes.InvalidArgument, "paymentMethod must be CreditCard or Kakao")
	unknownMethod := grpcCardRequest("order-4", TestCardApproved)
	unknownMethod.PaymentMethod = paymentv1.PaymentMethod(42)
	_, err = f.client.MakePayment(ctx, unknownMethod)
	wantCode(t, "unknown method", err, codes.InvalidArgument, "paymentMethod must be CreditCard or Kakao")
	_, err = f.client.MakePayment(ctx, grpcCardRequest("order-4", "4242424242424241"))
	wantCode(t, "luhn", err, codes.InvalidArgument, "cardNumber is not a valid card number (Luhn check failed)")

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = f.client.MakePayment(short, grpcCardRequest("order-5", TestCardHang))
	wantCode(t, "hang", err, codes.DeadlineExceeded, "")
	// The payment is pending; a repeat finishes it.
	finished, err := f.client.MakePayment(ctx, grpcCardRequest("order-5", TestCardHang))
	if err != nil || finished.GetPaymentStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED {
		t.Errorf("repeat after the deadline: %v, %v; want APPROVED", finished, err)
	}
}

func TestGRPCInfrastructureFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	f := newTransportFixture(t, brokenProcessor{})
	_, err := f.client.MakePayment(ctx, grpcCardRequest("order-1", TestCardApproved))
	wantCode(t, "processor down", err, codes.Unavailable, ErrProcessorUnavailable.Error())

	f = newTransportFixture(t, NewSimulator(SimulatorOptions{}))
	f.store.fail = errors.New("store down: secret detail")
	_, err = f.client.MakePayment(ctx, grpcCardRequest("order-1", TestCardApproved))
	wantCode(t, "store down MakePayment", err, codes.Internal, "internal error")
	_, err = f.client.GetPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: "order-1"})
	wantCode(t, "store down GetPayment", err, codes.Internal, "internal error")
	_, err = f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: "order-1"})
	wantCode(t, "store down RefundPayment", err, codes.Internal, "internal error")
}

func TestGRPCRefundAndGetPayment(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t, NewSimulator(SimulatorOptions{}))
	ctx := context.Background()
	made, err := f.client.MakePayment(ctx, grpcCardRequest("order-1", TestCardApproved))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.MakePayment(ctx, grpcCardRequest("order-2", TestCardStolen)); err != nil {
		t.Fatal(err)
	}

	got, err := f.client.GetPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: "order-1"})
	p := got.GetPayment()
	if err != nil || p.GetId() != made.GetId() || p.GetOrderId() != "order-1" || p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED ||
		p.GetMethod() != paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD || p.GetPaymentName() != "Hong Gildong" || p.GetAmount() != 9500 ||
		p.GetMaskedCardNumber() != "**** **** **** 4242" || p.GetUserEmail() != "buyer@example.com" || !p.GetCreatedAt().AsTime().Equal(testNow) {
		t.Errorf("GetPayment: %v, %v", got, err)
	}
	_, err = f.client.GetPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: "order-x"})
	wantCode(t, "get unknown", err, codes.NotFound, ErrNotFound.Error())
	_, err = f.client.GetPayment(ctx, &paymentv1.GetPaymentRequest{})
	wantCode(t, "get without id", err, codes.InvalidArgument, "orderId is required")

	refunded, err := f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: "order-1"})
	if err != nil || refunded.GetPayment().GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED {
		t.Errorf("refund: %v, %v; want REFUNDED", refunded, err)
	}
	again, err := f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: "order-1"})
	if err != nil || again.GetPayment().GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED {
		t.Errorf("second refund: %v, %v; want REFUNDED", again, err)
	}
	_, err = f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: "order-2"})
	wantCode(t, "refund rejected", err, codes.FailedPrecondition, "the payment cannot be refunded: it was rejected (stolen_card), nothing was charged")
	_, err = f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: "order-x"})
	wantCode(t, "refund unknown", err, codes.NotFound, ErrNotFound.Error())
	_, err = f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{})
	wantCode(t, "refund without id", err, codes.InvalidArgument, "orderId is required")
}

func TestHTTPGetPayment(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t, NewSimulator(SimulatorOptions{}))
	made, err := f.client.MakePayment(context.Background(), grpcCardRequest("order-1", TestCardApproved))
	if err != nil {
		t.Fatal(err)
	}
	admin := bearer(t, f.signer, token.RoleAdmin)
	user := bearer(t, f.signer, token.RoleUser)
	past, err := token.NewSigner(f.key, token.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	expired := bearer(t, past, token.RoleAdmin)

	for _, tt := range []struct {
		name, method, path, auth string
		status                   int
		code, msg                string
	}{
		{"no token", "GET", "/payment/order-1", "", 401, "unauthenticated", token.ErrMissingToken.Error()},
		{"basic auth", "GET", "/payment/order-1", "Basic YTpi", 401, "unauthenticated", "token: missing bearer token: authorization scheme is not Bearer"},
		{"garbage token", "GET", "/payment/order-1", "Bearer abc.def.ghi", 401, "invalid_token", "token: invalid token: malformed"},
		{"expired token", "GET", "/payment/order-1", expired, 401, "token_expired", token.ErrExpired.Error()},
		{"user role", "GET", "/payment/order-1", user, 403, "permission_denied", token.ErrForbidden.Error()},
		{"unknown order", "GET", "/payment/order-x", admin, 404, "not_found", ErrNotFound.Error()},
		{"bad order id", "GET", "/payment/a%20b", admin, 400, "invalid_argument", "orderId must be at most 128 bytes of text without spaces or control characters"},
		{"long order id", "GET", "/payment/" + strings.Repeat("x", 129), admin, 400, "invalid_argument", "orderId must be at most 128 bytes of text without spaces or control characters"},
		{"no POST /payment", "POST", "/payment", admin, 404, "", ""},
		{"no POST /payment/{id}", "POST", "/payment/order-1", admin, 405, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := httpDo(t, f.http, tt.method, tt.path, tt.auth)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				return
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || e.Error.Message != tt.msg {
				t.Errorf("body %s, want code %q message %q", body, tt.code, tt.msg)
			}
			if tt.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
		})
	}

	res, body := httpDo(t, f.http, "GET", "/payment/order-1", admin)
	if res.StatusCode != 200 {
		t.Fatalf("admin: status %d, body %s", res.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"id": made.GetId(), "orderId": "order-1", "paymentStatus": "Approved", "paymentMethod": "CreditCard",
		"paymentName": "Hong Gildong", "amount": 9500.0, "maskedCardNumber": "**** **** **** 4242",
		"userEmail": "buyer@example.com", "reason": "", "createdAt": "2026-03-15T10:00:00Z",
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (body %s)", k, got[k], want, body)
		}
	}
	if strings.Contains(string(body), "cardHmac") || strings.Contains(string(body), "ingerprint") {
		t.Errorf("the card fingerprint is exposed: %s", body)
	}

	f.store.fail = errors.New("store down: secret detail")
	res, body = httpDo(t, f.http, "GET", "/payment/order-1", admin)
	if res.StatusCode != 500 || strings.Contains(string(body), "secret detail") {
		t.Errorf("store down: status %d body %s; want 500 without the cause", res.StatusCode, body)
	}
}

func bearer(t *testing.T, s *token.Signer, role token.Role) string {
	t.Helper()
	pair, err := s.IssuePair("user-1", role, "")
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + pair.AccessToken
}

func httpDo(t *testing.T, srv *httptest.Server, method, path, auth string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}
