package product

import (
	"testing"

	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable/errtabletest"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
)

// TestErrorMessagesSaidOnce checks that the HTTP and gRPC error messages of
// the business errors state each part once.
func TestErrorMessagesSaidOnce(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t)
	ctx := t.Context()
	if st, _, body := httpCall(t, f, "POST", "/product/sample", "", ""); st != 200 {
		t.Fatalf("samples: %d %v", st, body)
	}
	for _, c := range []struct{ method, path, token, body string }{
		{"GET", "/product/nope-9", "", ""},
		{"GET", "/product?pageSize=-1", "", ""},
		{"GET", "/product?pageToken=forged", "", ""},
		{"POST", "/product", f.admin, `{"name":"","price":1}`},
		{"POST", "/product", f.user, `{"name":"Tea","price":1}`},
		{"POST", "/product", "", `{"name":"Tea","price":1}`},
		{"POST", "/product/nope-9/stock", f.admin, `{"delta":1}`},
		{"POST", "/product/sample-1/stock", f.admin, `{"delta":-1000000000}`},
		{"POST", "/product/sample-1/stock", f.admin, `{"delta":0}`},
	} {
		st, _, body := httpCall(t, f, c.method, c.path, c.token, c.body)
		e, _ := body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if st < 400 || st >= 500 {
			t.Errorf("%s %s: %d %v, want a client error", c.method, c.path, st, body)
		}
		errtabletest.SaidOnce(t, c.method+" "+c.path, msg)
	}

	item := func(id string, n int64) []*productv1.StockItem {
		return []*productv1.StockItem{{ProductId: id, Quantity: n}}
	}
	calls := map[string]func() error{
		"GetProduct unknown": func() error {
			_, err := f.grpc.GetProduct(ctx, &productv1.GetProductRequest{ProductId: "nope-9"})
			return err
		},
		"GetProductsInfo unknown": func() error {
			_, err := f.grpc.GetProductsInfo(ctx, &productv1.GetProductsInfoRequest{ProductIds: []string{"sample-1", "nope-9"}})
			return err
		},
		"GetProductsInfo empty": func() error {
			_, err := f.grpc.GetProductsInfo(ctx, &productv1.GetProductsInfoRequest{})
			return err
		},
		"ReserveStock short": func() error {
			_, err := f.grpc.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o1", Items: item("sample-1", MaxQuantity)})
			return err
		},
		"ReserveStock unknown": func() error {
			_, err := f.grpc.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o2", Items: item("nope-9", 1)})
			return err
		},
		"ReserveStock invalid": func() error {
			_, err := f.grpc.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "o3"})
			return err
		},
		"CreateProduct unauthenticated": func() error {
			_, err := f.grpc.CreateProduct(ctx, &productv1.CreateProductRequest{Name: "Tea", Price: 1})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Fatalf("%s succeeded", name)
		}
		errtabletest.SaidOnce(t, name, status.Convert(err).Message())
	}
}
