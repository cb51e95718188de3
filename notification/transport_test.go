package notification

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
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
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
)

// transportEnv serves a service on fakes over bufconn gRPC (with the shared
// grpcserver interceptors) and over the HTTP handler wrapped by httpserver.New.
type transportEnv struct {
	*serviceFixture
	client  notificationv1.NotificationServiceClient
	http    http.Handler
	signer  *token.Signer
	expired *token.Signer // same key, tokens issued an hour ago
}

func newTransportEnv(t *testing.T) *transportEnv {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := token.NewSigner(key, token.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	f := newServiceFixture(t, Options{})
	set := NewSet(f.svc, signer.Verifier(), nil, nil)
	env := &transportEnv{
		serviceFixture: f,
		http:           httpserver.New(NewHTTPHandler(set), httpserver.Options{}),
		signer:         signer,
		expired:        expired,
	}

	lis := bufconn.Listen(1 << 20)
	srv := grpcserver.New(grpcserver.Options{})
	notificationv1.RegisterNotificationServiceServer(srv, NewGRPCServer(set))
	srv.Ready()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	env.client = notificationv1.NewNotificationServiceClient(conn)
	return env
}

func (e *transportEnv) accessToken(t *testing.T, s *token.Signer, user string) string {
	t.Helper()
	p, err := s.IssuePair(user, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

func wantCode(t *testing.T, err error, want codes.Code, msgPart string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want || !strings.Contains(st.Message(), msgPart) {
		t.Fatalf("err = %v, want %v with a message containing %q", err, want, msgPart)
	}
}

func TestGRPCSendPaymentNotification(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	ctx := context.Background()
	req := &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder, UserId: testUser}
	resp, err := env.client.SendPaymentNotification(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT || resp.GetTo() != testTo ||
		resp.GetFrom() != DefaultFrom || !strings.Contains(resp.GetSubject(), testOrder) || !strings.Contains(resp.GetContent(), testOrder) {
		t.Errorf("response = %v", resp)
	}
	// A repeat is the same answer, not a second e-mail.
	again, err := env.client.SendPaymentNotification(ctx, req)
	if err != nil || again.GetSubject() != resp.GetSubject() || again.GetStatus() != resp.GetStatus() {
		t.Errorf("repeat = %v, %v", again, err)
	}
	if calls, _ := env.sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}

	_, err = env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: "nope", OrderId: testOrder, UserId: testUser})
	wantCode(t, err, codes.InvalidArgument, "to must be an e-mail address")
	_, err = env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: testTo, UserId: testUser})
	wantCode(t, err, codes.InvalidArgument, "orderId is required")
	_, err = env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder})
	wantCode(t, err, codes.InvalidArgument, "userId is required")
	_, err = env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: "eve@example.com", OrderId: testOrder, UserId: testUser})
	wantCode(t, err, codes.AlreadyExists, "another recipient")
}

func TestGRPCSendPaymentNotificationUnavailable(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	ctx := context.Background()
	env.sender.setFn(func(context.Context, int, Message) error {
		return errors.New("dial tcp 10.0.0.7:25: connection refused")
	})
	req := &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder, UserId: testUser}
	_, err := env.client.SendPaymentNotification(ctx, req)
	wantCode(t, err, codes.Unavailable, ErrSendFailed.Error())
	if strings.Contains(status.Convert(err).Message(), "10.0.0.7") {
		t.Errorf("message %q leaks the sender's error", status.Convert(err).Message())
	}
	// Nothing sent, nothing marked Sent; the retry sends.
	got, err := env.client.GetNotification(ctx, &notificationv1.GetNotificationRequest{OrderId: testOrder})
	if err != nil || got.GetNotification().GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_PENDING || got.GetNotification().GetSentAt() != nil {
		t.Fatalf("after a failed send: %v, %v; want Pending without sent_at", got, err)
	}
	env.sender.setFn(nil)
	resp, err := env.client.SendPaymentNotification(ctx, req)
	if err != nil || resp.GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT {
		t.Fatalf("retry = %v, %v", resp, err)
	}
	if _, sent := env.sender.counts(); sent != 1 {
		t.Errorf("sent %d, want 1", sent)
	}

	// Someone else holds the lease on another order: Unavailable too.
	now := env.clock.Now()
	if err = env.store.Insert(ctx, pendingNotification("order-2", now), Lease{Owner: "other", Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err = env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: "order-2", UserId: testUser})
	wantCode(t, err, codes.Unavailable, "being sent")
}

func TestGRPCInternalErrorHidesCause(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	env.store.setFail(errStoreDown)
	_, err := env.client.SendPaymentNotification(context.Background(), &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder, UserId: testUser})
	wantCode(t, err, codes.Internal, "internal error")
	if strings.Contains(status.Convert(err).Message(), errStoreDown.Error()) {
		t.Errorf("message %q leaks the cause", status.Convert(err).Message())
	}
	_, err = env.client.GetNotification(context.Background(), &notificationv1.GetNotificationRequest{OrderId: testOrder})
	wantCode(t, err, codes.Internal, "internal error")
}

