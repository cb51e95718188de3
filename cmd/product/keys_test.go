package main

import (
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/serve/servetest"
	"github.com/kitshop/kitshop/internal/token"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
)

// TestRunWithoutTheUserService starts the service while its JWK Set URL is
// down: it serves health and its internal RPCs (to the order service) at
// once; an admin call is 401 without a token and 503 + Retry-After
// (Unavailable + RetryInfo over gRPC) with a well-formed one, as the token
// can be neither trusted nor refused yet.
func TestRunWithoutTheUserService(t *testing.T) {
	t.Parallel()
	keyFlag, asOrder := servetest.ServiceKey(t, config.Order)
	grpcAddr, httpAddr, stop := servetest.Start(t, run, servetest.DownJWKS, keyFlag)
	servetest.CheckServing(t, grpcAddr, httpAddr)
	if code := servetest.Get(t, httpAddr, "/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: %d, want 200", code)
	}

	post := func(path, tok string) *http.Response {
		t.Helper()
		return servetest.Call(t, http.MethodPost, httpAddr, path, tok, `{"name":"Tea","price":2500}`)
	}
	if resp := post("/product/sample", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /product/sample: %d, want 200", resp.StatusCode)
	}
	if resp := post("/product", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /product without a token: %d, want 401", resp.StatusCode)
	}
	if resp := post("/product", "a.b"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /product with a malformed token: %d, want 401", resp.StatusCode)
	}
	tok := servetest.AccessToken(t, "admin-1", token.RoleAdmin)
	if resp := post("/product", tok); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("POST /product with a token: %d Retry-After %q, want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), asOrder)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := productv1.NewProductServiceClient(conn)
	if _, err := c.ReserveStock(t.Context(), &productv1.ReserveStockRequest{OrderId: "o1",
		Items: []*productv1.StockItem{{ProductId: "sample-1", Quantity: 1}}}); err != nil {
		t.Errorf("ReserveStock: %v", err)
	}
	create := &productv1.CreateProductRequest{Name: "Tea", Price: 2500}
	if _, err := c.CreateProduct(t.Context(), create); status.Code(err) != codes.Unauthenticated {
		t.Errorf("CreateProduct without a token: %v, want Unauthenticated", err)
	}
	_, err = c.CreateProduct(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok), create)
	st := status.Convert(err)
	var retry bool
	for _, d := range st.Details() {
		_, ok := d.(*errdetails.RetryInfo)
		retry = retry || ok
	}
	if st.Code() != codes.Unavailable || !retry {
		t.Errorf("CreateProduct with a token: %v %v, want Unavailable with a RetryInfo", st.Code(), st.Details())
	}

	if err := stop(); err != nil {
		t.Errorf("run = %v after cancellation, want nil", err)
	}
}
