package product

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
)

// TestAdminCallsBeforeKeys: until the user service's keys are fetched, an
// admin call with a well-formed token is 503 + Retry-After / Unavailable +
// RetryInfo, one without a token (or with a malformed one) is still 401 /
// Unauthenticated, and public calls work; once fetched, the admin call
// succeeds.
func TestAdminCallsBeforeKeys(t *testing.T) {
	t.Parallel()
	f := newTransportFixtureBeforeKeys(t)
	ctx := t.Context()
	const body = `{"name":"Tea","price":2500,"stock":1}`

	for _, tc := range []struct {
		name, tok string
		status    int
		code      string
	}{
		{"no token", "", http.StatusUnauthorized, "unauthenticated"},
		{"malformed token", "not-a-jwt", http.StatusUnauthorized, "invalid_token"},
		{"admin token", f.admin, http.StatusServiceUnavailable, "unavailable"},
	} {
		status, hdr, answer := httpCall(t, f, "POST", "/product", tc.tok, body)
		if status != tc.status || errorCode(answer) != tc.code {
			t.Errorf("POST /product, %s, before keys = %d %v, want %d %s", tc.name, status, answer, tc.status, tc.code)
		}
		if status == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "1" {
			t.Errorf("POST /product, %s: Retry-After = %q, want 1", tc.name, hdr.Get("Retry-After"))
		}
	}
	if status, _, answer := httpCall(t, f, "POST", "/product/sample", "", ""); status != http.StatusOK {
		t.Errorf("POST /product/sample before keys = %d %v", status, answer)
	}
	if status, _, _ := httpCall(t, f, "GET", "/product/sample-1", "", ""); status != http.StatusOK {
		t.Errorf("GET /product/sample-1 before keys = %d", status)
	}

	create := &productv1.CreateProductRequest{Name: "Tea", Price: 2500, Stock: 1}
	_, err := f.grpc.CreateProduct(ctx, create)
	wantCode(t, "CreateProduct without a token", err, codes.Unauthenticated)
	_, err = f.grpc.CreateProduct(bearer(ctx, f.admin), create)
	st := wantCode(t, "CreateProduct before keys", err, codes.Unavailable)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != time.Second {
		t.Errorf("CreateProduct before keys: details %v, want a RetryInfo of 1s", st.Details())
	}
	_, err = f.grpc.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o1",
		Items: []*productv1.StockItem{{ProductId: "sample-1", Quantity: 1}}})
	wantCode(t, "ReserveStock before keys", err, codes.OK)

	if err := f.keys.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if status, _, answer := httpCall(t, f, "POST", "/product", f.admin, body); status != http.StatusCreated {
		t.Errorf("POST /product with the keys = %d %v, want 201", status, answer)
	}
}
