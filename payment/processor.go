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
	// Void closes idempotencyKey for good unless the network has a charge under it, as a payment intent is
	// cancelled: if it has one (waiting while it is in flight), Void returns that charge's result and
	// changes nothing; otherwise it returns a result declined with [ReasonVoided], and from then on every
	// Charge and Lookup under the key returns that same result: no charge under it can succeed. Void is
	// idempotent. An error means the outcome is unknown; Void may be repeated.
	Void(ctx context.Context, idempotencyKey string) (ChargeResult, error)
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
	// ReasonVoided is the decline of a key that [Processor.Void] closed: nothing was ever charged under it.
	ReasonVoided = "voided"
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
	// Retention is how long at least the network remembers an idempotency key after the charge or refund
	// that first used it; 0 means [DefaultSimulatorRetention]. See [Simulator].
	Retention time.Duration
}

// DefaultSimulatorRetention is the Simulator's default [SimulatorOptions.Retention]: far longer than the
// order service takes to settle an order whose payment answer was lost (its sweeper's age, under a minute
// by default), and short enough to keep the Simulator's memory small under load
// (docs/payment-notification.md). Real networks remember keys longer (Stripe: 24 hours) on disks of their
// own.
const DefaultSimulatorRetention = 10 * time.Minute

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
// Every charge and refund answers after [SimulatorOptions.Latency]. [Simulator.Void] closes a key it has no
// charge for at once, and a charge under a closed key is declined with [ReasonVoided]. Like a real network, the Simulator
// dedupes by idempotency key: a key seen before gets the first result (waiting for it if it is still in
// flight), whatever the rest of the request says, and a caller that goes away does not undo a charge the
// network has received. Refunds always succeed and are deduped by key too.
//
// Like a real network too, it forgets a key some time after its first use: at least
// [SimulatorOptions.Retention] later and at most twice that (keys are kept in two generations, the newer
// one becoming the older once it is Retention old, and the older one dropped then), so that its memory
// stays bounded by the rate of charges, not by the uptime. A forgotten key is a new charge, and
// [Simulator.Lookup] no longer knows it. It remembers each key as its SHA-256 with the verdict and the time
// of the answer, in maps without pointers, which the garbage collector does not scan. Its memory is the
// process's: a restarted payment service gets a network that has forgotten earlier charges, which a real
// one would not.
type Simulator struct {
	latency, retention time.Duration
	start              time.Time // the zero of the times the Simulator remembers

	mu      sync.Mutex
	charges generations
	refunds generations
	made    int // charges made since the start
}

// NewSimulator returns a Simulator with no charges.
func NewSimulator(opts SimulatorOptions) *Simulator {
	retention := opts.Retention
	if retention <= 0 {
		retention = DefaultSimulatorRetention
	}
	return &Simulator{
		latency:   max(opts.Latency, 0),
		retention: retention,
		start:     time.Now(),
		charges:   newGenerations(),
		refunds:   newGenerations(),
	}
}

// simKey is an idempotency key as the Simulator remembers it: its SHA-256.
type simKey [sha256.Size]byte

// simEntry is what the Simulator remembers of a charge or refund.
type simEntry struct {
	readyAt time.Duration // when the answer is ready, after the Simulator's start
	verdict verdict       // of a charge
}

// verdict is the Simulator's verdict on a charge.
type verdict uint8

const (
	approved verdict = iota
	declinedInsufficientFunds
	declinedStolen
	declinedCard
	voided // the key was closed by Void: nothing was charged
)

// generations remembers entries for at least a retention: new ones go into cur; once cur is a retention
// old, it becomes prev, and what prev held is forgotten.
type generations struct {
	cur, prev map[simKey]simEntry
	curSince  time.Duration // when cur started, after the Simulator's start
}

func newGenerations() generations {
	return generations{cur: make(map[simKey]simEntry), prev: make(map[simKey]simEntry)}
}

func (g *generations) get(k simKey) (simEntry, bool) {
	if e, ok := g.cur[k]; ok {
		return e, true
	}
	e, ok := g.prev[k]
	return e, ok
}

// put remembers e under k at now.
func (g *generations) put(k simKey, e simEntry, now, retention time.Duration) {
	if now-g.curSince >= retention {
		g.prev, g.cur, g.curSince = g.cur, make(map[simKey]simEntry, len(g.cur)), now
	}
	g.cur[k] = e
}

var errNoIdempotencyKey = errors.New("processor: idempotency key is required")

