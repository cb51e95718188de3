package order

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// The page sizes of ListOrders.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// ListOrders pages through userID's orders, newest first. pageSize 0 means
// DefaultPageSize; more than MaxPageSize is MaxPageSize.
func (s *Orders) ListOrders(ctx context.Context, userID string, pageSize int, pageToken string) (Page, error) {
	limit, from, err := pageArgs(pageSize, pageToken)
	if err != nil {
		return Page{}, err
	}
	return pageOf(s.store.ListByCustomer(ctx, userID, from, limit))
}

// ListOrdersByStatus pages through the orders now in status st, newest
// first by the time they entered it, as ListOrders pages (Store.ListByStatus:
// a page is short only at the end of the list, or after maxStatusScan
// entries of orders that moved on). A status that is not one of Statuses is
// ErrInvalidArgument.
func (s *Orders) ListOrdersByStatus(ctx context.Context, st Status, pageSize int, pageToken string) (Page, error) {
	if err := checkStatus(st); err != nil {
		return Page{}, err
	}
	limit, from, err := pageArgs(pageSize, pageToken)
	if err != nil {
		return Page{}, err
	}
	return pageOf(s.store.ListByStatus(ctx, st, from, limit))
}

// pageArgs returns the number of orders and the list position of a page
// asked with pageSize (0: DefaultPageSize; more than MaxPageSize:
// MaxPageSize) and pageToken (empty: from the newest, -1).
func pageArgs(pageSize int, pageToken string) (limit int, from int64, err error) {
	switch {
	case pageSize < 0:
		return 0, 0, fmt.Errorf("%w: pageSize must not be negative", ErrInvalidArgument)
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	from = -1
	if pageToken != "" {
		if from, err = decodePageToken(pageToken); err != nil {
			return 0, 0, err
		}
	}
	return pageSize, from, nil
}

// pageOf is the Page of a store's listing: its orders, and the token of the
// position next (none when negative).
func pageOf(orders []Order, next int64, err error) (Page, error) {
	if err != nil {
		return Page{}, err
	}
	page := Page{Orders: orders}
	if next >= 0 {
		page.NextPageToken = encodePageToken(next)
	}
	return page, nil
}

// pageToken is the content of an opaque page token: the position in the
// list (the customer's, or the status's) of the page's first order.
type pageToken struct {
	From *int64 `json:"p"`
}

func encodePageToken(from int64) string {
	b, _ := json.Marshal(pageToken{From: &from}) // cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.From == nil || *t.From < 0 {
		return 0, fmt.Errorf("%w: pageToken is not a token this service gave", ErrInvalidArgument)
	}
	return *t.From, nil
}
