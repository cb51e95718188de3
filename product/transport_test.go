package product

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
)

// transportFixture is a service on a fake store behind both transports, with
// tokens minted by a key generated for the test.
type transportFixture struct {
	store   *fakeStore
	keys    *token.JWKSFetcher // the key set of signer, served by a stand-in user service
	admin   string             // access tokens
	user    string
	foreign string // signed by another key
	grpc    productv1.ProductServiceClient
	http    *httptest.Server
}

// newTransportFixture returns a fixture whose verifier has its keys.
func newTransportFixture(t *testing.T) *transportFixture {
	t.Helper()
	f := newTransportFixtureBeforeKeys(t)
	if err := f.keys.Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f
}

// newTransportFixtureBeforeKeys returns a fixture whose verifier has not
// fetched its keys yet (f.keys.Fetch loads them).
func newTransportFixtureBeforeKeys(t *testing.T) *transportFixture {
	t.Helper()
	f := &transportFixture{store: newFakeStore()}
	signer := newSigner(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(signer.JWKS())
	}))
	t.Cleanup(jwks.Close)
	keys, err := token.NewJWKSFetcher(jwks.URL, jwks.Client(), nil, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.keys = keys
	f.admin = issue(t, signer, "admin-1", token.RoleAdmin)
	f.user = issue(t, signer, "user-1", token.RoleUser)
	f.foreign = issue(t, newSigner(t), "admin-2", token.RoleAdmin)

	svc := newTestService(t, f.store, newClock())
	set := NewSet(svc, keys.Verifier(), nil, nil)

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	productv1.RegisterProductServiceServer(srv, NewGRPCServer(set))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	f.grpc = productv1.NewProductServiceClient(conn)

	f.http = httptest.NewServer(httpserver.New(NewHTTPHandler(set), httpserver.Options{}))
	t.Cleanup(f.http.Close)
	return f
}

