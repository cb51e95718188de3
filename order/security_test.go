package order

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// secNow is the fixed time of the security tests' token clock.
var secNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// secKey is the signing key of the security tests (deterministic).
var secKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// secFixture is the service on fakes behind NewHTTPHandler wrapped by
// httpserver.New (served in process through httptest.NewRecorder), with a
// token signer whose clock stands at secNow.
type secFixture struct {
	*env
	signer  *token.Signer
	set     Set
	handler http.Handler
}

func newSecFixture(t testing.TB) *secFixture {
	t.Helper()
	e := newEnv(t)
	signer := newSecSigner(t, token.Options{})
	set := NewSet(e.svc, signer.Verifier(), nil, nil)
	return &secFixture{env: e, signer: signer, set: set,
		handler: httpserver.New(NewHTTPHandler(set), httpserver.Options{})}
}

// newSecSigner returns a signer of secKey; opts.Now defaults to secNow.
func newSecSigner(t testing.TB, opts token.Options) *token.Signer {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return secNow }
	}
	s, err := token.NewSigner(secKey, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func issuePair(t testing.TB, s *token.Signer, user string) token.Pair {
	t.Helper()
	p, err := s.IssuePair(user, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve runs one request through the handler; authorization "" sends none.
func (f *secFixture) serve(method, path, authorization string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

// errorBody decodes a JSON error envelope, failing the test if the body is not one.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d body %q is not a JSON error envelope (%v)", w.Code, w.Body, err)
	}
	return e.Error.Code, e.Error.Message
}

// accessClaims are the claims of a good access token of alice at secNow.
func accessClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": token.DefaultIssuer, "aud": []string{token.DefaultAudience}, "sub": alice,
		"role": "user", "token_use": "access", "jti": "jti-1",
		"iat": secNow.Unix(), "nbf": secNow.Unix(), "exp": secNow.Add(15 * time.Minute).Unix(),
	}
}

// forge signs claims with method and key, with the kid of secKey unless kid is false.
func forge(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid bool) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid {
		tok.Header["kid"] = token.KeyID(secKey.Public().(ed25519.PublicKey))
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostileTokens are bearer credentials the order service must refuse, by
// name, with the error code of the answer. Each would otherwise act as alice
// (or as bob, or as an admin).
func hostileTokens(t testing.TB) []struct{ name, authorization, code string } {
	t.Helper()
	good := issuePair(t, newSecSigner(t, token.Options{}), alice)
	parts := strings.Split(good.AccessToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	withPayload := func(mut func(map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		mut(m)
		b, _ := json.Marshal(m)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	claimsWithout := func(name string) jwt.MapClaims {
		c := accessClaims()
		delete(c, name)
		return c
	}
	_, otherKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(secKey.Public().(ed25519.PublicKey))
	bearer := func(tok string) string { return "Bearer " + tok }
	return []struct{ name, authorization, code string }{
		{"no Authorization", "", "unauthenticated"},
		{"Basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:pw")), "unauthenticated"},
		{"Bearer without token", "Bearer", "invalid_token"},
		{"two tokens", bearer(good.AccessToken + " " + good.AccessToken), "invalid_token"},
		{"garbage", bearer("not.a.jwt"), "invalid_token"},
		{"alg none", bearer(forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, accessClaims(), true)), "invalid_token"},
		{"alg none without kid", bearer(forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, accessClaims(), false)), "invalid_token"},
		{"HS256 signed with the public key", bearer(forge(t, jwt.SigningMethodHS256, pub, accessClaims(), true)), "invalid_token"},
		{"signed by another key under our kid", bearer(forge(t, jwt.SigningMethodEdDSA, otherKey, accessClaims(), true)), "invalid_token"},
		{"expired", bearer(issuePair(t, newSecSigner(t, token.Options{Now: func() time.Time { return secNow.Add(-16 * time.Minute) }}), alice).AccessToken), "token_expired"},
		{"not yet valid", bearer(issuePair(t, newSecSigner(t, token.Options{Now: func() time.Time { return secNow.Add(time.Hour) }}), alice).AccessToken), "invalid_token"},
		{"wrong audience", bearer(issuePair(t, newSecSigner(t, token.Options{Audience: "another-app"}), alice).AccessToken), "invalid_token"},
		{"wrong issuer", bearer(issuePair(t, newSecSigner(t, token.Options{Issuer: "evil"}), alice).AccessToken), "invalid_token"},
		{"no exp", bearer(forge(t, jwt.SigningMethodEdDSA, secKey, claimsWithout("exp"), true)), "invalid_token"},
		{"no sub", bearer(forge(t, jwt.SigningMethodEdDSA, secKey, claimsWithout("sub"), true)), "invalid_token"},
		{"payload tampered: sub", bearer(withPayload(func(m map[string]any) { m["sub"] = bob })), "invalid_token"},
		{"payload tampered: role", bearer(withPayload(func(m map[string]any) { m["role"] = "admin" })), "invalid_token"},
		{"payload tampered: exp", bearer(withPayload(func(m map[string]any) { m["exp"] = secNow.Add(24 * time.Hour).Unix() })), "invalid_token"},
		{"signature tampered", bearer(parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)), "invalid_token"},
		{"signature stripped", bearer(parts[0] + "." + parts[1] + "."), "invalid_token"},
		{"refresh token as access token", bearer(good.RefreshToken), "invalid_token"},
		{"oversized", bearer(strings.Repeat("a", 20<<10)), "invalid_token"},
	}
}

