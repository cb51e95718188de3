package order

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/edge/edgetest"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// transport is the service on fakes behind both transports.
type transport struct {
	*env
	url     string                     // HTTP base URL
	client  orderv1.OrderServiceClient // over bufconn
	tokens  map[string]string          // user → access token
	expired string                     // an expired token of alice
	http    *http.Client               // of do: http.DefaultClient unless validating
}

// validating makes do check every request and answer against the OpenAPI
// document (edgetest).
func (tr *transport) validating(t *testing.T) *transport {
	tr.http = &http.Client{Transport: edgetest.New(t, nil)}
	return tr
}

// admin is the admin of the transport tests' tokens.
const admin = "admin-1"

func newTransport(t *testing.T) *transport {
	t.Helper()
	e := newEnv(t)
	return newTransportOf(t, e, e.svc)
}

// newTransportOf serves svc behind both transports; e is the environment
// the test reaches through the transport.
func newTransportOf(t *testing.T, e *env, svc Service) *transport {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := token.NewSigner(key, token.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	tr := &transport{env: e, tokens: map[string]string{}, http: http.DefaultClient}
	for _, u := range []string{alice, bob} {
		p, err := signer.IssuePair(u, token.RoleUser, "")
		if err != nil {
			t.Fatal(err)
		}
		tr.tokens[u] = p.AccessToken
	}
	ap, err := signer.IssuePair(admin, token.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	tr.tokens[admin] = ap.AccessToken
	p, err := old.IssuePair(alice, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	tr.expired = p.AccessToken

	set := NewSet(svc, signer.Verifier(), nil, nil)
	hs := httptest.NewServer(httpserver.New(NewHTTPHandler(set), httpserver.Options{}))
	t.Cleanup(hs.Close)
	tr.url = hs.URL

	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	orderv1.RegisterOrderServiceServer(gs, NewGRPCServer(set))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tr.client = orderv1.NewOrderServiceClient(conn)
	return tr
}

// orderBody is a valid POST /order body for validOrder (total 4000).
const orderBody = `{
  "productIds": ["p1", "p1"],
  "items": [{"productId": "p2", "quantity": 1}],
  "address": {"name": "Alice", "street": "1 Main St", "city": "Seoul", "postalCode": "04524", "country": "KR"},
  "payment": {"paymentMethod": "CreditCard", "paymentName": "Alice", "cardNumber": "4111-1111-1111-1111",
              "expiryYear": "2030", "expiryMonth": "12", "birthOrRegistration": "900101",
              "passwordTwoDigits": "12", "amount": 4000}
}`

type httpAnswer struct {
	status int
	header http.Header
	body   string
}

func (tr *transport) do(t *testing.T, method, path, bearer, body string, header map[string]string) httpAnswer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, tr.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := tr.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// errorCode returns the "code" of a JSON error body.
func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error.Code
}

func TestHTTPCreateOrder(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	a := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], orderBody, nil)
	if a.status != http.StatusCreated {
		t.Fatalf("status %d %s, want 201", a.status, a.body)
	}
	var o orderJSON
	if err := json.Unmarshal([]byte(a.body), &o); err != nil {
		t.Fatal(err)
	}
	if o.Status != "PaymentProcessed" || o.Total != 4000 || o.Payment.PaymentStatus != "Approved" ||
		o.Payment.PaymentMethod != "CreditCard" || o.Customer.UserID != alice || o.DeliveryAddress.City != "Seoul" ||
		len(o.Products) != 2 || o.Products[0].Quantity != 2 {
		t.Errorf("order %+v", o)
	}
	for _, secret := range []string{"4111-1111", "900101", "passwordTwoDigits", "cardNumber"} {
		if strings.Contains(a.body, secret) {
			t.Errorf("answer contains %q", secret)
		}
	}
	for _, field := range []string{`"deliveryAddress"`, `"postalCode"`, `"paymentId"`, `"maskedCardNumber":"**** **** **** 1111"`, `"createdAt"`} {
		if !strings.Contains(a.body, field) {
			t.Errorf("answer lacks %s: %s", field, a.body)
		}
	}

	// GET it back, list it; another user cannot see it.
	if g := tr.do(t, http.MethodGet, "/order/"+o.ID, tr.tokens[alice], "", nil); g.status != http.StatusOK || !strings.Contains(g.body, o.ID) {
		t.Errorf("GET own order: %d %s", g.status, g.body)
	}
	if g := tr.do(t, http.MethodGet, "/order/"+o.ID, tr.tokens[bob], "", nil); g.status != http.StatusNotFound || errorCode(t, g.body) != "not_found" {
		t.Errorf("GET another user's order: %d %s, want 404", g.status, g.body)
	}
	l := tr.do(t, http.MethodGet, "/order?pageSize=10", tr.tokens[alice], "", nil)
	var page ordersPageJSON
	if err := json.Unmarshal([]byte(l.body), &page); err != nil || l.status != http.StatusOK || len(page.Orders) != 1 {
		t.Errorf("GET /order: %d %s", l.status, l.body)
	}
	if l = tr.do(t, http.MethodGet, "/order", tr.tokens[bob], "", nil); l.status != http.StatusOK || !strings.Contains(l.body, `"orders":[]`) {
		t.Errorf("GET /order of bob: %d %s, want an empty list", l.status, l.body)
	}
}

