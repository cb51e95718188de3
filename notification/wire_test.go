package notification

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/token"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// fakeOrderServer is an OrderService that records DeliveryStarted calls.
type fakeOrderServer struct {
	orderv1.UnimplementedOrderServiceServer
	mu  sync.Mutex
	ids map[string]int
}

func (s *fakeOrderServer) DeliveryStarted(_ context.Context, req *orderv1.DeliveryStartedRequest) (*orderv1.DeliveryStartedResponse, error) {
	if req.GetId() == "unknown-order" {
		return nil, status.Error(codes.NotFound, "order not found")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[req.GetId()]++
	return &orderv1.DeliveryStartedResponse{Order: &orderv1.Order{Id: req.GetId(), Status: orderv1.OrderStatus_ORDER_STATUS_DELIVERY_STARTED}}, nil
}

func (s *fakeOrderServer) calls(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// startFakeOrderServer serves a fake OrderService on addr until the test ends.
func startFakeOrderServer(t *testing.T, addr string) *fakeOrderServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeOrderServer{ids: make(map[string]int)}
	srv := grpc.NewServer()
	orderv1.RegisterOrderServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return fake
}

// downAddr returns a loopback address nobody listens on (yet).
func downAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err = lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// dialOrders connects to addr, reconnecting quickly once it comes up.
func dialOrders(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpcclient.Dial(addr, grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.5, Jitter: 0.2, MaxDelay: 50 * time.Millisecond},
		MinConnectTimeout: time.Second,
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// fastClient is a client configuration with short waits, so that tests
// finish quickly; nothing asserts durations.
func fastClient() grpcclient.Config {
	return grpcclient.Config{
		AttemptTimeout: time.Second, RetryBudget: 2 * time.Second, MaxAttempts: 2,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		BreakerFailures: 3, BreakerOpenTimeout: 50 * time.Millisecond, BreakerHalfOpenRequests: 1,
	}
}

type builtEnv struct {
	comp   *Component
	reg    *prometheus.Registry
	signer *token.Signer
	client notificationv1.NotificationServiceClient
	stop   func() // stops the background worker and waits for it
}

// build assembles the service with Build on db, calling the order service at
// orderAddr, serves its gRPC API over bufconn and runs its background worker.
func build(t *testing.T, db func() Deps, orderAddr string) *builtEnv {
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
	deps := db()
	deps.Registerer = env.reg
	deps.Verifier = signer.Verifier()
	deps.OrderConn = dialOrders(t, orderAddr)
	deps.Client = fastClient()
	deps.Delivery = DeliveryOptions{InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	env.comp, err = Build(t.Context(), deps)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.comp.Background) != 1 {
		t.Fatalf("%d background functions, want the delivery worker", len(env.comp.Background))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.comp.Background[0](ctx) }()
	var once sync.Once
	env.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker returned %v", err)
			}
		})
	}
	t.Cleanup(env.stop)

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

func (e *builtEnv) acknowledged(t *testing.T, orderID string) bool {
	t.Helper()
	n, err := e.comp.Service.GetNotification(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return n.DeliveryAcknowledged
}

// metric returns the value of the counter or gauge name whose label
// "outcome" is outcome ("" for an unlabelled metric), or 0 if absent.
func (e *builtEnv) metric(t *testing.T, name, outcome string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got string
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					got = l.GetValue()
				}
			}
			if got != outcome {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func (e *builtEnv) failedAttempts(t *testing.T) float64 {
	return e.metric(t, "kitshop_notification_delivery_attempts_total", "failed")
}

func TestBuildDeliveryStartRetriedUntilOrderServiceIsBack(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{}
	db := newTestDB(t)
	addr := downAddr(t)
	env := build(t, func() Deps { return Deps{DB: db, Sender: sender} }, addr)
	ctx := context.Background()

	resp, err := env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder, UserId: testUser})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT {
		t.Fatalf("status %v, want SENT although the order service is down", resp.GetStatus())
	}
	waitFor(t, "failed delivery starts", func() bool { return env.failedAttempts(t) >= 3 })
	if env.acknowledged(t, testOrder) {
		t.Fatal("acknowledged while the order service is down")
	}

	orders := startFakeOrderServer(t, addr)
	waitFor(t, "the acknowledgement", func() bool { return env.acknowledged(t, testOrder) })
	if orders.calls(testOrder) < 1 {
		t.Error("the order service never got DeliveryStarted")
	}
	if calls, _ := sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}

	// The owner reads it over HTTP through the component's handler.
	p, err := env.signer.IssuePair(testUser, token.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/notification?orderId="+testOrder, nil)
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	rec := httptest.NewRecorder()
	env.comp.HTTPHandler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("GET /notification: %d %s", rec.Code, rec.Body)
	}

	// Metrics of the service, the worker and the client are registered.
	for _, name := range []string{
		"kitshop_notification_requests_total", "kitshop_notification_delivery_attempts_total",
		"kitshop_notification_delivery_queue_length", "kitshop_client_requests_total",
	} {
		if n, err := testutil.GatherAndCount(env.reg, name); err != nil || n == 0 {
			t.Errorf("metric %s: %d series (%v)", name, n, err)
		}
	}
}

func TestBuildFinishesUnacknowledgedAfterRestart(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	addr := downAddr(t)
	first := build(t, func() Deps { return Deps{DB: db} }, addr)
	if _, err := first.client.SendPaymentNotification(context.Background(),
		&notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: testOrder, UserId: testUser}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed delivery start", func() bool { return first.failedAttempts(t) >= 1 })
	first.stop() // the process stops with the delivery start unacknowledged

	orders := startFakeOrderServer(t, addr)
	second := build(t, func() Deps { return Deps{DB: db} }, addr)
	waitFor(t, "the acknowledgement after the restart", func() bool { return second.acknowledged(t, testOrder) })
	if orders.calls(testOrder) < 1 {
		t.Error("the order service never got DeliveryStarted")
	}
}

func TestBuildOrderRejectionIsNotRetried(t *testing.T) {
	t.Parallel()
	addr := downAddr(t)
	orders := startFakeOrderServer(t, addr)
	env := build(t, func() Deps { db := newTestDB(t); return Deps{DB: db} }, addr)
	if _, err := env.client.SendPaymentNotification(context.Background(),
		&notificationv1.SendPaymentNotificationRequest{To: testTo, OrderId: "unknown-order", UserId: testUser}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejection", func() bool { return env.metric(t, "kitshop_notification_delivery_attempts_total", "rejected") == 1 })
	if env.acknowledged(t, "unknown-order") || orders.calls("unknown-order") != 0 {
		t.Error("a rejected delivery start counts as acknowledged")
	}
	if got := env.metric(t, "kitshop_notification_delivery_queue_length", ""); got != 0 {
		t.Errorf("queue length %v after a rejection, want 0", got)
	}
}

func TestBuildNeedsDependencies(t *testing.T) {
	t.Parallel()
	if _, err := Build(t.Context(), Deps{}); err == nil {
		t.Error("Build without dependencies succeeded")
	}
}