// TestHostileTokensHTTP sends every hostile token to every order route: each
// is 401 with the JSON error and a WWW-Authenticate challenge, and nothing
// reaches the service.
func TestHostileTokensHTTP(t *testing.T) {
	t.Parallel()
	f := newSecFixture(t)
	o, _, err := f.svc.CreateOrder(t.Context(), alice, validOrder())
	if err != nil {
		t.Fatal(err)
	}
	good := issuePair(t, f.signer, alice).AccessToken
	if w := f.serve(http.MethodGet, "/order/"+o.ID, "Bearer "+good, nil, nil); w.Code != http.StatusOK {
		t.Fatalf("the good token: %d %s", w.Code, w.Body)
	}
	calls := f.payments.callsFor(o.ID)
	for _, tc := range hostileTokens(t) {
		t.Run(tc.name, func(t *testing.T) {
			for _, route := range []struct{ method, path, body string }{
				{http.MethodPost, "/order", orderBody},
				{http.MethodGet, "/order", ""},
				{http.MethodGet, "/order/" + o.ID, ""},
			} {
				w := f.serve(route.method, route.path, tc.authorization, strings.NewReader(route.body), nil)
				code, msg := errorBody(t, w)
				if w.Code != http.StatusUnauthorized || code != tc.code {
					t.Errorf("%s %s: %d %s, want 401 %s", route.method, route.path, w.Code, w.Body, tc.code)
				}
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="kitshop"`) {
					t.Errorf("%s %s: WWW-Authenticate %q", route.method, route.path, w.Header().Get("WWW-Authenticate"))
				}
				if strings.Contains(msg, o.ID) || strings.Contains(msg, "Alice") {
					t.Errorf("%s %s: the message %q shows the order", route.method, route.path, msg)
				}
			}
		})
	}
	if n := f.store.count(); n != 1 {
		t.Errorf("%d orders stored, want only the first", n)
	}
	if n := len(f.payments.seen); n != calls {
		t.Errorf("payments were attempted with hostile tokens: %d calls", n-calls)
	}
}

// TestHostileTokensGRPC sends every hostile token as "authorization"
// metadata to CreateOrder over a real gRPC connection: each is Unauthenticated.
func TestHostileTokensGRPC(t *testing.T) {
	t.Parallel()
	f := newSecFixture(t)
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	orderv1.RegisterOrderServiceServer(gs, NewGRPCServer(f.set))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := orderv1.NewOrderServiceClient(conn)
	for _, tc := range hostileTokens(t) {
		ctx := t.Context()
		if tc.authorization != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.authorization)
		}
		if _, err := client.CreateOrder(ctx, validProto()); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", tc.name, err)
		}
	}
	if n := f.store.count(); n != 0 {
		t.Errorf("%d orders stored with hostile tokens", n)
	}
}

// TestBadOrderBodies checks that malformed, hostile and out-of-range bodies of
// POST /order are 400 (413 when too large) with a message naming the
// problem, and that none of them reaches the store.
func TestBadOrderBodies(t *testing.T) {
	t.Parallel()
	ids := func(n int, id func(i int) string) string {
		q := make([]string, n)
		for i := range q {
			q[i] = `"` + id(i) + `"`
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	same := func(int) string { return "p1" }
	distinct := func(i int) string { return fmt.Sprintf("p%d", i) }
	r := strings.NewReplacer
	items := func(s string) string {
		return strings.Replace(orderBody, `"items": [{"productId": "p2", "quantity": 1}]`, `"items": `+s, 1)
	}
	productIDs := func(s string) string {
		return strings.Replace(orderBody, `"productIds": ["p1", "p1"]`, `"productIds": `+s, 1)
	}
	const address = `"address": {"name": "Alice", "street": "1 Main St", "city": "Seoul", "postalCode": "04524", "country": "KR"}`
	amount := func(s string) string { return strings.Replace(orderBody, `"amount": 4000`, `"amount": `+s, 1) }
	for _, tc := range []struct {
		name   string
		body   string
		header map[string]string
		status int
		msg    string
	}{
		// Unknown fields: a client cannot name the customer or smuggle data.
		{name: "unknown field userId", body: strings.Replace(orderBody, `"productIds"`, `"userId": "user-bob", "productIds"`, 1), msg: `unknown field "userId"`},
		{name: "unknown nested field", body: strings.Replace(orderBody, `"amount": 4000`, `"amount": 4000, "cvv": "123"`, 1), msg: `unknown field "cvv"`},
		{name: "unknown field in an item", body: items(`[{"productId": "p2", "quantity": 1, "price": 1}]`), msg: `unknown field "price"`},
		// Wrong types.
		{name: "productIds a string", body: productIDs(`"p1"`), msg: `field "productIds" must be an array`},
		{name: "items an object", body: items(`{"productId": "p2"}`), msg: `field "items" must be an array`},
		{name: "address a string", body: strings.Replace(orderBody, address, `"address": "Seoul"`, 1), msg: `field "address" must be an object`},
		{name: "quantity a string", body: items(`[{"productId": "p2", "quantity": "1"}]`), msg: `field "items.quantity" must be a number`},
		{name: "amount a string", body: amount(`"4000"`), msg: `field "payment.amount" must be a number`},
		{name: "amount a boolean", body: amount(`true`), msg: `field "payment.amount" must be a number`},
		{name: "body an array", body: `[]`, msg: "request body must be an object"},
		{name: "body a number", body: `4000`, msg: "request body must be an object"},
		// Amounts.
		{name: "amount zero", body: amount(`0`), msg: "payment.amount must be positive"},
		{name: "amount negative", body: amount(`-4000`), msg: "payment.amount must be positive"},
		{name: "amount most negative", body: amount(`-9223372036854775808`), msg: "payment.amount must be positive"},
		{name: "amount overflowing int64", body: amount(`9223372036854775808`), msg: `field "payment.amount" must be a whole number in range`},
		{name: "amount huge", body: amount(`1e400`), msg: `field "payment.amount" must be a whole number in range`},
		{name: "amount fractional", body: amount(`4000.5`), msg: `field "payment.amount" must be a whole number in range`},
		{name: "amount not the total", body: amount(`4001`), msg: "payment.amount is 4001 but the order total is 4000"},
		{name: "total overflowing int64", body: r(`"productIds": ["p1", "p1"]`, `"productIds": []`, `"productId": "p2", "quantity": 1`, `"productId": "gold", "quantity": 3`).Replace(orderBody),
			msg: "the order total is too large"},
		// Quantities.
		{name: "quantity zero", body: items(`[{"productId": "p2", "quantity": 0}]`), msg: "items[0]: quantity must be between 1 and 1000"},
		{name: "quantity missing", body: items(`[{"productId": "p2"}]`), msg: "items[0]: quantity must be between 1 and 1000"},
		{name: "quantity negative", body: items(`[{"productId": "p2", "quantity": -1}]`), msg: "items[0]: quantity must be between 1 and 1000"},
		{name: "quantity over the maximum", body: items(`[{"productId": "p2", "quantity": 1001}]`), msg: "items[0]: quantity must be between 1 and 1000"},
		{name: "quantity overflowing int64", body: items(`[{"productId": "p2", "quantity": 9223372036854775808}]`), msg: `field "items.quantity" must be a whole number in range`},
		{name: "quantities adding up over the maximum", body: r(`"productIds": ["p1", "p1"]`, `"productIds": `+ids(600, same), `"productId": "p2", "quantity": 1`, `"productId": "p1", "quantity": 500`).Replace(orderBody),
			msg: "product p1: quantity must be between 1 and 1000"},
		// Product ids. 10,000 ids are about 50 KB, well under the 1 MiB body
		// limit, so the decoder reads them and the service's own limit (1,000
		// ids) refuses the order: 400, not 413.
		{name: "10,000 product ids", body: productIDs(ids(10000, same)), msg: "productIds has more than 1000 entries"},
		{name: "1,001 product ids", body: productIDs(ids(MaxProductIDs+1, same)), msg: "productIds has more than 1000 entries"},
		{name: "101 distinct products", body: productIDs(ids(MaxProducts+1, distinct)), msg: "an order holds at most 100 different products"},
		{name: "101 items", body: items(`[` + strings.Repeat(`{"productId": "p2", "quantity": 1},`, MaxProducts) + `{"productId": "p2", "quantity": 1}]`), msg: "items has more than 100 entries"},
		{name: "no products", body: r(`"productIds": ["p1", "p1"]`, `"productIds": null`, `"items": [{"productId": "p2", "quantity": 1}]`, `"items": []`).Replace(orderBody), msg: "the order has no products"},
		{name: "product id too long", body: productIDs(`["` + strings.Repeat("p", 129) + `"]`), msg: "productIds[0] is not a valid id"},
		// Empty strings.
		{name: "empty product id", body: productIDs(`[""]`), msg: "productIds[0] must not be empty"},
		{name: "blank product id", body: productIDs(`["p1", " \t"]`), msg: "productIds[1] must not be empty"},
		{name: "empty item product id", body: items(`[{"productId": "", "quantity": 1}]`), msg: "items[0] must not be empty"},
		{name: "empty address name", body: strings.Replace(orderBody, `"name": "Alice"`, `"name": ""`, 1), msg: "address.name is required"},
		{name: "blank city", body: strings.Replace(orderBody, `"Seoul"`, `"   "`, 1), msg: "address.city is required"},
		{name: "empty postal code", body: strings.Replace(orderBody, `"04524"`, `""`, 1), msg: "address.postalCode is required"},
		{name: "no address", body: strings.Replace(orderBody, address+",", "", 1), msg: "address.name is required"},
		{name: "address null", body: strings.Replace(orderBody, address, `"address": null`, 1), msg: "address.name is required"},
		{name: "empty payment name", body: strings.Replace(orderBody, `"paymentName": "Alice"`, `"paymentName": ""`, 1), msg: "payment.paymentName is required"},
		{name: "empty payment method", body: strings.Replace(orderBody, `"CreditCard"`, `""`, 1), msg: "payment.paymentMethod must be CreditCard or Kakao"},
		{name: "payment method in another case", body: strings.Replace(orderBody, `"CreditCard"`, `"creditcard"`, 1), msg: "payment.paymentMethod must be CreditCard or Kakao"},
		{name: "address field too long", body: strings.Replace(orderBody, `"Seoul"`, `"`+strings.Repeat("s", 201)+`"`, 1), msg: "address.city must be valid text of at most 200 bytes"},
		{name: "card field too long", body: strings.Replace(orderBody, `"900101"`, `"`+strings.Repeat("9", 101)+`"`, 1), msg: "payment.birthOrRegistration must be valid text of at most 100 bytes"},
		// Malformed bodies.
		{name: "empty body", body: "", msg: "request body is empty"},
		{name: "null body", body: "null", msg: "the order has no products"},
		{name: "truncated", body: orderBody[:len(orderBody)/2], msg: "unexpected end of input"},
		{name: "two JSON values", body: orderBody + orderBody, msg: "request body must hold a single JSON value"},
		{name: "not JSON", body: "productIds=p1", msg: "request body is not valid JSON"},
		{name: "idempotency key not ASCII", body: orderBody, header: map[string]string{IdempotencyKeyHeader: "키"}, msg: "idempotency key must be at most 255 printable ASCII characters"},
		{name: "idempotency key too long", body: orderBody, header: map[string]string{IdempotencyKeyHeader: strings.Repeat("k", 256)}, msg: "idempotency key must be at most 255 printable ASCII characters"},
		// Too large: 413 whether Content-Length says so or the body just goes on.
		{name: "10,000 long product ids", body: productIDs(ids(10000, func(int) string { return strings.Repeat("p", 128) })), status: http.StatusRequestEntityTooLarge, msg: "request body is larger than 1048576 bytes"},
		{name: "2 MiB of padding", body: strings.Replace(orderBody, `"p1", "p1"`, `"p1", "`+strings.Repeat("p", 2<<20)+`"`, 1), status: http.StatusRequestEntityTooLarge, msg: "request body is larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := tc.status
			if want == 0 {
				want = http.StatusBadRequest
			}
			f := newSecFixture(t)
			f.products.catalog["gold"] = Product{ID: "gold", Name: "Gold bar", Price: math.MaxInt64 / 2}
			auth := "Bearer " + issuePair(t, f.signer, alice).AccessToken
			for _, length := range []string{"known", "unknown"} {
				var body io.Reader = strings.NewReader(tc.body)
				if length == "unknown" {
					body = io.MultiReader(body) // no Content-Length: the limit applies while reading
				}
				w := f.serve(http.MethodPost, "/order", auth, body, tc.header)
				code, msg := errorBody(t, w)
				wantErr := httpserver.CodeForStatus(want)
				if w.Code != want || code != wantErr || !strings.Contains(msg, tc.msg) {
					t.Errorf("Content-Length %s: %d %s %q, want %d %s containing %q", length, w.Code, code, msg, want, wantErr, tc.msg)
				}
				if strings.Contains(msg, "4111") {
					t.Errorf("the message %q shows card data", msg)
				}
			}
			if n := f.store.count(); n != 0 {
				t.Errorf("%d orders stored", n)
			}
		})
	}
}

// TestNoExistenceLeak checks that another user's order is answered exactly
// like an order that does not exist (404, same body), over HTTP and gRPC,
// that it never shows in their list, and that reusing its idempotency key
// makes the other user an order of their own rather than revealing it.
func TestNoExistenceLeak(t *testing.T) {
	t.Parallel()
	f := newSecFixture(t)
	req := validOrder()
	req.IdempotencyKey = "alice-key-1"
	o, _, err := f.svc.CreateOrder(t.Context(), alice, req)
	if err != nil {
		t.Fatal(err)
	}
	bobAuth := "Bearer " + issuePair(t, f.signer, bob).AccessToken
	unknownID := strings.Repeat("0", len(o.ID))

	theirs := f.serve(http.MethodGet, "/order/"+o.ID, bobAuth, nil, nil)
	none := f.serve(http.MethodGet, "/order/"+unknownID, bobAuth, nil, nil)
	if theirs.Code != http.StatusNotFound || none.Code != http.StatusNotFound {
		t.Errorf("another user's order: %d, unknown order: %d; want 404 for both", theirs.Code, none.Code)
	}
	if theirs.Body.String() != none.Body.String() {
		t.Errorf("another user's order: %s; unknown order: %s; want the same answer", theirs.Body, none.Body)
	}
	list := f.serve(http.MethodGet, "/order", bobAuth, nil, nil)
	if list.Code != http.StatusOK || strings.Contains(list.Body.String(), o.ID) {
		t.Errorf("bob's list: %d %s", list.Code, list.Body)
	}

	bobCtx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", bobAuth))
	srv := NewGRPCServer(f.set)
	_, errTheirs := srv.GetOrder(bobCtx, &orderv1.GetOrderRequest{Id: o.ID})
	_, errNone := srv.GetOrder(bobCtx, &orderv1.GetOrderRequest{Id: unknownID})
	wantCode(t, errTheirs, codes.NotFound)
	if errTheirs == nil || errNone == nil || errTheirs.Error() != errNone.Error() {
		t.Errorf("gRPC: another user's order: %v; unknown order: %v; want the same answer", errTheirs, errNone)
	}

	// Alice's key, used by bob with another body: bob's own new order, not
	// alice's (200 replay) nor a conflict (422) that would show the key is taken.
	w := f.serve(http.MethodPost, "/order", bobAuth, strings.NewReader(strings.Replace(orderBody, `"Seoul"`, `"Busan"`, 1)),
		map[string]string{IdempotencyKeyHeader: req.IdempotencyKey})
	var got orderJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusCreated || got.ID == o.ID || got.Customer.UserID != bob {
		t.Errorf("bob with alice's idempotency key: %d %s", w.Code, w.Body)
	}
}
