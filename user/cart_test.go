package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
	"github.com/kitshop/kitshop/product"
)

// productIDs returns the product ids of c's items, in order.
func productIDs(c Cart) []string {
	ids := make([]string, len(c.Items))
	for i, it := range c.Items {
		ids[i] = it.ProductID
	}
	return ids
}

// quantityOf returns the quantity of product id in c, 0 if it is not there.
func quantityOf(c Cart, id string) int32 {
	for _, it := range c.Items {
		if it.ProductID == id {
			return it.Quantity
		}
	}
	return 0
}

// TestMongoStoreCart: items keep the order they were first added in while
// their quantities change; removing one (present or not) and emptying the
// cart; the limit refuses a new product, not a change of one in the cart;
// every user has a cart of their own; UpdatedAt follows the changes and is
// zero for an empty cart.
func TestMongoStoreCart(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		s := newTestMongoStore(t, m.Options()...)
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 6_789_000, time.UTC)
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

		c, err := s.Cart(ctx, "ann")
		if err != nil || len(c.Items) != 0 || c.Items == nil || !c.UpdatedAt.IsZero() {
			t.Fatalf("cart of a user without one = %+v, %v; want empty, non-nil items, no UpdatedAt", c, err)
		}
		set := func(user, id string, q int32, i int) Cart {
			t.Helper()
			c, err := s.SetCartItem(ctx, user, CartItem{ProductID: id, Quantity: q}, 3, at(i))
			if err != nil {
				t.Fatalf("SetCartItem(%s, %s, %d): %v", user, id, q, err)
			}
			return c
		}
		set("ann", "p-1", 1, 1)
		set("ann", "p-2", 2, 2)
		c = set("ann", "p-1", 5, 3) // a change keeps p-1 first
		if got := productIDs(c); !slices.Equal(got, []string{"p-1", "p-2"}) || quantityOf(c, "p-1") != 5 || quantityOf(c, "p-2") != 2 {
			t.Errorf("cart = %+v, want p-1×5, p-2×2", c)
		}
		if !c.UpdatedAt.Equal(at(3).Truncate(time.Millisecond)) {
			t.Errorf("UpdatedAt = %v, want %v to the millisecond", c.UpdatedAt, at(3))
		}
		if got, err := s.Cart(ctx, "ann"); err != nil || !slices.Equal(got.Items, c.Items) || !got.UpdatedAt.Equal(c.UpdatedAt) {
			t.Errorf("Cart = %+v, %v; want what SetCartItem returned, %+v", got, err, c)
		}

		// Full at 3: a new product is refused, a change is not.
		set("ann", "p-3", 3, 4)
		if _, err := s.SetCartItem(ctx, "ann", CartItem{ProductID: "p-4", Quantity: 1}, 3, at(5)); !errors.Is(err, ErrCartFull) {
			t.Errorf("a fourth product in a cart of 3: err = %v, want ErrCartFull", err)
		}
		c = set("ann", "p-3", 9, 6)
		if got := productIDs(c); !slices.Equal(got, []string{"p-1", "p-2", "p-3"}) || quantityOf(c, "p-3") != 9 {
			t.Errorf("full cart after a change = %+v", c)
		}

		// Removing makes room; the product removed comes back last.
		c, err = s.RemoveCartItem(ctx, "ann", "p-1", at(7))
		if err != nil {
			t.Fatal(err)
		}
		if got := productIDs(c); !slices.Equal(got, []string{"p-2", "p-3"}) || !c.UpdatedAt.Equal(at(7).Truncate(time.Millisecond)) {
			t.Errorf("after removing p-1: %+v", c)
		}
		c, err = s.RemoveCartItem(ctx, "ann", "p-9", at(8))
		if err != nil || !slices.Equal(productIDs(c), []string{"p-2", "p-3"}) || !c.UpdatedAt.Equal(at(7).Truncate(time.Millisecond)) {
			t.Errorf("removing a product not in the cart = %+v, %v; want the cart unchanged", c, err)
		}
		c = set("ann", "p-1", 1, 9)
		if got := productIDs(c); !slices.Equal(got, []string{"p-2", "p-3", "p-1"}) {
			t.Errorf("p-1 added again: order %v, want it last", got)
		}

		// Another user's cart is their own.
		c = set("bob", "p-7", 7, 10)
		if got := productIDs(c); !slices.Equal(got, []string{"p-7"}) {
			t.Errorf("bob's cart = %v, want p-7 alone", got)
		}
		if got, _ := s.Cart(ctx, "ann"); !slices.Equal(productIDs(got), []string{"p-2", "p-3", "p-1"}) {
			t.Errorf("ann's cart after bob's change = %v", productIDs(got))
		}

		// Removing every item leaves an empty cart without UpdatedAt.
		for _, id := range []string{"p-2", "p-3", "p-1"} {
			if c, err = s.RemoveCartItem(ctx, "ann", id, at(11)); err != nil {
				t.Fatal(err)
			}
		}
		if len(c.Items) != 0 || c.Items == nil || !c.UpdatedAt.IsZero() {
			t.Errorf("cart emptied item by item = %+v, want empty without UpdatedAt", c)
		}
		set("ann", "p-5", 5, 12)

		// Clearing, twice, and of a user without a cart.
		for _, user := range []string{"bob", "bob", "nobody"} {
			if err := s.ClearCart(ctx, user); err != nil {
				t.Fatalf("ClearCart(%s): %v", user, err)
			}
		}
		if c, err := s.Cart(ctx, "bob"); err != nil || len(c.Items) != 0 || !c.UpdatedAt.IsZero() {
			t.Errorf("cleared cart = %+v, %v", c, err)
		}
		if got, _ := s.Cart(ctx, "ann"); !slices.Equal(productIDs(got), []string{"p-5"}) {
			t.Errorf("ann's cart after bob's was cleared = %v", productIDs(got))
		}
		c = set("bob", "p-8", 8, 13)
		if got := productIDs(c); !slices.Equal(got, []string{"p-8"}) {
			t.Errorf("a cleared cart starts again: %v", got)
		}
	})
}

