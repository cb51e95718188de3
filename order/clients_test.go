package order

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/grpcclient"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// depServers implements the four dependencies over gRPC, minimally.
type depServers struct {
	userv1.UnimplementedUserServiceServer
	productv1.UnimplementedProductServiceServer
	paymentv1.UnimplementedPaymentServiceServer
	notificationv1.UnimplementedNotificationServiceServer

	paymentHits atomic.Int64
	paymentDown atomic.Bool
	userHits    atomic.Int64
	mu          sync.Mutex
	notified    []*notificationv1.SendPaymentNotificationRequest
	asked       [][]string // the product ids of each GetProductsInfo
}

func (s *depServers) GetUserInfo(_ context.Context, r *userv1.GetUserInfoRequest) (*userv1.GetUserInfoResponse, error) {
	s.userHits.Add(1)
	if r.GetUserId() != alice {
		return nil, status.Error(codes.NotFound, "no such user")
	}
	return &userv1.GetUserInfoResponse{Id: alice, Email: "alice@example.com", Name: "Alice"}, nil
}

func (s *depServers) GetProductsInfo(_ context.Context, r *productv1.GetProductsInfoRequest) (*productv1.GetProductsInfoResponse, error) {
	s.mu.Lock()
	s.asked = append(s.asked, r.GetProductIds())
	s.mu.Unlock()
	var out []*productv1.Product
	for _, id := range r.GetProductIds() {
		switch id {
		case "p1":
			out = append(out, &productv1.Product{Id: "p1", Name: "Apple", Price: 1000, Stock: 100})
		case "p2":
			out = append(out, &productv1.Product{Id: "p2", Name: "Banana", Price: 2000, Stock: 0})
		default:
			return nil, status.Errorf(codes.NotFound, "products not found: %s", id)
		}
	}
	return &productv1.GetProductsInfoResponse{Products: out}, nil
}

func (s *depServers) ReserveStock(_ context.Context, r *productv1.ReserveStockRequest) (*productv1.ReserveStockResponse, error) {
	for _, it := range r.GetItems() {
		if it.GetProductId() == "p2" {
			return nil, status.Error(codes.FailedPrecondition, "not enough stock: p2")
		}
	}
	return &productv1.ReserveStockResponse{OrderId: r.GetOrderId(), Items: r.GetItems()}, nil
}

func (s *depServers) ReleaseStock(context.Context, *productv1.ReleaseStockRequest) (*productv1.ReleaseStockResponse, error) {
	return &productv1.ReleaseStockResponse{Released: true}, nil
}

func (s *depServers) MakePayment(_ context.Context, r *paymentv1.MakePaymentRequest) (*paymentv1.MakePaymentResponse, error) {
	s.paymentHits.Add(1)
	if s.paymentDown.Load() {
		return nil, status.Error(codes.Unavailable, "payment processor down")
	}
	if r.GetCardNumber() == "0000" {
		return nil, status.Error(codes.InvalidArgument, "card number fails the Luhn check")
	}
	return &paymentv1.MakePaymentResponse{Id: "pay-" + r.GetOrderId(), PaymentStatus: paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED,
		PaymentMethod: r.GetPaymentMethod(), Amount: r.GetAmount(), MaskedCardNumber: "**** **** **** 1111"}, nil
}

func (s *depServers) GetPayment(context.Context, *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	return nil, status.Error(codes.NotFound, "no payment")
}

func (s *depServers) RefundPayment(context.Context, *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	return nil, status.Error(codes.NotFound, "no payment")
}

func (s *depServers) SendPaymentNotification(_ context.Context, r *notificationv1.SendPaymentNotificationRequest) (*notificationv1.SendPaymentNotificationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notified = append(s.notified, r)
	return &notificationv1.SendPaymentNotificationResponse{To: r.GetTo(), Status: notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT}, nil
}

// productCalls returns the product ids of each GetProductsInfo so far.
func (s *depServers) productCalls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

// startDeps serves depServers over bufconn and returns the order service's
// gRPC clients of them, with a breaker that opens after two failures and the
// caches of cache.
func startDeps(t *testing.T, reg prometheus.Registerer, cache CacheOptions) (*depServers, Dependencies) {
	t.Helper()
	srv := &depServers{}
	return srv, serveDeps(t, srv, reg, cache)
}

// dependencyServer implements the four dependencies' gRPC services.
type dependencyServer interface {
	userv1.UserServiceServer
	productv1.ProductServiceServer
	paymentv1.PaymentServiceServer
	notificationv1.NotificationServiceServer
}

