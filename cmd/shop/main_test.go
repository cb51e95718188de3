package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kitshop/kitshop/internal/assembly"
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/edge/edgetest"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/serve/servetest"
	"github.com/kitshop/kitshop/internal/token"
)

// The end-to-end tests start the whole system in this process, on loopback
// ports chosen by the kernel, and drive it over HTTP through the edge only.

const adminEmail = "admin@example.com"

// system is a running cmd/shop.
type system struct {
	base    string
	dataDir string
	http    *http.Client
	// shop is the running system: its bound addresses and store URIs.
	shop *shop
	// logs are the JSON lines every part logged, at debug level.
	logs *servetest.SyncBuffer
	// spans records every span of every service and the edge.
	spans *tracetest.SpanRecorder
	// secrets are the credentials signUp sent and was given (the Basic
	// credentials, the access and refresh tokens), which no log line or span
	// may hold.
	secrets []string
	// stop checks the stored documents, stops the system and waits for it:
	// every span has ended then.
	stop func()
}

// startSystem starts cmd/shop on loopback ports and a new data directory, with the flags in extra besides.
func startSystem(t *testing.T, extra ...string) *system {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-data-dir", dir, "-edge-addr", "127.0.0.1:0", "-admin-emails", adminEmail,
		"-sweep-interval", "200ms", "-log-level", "warn"}
	args = append(args, extra...)
	for _, name := range config.ServiceNames() {
		args = append(args, "-"+name+"-grpc-addr", "127.0.0.1:0", "-"+name+"-http-addr", "127.0.0.1:0")
	}
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var s settings
	if err := s.register(fs); err != nil {
		t.Fatal(err)
	}
	if err := config.Parse(fs, args); err != nil {
		t.Fatal(err)
	}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	// The storefront's calls to the API are checked against the document too.
	s.wrapStorefrontAPI = func(base http.RoundTripper) http.RoundTripper { return edgetest.New(t, base) }
	spans := tracetest.NewSpanRecorder()
	s.proc.Tracing.Processors = []sdktrace.SpanProcessor{spans}
	logs := &servetest.SyncBuffer{}
	logger, err := logging.New(logs, "debug", "json") // the one with trace_id and span_id
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sh, err := start(ctx, s, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.group.Run(ctx) }()
	// Every request of every test, and its answer, is checked against the
	// OpenAPI document.
	client := &http.Client{Timeout: 30 * time.Second, Transport: edgetest.New(t, nil)}
	sys := &system{base: "http://" + sh.edgeAddr, dataDir: dir, http: client, shop: sh, logs: logs, spans: spans}
	sys.stop = sync.OnceFunc(func() {
		assertNoSecrets(t, "the stored documents", dumpStore(t, sh.storeURI))
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Cleanup(func() {
		sys.stop()
		assertNoSecrets(t, "the logs", []byte(logs.String()))
		sys.assertNoSecretsInTelemetry(t)
	})
	return sys
}

// dumpStore returns every document of every kitshop database as extended JSON.
func dumpStore(t *testing.T, uri string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	var out bytes.Buffer
	for _, db := range config.ServiceNames() {
		colls, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range colls {
			cur, err := client.Database(db).Collection(c).Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			for cur.Next(ctx) {
				j, err := bson.MarshalExtJSON(cur.Current, false, false)
				if err != nil {
					t.Fatal(err)
				}
				out.Write(j)
				out.WriteByte('\n')
			}
			if err := cur.Err(); err != nil {
				t.Fatal(err)
			}
			cur.Close(ctx)
		}
	}
	if out.Len() == 0 {
		t.Fatal("the store dump is empty: nothing to check")
	}
	return out.Bytes()
}

// assertNoSecrets fails when data holds a card number, a password, a token or
// the fields that must never be stored or logged.
func assertNoSecrets(t *testing.T, where string, data []byte) {
	t.Helper()
	for _, secret := range []string{
		approvedCard, declinedCard, "4242 4242 4242 4242", "4242-4242", // card numbers in any spelling
		birthOrRegistration, "passwordTwoDigits", "password_two_digits", "birthOrRegistration", "birth_or_registration",
		userPassword, "eyJ", // passwords; JWTs start with a base64 '{"'
	} {
		if i := bytes.Index(data, []byte(secret)); i >= 0 {
			lo, hi := max(i-200, 0), min(i+200, len(data))
			t.Errorf("%s contain %q: …%s…", where, secret, data[lo:hi])
		}
	}
}

// call sends a JSON request and decodes a JSON answer into out (if not nil);
// it returns the status and the raw body.
func (s *system) call(t *testing.T, method, path string, headers map[string]string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

func basic(email, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// signUp registers and logs in a user and returns its access token.
func (s *system) signUp(t *testing.T, email string) string {
	t.Helper()
	if code, raw := s.call(t, "POST", "/auth/register", basic(email, userPassword),
		map[string]any{"name": "Kim", "age": 30, "profile": "buyer"}, nil); code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, code, raw)
	}
	var tokens struct{ AccessToken, RefreshToken string }
	if code, raw := s.call(t, "POST", "/auth/login", basic(email, userPassword), nil, &tokens); code != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, code, raw)
	}
	if tokens.AccessToken == "" || tokens.RefreshToken == "" {
		t.Fatalf("login %s gave no tokens", email)
	}
	s.secrets = append(s.secrets, basic(email, userPassword)["Authorization"], tokens.AccessToken, tokens.RefreshToken)
	return tokens.AccessToken
}

