package user

import (
	"context"
	"strings"
	"time"
)

// Limits of a cart. A product id in a cart must be 1 to MaxProductIDLen
// bytes of ASCII letters, digits, '-' and '_': every id the product service
// makes (UUIDs, "sample-1"...) is one, within its own limit of 128 bytes,
// and such an id is safe as a field name of the cart's document.
const (
	MaxCartItems    = 50 // distinct products
	MaxCartQuantity = 99 // of one product
	MaxProductIDLen = 128
)

// CartItem is one product in a cart.
type CartItem struct {
	ProductID string
	Quantity  int32 // 1..MaxCartQuantity
}

// Cart is a user's cart: its items in the order they were first added.
type Cart struct {
	Items []CartItem
	// UpdatedAt is when an item was last set or removed; zero for an
	// empty cart.
	UpdatedAt time.Time
}

// CartStore keeps one cart per user. Implementations must apply each change
// atomically: of concurrent changes to one cart, none is lost.
type CartStore interface {
	// Cart returns the user's cart; an empty one if the user has none.
	Cart(ctx context.Context, userID string) (Cart, error)
	// SetCartItem sets the quantity of item.ProductID in the user's cart to
	// item.Quantity, adding it last if it is not there, and returns the
	// cart; ErrCartFull, changing nothing, if adding it would make more
	// than maxItems items. now is the cart's new UpdatedAt.
	SetCartItem(ctx context.Context, userID string, item CartItem, maxItems int, now time.Time) (Cart, error)
	// RemoveCartItem removes the product from the user's cart, if it is
	// there, and returns the cart. now is the cart's new UpdatedAt if it
	// changed.
	RemoveCartItem(ctx context.Context, userID, productID string, now time.Time) (Cart, error)
	// ClearCart empties the user's cart.
	ClearCart(ctx context.Context, userID string) error
}

func (s *service) GetCart(ctx context.Context, userID string) (Cart, error) {
	return s.store.Cart(ctx, userID)
}

func (s *service) SetCartItem(ctx context.Context, userID, productID string, quantity int64) (Cart, error) {
	if err := checkProductID(productID); err != nil {
		return Cart{}, err
	}
	if quantity < 1 || quantity > MaxCartQuantity {
		return Cart{}, invalid("quantity must be within 1..%d", MaxCartQuantity)
	}
	item := CartItem{ProductID: productID, Quantity: int32(quantity)}
	return s.store.SetCartItem(ctx, userID, item, MaxCartItems, time.Now().UTC())
}

func (s *service) RemoveCartItem(ctx context.Context, userID, productID string) (Cart, error) {
	if err := checkProductID(productID); err != nil {
		return Cart{}, err
	}
	return s.store.RemoveCartItem(ctx, userID, productID, time.Now().UTC())
}

func (s *service) ClearCart(ctx context.Context, userID string) error {
	return s.store.ClearCart(ctx, userID)
}

// checkProductID checks that id looks like a product id (see
// MaxProductIDLen). The id is not echoed: it may be anything.
func checkProductID(id string) error {
	ok := id != "" && len(id) <= MaxProductIDLen && !strings.ContainsFunc(id, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	})
	if !ok {
		return invalid("product id must be 1 to %d ASCII letters, digits, '-' or '_'", MaxProductIDLen)
	}
	return nil
}
