package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Processor is the card network (or Kakao Pay) that moves the money. Like real payment networks it is
// idempotent by key: a Charge or Refund whose IdempotencyKey it has seen before returns the first result
// without moving money again, also while the first one is still in flight (it waits for it). The payment
// service uses the order id as the key of an order's charge and of its refund, which is what makes a charge
// retried after a crash or a timeout converge instead of charging twice.
type Processor interface {
	// Charge charges req.Amount. A declined charge is a result (Approved false, DeclineReason set), not an
	// error; an error means the outcome is unknown (network failure, ctx done) and the charge may be retried
	// with the same key.
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// Refund refunds a charge in full.
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
	// Lookup returns the result of the charge made with idempotencyKey, waiting while it is in flight, or
	// [ErrUnknownCharge] when the network never received one. It lets the service finish a payment whose
	// charging caller went away (see [Service.GetPayment]).
	Lookup(ctx context.Context, idempotencyKey string) (ChargeResult, error)
}

// ErrUnknownCharge is returned by [Processor.Lookup] when no charge was made with the key.
var ErrUnknownCharge = errors.New("processor: no charge with this idempotency key")

// ChargeRequest asks a [Processor] to charge a payment.
type ChargeRequest struct {
	// IdempotencyKey identifies the charge: the order id.
	IdempotencyKey string
	Method         Method
	// Amount in minor units (won).
	Amount int64
	// Card is the card to charge, its number normalized to digits; zero for Kakao.
	Card  Card
	Name  string
	Email string
}

// ChargeResult is a processor's verdict on a charge.
type ChargeResult struct {
	// ChargeID is the processor's reference of the charge (approved or declined).
	ChargeID string
	Approved bool
	// DeclineReason says why a charge was declined, e.g. [ReasonInsufficientFunds].
	DeclineReason string
}

// RefundRequest asks a [Processor] to refund a charge in full.
type RefundRequest struct {
	// IdempotencyKey identifies the refund: the order id.
	IdempotencyKey string
	// ChargeID is the charge to refund.
	ChargeID string
	Amount   int64
}

// RefundResult is a processor's answer to a refund.
type RefundResult struct {
	// RefundID is the processor's reference of the refund.
	RefundID string
}

// Decline reasons of the [Simulator]; a real processor may report others.
const (
	ReasonInsufficientFunds = "insufficient_funds"
	ReasonStolenCard        = "stolen_card"
	ReasonCardDeclined      = "card_declined"
)

// Test card numbers of the [Simulator] (any expiry in the future).
const (
	TestCardApproved          = "4242424242424242"
	TestCardInsufficientFunds = "4000000000009995"
	TestCardStolen            = "4000000000009979"
	TestCardDeclined          = "4000000000000002"
	TestCardHang              = "4000000000005126"
)

// SimulatorOptions configures [NewSimulator].
type SimulatorOptions struct {
	// Latency is how long every charge and refund takes before its answer; 0 answers at once, 1s is the
	// original system's simulated processor.
	Latency time.Duration
}

// Simulator is the default [Processor]: a deterministic, in-memory card network. Its verdict depends on the
// card number alone:
//
//	| card number         | result                                                                  |
//	|---------------------|-------------------------------------------------------------------------|
//	| 4242 4242 4242 4242 | approved                                                                |
//	| 4000 0000 0000 9995 | declined: insufficient_funds                                            |
//	| 4000 0000 0000 9979 | declined: stolen_card                                                   |
//	| 4000 0000 0000 0002 | declined: card_declined                                                 |
//	| 4000 0000 0000 5126 | approved, but the answer is lost: the first Charge for an order hangs   |
//	|                     | until the caller's deadline; a retry (same order) gets the approval     |
//	| any other valid one | approved                                                                |
//	| Kakao (no card)     | approved                                                                |
//
// Every charge and refund answers after [SimulatorOptions.Latency]. Like a real network, the Simulator
// dedupes by idempotency key: a key seen before gets the first result (waiting for it if it is still in
// flight), whatever the rest of the request says, and a caller that goes away does not undo a charge the
// network has received. Refunds always succeed and are deduped by key too. Its memory is the process's:
// a restarted payment service gets a network that has forgotten earlier charges, which a real one would not.
type Simulator struct {
	latency time.Duration

	mu      sync.Mutex
	charges map[string]simCharge // by idempotency key
	refunds map[string]simRefund // by idempotency key
}

