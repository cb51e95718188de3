package notification

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/token"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
)

type builtEnv struct {
	comp   *Component
	reg    *prometheus.Registry
	signer *token.Signer
	client notificationv1.NotificationServiceClient
}

// build assembles the service with Build on deps (to which it adds a
// registry and a token verifier) and serves its gRPC API over bufconn.
func build(t *testing.T, deps Deps) *builtEnv {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := &builtEnv{reg: prometheus.NewPedanticRegistry(), signer: signer}
	deps.Registerer = env.reg
	deps.Verifier = signer.Verifier()
	if env.comp, err = Build(t.Context(), deps); err != nil {
		t.Fatal(err)
	}

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	env.comp.RegisterGRPC(srv)
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

// get serves GET /notification?orderId=orderID as user through the
// component's handler and returns the status code.
func (e *builtEnv) get(t *testing.T, user, orderID string) int {
	t.Helper()
	p, err := e.signer.IssuePair(user, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/notification?orderId="+orderID, nil)
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	rec := httptest.NewRecorder()
	e.comp.HTTPHandler.ServeHTTP(rec, req)
	return rec.Code
}

// TestBuildSendsAndServesTheOwner: the assembled service sends over gRPC,
// answers a repeat without sending again, lets the owner alone read the
// notification over HTTP, and has no background work.
func TestBuildSendsAndServesTheOwner(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{}
	env := build(t, Deps{DB: newTestDB(t), Sender: sender})
	if len(env.comp.Background) != 0 {
		t.Errorf("%d background functions, want none", len(env.comp.Background))
	}
	req := &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder, UserId: testUser}
	for range 2 {
		resp, err := env.client.SendPaymentNotification(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT {
			t.Fatalf("status %v, want SENT", resp.GetStatus())
		}
	}
	if calls, sent := sender.counts(); calls != 1 || sent != 1 {
		t.Errorf("sender calls %d, sent %d; want 1 and 1", calls, sent)
	}

	if code := env.get(t, testUser, testOrder); code != http.StatusOK {
		t.Errorf("GET /notification by the owner: %d, want 200", code)
	}
	if code := env.get(t, "user-2", testOrder); code != http.StatusNotFound {
		t.Errorf("GET /notification by another user: %d, want 404", code)
	}

	if n, err := testutil.GatherAndCount(env.reg, "kitshop_notification_requests_total"); err != nil || n == 0 {
		t.Errorf("kitshop_notification_requests_total: %d series (%v)", n, err)
	}
}

func TestBuildNeedsDependencies(t *testing.T) {
	t.Parallel()
	if _, err := Build(t.Context(), Deps{}); err == nil {
		t.Error("Build without dependencies succeeded")
	}
	if _, err := Build(t.Context(), Deps{DB: newTestDB(t)}); err == nil {
		t.Error("Build without a token verifier succeeded")
	}
}