// TestMongoStoreCartConcurrent: concurrent changes of one cart through the
// embedded store's Updater lose nothing: 8 products added at once are all
// there, in some order, counted once each; at the limit, of 8 new products
// added at once exactly one gets in.
func TestMongoStoreCartConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newTestMongoStore(t)
	const n = 8
	run := func(user string, id func(i int) string) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = s.SetCartItem(ctx, user, CartItem{ProductID: id(i), Quantity: int32(i + 1)}, MaxCartItems, time.Now())
			})
		}
		close(start)
		wg.Wait()
		return errs
	}

	for _, err := range run("tabs", func(i int) string { return fmt.Sprintf("p-%d", i) }) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Cart(ctx, "tabs")
	if err != nil {
		t.Fatal(err)
	}
	got := productIDs(c)
	slices.Sort(got)
	if want := []string{"p-0", "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7"}; !slices.Equal(got, want) {
		t.Errorf("after %d concurrent adds: %v, want %v", n, got, want)
	}
	for i := range n {
		if q := quantityOf(c, fmt.Sprintf("p-%d", i)); q != int32(i+1) {
			t.Errorf("p-%d quantity %d, want %d", i, q, i+1)
		}
	}

	for i := range MaxCartItems - 1 {
		if _, err := s.SetCartItem(ctx, "last", CartItem{ProductID: fmt.Sprintf("old-%d", i), Quantity: 1}, MaxCartItems, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var ok, full int
	for _, err := range run("last", func(i int) string { return fmt.Sprintf("new-%d", i) }) {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrCartFull):
			full++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	c, err = s.Cart(ctx, "last")
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || full != n-1 || len(c.Items) != MaxCartItems {
		t.Errorf("at the limit, %d adds succeeded and %d were refused, cart of %d; want 1, %d, %d", ok, full, len(c.Items), n-1, MaxCartItems)
	}
	// The count the guard reads is right: one removal makes room for one.
	if _, err := s.RemoveCartItem(ctx, "last", "old-0", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCartItem(ctx, "last", CartItem{ProductID: "again", Quantity: 1}, MaxCartItems, time.Now()); err != nil {
		t.Errorf("after a removal from a full cart: %v", err)
	}
	if _, err := s.SetCartItem(ctx, "last", CartItem{ProductID: "too-many", Quantity: 1}, MaxCartItems, time.Now()); !errors.Is(err, ErrCartFull) {
		t.Errorf("full again: err = %v, want ErrCartFull", err)
	}
}

// TestMongoStoreCartGivesUpOnADocumentNoGuardMatches: a carts document
// without its count (not written by this store) matches neither guard of
// an added product, whatever is read back: SetCartItem fails after its
// rounds, as an infrastructure error, instead of trying until the deadline.
func TestMongoStoreCartGivesUpOnADocumentNoGuardMatches(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		db := newTestDB(t)
		s, err := NewMongoStore(t.Context(), db, m.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection(cartsCollection).InsertOne(t.Context(), bson.D{
			{Key: "_id", Value: "u"}, {Key: "items", Value: bson.D{}}, {Key: "order", Value: bson.A{}},
		}); err != nil {
			t.Fatal(err)
		}
		// A deadline far beyond the rounds, so that only a loop without a
		// bound meets it.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = s.SetCartItem(ctx, "u", CartItem{ProductID: "p", Quantity: 1}, MaxCartItems, time.Now())
		if err == nil || errors.Is(err, ErrCartFull) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the store's own error", err)
		}
	})
}