func TestHTTPIdempotency(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	key := map[string]string{IdempotencyKeyHeader: "8c1f6a6e-0c55-4c1e-9f0e-6f3b7c2b9d11"}
	first := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], orderBody, key)
	second := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], orderBody, key)
	if first.status != http.StatusCreated || second.status != http.StatusOK || second.header.Get(ReplayedHeader) != "true" {
		t.Fatalf("first %d, repeat %d (replayed %q): want 201 then 200 replayed", first.status, second.status, second.header.Get(ReplayedHeader))
	}
	var a, b orderJSON
	_ = json.Unmarshal([]byte(first.body), &a)
	_ = json.Unmarshal([]byte(second.body), &b)
	if a.ID == "" || a.ID != b.ID {
		t.Errorf("ids %q and %q, want the same order", a.ID, b.ID)
	}
	if n := tr.payments.callsFor(a.ID); n != 1 {
		t.Errorf("charged %d times", n)
	}
	other := strings.Replace(orderBody, `"Seoul"`, `"Busan"`, 1)
	c := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], other, key)
	if c.status != http.StatusUnprocessableEntity || errorCode(t, c.body) != "idempotency_key_reused" {
		t.Errorf("same key, other body: %d %s, want 422", c.status, c.body)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		setup      func(*transport)
		method     string
		path       string
		body       string
		bearer     func(*transport) string
		wantStatus int
		wantCode   string
		wantInMsg  string
		wantHeader map[string]string
	}{
		{name: "wrong amount", body: strings.Replace(orderBody, `"amount": 4000`, `"amount": 3000`, 1),
			wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "total is 4000"},
		{name: "amount not a number", body: strings.Replace(orderBody, `"amount": 4000`, `"amount": "4000"`, 1),
			wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "payment.amount"},
		{name: "unknown field", body: strings.Replace(orderBody, `"productIds"`, `"meta": {}, "productIds"`, 1),
			wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "meta"},
		{name: "bad JSON", body: `{"productIds": [`, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "no products", body: strings.NewReplacer(`"productIds": ["p1", "p1"]`, `"productIds": []`, `"items": [{"productId": "p2", "quantity": 1}]`, `"items": []`).Replace(orderBody),
			wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "no products"},
		{name: "bad method", body: strings.Replace(orderBody, `"CreditCard"`, `"Cash"`, 1),
			wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "paymentMethod"},
		{name: "no token", bearer: func(*transport) string { return "" },
			wantStatus: 401, wantCode: "unauthenticated", wantHeader: map[string]string{"Www-Authenticate": `Bearer realm="kitshop"`}},
		{name: "garbage token", bearer: func(*transport) string { return "not.a.jwt" }, wantStatus: 401, wantCode: "invalid_token"},
		{name: "expired token", bearer: func(tr *transport) string { return tr.expired }, wantStatus: 401, wantCode: "token_expired"},
		{name: "unknown product", body: strings.Replace(orderBody, `"p2"`, `"p9"`, 1),
			wantStatus: 404, wantCode: "product_not_found", wantInMsg: "p9"},
		{name: "unknown user", setup: func(tr *transport) { delete(tr.users.users, alice) }, wantStatus: 404, wantCode: "user_not_found"},
		{name: "out of stock", body: strings.NewReplacer(`"quantity": 1}`, `"quantity": 1}, {"productId": "p3", "quantity": 2}`,
			`"amount": 4000`, `"amount": 10000`).Replace(orderBody),
			wantStatus: 409, wantCode: "out_of_stock", wantInMsg: "p3"},
		{name: "declined", setup: func(tr *transport) {
			tr.payments.decide = func(PaymentRequest) (*Payment, error) {
				return &Payment{Status: PaymentRejected, Reason: "insufficient_funds"}, nil
			}
		}, wantStatus: 402, wantCode: "payment_declined", wantInMsg: "insufficient_funds"},
		{name: "breaker open", setup: func(tr *transport) {
			tr.payments.decide = func(PaymentRequest) (*Payment, error) {
				return nil, &UnavailableError{Dependency: depPayment, Refused: true, RetryAfter: 1500 * time.Millisecond}
			}
		}, wantStatus: 503, wantCode: "unavailable", wantInMsg: "circuit breaker open", wantHeader: map[string]string{"Retry-After": "2"}},
		{name: "payment down", setup: func(tr *transport) {
			tr.payments.decide = func(PaymentRequest) (*Payment, error) {
				return nil, &UnavailableError{Dependency: depPayment, Err: errors.New("unavailable")}
			}
		}, wantStatus: 503, wantCode: "unavailable", wantInMsg: "will be settled", wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "product service down", setup: func(tr *transport) {
			tr.products.reserveErr = &UnavailableError{Dependency: depProduct, Err: errors.New("unavailable")}
		}, wantStatus: 503, wantCode: "unavailable", wantInMsg: "product service unavailable", wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "store down", setup: func(tr *transport) { tr.store.failGet = errors.New("connection refused") },
			method: http.MethodGet, path: "/order/abc", wantStatus: 500, wantCode: "internal", wantInMsg: "internal error"},
		{name: "unknown order", method: http.MethodGet, path: "/order/abc", wantStatus: 404, wantCode: "not_found"},
		{name: "bad page size", method: http.MethodGet, path: "/order?pageSize=x", wantStatus: 400, wantCode: "invalid_argument"},
		{name: "negative page size", method: http.MethodGet, path: "/order?pageSize=-1", wantStatus: 400, wantCode: "invalid_argument"},
		{name: "bad page token", method: http.MethodGet, path: "/order?pageToken=%21", wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "pageToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t)
			if tc.setup != nil {
				tc.setup(tr)
			}
			method, path, body := tc.method, tc.path, tc.body
			if method == "" {
				method, path = http.MethodPost, "/order"
				if body == "" {
					body = orderBody
				}
			}
			bearer := tr.tokens[alice]
			if tc.bearer != nil {
				bearer = tc.bearer(tr)
			}
			a := tr.do(t, method, path, bearer, body, nil)
			if a.status != tc.wantStatus || errorCode(t, a.body) != tc.wantCode || !strings.Contains(a.body, tc.wantInMsg) {
				t.Errorf("got %d %s, want %d %s containing %q", a.status, a.body, tc.wantStatus, tc.wantCode, tc.wantInMsg)
			}
			for k, v := range tc.wantHeader {
				if got := a.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if strings.Contains(a.body, "4111-1111") {
				t.Error("an error shows card data")
			}
			var e struct{ Error struct{ Message string } }
			_ = json.Unmarshal([]byte(a.body), &e)
			saidOnce(t, e.Error.Message)
		})
	}
}