type productJSON struct {
	ID    string
	Name  string
	Price int64
	Stock int64
}

func (s *system) product(t *testing.T, id string) productJSON {
	t.Helper()
	var out struct{ Product productJSON }
	if code, raw := s.call(t, "GET", "/product/"+id, nil, nil, &out); code != http.StatusOK {
		t.Fatalf("GET /product/%s: %d %s", id, code, raw)
	}
	return out.Product
}

type orderJSON struct {
	ID       string
	Status   string
	Total    int64
	Customer struct{ UserID, Email string }
	Products []struct {
		ProductID string
		Price     int64
		Quantity  int64
	}
	Payment struct {
		PaymentID     string
		PaymentStatus string
		Amount        int64
	}
	FailureReason string
}

// orderBody is a POST /order body buying productIDs with card, paying amount.
func orderBody(productIDs []string, card string, amount int64) map[string]any {
	return map[string]any{
		"productIds": productIDs,
		"address":    map[string]any{"name": "Kim", "street": "1 Sejong-daero", "city": "Seoul", "postalCode": "04524", "country": "KR"},
		"payment": map[string]any{"paymentMethod": "CreditCard", "paymentName": "Kim", "cardNumber": card,
			"expiryYear": fmt.Sprint(time.Now().Year() + 2), "expiryMonth": "12", "birthOrRegistration": birthOrRegistration,
			"passwordTwoDigits": "12", "amount": amount},
	}
}

const (
	approvedCard        = "4242424242424242"
	declinedCard        = "4000000000009995"
	birthOrRegistration = "870314"
	userPassword        = "correct horse battery"
)

// waitStatus polls an order until it reaches want, for at most 20 s.
func (s *system) waitStatus(t *testing.T, tok, id, want string) orderJSON {
	t.Helper()
	var o orderJSON
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		o = orderJSON{}
		if code, raw := s.call(t, "GET", "/order/"+id, bearer(tok), nil, &o); code != http.StatusOK {
			t.Fatalf("GET /order/%s: %d %s", id, code, raw)
		}
		if o.Status == want {
			return o
		}
	}
	t.Fatalf("order %s stayed %s, want %s", id, o.Status, want)
	return o
}