func TestGRPCGetNotification(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	ctx := context.Background()
	sent, err := env.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := env.client.GetNotification(ctx, &notificationv1.GetNotificationRequest{OrderId: testOrder})
	if err != nil {
		t.Fatal(err)
	}
	n := resp.GetNotification()
	if n.GetId() != testOrder || n.GetOrderId() != testOrder || n.GetUserId() != testUser || n.GetTo() != testTo ||
		n.GetFrom() != sent.From || n.GetSubject() != sent.Subject || n.GetContent() != sent.Content ||
		n.GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT ||
		!n.GetCreatedAt().AsTime().Equal(sent.CreatedAt) || !n.GetSentAt().AsTime().Equal(sent.SentAt) {
		t.Errorf("GetNotification = %v, want %+v", n, sent)
	}
	_, err = env.client.GetNotification(ctx, &notificationv1.GetNotificationRequest{OrderId: "order-2"})
	wantCode(t, err, codes.NotFound, "not found")
	_, err = env.client.GetNotification(ctx, &notificationv1.GetNotificationRequest{})
	wantCode(t, err, codes.InvalidArgument, "orderId is required")
}

// httpResult is a decoded HTTP answer.
type httpResult struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *transportEnv) get(t *testing.T, target, authorization string) httpResult {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	e.http.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", target, rec.Body.String(), err)
	}
	return httpResult{status: rec.Code, header: rec.Header(), body: body}
}

func (r httpResult) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestHTTPGetNotification(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	ctx := context.Background()
	sent, err := env.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil {
		t.Fatal(err)
	}
	owner := "Bearer " + env.accessToken(t, env.signer, testUser)

	r := env.get(t, "/notification?orderId="+testOrder, owner)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %v", r.status, r.body)
	}
	want := map[string]any{
		"id": testOrder, "orderId": testOrder, "from": sent.From, "to": testTo, "subject": sent.Subject,
		"content": sent.Content, "status": "Sent",
		"createdAt": sent.CreatedAt.Format(time.RFC3339Nano), "sentAt": sent.SentAt.Format(time.RFC3339Nano),
	}
	if len(r.body) != len(want) {
		t.Errorf("body has keys %v, want exactly %v", r.body, want)
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %v, want %v", k, r.body[k], v)
		}
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}

	// A Pending notification has sentAt null.
	now := env.clock.Now()
	if err = env.store.Insert(ctx, pendingNotification("order-2", now), Lease{Owner: "o", Until: now}); err != nil {
		t.Fatal(err)
	}
	r = env.get(t, "/notification?orderId=order-2", owner)
	if v, ok := r.body["sentAt"]; r.status != http.StatusOK || r.body["status"] != "Pending" || !ok || v != nil {
		t.Errorf("pending: status %d, body %v; want 200, Pending, sentAt null", r.status, r.body)
	}
}

func TestHTTPGetNotificationErrors(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	if _, err := env.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser); err != nil {
		t.Fatal(err)
	}
	owner := "Bearer " + env.accessToken(t, env.signer, testUser)
	stranger := "Bearer " + env.accessToken(t, env.signer, "user-2")
	expired := "Bearer " + env.accessToken(t, env.expired, testUser)
	tests := []struct {
		name, target, auth string
		status             int
		code               string
		challenge          bool
	}{
		{"another user's order", "/notification?orderId=" + testOrder, stranger, http.StatusNotFound, "not_found", false},
		{"unknown order", "/notification?orderId=order-2", owner, http.StatusNotFound, "not_found", false},
		{"no orderId", "/notification", owner, http.StatusBadRequest, "invalid_argument", false},
		{"empty orderId", "/notification?orderId=", owner, http.StatusBadRequest, "invalid_argument", false},
		{"no token", "/notification?orderId=" + testOrder, "", http.StatusUnauthorized, "unauthenticated", true},
		{"no token, no orderId", "/notification", "", http.StatusUnauthorized, "unauthenticated", true},
		{"basic auth", "/notification?orderId=" + testOrder, "Basic YTpi", http.StatusUnauthorized, "unauthenticated", true},
		{"garbage token", "/notification?orderId=" + testOrder, "Bearer not.a.jwt", http.StatusUnauthorized, "invalid_token", true},
		{"expired token", "/notification?orderId=" + testOrder, expired, http.StatusUnauthorized, "token_expired", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := env.get(t, tt.target, tt.auth)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Fatalf("status %d code %q (body %v), want %d %q", r.status, r.errorCode(), r.body, tt.status, tt.code)
			}
			if got := r.header.Get("WWW-Authenticate"); (got != "") != tt.challenge {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if _, leaked := r.body["to"]; leaked {
				t.Errorf("error body leaks the notification: %v", r.body)
			}
		})
	}
}

func TestHTTPGetNotificationStoreDownIs500(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	env.store.setFail(errStoreDown)
	r := env.get(t, "/notification?orderId="+testOrder, "Bearer "+env.accessToken(t, env.signer, testUser))
	e, _ := r.body["error"].(map[string]any)
	if r.status != http.StatusInternalServerError || e["code"] != "internal" || e["message"] != "internal error" {
		t.Errorf("status %d, body %v; want 500 internal error", r.status, r.body)
	}
}