// grpcCtx returns a context carrying user's bearer token ("" for none).
func (tr *transport) grpcCtx(t *testing.T, user string) context.Context {
	if user == "" {
		return t.Context()
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tr.tokens[user])
}

func validProto() *orderv1.CreateOrderRequest {
	return &orderv1.CreateOrderRequest{
		ProductIds: []string{"p1", "p1"},
		Items:      []*orderv1.LineItem{{ProductId: "p2", Quantity: 1}},
		Address:    &orderv1.Address{Name: "Alice", Street: "1 Main St", City: "Seoul", PostalCode: "04524", Country: "KR"},
		Payment: &orderv1.PaymentDetails{PaymentMethod: paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD, PaymentName: "Alice",
			CardNumber: "4111111111111111", ExpiryYear: "30", ExpiryMonth: "1", Amount: 4000},
	}
}

func TestGRPCCreateAndRead(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	req := validProto()
	req.IdempotencyKey = "k1"
	resp, err := tr.client.CreateOrder(tr.grpcCtx(t, alice), req)
	if err != nil {
		t.Fatal(err)
	}
	o := resp.GetOrder()
	if resp.GetReplayed() || o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PAYMENT_PROCESSED || o.GetTotal() != 4000 ||
		o.GetPayment().GetPaymentStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED ||
		o.GetPayment().GetPaymentMethod() != paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD || o.GetCreatedAt() == nil {
		t.Errorf("answer %v", resp)
	}
	again, err := tr.client.CreateOrder(tr.grpcCtx(t, alice), req)
	if err != nil || !again.GetReplayed() || again.GetOrder().GetId() != o.GetId() {
		t.Errorf("repeat: %v %v", again, err)
	}
	got, err := tr.client.GetOrder(tr.grpcCtx(t, alice), &orderv1.GetOrderRequest{Id: o.GetId()})
	if err != nil || got.GetOrder().GetId() != o.GetId() {
		t.Errorf("GetOrder: %v %v", got, err)
	}
	_, err = tr.client.GetOrder(tr.grpcCtx(t, bob), &orderv1.GetOrderRequest{Id: o.GetId()})
	wantCode(t, err, codes.NotFound)
	list, err := tr.client.ListOrders(tr.grpcCtx(t, alice), &orderv1.ListOrdersRequest{PageSize: 5})
	if err != nil || len(list.GetOrders()) != 1 {
		t.Errorf("ListOrders: %v %v", list, err)
	}
	_, err = tr.client.ListOrders(tr.grpcCtx(t, alice), &orderv1.ListOrdersRequest{PageToken: "x"})
	wantCode(t, err, codes.InvalidArgument)

	// DeliveryStarted (no token: an operator's call, GRPCAccess decides).
	d, err := tr.client.DeliveryStarted(t.Context(), &orderv1.DeliveryStartedRequest{Id: o.GetId()})
	if err != nil || d.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_DELIVERY_STARTED {
		t.Errorf("DeliveryStarted: %v %v", d, err)
	}
	if _, err = tr.client.DeliveryStarted(t.Context(), &orderv1.DeliveryStartedRequest{Id: o.GetId()}); err != nil {
		t.Errorf("repeated DeliveryStarted: %v", err)
	}
	_, err = tr.client.DeliveryStarted(t.Context(), &orderv1.DeliveryStartedRequest{Id: "unknown"})
	wantCode(t, err, codes.NotFound)
	_, err = tr.client.DeliveryStarted(t.Context(), &orderv1.DeliveryStartedRequest{})
	wantCode(t, err, codes.InvalidArgument)
	tr.store.set(Order{ID: "failed", Customer: Customer{UserID: alice}, Status: StatusPaymentFailed})
	_, err = tr.client.DeliveryStarted(t.Context(), &orderv1.DeliveryStartedRequest{Id: "failed"})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestGRPCErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(*transport)
		change func(*orderv1.CreateOrderRequest)
		user   string
		want   codes.Code
		check  func(t *testing.T, st *status.Status)
	}{
		{name: "no token", user: "-", want: codes.Unauthenticated},
		{name: "wrong amount", change: func(r *orderv1.CreateOrderRequest) { r.Payment.Amount = 1 }, want: codes.InvalidArgument},
		{name: "no method", change: func(r *orderv1.CreateOrderRequest) { r.Payment.PaymentMethod = 0 }, want: codes.InvalidArgument},
		{name: "no address", change: func(r *orderv1.CreateOrderRequest) { r.Address = nil }, want: codes.InvalidArgument},
		{name: "unknown product", change: func(r *orderv1.CreateOrderRequest) { r.ProductIds = []string{"p9"} }, want: codes.NotFound},
		{name: "out of stock", change: func(r *orderv1.CreateOrderRequest) {
			r.Items = []*orderv1.LineItem{{ProductId: "p3", Quantity: 5}}
			r.Payment.Amount = 2000 + 15000
		}, want: codes.FailedPrecondition},
		{name: "declined", setup: func(tr *transport) {
			tr.payments.decide = func(PaymentRequest) (*Payment, error) {
				return &Payment{Status: PaymentRejected, Reason: "stolen_card"}, nil
			}
		}, want: codes.FailedPrecondition, check: func(t *testing.T, st *status.Status) {
			info := errorInfo(st)
			if info == nil || info.GetReason() != "PAYMENT_DECLINED" || info.GetMetadata()["orderId"] == "" || info.GetMetadata()["reason"] != "stolen_card" {
				t.Errorf("details %v", st.Details())
			}
		}},
		{name: "key reused", setup: func(tr *transport) {
			req := validOrder()
			req.IdempotencyKey = "same"
			if _, _, err := tr.svc.CreateOrder(context.Background(), alice, req); err != nil {
				panic(err)
			}
		}, change: func(r *orderv1.CreateOrderRequest) { r.IdempotencyKey = "same" }, want: codes.AlreadyExists},
		{name: "breaker open", setup: func(tr *transport) {
			tr.payments.decide = func(PaymentRequest) (*Payment, error) {
				return nil, &UnavailableError{Dependency: depPayment, Refused: true, RetryAfter: 2500 * time.Millisecond}
			}
		}, want: codes.Unavailable, check: func(t *testing.T, st *status.Status) {
			var retry *errdetails.RetryInfo
			for _, d := range st.Details() {
				if r, ok := d.(*errdetails.RetryInfo); ok {
					retry = r
				}
			}
			if retry == nil || retry.GetRetryDelay().AsDuration() != 3*time.Second {
				t.Errorf("RetryInfo %v, want 3s", retry)
			}
			if info := errorInfo(st); info == nil || info.GetMetadata()["dependency"] != "payment" || info.GetMetadata()["orderId"] == "" {
				t.Errorf("ErrorInfo %v", info)
			}
		}},
		{name: "store failure", setup: func(tr *transport) { tr.store.failInsert = errors.New("disk on fire") },
			change: func(r *orderv1.CreateOrderRequest) { r.IdempotencyKey = "k" }, want: codes.Internal,
			check: func(t *testing.T, st *status.Status) {
				if st.Message() != "internal error" {
					t.Errorf("message %q leaks the cause", st.Message())
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t)
			if tc.setup != nil {
				tc.setup(tr)
			}
			req := validProto()
			if tc.change != nil {
				tc.change(req)
			}
			user := alice
			if tc.user == "-" {
				user = ""
			}
			_, err := tr.client.CreateOrder(tr.grpcCtx(t, user), req)
			st := wantCode(t, err, tc.want)
			saidOnce(t, st.Message())
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != want {
		t.Errorf("code %v (%v), want %v", st.Code(), err, want)
	}
	return st
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

func TestHTTPDeliveryDone(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	tr.store.set(Order{ID: "started", Customer: Customer{UserID: alice}, Status: StatusDeliveryStarted})
	tr.store.set(Order{ID: "paid", Customer: Customer{UserID: alice}, Status: StatusPaymentProcessed})
	for _, tc := range []struct {
		name, user, id string
		wantStatus     int
		wantCode       string
	}{
		{"a user's token", alice, "started", http.StatusForbidden, "permission_denied"},
		{"no token", "", "started", http.StatusUnauthorized, "unauthenticated"},
		{"admin", admin, "started", http.StatusOK, ""},
		{"admin again", admin, "started", http.StatusOK, ""},
		{"not started", admin, "paid", http.StatusConflict, "failed_precondition"},
		{"unknown order", admin, "nope", http.StatusNotFound, "not_found"},
		{"blank id", admin, "%20", http.StatusBadRequest, "invalid_argument"},
		{"huge id", admin, strings.Repeat("x", 10000), http.StatusBadRequest, "invalid_argument"},
	} {
		a := tr.do(t, http.MethodPost, "/order/"+tc.id+"/delivered", tr.tokens[tc.user], "", nil)
		if a.status != tc.wantStatus {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.body, tc.wantStatus)
			continue
		}
		if tc.wantCode != "" {
			if got := errorCode(t, a.body); got != tc.wantCode {
				t.Errorf("%s: code %q, want %q", tc.name, got, tc.wantCode)
			}
			continue
		}
		var o orderJSON
		if err := json.Unmarshal([]byte(a.body), &o); err != nil || o.ID != tc.id || o.Status != StatusDeliveryDone {
			t.Errorf("%s: %s (%v), want the order DeliveryDone", tc.name, a.body, err)
		}
	}
	if a := tr.do(t, http.MethodPost, "/order/started/delivered", tr.tokens[alice], "", nil); a.header.Get("Www-Authenticate") == "" {
		t.Error("403 without a WWW-Authenticate challenge")
	}
	if o, _ := tr.store.Get(t.Context(), "paid"); o.Status != StatusPaymentProcessed {
		t.Errorf("refused move changed the order: %s", o.Status)
	}
}

func TestGRPCDeliveryDone(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	tr.store.set(Order{ID: "started", Customer: Customer{UserID: alice}, Status: StatusDeliveryStarted})
	tr.store.set(Order{ID: "paid", Customer: Customer{UserID: alice}, Status: StatusPaymentProcessed})
	d, err := tr.client.DeliveryDone(t.Context(), &orderv1.DeliveryDoneRequest{Id: "started"})
	if err != nil || d.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_DELIVERY_DONE {
		t.Errorf("DeliveryDone: %v %v", d, err)
	}
	if _, err = tr.client.DeliveryDone(t.Context(), &orderv1.DeliveryDoneRequest{Id: "started"}); err != nil {
		t.Errorf("repeated DeliveryDone: %v", err)
	}
	_, err = tr.client.DeliveryDone(t.Context(), &orderv1.DeliveryDoneRequest{Id: "paid"})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = tr.client.DeliveryDone(t.Context(), &orderv1.DeliveryDoneRequest{Id: "nope"})
	wantCode(t, err, codes.NotFound)
	_, err = tr.client.DeliveryDone(t.Context(), &orderv1.DeliveryDoneRequest{})
	wantCode(t, err, codes.InvalidArgument)
	_, err = tr.client.DeliveryDone(t.Context(), &orderv1.DeliveryDoneRequest{Id: strings.Repeat("x", 10000)})
	wantCode(t, err, codes.InvalidArgument)
}

// TestHTTPListOrdersByStatus: an admin pages the orders now in a status,
// newest first by the time they entered it; every refusal has its status
// and code; GET /order/{id} still answers an order.
func TestHTTPListOrdersByStatus(t *testing.T) {
	t.Parallel()
	tr := newTransport(t).validating(t)
	placed := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], orderBody, nil)
	var o orderJSON
	if err := json.Unmarshal([]byte(placed.body), &o); err != nil || placed.status != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", placed.status, placed.body)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"s1", "s2", "s3"} {
		tr.store.set(orderIn(id, StatusDeliveryStarted, base.Add(time.Duration(i)*time.Second)))
	}
	page := func(path string) (ordersPageJSON, httpAnswer) {
		t.Helper()
		a := tr.do(t, http.MethodGet, path, tr.tokens[admin], "", nil)
		var p ordersPageJSON
		if a.status == http.StatusOK {
			if err := json.Unmarshal([]byte(a.body), &p); err != nil {
				t.Fatalf("GET %s: %s: %v", path, a.body, err)
			}
		}
		return p, a
	}
	listed := func(p ordersPageJSON) string {
		s := make([]string, len(p.Orders))
		for i, o := range p.Orders {
			s[i] = o.ID
		}
		return fmt.Sprint(s)
	}
	p, a := page("/order/status/DeliveryStarted?pageSize=2")
	if a.status != http.StatusOK || listed(p) != "[s3 s2]" || p.NextPageToken == "" {
		t.Fatalf("first page: %d %s, want [s3 s2] and a next page", a.status, a.body)
	}
	if p, a = page("/order/status/DeliveryStarted?pageSize=2&pageToken=" + p.NextPageToken); a.status != http.StatusOK || listed(p) != "[s1]" || p.NextPageToken != "" {
		t.Errorf("second page: %d %s, want [s1] and the end", a.status, a.body)
	}
	if p, a = page("/order/status/PaymentProcessed"); a.status != http.StatusOK || listed(p) != "["+o.ID+"]" || p.Orders[0].Total != 4000 {
		t.Errorf("PaymentProcessed: %d %s, want the placed order", a.status, a.body)
	}
	if _, a = page("/order/status/Pending"); a.status != http.StatusOK || !strings.Contains(a.body, `"orders":[]`) {
		t.Errorf("Pending: %d %s, want no orders", a.status, a.body)
	}
	if g := tr.do(t, http.MethodGet, "/order/"+o.ID, tr.tokens[alice], "", nil); g.status != http.StatusOK || !strings.Contains(g.body, o.ID) {
		t.Errorf("GET /order/{id} beside the admin routes: %d %s", g.status, g.body)
	}

	for _, tc := range []struct {
		name, user, path string
		wantStatus       int
		wantCode         string
		wantInMsg        string
	}{
		{"no token", "", "/order/status/Pending", http.StatusUnauthorized, "unauthenticated", ""},
		{"a user's token", alice, "/order/status/Pending", http.StatusForbidden, "permission_denied", ""},
		{"unknown status", admin, "/order/status/Shipped", http.StatusBadRequest, "invalid_argument", "Pending, PaymentCancelled, PaymentFailed, PaymentProcessed, DeliveryStarted, DeliveryDone"},
		{"status spelled otherwise", admin, "/order/status/pending", http.StatusBadRequest, "invalid_argument", "status must be one of"},
		{"bad page token", admin, "/order/status/Pending?pageToken=%21", http.StatusBadRequest, "invalid_argument", "pageToken"},
		{"page size not a number", admin, "/order/status/Pending?pageSize=x", http.StatusBadRequest, "invalid_argument", "pageSize"},
		{"negative page size", admin, "/order/status/Pending?pageSize=-1", http.StatusBadRequest, "invalid_argument", "pageSize"},
	} {
		a := tr.do(t, http.MethodGet, tc.path, tr.tokens[tc.user], "", nil)
		if a.status != tc.wantStatus || errorCode(t, a.body) != tc.wantCode || !strings.Contains(a.body, tc.wantInMsg) {
			t.Errorf("%s: %d %s, want %d %s containing %q", tc.name, a.status, a.body, tc.wantStatus, tc.wantCode, tc.wantInMsg)
		}
		if tc.wantStatus == http.StatusForbidden && a.header.Get("Www-Authenticate") == "" {
			t.Errorf("%s: 403 without a WWW-Authenticate challenge", tc.name)
		}
	}
}

