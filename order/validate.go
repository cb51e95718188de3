package order

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a request.
const (
	MaxQuantity        = 1000 // units of one product
	MaxProducts        = 100  // distinct products
	MaxProductIDs      = MaxProducts * 10
	maxIDLen           = 128
	maxKeyLen          = 255
	maxAddressFieldLen = 200
	maxPaymentFieldLen = 100
)

// validate checks the request, its payment part at time now, and returns its
// items: the units of ProductIDs and the Items merged by product, in
// first-seen order.
func (r NewOrder) validate(now time.Time) ([]Item, error) {
	bad := func(format string, args ...any) ([]Item, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
	}
	if len(r.ProductIDs) > MaxProductIDs {
		return bad("productIds has more than %d entries", MaxProductIDs)
	}
	if len(r.Items) > MaxProducts {
		return bad("items has more than %d entries", MaxProducts)
	}
	var items []Item
	index := make(map[string]int)
	add := func(field, id string, q int64) error {
		if err := checkID(field, id); err != nil {
			return err
		}
		if q < 1 || q > MaxQuantity {
			return fmt.Errorf("%w: %s: quantity must be between 1 and %d", ErrInvalidArgument, field, MaxQuantity)
		}
		i, ok := index[id]
		if !ok {
			if len(items) == MaxProducts {
				return fmt.Errorf("%w: an order holds at most %d different products", ErrInvalidArgument, MaxProducts)
			}
			index[id] = len(items)
			items = append(items, Item{ProductID: id})
			i = len(items) - 1
		}
		items[i].Quantity += q
		if items[i].Quantity > MaxQuantity {
			return fmt.Errorf("%w: product %s: quantity must be between 1 and %d", ErrInvalidArgument, id, MaxQuantity)
		}
		return nil
	}
	for i, id := range r.ProductIDs {
		if err := add(fmt.Sprintf("productIds[%d]", i), id, 1); err != nil {
			return nil, err
		}
	}
	for i, it := range r.Items {
		if err := add(fmt.Sprintf("items[%d]", i), it.ProductID, it.Quantity); err != nil {
			return nil, err
		}
	}
	if len(items) == 0 {
		return bad("the order has no products (productIds or items)")
	}
	a := r.Address
	for _, f := range []struct{ name, value string }{
		{"address.name", a.Name}, {"address.street", a.Street}, {"address.city", a.City},
		{"address.postalCode", a.PostalCode}, {"address.country", a.Country},
	} {
		if err := checkText(f.name, f.value, maxAddressFieldLen, true); err != nil {
			return nil, err
		}
	}
	if err := r.Payment.validate(now); err != nil {
		return nil, err
	}
	if k := r.IdempotencyKey; len(k) > maxKeyLen || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return bad("the idempotency key must be at most %d printable ASCII characters", maxKeyLen)
	}
	return items, nil
}

// checkID checks a product or order id.
func checkID(field, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("%w: %s must not be empty", ErrInvalidArgument, field)
	}
	if len(id) > maxIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("%w: %s is not a valid id", ErrInvalidArgument, field)
	}
	return nil
}

// checkText checks a free-text field.
func checkText(field, v string, maxLen int, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalidArgument, field)
	}
	if len(v) > maxLen || !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s must be valid text of at most %d bytes", ErrInvalidArgument, field, maxLen)
	}
	return nil
}