type simCharge struct {
	result  ChargeResult
	readyAt time.Time
}

type simRefund struct {
	result  RefundResult
	readyAt time.Time
}

// NewSimulator returns a Simulator with no charges.
func NewSimulator(opts SimulatorOptions) *Simulator {
	return &Simulator{
		latency: max(opts.Latency, 0),
		charges: make(map[string]simCharge),
		refunds: make(map[string]simRefund),
	}
}

var errNoIdempotencyKey = errors.New("processor: idempotency key is required")

// Charge implements [Processor].
func (s *Simulator) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if req.IdempotencyKey == "" {
		return ChargeResult{}, errNoIdempotencyKey
	}
	s.mu.Lock()
	c, seen := s.charges[req.IdempotencyKey]
	if !seen {
		c = simCharge{result: simulateCharge(req), readyAt: time.Now().Add(s.latency)}
		s.charges[req.IdempotencyKey] = c
	}
	s.mu.Unlock()
	if !seen && req.Method == MethodCreditCard && req.Card.Number == TestCardHang {
		// The network charged, but this answer never arrives.
		<-ctx.Done()
		return ChargeResult{}, ctx.Err()
	}
	if err := waitUntil(ctx, c.readyAt); err != nil {
		return ChargeResult{}, err
	}
	return c.result, nil
}

// Lookup implements [Processor].
func (s *Simulator) Lookup(ctx context.Context, idempotencyKey string) (ChargeResult, error) {
	s.mu.Lock()
	c, seen := s.charges[idempotencyKey]
	s.mu.Unlock()
	if !seen {
		return ChargeResult{}, ErrUnknownCharge
	}
	if err := waitUntil(ctx, c.readyAt); err != nil {
		return ChargeResult{}, err
	}
	return c.result, nil
}

// Refund implements [Processor].
func (s *Simulator) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	if req.IdempotencyKey == "" {
		return RefundResult{}, errNoIdempotencyKey
	}
	s.mu.Lock()
	r, seen := s.refunds[req.IdempotencyKey]
	if !seen {
		r = simRefund{result: RefundResult{RefundID: simID("re_", req.IdempotencyKey)}, readyAt: time.Now().Add(s.latency)}
		s.refunds[req.IdempotencyKey] = r
	}
	s.mu.Unlock()
	if err := waitUntil(ctx, r.readyAt); err != nil {
		return RefundResult{}, err
	}
	return r.result, nil
}

// Charges returns how many charges the network has made (approved or declined): one per idempotency key,
// however often it was retried. It is what a statement would list, and what tests and load tests check.
func (s *Simulator) Charges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.charges)
}

// simulateCharge is the Simulator's verdict table.
func simulateCharge(req ChargeRequest) ChargeResult {
	r := ChargeResult{ChargeID: simID("ch_", req.IdempotencyKey), Approved: true}
	if req.Method != MethodCreditCard {
		return r
	}
	switch req.Card.Number {
	case TestCardInsufficientFunds:
		r.Approved, r.DeclineReason = false, ReasonInsufficientFunds
	case TestCardStolen:
		r.Approved, r.DeclineReason = false, ReasonStolenCard
	case TestCardDeclined:
		r.Approved, r.DeclineReason = false, ReasonCardDeclined
	}
	return r
}

// simID derives a stable reference from an idempotency key.
func simID(prefix, key string) string {
	sum := sha256.Sum256([]byte(prefix + key))
	return prefix + hex.EncodeToString(sum[:12])
}

// waitUntil returns when t has come, or ctx's error if ctx ends first.
func waitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