// TestMongoStoreCartFiltersOnIDOnly: every command of the carts, the
// insert of a new one, the guarded updates and the reads that tell a full
// cart from a missing one included, looks the cart up by _id alone.
func TestMongoStoreCartFiltersOnIDOnly(t *testing.T) {
	// Not parallel: see TestMongoStoreFiltersOnIDOnly.
	client, rec := docstoretest.Start(t)
	ctx := t.Context()
	s, err := NewMongoStore(ctx, client.Database("user"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	now := time.Now()
	for _, id := range []string{"a", "b", "a"} {
		if _, err := s.SetCartItem(ctx, "u", CartItem{ProductID: id, Quantity: 2}, 2, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetCartItem(ctx, "u", CartItem{ProductID: "c", Quantity: 1}, 2, now); !errors.Is(err, ErrCartFull) {
		t.Fatalf("full: %v", err)
	}
	for _, id := range []string{"a", "z"} {
		if _, err := s.RemoveCartItem(ctx, "u", id, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Cart(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearCart(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cart(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	rec.AssertIDOnly(t, "user", cartsCollection)
}

// TestCartService: the service checks the product id and the quantity
// before the store sees them, and keeps MaxCartItems products a cart.
func TestCartService(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc, err := NewService(newTestMongoStore(t), newTestSigner(t, newTestKey(t)), Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		id   string
		q    int64
		msg  string
	}{
		{"quantity 0", "sample-1", 0, "quantity must be within 1..99"},
		{"quantity 100", "sample-1", 100, "quantity must be within 1..99"},
		{"negative quantity", "sample-1", -1, "quantity must be within 1..99"},
		{"huge quantity", "sample-1", 1 << 40, "quantity must be within 1..99"},
		{"empty id", "", 1, "product id must be"},
		{"id too long", strings.Repeat("a", MaxProductIDLen+1), 1, "product id must be"},
		{"dot", "a.b", 1, "product id must be"},
		{"dollar", "$set", 1, "product id must be"},
		{"space", "a b", 1, "product id must be"},
		{"slash", "a/b", 1, "product id must be"},
		{"non-ASCII", "상품", 1, "product id must be"},
		{"NUL", "a\x00", 1, "product id must be"},
	} {
		_, err := svc.SetCartItem(ctx, "u", tt.id, tt.q)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("SetCartItem %s: err = %v, want ErrInvalidArgument saying %q", tt.name, err, tt.msg)
		}
		if tt.q == 1 {
			if _, err := svc.RemoveCartItem(ctx, "u", tt.id); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("RemoveCartItem %s: err = %v, want ErrInvalidArgument", tt.name, err)
			}
		}
	}
	if c, err := svc.GetCart(ctx, "u"); err != nil || len(c.Items) != 0 {
		t.Errorf("refused changes left %+v, %v", c, err)
	}

	for _, q := range []int64{1, MaxCartQuantity} {
		if c, err := svc.SetCartItem(ctx, "u", "edge", q); err != nil || quantityOf(c, "edge") != int32(q) {
			t.Errorf("quantity %d: %+v, %v", q, c, err)
		}
	}
	for i := 1; i < MaxCartItems; i++ {
		if _, err := svc.SetCartItem(ctx, "u", fmt.Sprintf("p-%02d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.SetCartItem(ctx, "u", "one-too-many", 1); !errors.Is(err, ErrCartFull) {
		t.Errorf("product %d: err = %v, want ErrCartFull", MaxCartItems+1, err)
	}
	if err := svc.ClearCart(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if c, err := svc.GetCart(ctx, "u"); err != nil || len(c.Items) != 0 {
		t.Errorf("cleared cart = %+v, %v", c, err)
	}
}

// TestProductIDsFitTheCart: every id the product service makes is one a
// cart accepts.
func TestProductIDsFitTheCart(t *testing.T) {
	t.Parallel()
	if MaxProductIDLen != product.MaxIDLen {
		t.Errorf("MaxProductIDLen = %d, product.MaxIDLen = %d", MaxProductIDLen, product.MaxIDLen)
	}
	var ids []string
	for _, p := range product.SampleProducts(1) {
		ids = append(ids, p.ID)
	}
	for range 3 {
		ids = append(ids, uuid.Must(uuid.NewV7()).String()) // product.CreateProduct's ids
	}
	for _, id := range ids {
		if err := checkProductID(id); err != nil {
			t.Errorf("product id %q: %v", id, err)
		}
	}
}