// serveDeps serves srv over bufconn and returns the order service's gRPC
// clients of it, as startDeps describes.
func serveDeps(t *testing.T, srv dependencyServer, reg prometheus.Registerer, cache CacheOptions) Dependencies {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	userv1.RegisterUserServiceServer(gs, srv)
	productv1.RegisterProductServiceServer(gs, srv)
	paymentv1.RegisterPaymentServiceServer(gs, srv)
	notificationv1.RegisterNotificationServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpcclient.Dial("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cfg := grpcclient.DefaultConfig()
	cfg.MaxAttempts = 2
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, time.Millisecond
	cfg.BreakerFailures = 2
	cfg.BreakerOpenTimeout = time.Minute
	deps, err := NewDependencies(Conns{User: conn, Product: conn, Payment: conn, Notification: conn}, cfg, cache, grpcclient.NewMetrics(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

func TestClientsOverGRPC(t *testing.T) {
	t.Parallel()
	srv, deps := startDeps(t, nil, CacheOptions{})
	ctx := t.Context()

	if _, err := deps.Users.GetUser(ctx, "ghost"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := deps.Products.GetProducts(ctx, []string{"p1", "nope"}); !errors.Is(err, ErrProductNotFound) {
		t.Errorf("unknown product: %v", err)
	}
	if err := deps.Products.ReserveStock(ctx, "o", []Item{{"p2", 1}}); !errors.Is(err, ErrOutOfStock) {
		t.Errorf("out of stock: %v", err)
	}
	if _, err := deps.Payments.GetPayment(ctx, "o"); !errors.Is(err, ErrPaymentNotFound) {
		t.Errorf("no payment: %v", err)
	}
	if err := deps.Payments.RefundPayment(ctx, "o"); err != nil {
		t.Errorf("refund of no payment: %v, want nil (nothing to refund)", err)
	}
	_, err := deps.Payments.MakePayment(ctx, PaymentRequest{OrderID: "o", Details: PaymentDetails{Method: MethodKakao, CardNumber: "0000", Amount: 1}})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("refused card: %v", err)
	}
	p, err := deps.Payments.MakePayment(ctx, PaymentRequest{OrderID: "o", Details: PaymentDetails{Method: MethodKakao, Amount: 5}})
	if err != nil || p.Status != PaymentApproved || p.Method != MethodKakao || p.Amount != 5 || p.ID != "pay-o" {
		t.Errorf("payment %+v %v", p, err)
	}
	if err := deps.Notifier.SendPaymentNotification(ctx, "a@x", "o", alice); err != nil {
		t.Fatal(err)
	}
	if n := srv.notified[0]; n.GetTo() != "a@x" || n.GetOrderId() != "o" || n.GetUserId() != alice {
		t.Errorf("notification %v", n)
	}
}

// TestUserCache: a user's answer is reused within its TTL and asked again
// after it; an unknown user is never cached; a zero TTL caches nothing.
func TestUserCache(t *testing.T) {
	t.Parallel()
	srv, deps := startDeps(t, nil, DefaultCacheOptions())
	ctx := t.Context()
	for range 3 {
		if u, err := deps.Users.GetUser(ctx, alice); err != nil || u.Email != "alice@example.com" {
			t.Fatalf("GetUser: %+v %v", u, err)
		}
	}
	if n := srv.userHits.Load(); n != 1 {
		t.Errorf("%d calls to the user service for three GetUser, want 1 (cached)", n)
	}
	for range 2 {
		if _, err := deps.Users.GetUser(ctx, "ghost"); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	}
	if n := srv.userHits.Load(); n != 3 {
		t.Errorf("%d calls after two unknown users, want 3 (a miss is not cached)", n)
	}

	// The library reads the real clock (it takes no injected one): a TTL of
	// a millisecond is over once the test has slept longer than that.
	srv, deps = startDeps(t, nil, CacheOptions{UserTTL: time.Millisecond})
	if _, err := deps.Users.GetUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := deps.Users.GetUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if n := srv.userHits.Load(); n != 2 {
		t.Errorf("%d calls across an expired TTL, want 2", n)
	}

	srv, deps = startDeps(t, nil, CacheOptions{UserTTL: 0, ProductTTL: -time.Second})
	for range 2 {
		if _, err := deps.Users.GetUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := deps.Products.GetProducts(ctx, []string{"p1"}); err != nil {
			t.Fatal(err)
		}
	}
	if u, p := srv.userHits.Load(), len(srv.productCalls()); u != 2 || p != 2 {
		t.Errorf("no caches: %d user and %d product calls, want 2 and 2", u, p)
	}
}

// TestProductCache: products come back in the order asked, whether cached
// or not; only the ids the cache lacks are asked for; an unknown id is
// ErrProductNotFound and is asked again the next time.
func TestProductCache(t *testing.T) {
	t.Parallel()
	srv, deps := startDeps(t, nil, DefaultCacheOptions())
	ctx := t.Context()
	names := func(ps []Product) string {
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%s:%d", p.ID, p.Price))
		}
		return fmt.Sprint(s)
	}
	got, err := deps.Products.GetProducts(ctx, []string{"p2"})
	if err != nil || names(got) != "[p2:2000]" {
		t.Fatalf("GetProducts(p2): %s %v", names(got), err)
	}
	got, err = deps.Products.GetProducts(ctx, []string{"p1", "p2", "p1"})
	if err != nil || names(got) != "[p1:1000 p2:2000 p1:1000]" {
		t.Fatalf("GetProducts(p1 p2 p1): %s %v, want them in the order asked", names(got), err)
	}
	got, err = deps.Products.GetProducts(ctx, []string{"p2", "p1"})
	if err != nil || names(got) != "[p2:2000 p1:1000]" {
		t.Fatalf("GetProducts(p2 p1): %s %v", names(got), err)
	}
	if calls := fmt.Sprint(srv.productCalls()); calls != "[[p2] [p1]]" {
		t.Errorf("product service asked %s, want [[p2] [p1]] (cached ones not asked again)", calls)
	}
	for range 2 {
		if _, err := deps.Products.GetProducts(ctx, []string{"p1", "nope"}); !errors.Is(err, ErrProductNotFound) || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("unknown product: %v, want ErrProductNotFound naming it", err)
		}
	}
	if calls := fmt.Sprint(srv.productCalls()); calls != "[[p2] [p1] [nope] [nope]]" {
		t.Errorf("product service asked %s, want the unknown id asked each time", calls)
	}

	srv, deps = startDeps(t, nil, CacheOptions{ProductTTL: time.Millisecond})
	for range 2 {
		if _, err := deps.Products.GetProducts(ctx, []string{"p1"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // past the TTL (see TestUserCache)
	}
	if n := len(srv.productCalls()); n != 2 {
		t.Errorf("%d product calls across an expired TTL, want 2", n)
	}
}

// TestBreakerOpenCancelsOrderAtOnce: with the payment service down, the first
// order's payment fails after retries (outcome unknown: the order stays
// Pending for the sweeper) and opens the breaker; the next order is refused
// at once without reaching the payment service, and cancelled.
func TestBreakerOpenCancelsOrderAtOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	srv, deps := startDeps(t, reg, DefaultCacheOptions())
	e := newEnv(t)
	svc, err := NewService(e.store, deps, Options{Now: e.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := validOrder()
	req.Items = nil // two p1: 2000
	req.Payment.Amount = 2000

	o, _, err := svc.CreateOrder(t.Context(), alice, req)
	if err != nil || o.Status != StatusDeliveryStarted {
		t.Fatalf("healthy: %v %s", err, o.Status)
	}
	srv.paymentDown.Store(true)
	_, _, err = svc.CreateOrder(t.Context(), alice, req)
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || unavailable.Refused {
		t.Fatalf("payment down: %v, want *UnavailableError after real attempts", err)
	}
	if got, _ := e.store.Get(t.Context(), unavailable.OrderID); got.Status != StatusPending {
		t.Errorf("order %s, want Pending (the outcome is unknown)", got.Status)
	}
	hits := srv.paymentHits.Load()
	if hits != 3 {
		t.Errorf("payment hits %d, want 3 (1 healthy + 2 attempts)", hits)
	}

	_, _, err = svc.CreateOrder(t.Context(), alice, req)
	if !errors.As(err, &unavailable) || !unavailable.Refused || unavailable.RetryAfter <= 0 {
		t.Fatalf("breaker open: %v, want a refused *UnavailableError with RetryAfter", err)
	}
	if srv.paymentHits.Load() != hits {
		t.Error("the open breaker let a call through")
	}
	if got, _ := e.store.Get(t.Context(), unavailable.OrderID); got.Status != StatusPaymentCancelled {
		t.Errorf("order %s, want PaymentCancelled at once", got.Status)
	}
	if v := gauge(t, reg, "kitshop_circuit_breaker_state", "payment", "MakePayment", ""); v != 2 {
		t.Errorf("breaker state %v, want 2 (open)", v)
	}
	if v := gauge(t, reg, "kitshop_client_requests_total", "payment", "MakePayment", "breaker_open"); v != 1 {
		t.Errorf("breaker_open requests %v, want 1", v)
	}
	if v := gauge(t, reg, "kitshop_client_requests_total", "payment", "MakePayment", "unavailable"); v != 1 {
		t.Errorf("unavailable requests %v, want 1 (one call, two attempts)", v)
	}
	if v := gauge(t, reg, "kitshop_circuit_breaker_state", "product", "ReserveStock", ""); v != 0 {
		t.Errorf("product breaker %v, want 0 (closed)", v)
	}
}

// gauge returns the value of the series of name with the given labels
// (outcome "" for a series without it).
func gauge(t *testing.T, g prometheus.Gatherer, name, dep, method, outcome string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["dependency"] == dep && l["method"] == method && l["outcome"] == outcome {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{dependency=%q,method=%q,outcome=%q}", name, dep, method, outcome)
	return 0
}
