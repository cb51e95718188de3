package user

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// signUp registers email with password "pw" and logs it in.
func (env *testEnv) signUp(t *testing.T, email string) tokenPairJSON {
	t.Helper()
	if r := env.do(t, "POST", "/auth/register", basic(email, "pw"), `{}`); r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	return env.login(t, email)
}

// login logs email in with password "pw": a new session.
func (env *testEnv) login(t *testing.T, email string) tokenPairJSON {
	t.Helper()
	r := env.do(t, "POST", "/auth/login", basic(email, "pw"), "")
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	return decode[tokenPairJSON](t, r)
}

// cartOf decodes a 200 cart answer, checking its status and that it is not
// cached.
func cartOf(t *testing.T, r httpResult) cartJSON {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d %s, want 200 and the cart", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	return decode[cartJSON](t, r)
}

// ids returns the product ids of a cart, in order.
func (c cartJSON) ids() []string {
	out := make([]string, len(c.Items))
	for i, it := range c.Items {
		out[i] = it.ProductID
	}
	return out
}

// TestHTTPCart goes through every cart route and answer: the empty cart,
// setting, changing and removing items in their order, the limits of a
// cart, the refusals with their codes, a new login of the same user that
// finds the same cart, another user's cart, clearing, and a logged-out
// session's token.
func TestHTTPCart(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{})
	alice := env.signUp(t, "alice@example.com")
	bob := env.signUp(t, "bob@example.com")
	auth := "Bearer " + alice.AccessToken
	const cart, items = "/users/me/cart", "/users/me/cart/items/"

	// Empty: items [] and no updatedAt.
	r := env.do(t, "GET", cart, auth, "")
	if c := cartOf(t, r); len(c.Items) != 0 {
		t.Errorf("empty cart = %s", r.body)
	}
	if body := strings.TrimSpace(string(r.body)); body != `{"items":[]}` {
		t.Errorf("empty cart body = %s, want {\"items\":[]}", body)
	}

	before := time.Now().Add(-time.Second)
	c := cartOf(t, env.do(t, "PUT", items+"sample-1", auth, `{"quantity":2}`))
	if !slices.Equal(c.ids(), []string{"sample-1"}) || c.Items[0].Quantity != 2 {
		t.Errorf("after PUT sample-1: %+v", c)
	}
	if c.UpdatedAt == nil || c.UpdatedAt.Before(before) || c.UpdatedAt.After(time.Now()) {
		t.Errorf("updatedAt = %v, want now", c.UpdatedAt)
	}
	generated := uuid.Must(uuid.NewV7()).String()
	cartOf(t, env.do(t, "PUT", items+generated, auth, `{"quantity":1}`))
	c = cartOf(t, env.do(t, "PUT", items+"sample-1", auth, `{"quantity":99}`))
	if !slices.Equal(c.ids(), []string{"sample-1", generated}) || c.Items[0].Quantity != 99 || c.Items[1].Quantity != 1 {
		t.Errorf("after changing sample-1: %+v, want sample-1×99 still first", c)
	}
	c = cartOf(t, env.do(t, "DELETE", items+"sample-1", auth, ""))
	if !slices.Equal(c.ids(), []string{generated}) {
		t.Errorf("after DELETE sample-1: %v", c.ids())
	}
	c = cartOf(t, env.do(t, "DELETE", items+"not-in-the-cart", auth, ""))
	if !slices.Equal(c.ids(), []string{generated}) {
		t.Errorf("after DELETE of a product not in the cart: %v", c.ids())
	}

	sessionless, err := env.signer.IssuePair(decode[userJSON](t, env.do(t, "GET", "/users/me", auth, "")).ID, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	expired := expiredPair(t, env.key, "someone")
	for _, tt := range []struct {
		name, method, path, authorization, body string
		status                                  int
		code                                    string
	}{
		{"quantity 0", "PUT", items + "sample-2", auth, `{"quantity":0}`, 400, "invalid_argument"},
		{"quantity 100", "PUT", items + "sample-2", auth, `{"quantity":100}`, 400, "invalid_argument"},
		{"negative quantity", "PUT", items + "sample-2", auth, `{"quantity":-1}`, 400, "invalid_argument"},
		{"fractional quantity", "PUT", items + "sample-2", auth, `{"quantity":1.5}`, 400, "invalid_argument"},
		{"quantity over int64", "PUT", items + "sample-2", auth, `{"quantity":1e30}`, 400, "invalid_argument"},
		{"quantity a string", "PUT", items + "sample-2", auth, `{"quantity":"2"}`, 400, "invalid_argument"},
		{"no quantity", "PUT", items + "sample-2", auth, `{}`, 400, "invalid_argument"},
		{"unknown field", "PUT", items + "sample-2", auth, `{"quantity":1,"price":1}`, 400, "invalid_argument"},
		{"no body", "PUT", items + "sample-2", auth, "", 400, "invalid_argument"},
		{"bad JSON", "PUT", items + "sample-2", auth, `{"quantity":`, 400, "invalid_argument"},
		{"product id with a dot", "PUT", items + "a.b", auth, `{"quantity":1}`, 400, "invalid_argument"},
		{"product id with a space", "PUT", items + "a%20b", auth, `{"quantity":1}`, 400, "invalid_argument"},
		{"product id with a slash", "PUT", items + "a%2Fb", auth, `{"quantity":1}`, 400, "invalid_argument"},
		{"product id with $", "PUT", items + "$inc", auth, `{"quantity":1}`, 400, "invalid_argument"},
		{"product id too long", "PUT", items + strings.Repeat("x", MaxProductIDLen+1), auth, `{"quantity":1}`, 400, "invalid_argument"},
		{"remove: bad product id", "DELETE", items + "a.b", auth, "", 400, "invalid_argument"},
		{"no token", "GET", cart, "", "", 401, "unauthenticated"},
		{"garbage token", "PUT", items + "sample-2", "Bearer garbage", `{"quantity":1}`, 401, "invalid_token"},
		{"refresh token", "GET", cart, "Bearer " + alice.RefreshToken, "", 401, "invalid_token"},
		{"expired token", "DELETE", cart, "Bearer " + expired.AccessToken, "", 401, "token_expired"},
		{"token without a session", "PUT", items + "sample-2", "Bearer " + sessionless.AccessToken, `{"quantity":1}`, 401, "session_ended"},
		{"wrong method", "POST", cart, auth, "", 405, ""},
		{"wrong method on an item", "GET", items + "sample-2", auth, "", 405, ""},
	} {
		r := env.do(t, tt.method, tt.path, tt.authorization, tt.body)
		if r.status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, r.status, r.body, tt.status)
			continue
		}
		if tt.code != "" {
			if got := r.errorCode(t); got != tt.code {
				t.Errorf("%s: code %q, want %q", tt.name, got, tt.code)
			}
		}
	}
	if c := cartOf(t, env.do(t, "GET", cart, auth, "")); !slices.Equal(c.ids(), []string{generated}) {
		t.Errorf("refused requests changed the cart: %v", c.ids())
	}

	// 50 products at most: the 51st is 409 cart_full; changing one is fine.
	for i := 1; i < MaxCartItems; i++ {
		if r := env.do(t, "PUT", items+fmt.Sprintf("p-%02d", i), auth, `{"quantity":1}`); r.status != http.StatusOK {
			t.Fatalf("product %d: %d %s", i+1, r.status, r.body)
		}
	}
	r = env.do(t, "PUT", items+"one-too-many", auth, `{"quantity":1}`)
	if r.status != http.StatusConflict || r.errorCode(t) != "cart_full" {
		t.Errorf("product %d: %d %s, want 409 cart_full", MaxCartItems+1, r.status, r.body)
	}
	c = cartOf(t, env.do(t, "PUT", items+"p-07", auth, `{"quantity":7}`))
	if len(c.Items) != MaxCartItems || c.Items[7].ProductID != "p-07" || c.Items[7].Quantity != 7 {
		t.Errorf("changing a product of a full cart: %d items, item 7 %+v", len(c.Items), c.Items[7])
	}

	// A new login of alice finds the cart; bob has his own.
	again := env.login(t, "alice@example.com")
	if c := cartOf(t, env.do(t, "GET", cart, "Bearer "+again.AccessToken, "")); len(c.Items) != MaxCartItems || c.Items[0].ProductID != generated {
		t.Errorf("cart of a new session: %d items, first %v", len(c.Items), c.ids()[:1])
	}
	if c := cartOf(t, env.do(t, "GET", cart, "Bearer "+bob.AccessToken, "")); len(c.Items) != 0 {
		t.Errorf("bob's cart = %v, want empty", c.ids())
	}
	if c := cartOf(t, env.do(t, "PUT", items+"sample-5", "Bearer "+bob.AccessToken, `{"quantity":5}`)); !slices.Equal(c.ids(), []string{"sample-5"}) {
		t.Errorf("bob's cart = %v", c.ids())
	}

	// Clearing: 204, twice; bob's cart stays.
	for i := range 2 {
		r := env.do(t, "DELETE", cart, "Bearer "+again.AccessToken, "")
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("clear #%d: %d %q, want 204 without a body", i+1, r.status, r.body)
		}
	}
	if r := env.do(t, "GET", cart, auth, ""); strings.TrimSpace(string(r.body)) != `{"items":[]}` {
		t.Errorf("cleared cart = %d %s", r.status, r.body)
	}
	if c := cartOf(t, env.do(t, "GET", cart, "Bearer "+bob.AccessToken, "")); !slices.Equal(c.ids(), []string{"sample-5"}) {
		t.Errorf("bob's cart after alice cleared hers = %v", c.ids())
	}

	// A logged-out session's token no longer reaches the cart; the other
	// session's does.
	if r := env.do(t, "POST", "/auth/logout", "", `{"refreshToken":"`+again.RefreshToken+`"}`); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	for _, m := range []struct{ method, path, body string }{
		{"GET", cart, ""}, {"PUT", items + "sample-1", `{"quantity":1}`}, {"DELETE", items + "sample-1", ""}, {"DELETE", cart, ""},
	} {
		r := env.do(t, m.method, m.path, "Bearer "+again.AccessToken, m.body)
		if r.status != http.StatusUnauthorized || r.errorCode(t) != "session_ended" {
			t.Errorf("%s %s after logout: %d %s, want 401 session_ended", m.method, m.path, r.status, r.body)
		}
	}
	cartOf(t, env.do(t, "PUT", items+"sample-1", auth, `{"quantity":1}`))
	for _, c := range []struct{ method, outcome string }{
		{"SetCartItem", "ok"}, {"SetCartItem", "cart_full"}, {"SetCartItem", "invalid_argument"},
		{"SetCartItem", "session_ended"}, {"GetCart", "ok"}, {"RemoveCartItem", "ok"}, {"ClearCart", "ok"},
	} {
		if counterValue(t, env.reg, c.method, c.outcome) == 0 {
			t.Errorf("no %s call counted with outcome %s", c.method, c.outcome)
		}
	}
}