func newSigner(t *testing.T) *token.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func issue(t *testing.T, s *token.Signer, sub string, role token.Role) string {
	t.Helper()
	p, err := s.IssuePair(sub, role, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// wantCode fails the test unless err is a gRPC status with code.
func wantCode(t *testing.T, what string, err error, code codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Errorf("%s: err = %v, want code %v", what, err, code)
	}
	return st
}

func TestGRPCTransport(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t)
	ctx := t.Context()
	c := f.grpc

	// Catalogue.
	samples, err := c.CreateSamples(ctx, &productv1.CreateSamplesRequest{})
	if err != nil || !samples.GetSuccess() || samples.GetCreated() != 5 {
		t.Fatalf("CreateSamples = %v, %v", samples, err)
	}
	if samples, err = c.CreateSamples(ctx, &productv1.CreateSamplesRequest{}); err != nil || samples.GetCreated() != 0 {
		t.Fatalf("CreateSamples again = %v, %v", samples, err)
	}
	info, err := c.GetProductsInfo(ctx, &productv1.GetProductsInfoRequest{ProductIds: []string{"sample-3", "sample-1", "sample-3"}})
	if err != nil || len(info.GetProducts()) != 2 || info.GetProducts()[0].GetId() != "sample-3" || info.GetProducts()[0].GetPrice() != 3000 {
		t.Fatalf("GetProductsInfo = %v, %v", info, err)
	}
	_, err = c.GetProductsInfo(ctx, &productv1.GetProductsInfoRequest{ProductIds: []string{"sample-1", "nope"}})
	st := wantCode(t, "GetProductsInfo unknown", err, codes.NotFound)
	if d := st.Details(); len(d) != 1 || d[0].(*errdetails.ResourceInfo).GetResourceName() != "nope" {
		t.Errorf("NotFound details = %v, want one ResourceInfo naming nope", d)
	}
	_, err = c.GetProductsInfo(ctx, &productv1.GetProductsInfoRequest{})
	wantCode(t, "GetProductsInfo empty", err, codes.InvalidArgument)

	list, err := c.ListProducts(ctx, &productv1.ListProductsRequest{PageSize: 3})
	if err != nil || len(list.GetProducts()) != 3 || list.GetNextPageToken() == "" {
		t.Fatalf("ListProducts = %v, %v", list, err)
	}
	list, err = c.ListProducts(ctx, &productv1.ListProductsRequest{PageSize: 3, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetProducts()) != 2 || list.GetNextPageToken() != "" {
		t.Fatalf("ListProducts page 2 = %v, %v", list, err)
	}
	_, err = c.ListProducts(ctx, &productv1.ListProductsRequest{PageToken: "garbage"})
	wantCode(t, "ListProducts bad token", err, codes.InvalidArgument)
	list, err = c.ListProducts(ctx, &productv1.ListProductsRequest{Query: "COFFEE can"})
	if err != nil || len(list.GetProducts()) != 1 || list.GetProducts()[0].GetId() != "sample-4" || list.GetNextPageToken() != "" {
		t.Fatalf("ListProducts of COFFEE can = %v, %v", list, err)
	}
	_, err = c.ListProducts(ctx, &productv1.ListProductsRequest{Query: "a b c d e f g h i"})
	st = wantCode(t, "ListProducts of 9 words", err, codes.InvalidArgument)
	if !strings.Contains(st.Message(), "at most 8 words") {
		t.Errorf("ListProducts of 9 words: message %q, want it to say at most 8 words", st.Message())
	}

	got, err := c.GetProduct(ctx, &productv1.GetProductRequest{ProductId: "sample-5"})
	if err != nil || got.GetProduct().GetPrice() != 1500 || got.GetProduct().GetStock() != DefaultSampleStock {
		t.Fatalf("GetProduct = %v, %v", got, err)
	}
	_, err = c.GetProduct(ctx, &productv1.GetProductRequest{ProductId: "nope"})
	wantCode(t, "GetProduct unknown", err, codes.NotFound)

	// Admin calls.
	create := &productv1.CreateProductRequest{Name: "Tea", Description: "Green tea.", Price: 2500, Stock: 3}
	_, err = c.CreateProduct(ctx, create)
	wantCode(t, "CreateProduct without token", err, codes.Unauthenticated)
	_, err = c.CreateProduct(bearer(ctx, "not-a-jwt"), create)
	wantCode(t, "CreateProduct with a malformed token", err, codes.Unauthenticated)
	_, err = c.CreateProduct(bearer(ctx, f.foreign), create)
	wantCode(t, "CreateProduct with a token of another key", err, codes.Unauthenticated)
	_, err = c.CreateProduct(bearer(ctx, f.user), create)
	wantCode(t, "CreateProduct as a user", err, codes.PermissionDenied)
	_, err = c.CreateProduct(bearer(ctx, f.admin), &productv1.CreateProductRequest{Name: "Tea", Price: 0})
	wantCode(t, "CreateProduct with price 0", err, codes.InvalidArgument)
	created, err := c.CreateProduct(bearer(ctx, f.admin), create)
	if err != nil || created.GetProduct().GetId() == "" || created.GetProduct().GetName() != "Tea" {
		t.Fatalf("CreateProduct = %v, %v", created, err)
	}
	id := created.GetProduct().GetId()

	_, err = c.AdjustStock(bearer(ctx, f.user), &productv1.AdjustStockRequest{ProductId: id, Delta: 1})
	wantCode(t, "AdjustStock as a user", err, codes.PermissionDenied)
	adj, err := c.AdjustStock(bearer(ctx, f.admin), &productv1.AdjustStockRequest{ProductId: id, Delta: 2})
	if err != nil || adj.GetProduct().GetStock() != 5 {
		t.Fatalf("AdjustStock = %v, %v", adj, err)
	}
	_, err = c.AdjustStock(bearer(ctx, f.admin), &productv1.AdjustStockRequest{ProductId: id, Delta: -6})
	st = wantCode(t, "AdjustStock below zero", err, codes.FailedPrecondition)
	if d := st.Details(); len(d) != 1 || d[0].(*errdetails.PreconditionFailure).GetViolations()[0].GetSubject() != id {
		t.Errorf("FailedPrecondition details = %v, want a violation naming %s", d, id)
	}
	_, err = c.AdjustStock(bearer(ctx, f.admin), &productv1.AdjustStockRequest{ProductId: "nope", Delta: 1})
	wantCode(t, "AdjustStock unknown", err, codes.NotFound)
	_, err = c.AdjustStock(bearer(ctx, f.admin), &productv1.AdjustStockRequest{ProductId: id})
	wantCode(t, "AdjustStock by 0", err, codes.InvalidArgument)

	// Reservations.
	items := []*productv1.StockItem{{ProductId: id, Quantity: 2}, {ProductId: "sample-1", Quantity: 1}, {ProductId: id, Quantity: 1}}
	res, err := c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o1", Items: items})
	if err != nil || res.GetReplayed() || len(res.GetItems()) != 2 || res.GetOrderId() != "o1" {
		t.Fatalf("ReserveStock = %v, %v", res, err)
	}
	if res, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o1", Items: items}); err != nil || !res.GetReplayed() {
		t.Fatalf("ReserveStock repeat = %v, %v", res, err)
	}
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o1", Items: items[:1]})
	wantCode(t, "ReserveStock repeat with other items", err, codes.AlreadyExists)
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o2", Items: []*productv1.StockItem{{ProductId: id, Quantity: 3}}})
	st = wantCode(t, "ReserveStock short", err, codes.FailedPrecondition)
	if !strings.Contains(st.Message(), id) {
		t.Errorf("message %q does not name %s", st.Message(), id)
	}
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o3", Items: []*productv1.StockItem{{ProductId: "nope", Quantity: 1}}})
	wantCode(t, "ReserveStock unknown product", err, codes.NotFound)
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o4", Items: []*productv1.StockItem{{ProductId: id}}})
	wantCode(t, "ReserveStock quantity 0", err, codes.InvalidArgument)
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{Items: items})
	wantCode(t, "ReserveStock without order", err, codes.InvalidArgument)

	// A reservation another instance is working on.
	if _, _, err = f.store.CreateReservation(ctx, Reservation{
		OrderID: "o5", Items: []Item{{id, 1}}, State: StatePending, Owner: "elsewhere.1", LeaseUntil: newClock().Now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o5", Items: []*productv1.StockItem{{ProductId: id, Quantity: 1}}})
	wantCode(t, "ReserveStock busy", err, codes.Aborted)
	_, err = c.ReleaseStock(ctx, &productv1.ReleaseStockRequest{OrderId: "o5"})
	wantCode(t, "ReleaseStock busy", err, codes.Aborted)

	rel, err := c.ReleaseStock(ctx, &productv1.ReleaseStockRequest{OrderId: "o1"})
	if err != nil || !rel.GetReleased() {
		t.Fatalf("ReleaseStock = %v, %v", rel, err)
	}
	if rel, err = c.ReleaseStock(ctx, &productv1.ReleaseStockRequest{OrderId: "o1"}); err != nil || rel.GetReleased() {
		t.Fatalf("ReleaseStock again = %v, %v", rel, err)
	}
	_, err = c.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o1", Items: items})
	wantCode(t, "ReserveStock after release", err, codes.FailedPrecondition)
	_, err = c.ReleaseStock(ctx, &productv1.ReleaseStockRequest{})
	wantCode(t, "ReleaseStock without order", err, codes.InvalidArgument)

	// Infrastructure failure.
	f.store.mu.Lock()
	f.store.err = errors.New("disk on fire")
	f.store.mu.Unlock()
	_, err = c.GetProduct(ctx, &productv1.GetProductRequest{ProductId: "sample-1"})
	if st := wantCode(t, "GetProduct with the store down", err, codes.Internal); st.Message() != "internal error" {
		t.Errorf("internal message = %q, want no detail", st.Message())
	}
}

// httpCall makes a request and decodes the JSON answer into a map.
func httpCall(t *testing.T, f *transportFixture, method, path, tok, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.http.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, out
}

// errorCode returns the error code of an error body.
func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestHTTPTransport(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t)

	status, _, body := httpCall(t, f, "POST", "/product/sample", "", "")
	if status != 200 || body["success"] != true || body["created"] != 5.0 {
		t.Fatalf("POST /product/sample = %d %v", status, body)
	}
	if status, _, body = httpCall(t, f, "POST", "/product/sample", "", ""); status != 200 || body["created"] != 0.0 {
		t.Fatalf("POST /product/sample again = %d %v", status, body)
	}

	status, _, body = httpCall(t, f, "GET", "/product", "", "")
	products, _ := body["products"].([]any)
	if status != 200 || len(products) != 5 || body["nextPageToken"] != "" {
		t.Fatalf("GET /product = %d %v", status, body)
	}
	first := products[0].(map[string]any)
	for _, k := range []string{"id", "name", "description", "price", "stock"} {
		if _, ok := first[k]; !ok {
			t.Errorf("product JSON lacks %q: %v", k, first)
		}
	}
	status, _, body = httpCall(t, f, "GET", "/product?pageSize=2", "", "")
	next, _ := body["nextPageToken"].(string)
	if status != 200 || len(body["products"].([]any)) != 2 || next == "" {
		t.Fatalf("GET /product?pageSize=2 = %d %v", status, body)
	}
	status, _, body = httpCall(t, f, "GET", "/product?pageSize=2&pageToken="+next, "", "")
	if p := body["products"].([]any); status != 200 || len(p) != 2 || p[0].(map[string]any)["id"] != "sample-3" {
		t.Fatalf("GET /product page 2 = %d %v", status, body)
	}

	// A search, paged.
	status, _, body = httpCall(t, f, "GET", "/product?q=B&pageSize=1", "", "")
	next, _ = body["nextPageToken"].(string)
	if p := body["products"].([]any); status != 200 || len(p) != 1 || p[0].(map[string]any)["id"] != "sample-1" || next == "" {
		t.Fatalf("GET /product?q=B&pageSize=1 = %d %v", status, body)
	}
	status, _, body = httpCall(t, f, "GET", "/product?q=B&pageSize=1&pageToken="+next, "", "")
	if p := body["products"].([]any); status != 200 || len(p) != 1 || p[0].(map[string]any)["id"] != "sample-5" || body["nextPageToken"] != "" {
		t.Fatalf("GET /product?q=B, page 2 = %d %v", status, body)
	}
	status, _, body = httpCall(t, f, "GET", "/product?q="+url.QueryEscape("milk, BANANA"), "", "")
	if p := body["products"].([]any); status != 200 || len(p) != 1 || p[0].(map[string]any)["name"] != "Banana Milk" {
		t.Fatalf("GET /product?q=milk, BANANA = %d %v", status, body)
	}
	status, _, body = httpCall(t, f, "GET", "/product?q=tea", "", "")
	if p, ok := body["products"].([]any); status != 200 || !ok || len(p) != 0 || body["nextPageToken"] != "" {
		t.Fatalf("GET /product?q=tea = %d %v, want no products", status, body)
	}

	status, _, body = httpCall(t, f, "GET", "/product/sample-2", "", "")
	if p, _ := body["product"].(map[string]any); status != 200 || p["price"] != 2000.0 || p["name"] == "" {
		t.Fatalf("GET /product/sample-2 = %d %v", status, body)
	}

	// Admin routes.
	status, _, body = httpCall(t, f, "POST", "/product", f.admin, `{"name":"Tea","description":"Green.","price":2500,"stock":3}`)
	p, _ := body["product"].(map[string]any)
	if status != http.StatusCreated || p["name"] != "Tea" || p["stock"] != 3.0 {
		t.Fatalf("POST /product = %d %v", status, body)
	}
	id := p["id"].(string)
	status, _, body = httpCall(t, f, "POST", "/product/"+id+"/stock", f.admin, `{"delta":-3}`)
	if p, _ := body["product"].(map[string]any); status != 200 || p["stock"] != 0.0 {
		t.Fatalf("POST /product/{id}/stock = %d %v", status, body)
	}

	errorCases := []struct {
		name, method, path, tok, body string
		status                        int
		code                          string
	}{
		{"bad pageSize", "GET", "/product?pageSize=abc", "", "", 400, "invalid_argument"},
		{"negative pageSize", "GET", "/product?pageSize=-1", "", "", 400, "invalid_argument"},
		{"bad pageToken", "GET", "/product?pageToken=zzz", "", "", 400, "invalid_argument"},
		{"q of 201 bytes", "GET", "/product?q=" + strings.Repeat("a", 201), "", "", 400, "invalid_argument"},
		{"q of 9 words", "GET", "/product?q=a+b+c+d+e+f+g+h+i", "", "", 400, "invalid_argument"},
		{"q not UTF-8", "GET", "/product?q=caf%E9", "", "", 400, "invalid_argument"},
		{"q with the catalogue's token", "GET", "/product?q=tea&pageToken=" + encodePageToken(2), "", "", 400, "invalid_argument"},
		{"q with another q's token", "GET", "/product?q=tea&pageToken=" + next, "", "", 400, "invalid_argument"},
		{"unknown product", "GET", "/product/nope", "", "", 404, "not_found"},
		{"create without token", "POST", "/product", "", `{"name":"x","price":1}`, 401, "unauthenticated"},
		{"create with a bad token", "POST", "/product", "x.y.z", `{"name":"x","price":1}`, 401, "invalid_token"},
		{"create with another key's token", "POST", "/product", f.foreign, `{"name":"x","price":1}`, 401, "invalid_token"},
		{"create as a user", "POST", "/product", f.user, `{"name":"x","price":1}`, 403, "permission_denied"},
		{"create with bad JSON", "POST", "/product", f.admin, `{"name":`, 400, "invalid_argument"},
		{"create with an unknown field", "POST", "/product", f.admin, `{"name":"x","price":1,"color":"red"}`, 400, "invalid_argument"},
		{"create with a string price", "POST", "/product", f.admin, `{"name":"x","price":"1"}`, 400, "invalid_argument"},
		{"create without body", "POST", "/product", f.admin, "", 400, "invalid_argument"},
		{"create without name", "POST", "/product", f.admin, `{"price":1}`, 400, "invalid_argument"},
		{"create with price 0", "POST", "/product", f.admin, `{"name":"x"}`, 400, "invalid_argument"},
		{"create with negative stock", "POST", "/product", f.admin, `{"name":"x","price":1,"stock":-1}`, 400, "invalid_argument"},
		{"stock below zero", "POST", "/product/" + id + "/stock", f.admin, `{"delta":-1}`, 409, "insufficient_stock"},
		{"stock of unknown product", "POST", "/product/nope/stock", f.admin, `{"delta":1}`, 404, "not_found"},
		{"stock by 0", "POST", "/product/" + id + "/stock", f.admin, `{"delta":0}`, 400, "invalid_argument"},
		{"stock with a fraction", "POST", "/product/" + id + "/stock", f.admin, `{"delta":1.5}`, 400, "invalid_argument"},
		{"stock without token", "POST", "/product/" + id + "/stock", "", `{"delta":1}`, 401, "unauthenticated"},
		{"stock as a user", "POST", "/product/" + id + "/stock", f.user, `{"delta":1}`, 403, "permission_denied"},
	}
	for _, c := range errorCases {
		status, hdr, body := httpCall(t, f, c.method, c.path, c.tok, c.body)
		if status != c.status || errorCode(body) != c.code {
			t.Errorf("%s: %d %v, want %d %q", c.name, status, body, c.status, c.code)
		}
		if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, hdr.Get("WWW-Authenticate"))
		}
	}

	// Infrastructure failure.
	f.store.mu.Lock()
	f.store.err = errors.New("disk on fire")
	f.store.mu.Unlock()
	status, _, body = httpCall(t, f, "GET", "/product", "", "")
	if msg := body["error"].(map[string]any)["message"]; status != 500 || errorCode(body) != "internal" || msg != "internal error" {
		t.Errorf("GET /product with the store down = %d %v", status, body)
	}
}
