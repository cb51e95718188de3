package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// fakeShop answers the routes the load test uses the way kitshop's edge does. Every failEvery-th order is
// refused as out of stock (0: none), and the first login is rate-limited. originalStatuses answers
// register, login and the samples as the original's gateway does (201 Created). It counts the requests of
// each route, as the journeys of -mix send them.
type fakeShop struct {
	failEvery        int64
	originalStatuses bool

	mu      sync.Mutex
	users   map[string]string // e-mail → password
	orders  atomic.Int64
	keys    sync.Map // idempotency keys seen
	limited atomic.Bool
	badAuth atomic.Int64

	firstPages, nextPages, productGets, orderLists, logins atomic.Int64
}

var fakePrices = map[string]int64{"sample-1": 1000, "sample-2": 2000, "sample-3": 3000}

func (f *fakeShop) handler() http.Handler {
	f.users = map[string]string{}
	writeErr := func(w http.ResponseWriter, status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"fake"}}`, code)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /product/sample", func(w http.ResponseWriter, r *http.Request) {
		if f.originalStatuses {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprint(w, `{"success":true,"created":0}`)
	})
	mux.HandleFunc("GET /product", func(w http.ResponseWriter, r *http.Request) {
		// Two pages, and one product too short of stock to be used.
		if r.URL.Query().Get("pageToken") == "" {
			f.firstPages.Add(1)
			fmt.Fprint(w, `{"products":[{"id":"sample-1","price":1000,"stock":1000000},{"id":"sample-2","price":2000,"stock":1000000}],"nextPageToken":"p2"}`)
			return
		}
		f.nextPages.Add(1)
		fmt.Fprint(w, `{"products":[{"id":"sample-3","price":3000,"stock":1000000},{"id":"scarce","price":10,"stock":3}]}`)
	})
	mux.HandleFunc("GET /product/{id}", func(w http.ResponseWriter, r *http.Request) {
		price, ok := fakePrices[r.PathValue("id")]
		if !ok {
			writeErr(w, http.StatusNotFound, "not_found")
			return
		}
		f.productGets.Add(1)
		fmt.Fprintf(w, `{"product":{"id":%q,"price":%d,"stock":1000000}}`, r.PathValue("id"), price)
	})
	mux.HandleFunc("GET /order", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer token-") {
			f.badAuth.Add(1)
			writeErr(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		f.orderLists.Add(1)
		fmt.Fprint(w, `{"orders":[]}`)
	})
	mux.HandleFunc("POST /auth/register", func(w http.ResponseWriter, r *http.Request) {
		email, pw, ok := r.BasicAuth()
		if !ok {
			writeErr(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		f.mu.Lock()
		f.users[email] = pw
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"u","email":%q}`, email)
	})
	mux.HandleFunc("POST /auth/login", func(w http.ResponseWriter, r *http.Request) {
		f.logins.Add(1)
		if !f.limited.Swap(true) {
			w.Header().Set("Retry-After", "0")
			writeErr(w, http.StatusTooManyRequests, "rate_limited")
			return
		}
		email, pw, _ := r.BasicAuth()
		f.mu.Lock()
		known := f.users[email] == pw
		f.mu.Unlock()
		if !known {
			writeErr(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		if f.originalStatuses {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprintf(w, `{"accessToken":"token-%s","refreshToken":"r"}`, email)
	})
	mux.HandleFunc("POST /order", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer token-") {
			f.badAuth.Add(1)
			writeErr(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		var body orderBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeErr(w, http.StatusBadRequest, "invalid_argument")
			return
		}
		var total int64
		for _, id := range body.ProductIDs {
			total += fakePrices[id]
		}
		if total != body.Payment.Amount {
			writeErr(w, http.StatusBadRequest, "invalid_argument")
			return
		}
		if _, dup := f.keys.LoadOrStore(r.Header.Get("Idempotency-Key"), true); dup {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, `{"id":"replayed","status":"PaymentProcessed"}`)
			return
		}
		n := f.orders.Add(1)
		if f.failEvery > 0 && n%f.failEvery == 0 {
			writeErr(w, http.StatusConflict, "insufficient_stock")
			return
		}
		// Paid orders come out PaymentProcessed, or DeliveryStarted when kitshop sent the notification at once.
		st := "PaymentProcessed"
		if n%2 == 0 {
			st = "DeliveryStarted"
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"order-%d","status":%q,"total":%d}`, n, st, total)
	})
	return mux
}

// runLoadTest runs the command and returns its exit status and the JSON summary.
func runLoadTest(t *testing.T, args ...string) (int, Summary) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(t.Context(), append([]string{"-json", "-progress=false", "-setup-workers", "2"}, args...), &out, &errOut)
	var s Summary
	if code != exitCannot {
		if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
			t.Fatalf("exit %d, summary not JSON: %v\n%s\nstderr:\n%s", code, err, out.String(), errOut.String())
		}
	}
	return code, s
}

func TestClosedLoopAgainstFakeShop(t *testing.T) {
	t.Parallel()
	f := &fakeShop{}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	chart := filepath.Join(t.TempDir(), "run.html")
	args := []string{"-target", srv.URL, "-users", "3", "-workers", "4", "-count", "40", "-duration", "0", "-chart", chart}
	_, err := os.Stat("/proc/self/stat")
	watchCPU := err == nil // Linux
	if watchCPU {
		args = append(args, "-cpu-pids", "self="+strconv.Itoa(os.Getpid()))
	}
	code, s := runLoadTest(t, args...)
	if code != exitClean || !s.Clean {
		t.Fatalf("exit %d, clean %v, errors %v", code, s.Clean, s.ErrorsByClass)
	}
	if s.Orders != 40 || f.orders.Load() != 40 || f.badAuth.Load() != 0 {
		t.Errorf("%d orders recorded, %d received, %d without a token; want 40, 40, 0", s.Orders, f.orders.Load(), f.badAuth.Load())
	}
	if s.Loop != "closed" || s.Workers != 4 || s.Users != 3 || strings.Join(s.Products, ",") != "sample-1,sample-2,sample-3" {
		t.Errorf("summary set-up: %+v (the scarce product must be left out)", s)
	}
	if s.Latency.Max <= 0 || s.Latency.P50 > s.Latency.P99 || len(s.Timeline) == 0 {
		t.Errorf("latency %+v, timeline %d seconds", s.Latency, len(s.Timeline))
	}
	if watchCPU && (s.CPU == nil || len(s.CPU.Processes) != 1 || s.CPU.Processes[0].Name != "self" || s.CPU.MsPerRequest != 0) {
		t.Errorf("-cpu-pids of this process: CPU %+v, want the process named self, and no CPU per request without -mix", s.CPU)
	}
	if s.Mix != "" || s.Journeys != nil {
		t.Errorf("mix %q, journeys %v without -mix; want none", s.Mix, s.Journeys)
	}
	if b, err := os.ReadFile(chart); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("chart not written: %v", err)
	}
}

func TestOpenLoopErrorsMakeTheRunNotClean(t *testing.T) {
	t.Parallel()
	f := &fakeShop{failEvery: 5}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	code, s := runLoadTest(t, "-target", srv.URL, "-users", "2", "-rate", "500", "-count", "50", "-duration", "0")
	if code != exitNotClean || s.Clean {
		t.Fatalf("exit %d, clean %v with out-of-stock answers; want %d, false", code, s.Clean, exitNotClean)
	}
	if s.Loop != "open" || s.Orders != 40 || s.Errors != 10 || s.ErrorsByClass["http 409 insufficient_stock"] != 10 {
		t.Errorf("%s loop: %d orders, %d errors %v; want open, 40, 10 http 409 insufficient_stock", s.Loop, s.Orders, s.Errors, s.ErrorsByClass)
	}
}

// TestMixAgainstFakeShop: a mixed run sends each journey's requests, as many as the seed draws, records each
// journey apart, and counts only the order journey's steps as orders.
func TestMixAgainstFakeShop(t *testing.T) {
	t.Parallel()
	for _, loop := range [][]string{{"-workers", "4"}, {"-rate", "2000"}} {
		t.Run(loop[0], func(t *testing.T) {
			t.Parallel()
			testMix(t, loop...)
		})
	}
}

func testMix(t *testing.T, loop ...string) {
	f := &fakeShop{}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	const steps, users = 300, 3
	mixArg := "browse=40,product=20,orders=15,login=10,order=15"
	args := append(loop, "-target", srv.URL, "-users", strconv.Itoa(users), "-count", strconv.Itoa(steps),
		"-duration", "0", "-seed", "5", "-mix", mixArg)
	_, err := os.Stat("/proc/self/stat")
	watchCPU := err == nil // Linux
	if watchCPU {
		args = append(args, "-cpu-pids", "self="+strconv.Itoa(os.Getpid()))
	}
	code, s := runLoadTest(t, args...)
	if code != exitClean || !s.Clean || s.Mix != mixArg {
		t.Fatalf("exit %d, clean %v, mix %q, journeys %+v", code, s.Clean, s.Mix, s.Journeys)
	}
	// CPU per order is over the orders alone, per request over every journey's steps: the same CPU time
	// (which may be 0 ms, in 10 ms ticks, on a fast machine).
	if c := s.CPU; watchCPU && (c == nil || math.Abs(c.MsPerRequest*steps-c.MsPerOrder*float64(s.Orders)) > 1e-6) {
		t.Errorf("CPU %+v, want per order %d/%d times per request", c, steps, s.Orders)
	}
	m, _ := parseMix(mixArg)
	want := map[string]int64{}
	for i := range int64(steps) {
		j, _ := m.draw(5, i)
		want[j]++
	}
	for _, name := range journeyNames {
		j := s.Journeys[name]
		if j.OK != want[name] || j.Failed != 0 || j.OK > 0 && (j.Latency.Max <= 0 || j.PerSecond <= 0) {
			t.Errorf("%s: %+v, want %d ok, the seed's draw, with a latency and a rate", name, j, want[name])
		}
	}
	if o := s.Journeys[journeyOrder].OK; s.Orders != o || f.orders.Load() != o || s.Errors != 0 || len(s.Timeline) == 0 {
		t.Errorf("%d orders recorded, %d received, %d order journeys; want them equal: the other journeys are no orders", s.Orders, f.orders.Load(), o)
	}
	// Set-up reads the catalogue's first page once and logs each user in, after one rate-limited try.
	if got := f.firstPages.Load() - 1; got != s.Journeys[journeyBrowse].OK {
		t.Errorf("%d first pages browsed, want one per browse journey", got)
	}
	if more := f.nextPages.Load() - 1; more == 0 || more > s.Journeys[journeyBrowse].OK/2 {
		t.Errorf("%d browses went on to the next page, want some but not most", more)
	}
	if f.productGets.Load() != s.Journeys[journeyProduct].OK || f.orderLists.Load() != s.Journeys[journeyOrders].OK ||
		f.logins.Load()-1-users != s.Journeys[journeyLogin].OK || f.badAuth.Load() != 0 {
		t.Errorf("received %d product reads, %d order lists, %d logins, %d without a token; journeys %+v",
			f.productGets.Load(), f.orderLists.Load(), f.logins.Load(), f.badAuth.Load(), s.Journeys)
	}
}

func TestCannotRun(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	for _, args := range [][]string{
		{"-target", url, "-count", "1"},
		{"-workers", "0"},
		{"unexpected"},
	} {
		if code, _ := runLoadTest(t, args...); code != exitCannot {
			t.Errorf("%q: exit %d, want %d", args, code, exitCannot)
		}
	}
}

// fakeOrders is an OrderService whose CreateOrder checks the token and refuses every failEvery-th order.
type fakeOrders struct {
	orderv1.UnimplementedOrderServiceServer
	n atomic.Int64
}

func (f *fakeOrders) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if a := md.Get("authorization"); len(a) != 1 || !strings.HasPrefix(a[0], "Bearer token-") {
		return nil, status.Error(codes.Unauthenticated, "no token")
	}
	var total int64
	for _, id := range req.GetProductIds() {
		total += fakePrices[id]
	}
	if total != req.GetPayment().GetAmount() || req.GetIdempotencyKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "bad order")
	}
	n := f.n.Add(1)
	if n%4 == 0 {
		return nil, status.Error(codes.FailedPrecondition, "out of stock")
	}
	st := orderv1.OrderStatus_ORDER_STATUS_PAYMENT_PROCESSED
	if n%3 == 0 {
		st = orderv1.OrderStatus_ORDER_STATUS_DELIVERY_STARTED
	}
	return &orderv1.CreateOrderResponse{Order: &orderv1.Order{Id: fmt.Sprintf("order-%d", n), Status: st, Total: total}}, nil
}

func TestGRPCMode(t *testing.T) {
	t.Parallel()
	f := &fakeShop{}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	orders := &fakeOrders{}
	orderv1.RegisterOrderServiceServer(gs, orders)
	go gs.Serve(lis)
	defer gs.Stop()

	code, s := runLoadTest(t, "-target", srv.URL, "-mode", "grpc", "-grpc-addr", lis.Addr().String(),
		"-users", "2", "-workers", "3", "-count", "20", "-duration", "0")
	if code != exitNotClean {
		t.Errorf("exit %d with refused orders, want %d", code, exitNotClean)
	}
	if s.Orders != 15 || s.ErrorsByClass["grpc FailedPrecondition"] != 5 || orders.n.Load() != 20 || f.orders.Load() != 0 {
		t.Errorf("%d orders, errors %v, %d over gRPC, %d over HTTP; want 15, 5 grpc FailedPrecondition, 20, 0",
			s.Orders, s.ErrorsByClass, orders.n.Load(), f.orders.Load())
	}
}

// TestTheOriginalsStatusesAreAccepted: the original's gateway answers the log-in (and the samples) with 201,
// kitshop with 200; either is a success.
func TestTheOriginalsStatusesAreAccepted(t *testing.T) {
	t.Parallel()
	f := &fakeShop{originalStatuses: true}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	code, s := runLoadTest(t, "-target", srv.URL, "-users", "2", "-workers", "2", "-count", "10", "-duration", "0")
	if code != exitClean || !s.Clean || s.Orders != 10 {
		t.Fatalf("exit %d, clean %v, %d orders against 201 log-ins; want a clean run of 10", code, s.Clean, s.Orders)
	}
}