// Charge implements [Processor].
func (s *Simulator) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if req.IdempotencyKey == "" {
		return ChargeResult{}, errNoIdempotencyKey
	}
	k := simKey(sha256.Sum256([]byte(req.IdempotencyKey)))
	s.mu.Lock()
	e, seen := s.charges.get(k)
	if !seen {
		now := time.Since(s.start)
		e = simEntry{readyAt: now + s.latency, verdict: simulateCharge(req)}
		s.charges.put(k, e, now, s.retention)
		s.made++
	}
	s.mu.Unlock()
	if !seen && req.Method == MethodCreditCard && req.Card.Number == TestCardHang {
		// The network charged, but this answer never arrives.
		<-ctx.Done()
		return ChargeResult{}, ctx.Err()
	}
	if err := s.waitFor(ctx, e); err != nil {
		return ChargeResult{}, err
	}
	return e.verdict.result(req.IdempotencyKey), nil
}

// Lookup implements [Processor].
func (s *Simulator) Lookup(ctx context.Context, idempotencyKey string) (ChargeResult, error) {
	s.mu.Lock()
	e, seen := s.charges.get(sha256.Sum256([]byte(idempotencyKey)))
	s.mu.Unlock()
	if !seen {
		return ChargeResult{}, ErrUnknownCharge
	}
	if err := s.waitFor(ctx, e); err != nil {
		return ChargeResult{}, err
	}
	return e.verdict.result(idempotencyKey), nil
}

// Void implements [Processor]. A voided key is remembered like a charge, for the same retention: a key
// forgotten after it is a new key, as every forgotten key is.
func (s *Simulator) Void(ctx context.Context, idempotencyKey string) (ChargeResult, error) {
	if idempotencyKey == "" {
		return ChargeResult{}, errNoIdempotencyKey
	}
	k := simKey(sha256.Sum256([]byte(idempotencyKey)))
	s.mu.Lock()
	e, seen := s.charges.get(k)
	if !seen {
		now := time.Since(s.start)
		e = simEntry{readyAt: now, verdict: voided}
		s.charges.put(k, e, now, s.retention)
	}
	s.mu.Unlock()
	if err := s.waitFor(ctx, e); err != nil {
		return ChargeResult{}, err
	}
	return e.verdict.result(idempotencyKey), nil
}

// Refund implements [Processor].
func (s *Simulator) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	if req.IdempotencyKey == "" {
		return RefundResult{}, errNoIdempotencyKey
	}
	k := simKey(sha256.Sum256([]byte(req.IdempotencyKey)))
	s.mu.Lock()
	e, seen := s.refunds.get(k)
	if !seen {
		now := time.Since(s.start)
		e = simEntry{readyAt: now + s.latency}
		s.refunds.put(k, e, now, s.retention)
	}
	s.mu.Unlock()
	if err := s.waitFor(ctx, e); err != nil {
		return RefundResult{}, err
	}
	return RefundResult{RefundID: simID("re_", req.IdempotencyKey)}, nil
}

// Charges returns how many charges the network has made (approved or declined) since it started: one per
// idempotency key, however often it was retried within the retention. It is what a statement would list,
// and what tests and load tests check.
func (s *Simulator) Charges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.made
}

// waitFor returns when e's answer is ready, or ctx's error if ctx ends first.
func (s *Simulator) waitFor(ctx context.Context, e simEntry) error {
	return waitUntil(ctx, s.start.Add(e.readyAt))
}

// simulateCharge is the Simulator's verdict table.
func simulateCharge(req ChargeRequest) verdict {
	if req.Method != MethodCreditCard {
		return approved
	}
	switch req.Card.Number {
	case TestCardInsufficientFunds:
		return declinedInsufficientFunds
	case TestCardStolen:
		return declinedStolen
	case TestCardDeclined:
		return declinedCard
	}
	return approved
}

// result is the answer to the charge with key whose verdict is v.
func (v verdict) result(key string) ChargeResult {
	r := ChargeResult{ChargeID: simID("ch_", key), Approved: v == approved}
	switch v {
	case declinedInsufficientFunds:
		r.DeclineReason = ReasonInsufficientFunds
	case declinedStolen:
		r.DeclineReason = ReasonStolenCard
	case declinedCard:
		r.DeclineReason = ReasonCardDeclined
	case voided:
		r.ChargeID, r.DeclineReason = "", ReasonVoided
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
