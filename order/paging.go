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
	var after string
	if pageToken != "" {
		var err error
		if after, err = decodePageToken(pageToken); err != nil {
			return Page{}, err
		}
	}
	orders, err := s.store.ListByCustomer(ctx, userID, after, pageSize+1)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if len(orders) > pageSize {
		orders = orders[:pageSize]
		page.NextPageToken = encodePageToken(orders[pageSize-1].ID)
	}
	page.Orders = orders
	return page, nil
}

// pageToken is the content of an opaque page token: the last order shown.
type pageToken struct {
	After string `json:"a"`
}

func encodePageToken(afterID string) string {
	b, _ := json.Marshal(pageToken{After: afterID}) // cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.After == "" || len(t.After) > maxIDLen {
		return "", fmt.Errorf("%w: pageToken is not a token this service gave", ErrInvalidArgument)
	}
	return t.After, nil
}