// TestHTTPListOrdersByStatusPageSize: no page size is 20 a page, more than
// 100 is 100.
func TestHTTPListOrdersByStatusPageSize(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 101 {
		tr.store.set(orderIn(fmt.Sprintf("o%03d", i), StatusDeliveryDone, base.Add(time.Duration(i)*time.Second)))
	}
	for path, want := range map[string]int{"/order/status/DeliveryDone": 20, "/order/status/DeliveryDone?pageSize=1000": 100} {
		a := tr.do(t, http.MethodGet, path, tr.tokens[admin], "", nil)
		var p ordersPageJSON
		if err := json.Unmarshal([]byte(a.body), &p); err != nil || a.status != http.StatusOK || len(p.Orders) != want || p.NextPageToken == "" {
			t.Errorf("GET %s: %d, %d orders, next %q; want %d and a next page", path, a.status, len(p.Orders), p.NextPageToken, want)
		}
	}
}

func TestGRPCListOrdersByStatus(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"f1", "f2"} {
		tr.store.set(orderIn(id, StatusPaymentFailed, base.Add(time.Duration(i)*time.Second)))
	}
	// No token: an operator's call, GRPCAccess decides.
	first, err := tr.client.ListOrdersByStatus(t.Context(), &orderv1.ListOrdersByStatusRequest{Status: orderv1.OrderStatus_ORDER_STATUS_PAYMENT_FAILED, PageSize: 1})
	if err != nil || len(first.GetOrders()) != 1 || first.GetOrders()[0].GetId() != "f2" || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v, want f2 and a next page", first, err)
	}
	second, err := tr.client.ListOrdersByStatus(t.Context(), &orderv1.ListOrdersByStatusRequest{Status: orderv1.OrderStatus_ORDER_STATUS_PAYMENT_FAILED,
		PageSize: 1, PageToken: first.GetNextPageToken()})
	if err != nil || len(second.GetOrders()) != 1 || second.GetOrders()[0].GetId() != "f1" ||
		second.GetOrders()[0].GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PAYMENT_FAILED || second.GetNextPageToken() != "" {
		t.Errorf("second page: %v %v, want f1 and the end", second, err)
	}
	for _, req := range []*orderv1.ListOrdersByStatusRequest{
		{},
		{Status: 99},
		{Status: orderv1.OrderStatus_ORDER_STATUS_PENDING, PageToken: "x"},
		{Status: orderv1.OrderStatus_ORDER_STATUS_PENDING, PageSize: -1},
	} {
		_, err := tr.client.ListOrdersByStatus(t.Context(), req)
		wantCode(t, err, codes.InvalidArgument)
	}
}