func TestPurchaseEndToEnd(t *testing.T) {
	sys := startSystem(t)
	alice := sys.signUp(t, "alice@example.com")

	var page struct{ Products []productJSON }
	if code, raw := sys.call(t, "GET", "/product?pageSize=10", nil, nil, &page); code != http.StatusOK {
		t.Fatalf("GET /product: %d %s", code, raw)
	}
	if len(page.Products) != 5 {
		t.Fatalf("%d sample products, want 5", len(page.Products))
	}
	before1, before3 := sys.product(t, "sample-1"), sys.product(t, "sample-3")

	// Two units of sample-1 (1000) and one of sample-3 (3000).
	var o orderJSON
	code, raw := sys.call(t, "POST", "/order", bearer(alice), orderBody([]string{"sample-1", "sample-1", "sample-3"}, approvedCard, 5000), &o)
	if code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", code, raw)
	}
	if o.Status != "DeliveryStarted" || o.Total != 5000 || o.Payment.PaymentStatus != "Approved" || o.Customer.Email != "alice@example.com" {
		t.Fatalf("created order = %+v", o)
	}
	if bytes.Contains(raw, []byte(approvedCard)) {
		t.Fatalf("the order answer contains the card number: %s", raw)
	}
	if got := sys.product(t, "sample-1").Stock; got != before1.Stock-2 {
		t.Errorf("sample-1 stock %d, want %d", got, before1.Stock-2)
	}
	if got := sys.product(t, "sample-3").Stock; got != before3.Stock-1 {
		t.Errorf("sample-3 stock %d, want %d", got, before3.Stock-1)
	}

	sys.waitStatus(t, alice, o.ID, "DeliveryStarted")

	var n struct{ OrderID, To, Status string }
	if code, raw := sys.call(t, "GET", "/notification?orderId="+o.ID, bearer(alice), nil, &n); code != http.StatusOK {
		t.Fatalf("GET /notification: %d %s", code, raw)
	}
	if n.OrderID != o.ID || n.To != "alice@example.com" || n.Status != "Sent" {
		t.Fatalf("notification = %+v", n)
	}

	var list struct{ Orders []orderJSON }
	if code, raw := sys.call(t, "GET", "/order", bearer(alice), nil, &list); code != http.StatusOK || len(list.Orders) != 1 || list.Orders[0].ID != o.ID {
		t.Fatalf("GET /order: %d %s", code, raw)
	}

	// Another user sees neither the order nor its notification.
	bob := sys.signUp(t, "bob@example.com")
	if code, _ := sys.call(t, "GET", "/order/"+o.ID, bearer(bob), nil, nil); code != http.StatusNotFound {
		t.Errorf("bob reading alice's order: %d, want 404", code)
	}
	if code, _ := sys.call(t, "GET", "/notification?orderId="+o.ID, bearer(bob), nil, nil); code != http.StatusNotFound {
		t.Errorf("bob reading alice's notification: %d, want 404", code)
	}
}

// TestNotifyWithinReachesTheOrderService: with -notify-within negative, an
// order's notification goes through the outbox, so the order is created
// PaymentProcessed (and still reaches DeliveryStarted), where by default it is
// created DeliveryStarted (TestPurchaseEndToEnd).
func TestNotifyWithinReachesTheOrderService(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "-notify-within", "-1ns")
	alice := sys.signUp(t, "alice@example.com")
	var o orderJSON
	if code, raw := sys.call(t, "POST", "/order", bearer(alice), orderBody([]string{"sample-1"}, approvedCard, 1000), &o); code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", code, raw)
	}
	if o.Status != "PaymentProcessed" {
		t.Fatalf("created %s, want PaymentProcessed (the notification left to the outbox)", o.Status)
	}
	sys.waitStatus(t, alice, o.ID, "DeliveryStarted")
}

