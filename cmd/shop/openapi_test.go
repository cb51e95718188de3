package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/kitshop/kitshop/internal/edge"
)

// TestEveryDocumentedOperationEndToEnd calls every operation of the OpenAPI
// document through the edge, answered with success and with its usual
// errors: the validating client (startSystem) checks each request and
// answer against the document, and the test that no documented operation
// is left out.
func TestEveryDocumentedOperationEndToEnd(t *testing.T) {
	sys := startSystem(t)
	admin := sys.signUp(t, adminEmail)
	alice := sys.signUp(t, "alice@example.com")
	var pair struct{ AccessToken, RefreshToken string }
	if code, raw := sys.call(t, "POST", "/auth/login", basic("alice@example.com", userPassword), nil, &pair); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, raw)
	}
	var placed orderJSON
	price := sys.product(t, "sample-1").Price
	if code, raw := sys.call(t, "POST", "/order", bearer(alice), orderBody([]string{"sample-1"}, approvedCard, price), &placed); code != http.StatusCreated {
		t.Fatalf("POST /order: %d %s", code, raw)
	}
	sys.waitStatus(t, alice, placed.ID, "DeliveryStarted")
	var tea struct{ Product productJSON }
	if code, raw := sys.call(t, "POST", "/product", bearer(admin), map[string]any{"name": "Tea", "price": 1200, "stock": 5}, &tea); code != http.StatusCreated {
		t.Fatalf("POST /product: %d %s", code, raw)
	}
	// The admin routes beside GET /order/{id}: the paid order is listed
	// under its status, and the order service's clients have breakers.
	var started struct{ Orders []orderJSON }
	if code, raw := sys.call(t, "GET", "/order/status/DeliveryStarted", bearer(admin), nil, &started); code != http.StatusOK ||
		len(started.Orders) != 1 || started.Orders[0].ID != placed.ID {
		t.Errorf("GET /order/status/DeliveryStarted: %d %s, want the paid order", code, raw)
	}
	var breakers struct {
		Breakers []struct{ Dependency, Method, State string }
	}
	if code, raw := sys.call(t, "GET", "/order/breakers", bearer(admin), nil, &breakers); code != http.StatusOK ||
		len(breakers.Breakers) != 8 || breakers.Breakers[2].Method != "MakePayment" || breakers.Breakers[2].State != "closed" {
		t.Errorf("GET /order/breakers: %d %s, want the 8 breakers, closed", code, raw)
	}

	for i := range 50 { // the admin's cart is full
		if code, raw := sys.call(t, "PUT", fmt.Sprintf("/users/me/cart/items/p-%d", i), bearer(admin), map[string]any{"quantity": 1}, nil); code != http.StatusOK {
			t.Fatalf("PUT cart item %d: %d %s", i, code, raw)
		}
	}
	var search struct{ NextPageToken string }
	if code, raw := sys.call(t, "GET", "/product?q=b&pageSize=1", nil, nil, &search); code != http.StatusOK || search.NextPageToken == "" {
		t.Fatalf("GET /product?q=b&pageSize=1: %d %s, want a page and a token", code, raw)
	}

	steps := []struct {
		op, method, path string
		headers          map[string]string
		body             any
		want             int
	}{
		{"GET /healthz", "GET", "/healthz", nil, nil, http.StatusOK},
		{"GET /readyz", "GET", "/readyz", nil, nil, http.StatusOK},
		{"GET /metrics", "GET", "/metrics", nil, nil, http.StatusOK},
		{"GET /openapi.json", "GET", "/openapi.json", nil, nil, http.StatusOK},
		{"GET /docs", "GET", "/docs", nil, nil, http.StatusOK},
		{"", "GET", "/nowhere", nil, nil, http.StatusNotFound},
		// Under a service's prefix, its own mux answers: the same JSON error.
		{"", "GET", "/order/a/b", bearer(alice), nil, http.StatusNotFound},
		{"", "GET", "/product/a/b", nil, nil, http.StatusNotFound},
		{"", "GET", "/auth/nothing", nil, nil, http.StatusNotFound},
		{"", "DELETE", "/order", bearer(alice), nil, http.StatusMethodNotAllowed},
		{"", "PUT", "/auth/login", nil, nil, http.StatusMethodNotAllowed},

		{"POST /auth/register", "POST", "/auth/register", basic("alice@example.com", userPassword), map[string]any{"name": "Kim"}, http.StatusConflict},
		{"POST /auth/register", "POST", "/auth/register", basic("bob@example.com", userPassword), map[string]any{"age": "thirty"}, http.StatusBadRequest},
		{"POST /auth/login", "POST", "/auth/login", basic("alice@example.com", "wrong password"), nil, http.StatusUnauthorized},
		{"POST /auth/refresh", "POST", "/auth/refresh", nil, map[string]any{"refreshToken": pair.RefreshToken}, http.StatusOK},
		{"POST /auth/refresh", "POST", "/auth/refresh", nil, map[string]any{"refreshToken": alice}, http.StatusUnauthorized},
		{"POST /auth/refresh", "POST", "/auth/refresh", nil, map[string]any{"refresh": "x"}, http.StatusBadRequest},
		// Logging out ends the login's session, not alice's other one.
		{"POST /auth/logout", "POST", "/auth/logout", nil, map[string]any{"refreshToken": pair.RefreshToken}, http.StatusNoContent},
		{"POST /auth/logout", "POST", "/auth/logout", nil, map[string]any{"refreshToken": pair.RefreshToken}, http.StatusNoContent},
		{"POST /auth/logout", "POST", "/auth/logout", nil, map[string]any{"refreshToken": alice}, http.StatusUnauthorized},
		{"POST /auth/logout", "POST", "/auth/logout", nil, map[string]any{"refreshToken": 7}, http.StatusBadRequest},
		{"POST /auth/refresh", "POST", "/auth/refresh", nil, map[string]any{"refreshToken": pair.RefreshToken}, http.StatusUnauthorized},
		{"GET /users/me", "GET", "/users/me", bearer(pair.AccessToken), nil, http.StatusUnauthorized},
		{"GET /users/me", "GET", "/users/me", bearer(alice), nil, http.StatusOK},
		{"GET /users/me", "GET", "/users/me", bearer("not-a-token"), nil, http.StatusUnauthorized},
		{"GET /.well-known/jwks.json", "GET", "/.well-known/jwks.json", nil, nil, http.StatusOK},
		{"GET /users/me/cart", "GET", "/users/me/cart", bearer(alice), nil, http.StatusOK},
		{"PUT /users/me/cart/items/{productId}", "PUT", "/users/me/cart/items/sample-1", bearer(alice), map[string]any{"quantity": 2}, http.StatusOK},
		{"PUT /users/me/cart/items/{productId}", "PUT", "/users/me/cart/items/sample-2", bearer(alice), map[string]any{"quantity": 1}, http.StatusOK},
		{"PUT /users/me/cart/items/{productId}", "PUT", "/users/me/cart/items/sample-2", bearer(alice), map[string]any{"quantity": 100}, http.StatusBadRequest},
		{"PUT /users/me/cart/items/{productId}", "PUT", "/users/me/cart/items/not.an.id", bearer(alice), map[string]any{"quantity": 1}, http.StatusBadRequest},
		{"PUT /users/me/cart/items/{productId}", "PUT", "/users/me/cart/items/sample-2", nil, map[string]any{"quantity": 1}, http.StatusUnauthorized},
		{"PUT /users/me/cart/items/{productId}", "PUT", "/users/me/cart/items/p-50", bearer(admin), map[string]any{"quantity": 1}, http.StatusConflict},
		{"DELETE /users/me/cart/items/{productId}", "DELETE", "/users/me/cart/items/sample-2", bearer(alice), nil, http.StatusOK},
		{"DELETE /users/me/cart/items/{productId}", "DELETE", "/users/me/cart/items/not.an.id", bearer(alice), nil, http.StatusBadRequest},
		{"GET /users/me/cart", "GET", "/users/me/cart", bearer(alice), nil, http.StatusOK},
		{"GET /users/me/cart", "GET", "/users/me/cart", bearer(pair.AccessToken), nil, http.StatusUnauthorized},
		{"DELETE /users/me/cart", "DELETE", "/users/me/cart", bearer(admin), nil, http.StatusNoContent},
		{"DELETE /users/me/cart", "DELETE", "/users/me/cart", nil, nil, http.StatusUnauthorized},
		{"GET /users/me/cart", "GET", "/users/me/cart", bearer(admin), nil, http.StatusOK},

		{"POST /product/sample", "POST", "/product/sample", nil, nil, http.StatusOK},
		{"GET /product", "GET", "/product?pageSize=2", nil, nil, http.StatusOK},
		{"GET /product", "GET", "/product?pageSize=-1", nil, nil, http.StatusBadRequest},
		{"GET /product", "GET", "/product?pageToken=forged", nil, nil, http.StatusBadRequest},
		{"GET /product", "GET", "/product?q=Banana+MILK", nil, nil, http.StatusOK},
		{"GET /product", "GET", "/product?q=b&pageSize=1&pageToken=" + search.NextPageToken, nil, nil, http.StatusOK},
		{"GET /product", "GET", "/product?q=tea&pageToken=" + search.NextPageToken, nil, nil, http.StatusBadRequest},
		{"GET /product", "GET", "/product?pageToken=" + search.NextPageToken, nil, nil, http.StatusBadRequest},
		{"GET /product", "GET", "/product?q=" + strings.Repeat("a", 201), nil, nil, http.StatusBadRequest},
		{"GET /product", "GET", "/product?q=a+b+c+d+e+f+g+h+i", nil, nil, http.StatusBadRequest},
		{"GET /product/{id}", "GET", "/product/sample-2", nil, nil, http.StatusOK},
		{"GET /product/{id}", "GET", "/product/no-such-product", nil, nil, http.StatusNotFound},
		{"POST /product", "POST", "/product", bearer(alice), map[string]any{"name": "Tea", "price": 1200}, http.StatusForbidden},
		{"POST /product", "POST", "/product", nil, map[string]any{"name": "Tea", "price": 1200}, http.StatusUnauthorized},
		{"POST /product", "POST", "/product", bearer(admin), map[string]any{"name": "Tea", "price": 0}, http.StatusBadRequest},
		{"POST /product/{id}/stock", "POST", "/product/sample-2/stock", bearer(admin), map[string]any{"delta": 3}, http.StatusOK},
		{"POST /product/{id}/stock", "POST", "/product/" + tea.Product.ID + "/stock", bearer(admin), map[string]any{"delta": -6}, http.StatusConflict},
		{"POST /product/{id}/stock", "POST", "/product/no-such-product/stock", bearer(admin), map[string]any{"delta": 1}, http.StatusNotFound},

		{"POST /order", "POST", "/order", bearer(alice), map[string]any{"productIds": "sample-1"}, http.StatusBadRequest},
		{"GET /order", "GET", "/order?pageSize=1", bearer(alice), nil, http.StatusOK},
		{"GET /order", "GET", "/order?pageSize=x", bearer(alice), nil, http.StatusBadRequest},
		{"GET /order", "GET", "/order", nil, nil, http.StatusUnauthorized},
		{"GET /order/{id}", "GET", "/order/" + placed.ID, bearer(alice), nil, http.StatusOK},
		{"GET /order/{id}", "GET", "/order/" + placed.ID, bearer(admin), nil, http.StatusNotFound},
		{"GET /order/status/{status}", "GET", "/order/status/DeliveryStarted?pageSize=5", bearer(admin), nil, http.StatusOK},
		{"GET /order/status/{status}", "GET", "/order/status/Shipped", bearer(admin), nil, http.StatusBadRequest},
		{"GET /order/status/{status}", "GET", "/order/status/Pending?pageToken=forged", bearer(admin), nil, http.StatusBadRequest},
		{"GET /order/status/{status}", "GET", "/order/status/Pending", bearer(alice), nil, http.StatusForbidden},
		{"GET /order/status/{status}", "GET", "/order/status/Pending", nil, nil, http.StatusUnauthorized},
		{"GET /order/work", "GET", "/order/work", bearer(admin), nil, http.StatusOK},
		{"GET /order/work", "GET", "/order/work", bearer(alice), nil, http.StatusForbidden},
		{"GET /order/work", "GET", "/order/work", nil, nil, http.StatusUnauthorized},
		{"GET /order/breakers", "GET", "/order/breakers", bearer(admin), nil, http.StatusOK},
		{"GET /order/breakers", "GET", "/order/breakers", bearer(alice), nil, http.StatusForbidden},
		{"GET /order/breakers", "GET", "/order/breakers", nil, nil, http.StatusUnauthorized},
		{"POST /order/{id}/delivered", "POST", "/order/" + placed.ID + "/delivered", bearer(alice), nil, http.StatusForbidden},
		{"POST /order/{id}/delivered", "POST", "/order/" + placed.ID + "/delivered", bearer(admin), nil, http.StatusOK},
		{"POST /order/{id}/delivered", "POST", "/order/" + placed.ID + "/delivered", bearer(admin), nil, http.StatusOK},
		{"POST /order/{id}/delivered", "POST", "/order/no-such-order/delivered", bearer(admin), nil, http.StatusNotFound},
		{"GET /payment/{orderId}", "GET", "/payment/" + placed.ID, bearer(admin), nil, http.StatusOK},
		{"GET /payment/{orderId}", "GET", "/payment/" + placed.ID, bearer(alice), nil, http.StatusForbidden},
		{"GET /payment/{orderId}", "GET", "/payment/no-such-order", bearer(admin), nil, http.StatusNotFound},
		{"GET /notification", "GET", "/notification?orderId=" + placed.ID, bearer(alice), nil, http.StatusOK},
		{"GET /notification", "GET", "/notification", bearer(alice), nil, http.StatusBadRequest},
		{"GET /notification", "GET", "/notification?orderId=" + placed.ID, bearer(admin), nil, http.StatusNotFound},
	}
	called := map[string]bool{"POST /order": true, "POST /product": true} // above
	for _, s := range steps {
		if code, raw := sys.call(t, s.method, s.path, s.headers, s.body, nil); code != s.want {
			t.Errorf("%s %s = %d %.300s, want %d", s.method, s.path, code, raw, s.want)
		}
		called[s.op] = true
	}

	doc, err := openapi3.NewLoader().LoadFromData(edge.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var missed []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if op := strings.ToUpper(method) + " " + path; !called[op] {
				missed = append(missed, op)
			}
		}
	}
	slices.Sort(missed)
	if len(missed) > 0 {
		t.Errorf("documented operations this test does not call: %v", missed)
	}
}
