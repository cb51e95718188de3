package user

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
)

// cartRounds bounds the rounds of SetCartItem (its two guarded updates, then
// a read): a round is lost only to a change of the cart in between, so more
// than a few in a row mean a document the guards can never match (one not
// written by this store, say without its count), not contention.
const cartRounds = 8

// cartDoc is a carts document.
type cartDoc struct {
	UserID    string           `bson:"_id"`
	Items     map[string]int32 `bson:"items"`
	Order     []string         `bson:"order"`
	Count     int32            `bson:"count"`
	UpdatedAt time.Time        `bson:"updatedAt"`
}

// cart returns the Cart of d: the items in d.Order, UpdatedAt zero when
// there are none.
func (d *cartDoc) cart() Cart {
	c := Cart{Items: make([]CartItem, 0, len(d.Order))}
	for _, id := range d.Order {
		if q, ok := d.Items[id]; ok {
			c.Items = append(c.Items, CartItem{ProductID: id, Quantity: q})
		}
	}
	if len(c.Items) > 0 {
		c.UpdatedAt = d.UpdatedAt.UTC()
	}
	return c
}

// decodeCart decodes a carts document.
func decodeCart(raw bson.Raw) (Cart, cartDoc, error) {
	var d cartDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return Cart{}, cartDoc{}, fmt.Errorf("user: store: decode cart: %w", err)
	}
	return d.cart(), d, nil
}

// Cart implements Store.
func (s *MongoStore) Cart(ctx context.Context, userID string) (Cart, error) {
	raw, err := s.updater.FindByID(ctx, s.carts, userID)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Cart{Items: []CartItem{}}, nil
	}
	if err != nil {
		return Cart{}, fmt.Errorf("user: store: find cart: %w", err)
	}
	c, _, err := decodeCart(raw)
	return c, err
}

// SetCartItem implements Store.
func (s *MongoStore) SetCartItem(ctx context.Context, userID string, item CartItem, maxItems int, now time.Time) (Cart, error) {
	now = storedTime(now)
	field := "items." + item.ProductID
	set := bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: item.Quantity}, {Key: "updatedAt", Value: now}}}}
	add := bson.D{
		{Key: "$set", Value: bson.D{{Key: field, Value: item.Quantity}, {Key: "updatedAt", Value: now}}},
		{Key: "$push", Value: bson.D{{Key: "order", Value: item.ProductID}}},
		{Key: "$inc", Value: bson.D{{Key: "count", Value: int32(1)}}},
	}
	inCart := bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
	roomFor := bson.D{
		{Key: field, Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "count", Value: bson.D{{Key: "$lt", Value: maxItems}}},
	}
	for range cartRounds {
		for _, u := range []struct {
			guard, update bson.D
		}{{inCart, set}, {roomFor, add}} {
			raw, err := s.updater.UpdateByID(ctx, s.carts, userID, u.guard, u.update)
			if err == nil {
				c, _, err := decodeCart(raw)
				return c, err
			}
			if !errors.Is(err, docstore.ErrNoMatch) {
				return Cart{}, fmt.Errorf("user: store: set cart item: %w", err)
			}
		}
		// Neither guard held: no cart, a full one, or the product came or
		// went in between.
		raw, err := s.updater.FindByID(ctx, s.carts, userID)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			err = s.updater.InsertOne(ctx, s.carts, cartDoc{
				UserID:    userID,
				Items:     map[string]int32{item.ProductID: item.Quantity},
				Order:     []string{item.ProductID},
				Count:     1,
				UpdatedAt: now,
			})
			if err == nil {
				return Cart{Items: []CartItem{item}, UpdatedAt: now}, nil
			}
			if !docstore.IsDuplicateKey(err) {
				return Cart{}, fmt.Errorf("user: store: insert cart: %w", err)
			}
		case err != nil:
			return Cart{}, fmt.Errorf("user: store: find cart: %w", err)
		default:
			_, d, err := decodeCart(raw)
			if err != nil {
				return Cart{}, err
			}
			if _, ok := d.Items[item.ProductID]; !ok && int(d.Count) >= maxItems {
				return Cart{}, ErrCartFull
			}
		}
		if err := ctx.Err(); err != nil {
			return Cart{}, err
		}
	}
	return Cart{}, fmt.Errorf("user: store: set cart item: cart %s still matched no guard after %d rounds", userID, cartRounds)
}

// RemoveCartItem implements Store.
func (s *MongoStore) RemoveCartItem(ctx context.Context, userID, productID string, now time.Time) (Cart, error) {
	now = storedTime(now)
	field := "items." + productID
	raw, err := s.updater.UpdateByID(ctx, s.carts, userID,
		bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}},
		bson.D{
			{Key: "$unset", Value: bson.D{{Key: field, Value: ""}}},
			{Key: "$pull", Value: bson.D{{Key: "order", Value: productID}}},
			{Key: "$inc", Value: bson.D{{Key: "count", Value: int32(-1)}}},
			{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: now}}},
		})
	switch {
	case errors.Is(err, docstore.ErrNoMatch):
		return s.Cart(ctx, userID) // not in the cart
	case err != nil:
		return Cart{}, fmt.Errorf("user: store: remove cart item: %w", err)
	}
	c, _, err := decodeCart(raw)
	return c, err
}

// ClearCart implements Store.
func (s *MongoStore) ClearCart(ctx context.Context, userID string) error {
	err := s.updater.DeleteByID(ctx, s.carts, userID, nil)
	if err != nil && !errors.Is(err, docstore.ErrNoMatch) {
		return fmt.Errorf("user: store: delete cart: %w", err)
	}
	return nil
}