func TestOrderErrorsEndToEnd(t *testing.T) {
	sys := startSystem(t)
	alice := sys.signUp(t, "alice@example.com")
	admin := sys.signUp(t, adminEmail)

	key, err := token.LoadOrCreateKey(filepath.Join(sys.dataDir, assembly.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	past, err := token.NewSigner(key, token.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := past.IssuePair("someone", token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}

	good := orderBody([]string{"sample-2"}, approvedCard, 2000)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    any
		want    int
	}{
		{"wrong amount", bearer(alice), orderBody([]string{"sample-2"}, approvedCard, 1999), http.StatusBadRequest},
		{"no token", nil, good, http.StatusUnauthorized},
		{"garbage token", bearer("not.a.token"), good, http.StatusUnauthorized},
		{"expired token", bearer(expired.AccessToken), good, http.StatusUnauthorized},
		{"refresh token as access", bearer(expired.RefreshToken), good, http.StatusUnauthorized},
		{"unknown product", bearer(alice), orderBody([]string{"no-such-product"}, approvedCard, 1000), http.StatusNotFound},
		{"empty order", bearer(alice), orderBody(nil, approvedCard, 0), http.StatusBadRequest},
		{"unknown field", bearer(alice), map[string]any{"productIds": []string{"sample-1"}, "coupon": "FREE"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, raw := sys.call(t, "POST", "/order", tc.headers, tc.body, nil); code != tc.want {
				t.Fatalf("POST /order: %d %s, want %d", code, raw, tc.want)
			}
		})
	}

	t.Run("declined card restores stock", func(t *testing.T) {
		before := sys.product(t, "sample-4").Stock
		code, raw := sys.call(t, "POST", "/order", bearer(alice), orderBody([]string{"sample-4"}, declinedCard, 2000), nil)
		if code != http.StatusPaymentRequired {
			t.Fatalf("POST /order: %d %s, want 402", code, raw)
		}
		var list struct{ Orders []orderJSON }
		sys.call(t, "GET", "/order", bearer(alice), nil, &list)
		if len(list.Orders) == 0 || list.Orders[0].Status != "PaymentFailed" {
			t.Fatalf("newest order after a decline: %+v", list.Orders)
		}
		if !bytes.Contains(raw, []byte(list.Orders[0].ID)) {
			t.Errorf("the 402 answer does not name the order %s: %s", list.Orders[0].ID, raw)
		}
		if got := sys.product(t, "sample-4").Stock; got != before {
			t.Fatalf("stock after a declined payment: %d, want %d", got, before)
		}
	})

	t.Run("out of stock", func(t *testing.T) {
		var created struct{ Product productJSON }
		if code, raw := sys.call(t, "POST", "/product", bearer(admin),
			map[string]any{"name": "Last one", "description": "Only one left", "price": 500, "stock": 1}, &created); code != http.StatusCreated {
			t.Fatalf("POST /product as admin: %d %s", code, raw)
		}
		id := created.Product.ID
		code, raw := sys.call(t, "POST", "/order", bearer(alice), orderBody([]string{id, id}, approvedCard, 1000), nil)
		if code != http.StatusConflict {
			t.Fatalf("POST /order for 2 of stock 1: %d %s, want 409", code, raw)
		}
		if got := sys.product(t, id).Stock; got != 1 {
			t.Fatalf("stock after a refused order: %d, want 1", got)
		}
		if code, _ := sys.call(t, "POST", "/product", bearer(alice), map[string]any{"name": "x", "price": 1, "stock": 1}, nil); code != http.StatusForbidden {
			t.Errorf("POST /product as a user: %d, want 403", code)
		}
	})

	t.Run("idempotent replay", func(t *testing.T) {
		hdr := bearer(alice)
		hdr["Idempotency-Key"] = "e2e-replay-1"
		before := sys.product(t, "sample-5").Stock
		var first, second orderJSON
		if code, raw := sys.call(t, "POST", "/order", hdr, orderBody([]string{"sample-5"}, approvedCard, 1500), &first); code != http.StatusCreated {
			t.Fatalf("first POST: %d %s", code, raw)
		}
		if code, raw := sys.call(t, "POST", "/order", hdr, orderBody([]string{"sample-5"}, approvedCard, 1500), &second); code != http.StatusOK {
			t.Fatalf("replayed POST: %d %s, want 200", code, raw)
		}
		if first.ID != second.ID || first.Payment.PaymentID == "" || first.Payment.PaymentID != second.Payment.PaymentID {
			t.Fatalf("replay gave order %s payment %s, first was %s payment %s", second.ID, second.Payment.PaymentID, first.ID, first.Payment.PaymentID)
		}
		if got := sys.product(t, "sample-5").Stock; got != before-1 {
			t.Fatalf("stock after an order and its replay: %d, want %d", got, before-1)
		}
		var pay struct{ ID, PaymentStatus string }
		if code, raw := sys.call(t, "GET", "/payment/"+first.ID, bearer(admin), nil, &pay); code != http.StatusOK || pay.ID != first.Payment.PaymentID {
			t.Fatalf("GET /payment/%s: %d %s", first.ID, code, raw)
		}
		if code, raw := sys.call(t, "POST", "/order", hdr, orderBody([]string{"sample-5", "sample-5"}, approvedCard, 3000), nil); code != http.StatusUnprocessableEntity {
			t.Fatalf("same key, other body: %d %s, want 422", code, raw)
		}
	})
}

// TestRunRejectsBadFlags: each bad setting fails the start, naming its flag
// and environment variable.
func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for want, args := range map[string][]string{
		"KITSHOP_SWEEP_INTERVAL":        {"-sweep-interval=0"},
		"KITSHOP_MAX_CONCURRENT_ORDERS": {"-max-concurrent-orders=0"},
		"KITSHOP_ADMISSION_WAIT":        {"-admission-wait=-1s"},
		"KITSHOP_SAMPLE_STOCK":          {"-sample-stock=-1"},
		"KITSHOP_SEND_LATENCY":          {"-send-latency=-1s"},
		"KITSHOP_PROCESSOR_LATENCY":     {"-processor-latency=-1s"},
		"KITSHOP_OUTBOX_BACKOFF":        {"-outbox-backoff=0"},
	} {
		var out servetest.SyncBuffer
		err := run(t.Context(), args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run(%v) = %v, want an error naming %s", args, err, want)
		}
	}
}

// TestRunHelp: cmd/shop takes the flags it always took, the services' own
// among them (internal/assembly), and none that says where a service alone
// finds the others: cmd/shop knows.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out servetest.SyncBuffer
	if err := run(t.Context(), []string{"-h"}, &out, &out); err != nil {
		t.Fatalf("run(-h) = %v", err)
	}
	usage := out.String()
	for _, flag := range []string{"-edge-addr", "-user-grpc-addr", "-notification-http-addr", "-mongo-uri", "-store-addr",
		"-debug-addr", "-data-dir", "-log-level", "-log-format", "-shutdown-timeout", "-max-body-bytes",
		"-admin-emails", "-login-rate-per-email", "-login-rate-per-ip", "-sample-stock", "-processor-latency",
		"-send-latency", "-order-timeout", "-sweep-interval", "-sweep-grace", "-lease", "-dispatch-interval",
		"-max-concurrent-orders", "-admission-wait", "-notify-within", "-void-after", "-reconcile-interval",
		"-client-retry-budget", "-breaker-failures", "-user-cache-ttl", "-product-cache-ttl",
		"-tls-cert", "-tls-key", "-tls-ca", "-service-key-file", "-grpc-reflection"} {
		if !strings.Contains(usage, "  "+flag+" ") && !strings.Contains(usage, "  "+flag+"\n") {
			t.Errorf("usage lacks %s", flag)
		}
	}
	for _, flag := range []string{"-jwks-url", "-jwt-public-key-file", "-user-addr", "-grpc-addr"} {
		if strings.Contains(usage, "  "+flag+" ") {
			t.Errorf("usage offers %s, which cmd/shop has no use for", flag)
		}
	}
}