// TestGRPCCart: CartService acts on the cart of the token in the
// "authorization" metadata, the same cart as over HTTP, with the service's
// errors as gRPC codes.
func TestGRPCCart(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{})
	pair := env.signUp(t, "carol@example.com")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pair.AccessToken)

	got, err := env.carts.GetCart(ctx, &userv1.GetCartRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetCart().GetItems()) != 0 || got.GetCart().GetUpdatedAt() != nil {
		t.Errorf("empty cart = %v, want no items and no updated_at", got)
	}
	set, err := env.carts.SetCartItem(ctx, &userv1.SetCartItemRequest{ProductId: "sample-3", Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	if it := set.GetCart().GetItems(); len(it) != 1 || it[0].GetProductId() != "sample-3" || it[0].GetQuantity() != 3 || set.GetCart().GetUpdatedAt() == nil {
		t.Errorf("SetCartItem = %v", set)
	}
	// The HTTP routes see the same cart.
	if r := env.do(t, "PUT", "/users/me/cart/items/sample-4", "Bearer "+pair.AccessToken, `{"quantity":4}`); r.status != http.StatusOK {
		t.Fatalf("HTTP PUT: %d %s", r.status, r.body)
	}
	got, err = env.carts.GetCart(ctx, &userv1.GetCartRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range got.GetCart().GetItems() {
		ids = append(ids, fmt.Sprintf("%s×%d", it.GetProductId(), it.GetQuantity()))
	}
	if !slices.Equal(ids, []string{"sample-3×3", "sample-4×4"}) {
		t.Errorf("GetCart = %v", ids)
	}
	removed, err := env.carts.RemoveCartItem(ctx, &userv1.RemoveCartItemRequest{ProductId: "sample-3"})
	if err != nil {
		t.Fatal(err)
	}
	if it := removed.GetCart().GetItems(); len(it) != 1 || it[0].GetProductId() != "sample-4" {
		t.Errorf("RemoveCartItem = %v", removed)
	}

	for i := 1; i < MaxCartItems; i++ {
		if _, err := env.carts.SetCartItem(ctx, &userv1.SetCartItemRequest{ProductId: fmt.Sprintf("p-%02d", i), Quantity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// A session that has ended.
	ended := env.login(t, "carol@example.com")
	if r := env.do(t, "POST", "/auth/logout", "", `{"refreshToken":"`+ended.RefreshToken+`"}`); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	endedCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+ended.AccessToken)
	for _, tt := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"quantity 0", func() error {
			_, err := env.carts.SetCartItem(ctx, &userv1.SetCartItemRequest{ProductId: "x", Quantity: 0})
			return err
		}, codes.InvalidArgument, "quantity must be within 1..99"},
		{"bad product id", func() error {
			_, err := env.carts.RemoveCartItem(ctx, &userv1.RemoveCartItemRequest{ProductId: "a.b"})
			return err
		}, codes.InvalidArgument, "product id must be"},
		{"cart full", func() error {
			_, err := env.carts.SetCartItem(ctx, &userv1.SetCartItemRequest{ProductId: "one-too-many", Quantity: 1})
			return err
		}, codes.FailedPrecondition, "cart is full"},
		{"no token", func() error {
			_, err := env.carts.GetCart(context.Background(), &userv1.GetCartRequest{})
			return err
		}, codes.Unauthenticated, "missing"},
		{"ended session", func() error {
			_, err := env.carts.ClearCart(endedCtx, &userv1.ClearCartRequest{})
			return err
		}, codes.Unauthenticated, "session has ended"},
	} {
		st, _ := status.FromError(tt.call())
		if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
			t.Errorf("%s: %v %q, want %v saying %q", tt.name, st.Code(), st.Message(), tt.code, tt.msg)
		}
	}

	if _, err := env.carts.ClearCart(ctx, &userv1.ClearCartRequest{}); err != nil {
		t.Fatal(err)
	}
	if got, err := env.carts.GetCart(ctx, &userv1.GetCartRequest{}); err != nil || len(got.GetCart().GetItems()) != 0 {
		t.Errorf("cleared cart = %v, %v", got, err)
	}
}
