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
	switch {
	case pageSize < 0:
		return Page{}, fmt.Errorf("%w: pageSize must not be negative", ErrInvalidArgument)
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	from := int64(-1)
	if pageToken != "" {
		var err error
		if from, err = decodePageToken(pageToken); err != nil {
			return Page{}, err
		}
	}
	orders, next, err := s.store.ListByCustomer(ctx, userID, from, pageSize)
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
// customer's list of the page's first order.
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