// TestHTTPPendingWork: with the notification service down, an admin sees
// the paid order's queued notification, with its attempts and last error;
// beside it a Pending order's entry held by its replica (a lease that is
// over shows no holder) and a finished order's, soonest due first.
func TestHTTPPendingWork(t *testing.T) {
	t.Parallel()
	tr := newTransport(t).validating(t)
	tr.notifier.failures = 100
	placed := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], orderBody, nil)
	var o orderJSON
	if err := json.Unmarshal([]byte(placed.body), &o); err != nil || placed.status != http.StatusCreated || o.Status != StatusPaymentProcessed {
		t.Fatalf("POST /order: %d %s, want 201 PaymentProcessed", placed.status, placed.body)
	}
	tr.svc.DoDueWork(t.Context()) // the notification fails: the entry waits for its backoff
	now := tr.clock.Now()
	if err := tr.store.InsertWork(t.Context(), Work{OrderID: "creating", Due: now.Add(-time.Minute), Owner: "replica-2",
		LeaseUntil: now.Add(time.Minute), Trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}); err != nil {
		t.Fatal(err)
	}
	tr.store.set(orderIn("done", StatusDeliveryDone, now))
	if err := tr.store.InsertWork(t.Context(), Work{OrderID: "done", Due: now.Add(-time.Second), Owner: "gone", LeaseUntil: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}

	a := tr.do(t, http.MethodGet, "/order/work", tr.tokens[admin], "", nil)
	var got struct {
		Entries []map[string]any
		Total   int
	}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.status != http.StatusOK || got.Total != 3 || len(got.Entries) != 3 {
		t.Fatalf("GET /order/work: %d %s, want 200 with 3 entries", a.status, a.body)
	}
	want := []map[string]any{
		{"orderId": "creating", "kind": "settle", "sideEffects": []any{}, "dueAt": "2026-01-02T03:03:05Z", "attempts": 0.0,
			"owner": "replica-2", "leaseUntil": "2026-01-02T03:05:05Z", "trace": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"orderId": "done", "kind": "cleanup", "sideEffects": []any{}, "status": "DeliveryDone", "dueAt": "2026-01-02T03:04:04Z", "attempts": 0.0},
		{"orderId": o.ID, "kind": "sideEffects", "sideEffects": []any{"notify"}, "status": "PaymentProcessed", "attempts": 1.0,
			"lastError": "payment notification: notification service unavailable"},
	}
	for i, w := range want {
		e := got.Entries[i]
		if i == 2 { // due after the backoff, from the worker's clock, in the trace of POST /order
			if due, err := time.Parse(time.RFC3339, fmt.Sprint(e["dueAt"])); err != nil || !due.After(now) {
				t.Errorf("the notification's dueAt %v (%v), want after %v", e["dueAt"], err, now)
			}
			if trace := fmt.Sprint(e["trace"]); !strings.HasPrefix(trace, "00-") {
				t.Errorf("the notification's trace %q, want POST /order's traceparent", trace)
			}
			delete(e, "dueAt")
			delete(e, "trace")
		}
		if fmt.Sprint(e) != fmt.Sprint(w) {
			t.Errorf("entry %d:\n got %v\nwant %v", i, e, w)
		}
	}
	for _, tc := range []struct {
		user       string
		wantStatus int
		wantCode   string
	}{{"", http.StatusUnauthorized, "unauthenticated"}, {alice, http.StatusForbidden, "permission_denied"}} {
		if a := tr.do(t, http.MethodGet, "/order/work", tr.tokens[tc.user], "", nil); a.status != tc.wantStatus || errorCode(t, a.body) != tc.wantCode {
			t.Errorf("GET /order/work as %q: %d %s, want %d %s", tc.user, a.status, a.body, tc.wantStatus, tc.wantCode)
		}
	}
	if g := tr.do(t, http.MethodGet, "/order/"+o.ID, tr.tokens[alice], "", nil); g.status != http.StatusOK || !strings.Contains(g.body, o.ID) {
		t.Errorf("GET /order/{id} beside GET /order/work: %d %s", g.status, g.body)
	}
}

