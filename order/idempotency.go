package order

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// resumeForRepeat takes up the work of an order a repeat of its request
// found, holding its entry w, and returns the order as it then stands; if
// that cannot be done now (a dependency down), the order as it was, the
// entry left to the worker.
func (s *Orders) resumeForRepeat(ctx context.Context, w *Work, o Order) Order {
	linkFirstRequest(ctx, w.Trace)
	now, err := s.resume(ctx, w, o)
	if err != nil {
		s.logger.WarnContext(ctx, "repeat: the order's work is left to the worker", "order", o.ID, "err", err)
		return o
	}
	if !now.Outbox.Empty() { // its side effects ran: how does it stand now?
		if cur, err := s.store.Get(ctx, o.ID); err == nil {
			return cur
		}
	}
	return now
}

// replayOr answers a request that failed with err before its insert. A
// repeat of a keyed request whose order exists gets that order (or
// ErrIdempotencyKeyReused), as if its insert had found it: the order stands
// even when it could not be made again now (a user or product gone, a price
// changed, a dependency down). Only such failures read the store.
func (s *Orders) replayOr(ctx context.Context, key, id, fingerprint string, err error) (Order, bool, error) {
	if key == "" {
		return Order{}, false, err
	}
	prev, gerr := s.store.Get(ctx, id)
	if gerr != nil {
		return Order{}, false, err // no such order (a first request), or the first failure says more
	}
	return replay(prev, fingerprint)
}

// identify returns the order id and, for a request with an idempotency key,
// its fingerprint. With a key, the id is derived from the caller and the key,
// so the store's unique _id decides which of concurrent repeats creates the
// order; without, it is random. The fingerprint is an HMAC of the normalized
// request keyed by a hash of the caller and key: equal requests give equal
// fingerprints, and the card data cannot be recovered from it without the
// key, which is not stored.
func identify(userID string, r NewOrder, items []Item) (id, fingerprint string, err error) {
	if r.IdempotencyKey == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", "", err
		}
		return hex.EncodeToString(b), "", nil
	}
	idSum := sha256.Sum256([]byte("kitshop/order/id\x00" + userID + "\x00" + r.IdempotencyKey))
	macKey := sha256.Sum256([]byte("kitshop/order/fingerprint\x00" + userID + "\x00" + r.IdempotencyKey))
	canonical, err := json.Marshal(struct {
		Items   []Item
		Address Address
		Payment PaymentDetails
	}{items, r.Address, r.Payment})
	if err != nil {
		return "", "", err
	}
	mac := hmac.New(sha256.New, macKey[:])
	mac.Write(canonical)
	return hex.EncodeToString(idSum[:16]), hex.EncodeToString(mac.Sum(nil)), nil
}

// replay answers a repeat of an idempotent request.
func replay(prev Order, fingerprint string) (Order, bool, error) {
	if !hmac.Equal([]byte(prev.Fingerprint), []byte(fingerprint)) {
		return Order{}, false, fmt.Errorf("%w (order %s)", ErrIdempotencyKeyReused, prev.ID)
	}
	return prev, true, nil
}