// TestPendingWorkListsTheSoonest: of more entries than MaxWorkListed, the
// soonest due are listed, and all are counted.
func TestPendingWorkListsTheSoonest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	for i := range MaxWorkListed + 50 {
		due := now.Add(time.Duration(MaxWorkListed+50-i) * time.Second) // the last inserted are due first
		if err := e.store.InsertWork(t.Context(), Work{OrderID: fmt.Sprintf("o%03d", i), Due: due}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := e.svc.PendingWork(t.Context())
	if err != nil || list.Total != MaxWorkListed+50 || len(list.Items) != MaxWorkListed {
		t.Fatalf("PendingWork: %d of %d (%v), want %d of %d", len(list.Items), list.Total, err, MaxWorkListed, MaxWorkListed+50)
	}
	for i, it := range list.Items {
		if want := fmt.Sprintf("o%03d", MaxWorkListed+49-i); it.OrderID != want {
			t.Fatalf("entry %d is %s, want %s (soonest first)", i, it.OrderID, want)
		}
	}
}

// TestHTTPBreakers: an admin sees every breaker of the service's clients,
// sorted, closed until the payment service fails, then MakePayment's open
// with the seconds it stays so; a service on fakes reports none.
func TestHTTPBreakers(t *testing.T) {
	t.Parallel()
	srv, deps := startDeps(t, nil, CacheOptions{})
	e := newEnv(t)
	svc, err := NewService(e.store, deps, Options{Now: e.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTransportOf(t, e, svc).validating(t)
	breakers := func() []breakerJSON {
		t.Helper()
		a := tr.do(t, http.MethodGet, "/order/breakers", tr.tokens[admin], "", nil)
		var got breakersJSON
		if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.status != http.StatusOK {
			t.Fatalf("GET /order/breakers: %d %s", a.status, a.body)
		}
		return got.Breakers
	}
	const all = "notification.SendPaymentNotification payment.GetPayment payment.MakePayment payment.RefundPayment " +
		"product.GetProductsInfo product.ReleaseStock product.ReserveStock user.GetUserInfo"
	names := func(bs []breakerJSON) string {
		s := make([]string, len(bs))
		for i, b := range bs {
			s[i] = b.Dependency + "." + b.Method
		}
		return strings.Join(s, " ")
	}
	before := breakers()
	if names(before) != all {
		t.Errorf("breakers %s, want %s", names(before), all)
	}
	for _, b := range before {
		if b.State != "closed" || b.RetryAfterSeconds != 0 {
			t.Errorf("%+v before any failure, want closed", b)
		}
	}

	srv.paymentDown.Store(true)
	if _, err := deps.Payments.MakePayment(t.Context(), PaymentRequest{OrderID: "o", Details: PaymentDetails{Method: MethodKakao, Amount: 1}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("MakePayment with the payment service down: %v", err)
	}
	after := breakers()
	if names(after) != all {
		t.Fatalf("breakers %s, want %s", names(after), all)
	}
	for _, b := range after {
		open := b.Method == "MakePayment"
		if open && (b.State != "open" || b.RetryAfterSeconds < 1 || b.RetryAfterSeconds > 60) {
			t.Errorf("%+v after the breaker tripped, want open for at most the minute it stays open", b)
		}
		if !open && (b.State != "closed" || b.RetryAfterSeconds != 0) {
			t.Errorf("%+v, want closed", b)
		}
	}

	for _, tc := range []struct {
		user       string
		wantStatus int
		wantCode   string
	}{{"", http.StatusUnauthorized, "unauthenticated"}, {alice, http.StatusForbidden, "permission_denied"}} {
		if a := tr.do(t, http.MethodGet, "/order/breakers", tr.tokens[tc.user], "", nil); a.status != tc.wantStatus || errorCode(t, a.body) != tc.wantCode {
			t.Errorf("GET /order/breakers as %q: %d %s, want %d %s", tc.user, a.status, a.body, tc.wantStatus, tc.wantCode)
		}
	}
	fakes := newTransport(t)
	if a := fakes.do(t, http.MethodGet, "/order/breakers", fakes.tokens[admin], "", nil); a.status != http.StatusOK || a.body != "{\"breakers\":[]}\n" {
		t.Errorf("GET /order/breakers on fakes: %d %s, want no breakers", a.status, a.body)
	}
}

// orderIn is a whole order of bob's that entered status st at at.
func orderIn(id string, st Status, at time.Time) Order {
	o := storedOrder(id, bob, at)
	o.Status, o.UpdatedAt = st, at
	return o
}
