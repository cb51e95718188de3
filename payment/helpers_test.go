package payment

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testNow is the clock of the tests: cards expiring 03/2026 or later are valid.
var testNow = time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

var testCardKey = bytes.Repeat([]byte{0x5a}, MinCardKeyBytes)

// cardRequest is a valid CreditCard request for orderID with the given card number.
func cardRequest(orderID, number string) PaymentRequest {
	return PaymentRequest{
		OrderID: orderID,
		Method:  MethodCreditCard,
		Name:    "Hong Gildong",
		Card: Card{
			Number:              number,
			ExpiryYear:          "2029",
			ExpiryMonth:         "7",
			BirthOrRegistration: "880715",
			PasswordTwoDigits:   "58",
		},
		Amount:    9500,
		UserEmail: "buyer@example.com",
	}
}

func kakaoRequest(orderID string) PaymentRequest {
	return PaymentRequest{OrderID: orderID, Method: MethodKakao, Name: "hong", Amount: 3000, UserEmail: "buyer@example.com"}
}

// newTestService returns a service on store and proc with the test clock and key.
func newTestService(t testing.TB, store Store, proc Processor) Service {
	t.Helper()
	svc, err := NewService(store, proc, Options{CardKey: testCardKey, Now: fixedClock, ProcessorTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// memStore is an in-memory Store with the MongoStore's semantics. fail, when set, is returned by every call.
type memStore struct {
	mu    sync.Mutex
	docs  map[string]Payment
	marks map[string]Mark
	fail  error
	ops   []string // the methods called, oldest first
}

// calls returns the methods called so far, oldest first.
func (s *memStore) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ops)
}

func newMemStore() *memStore {
	return &memStore{docs: make(map[string]Payment), marks: make(map[string]Mark)}
}

func (s *memStore) Mark(_ context.Context, m Mark) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "Mark")
	if s.fail != nil {
		return false, s.fail
	}
	if _, ok := s.marks[m.OrderID]; ok {
		return false, nil
	}
	s.marks[m.OrderID] = m
	return true, nil
}

func (s *memStore) Marks(context.Context) ([]Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var out []Mark
	for _, m := range s.marks {
		out = append(out, m)
	}
	return out, nil
}

func (s *memStore) Unmark(_ context.Context, orderID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "Unmark")
	if s.fail != nil {
		return s.fail
	}
	delete(s.marks, orderID)
	return nil
}

// marked returns the orders marked.
func (s *memStore) marked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.marks))
}

func (s *memStore) Create(_ context.Context, p Payment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "Create")
	if s.fail != nil {
		return s.fail
	}
	if _, ok := s.docs[p.OrderID]; ok {
		return ErrDuplicate
	}
	s.docs[p.OrderID] = p
	return nil
}

func (s *memStore) Get(_ context.Context, orderID string) (Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "Get")
	if s.fail != nil {
		return Payment{}, s.fail
	}
	p, ok := s.docs[orderID]
	if !ok {
		return Payment{}, ErrNotFound
	}
	return p, nil
}

func (s *memStore) Transition(_ context.Context, orderID string, from Status, t Transition) (Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "Transition")
	if s.fail != nil {
		return Payment{}, s.fail
	}
	p, ok := s.docs[orderID]
	if !ok {
		return Payment{}, ErrNotFound
	}
	if p.Status != from {
		return p, nil
	}
	p.Status, p.UpdatedAt = t.To, t.At
	for dst, v := range map[*string]string{&p.Reason: t.Reason, &p.ChargeID: t.ChargeID, &p.RefundID: t.RefundID} {
		if v != "" {
			*dst = v
		}
	}
	s.docs[orderID] = p
	return p, nil
}

func (s *memStore) all() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.docs))
}

// countingProcessor counts the calls that reach the processor it wraps.
type countingProcessor struct {
	Processor
	charges atomic.Int64
	refunds atomic.Int64
	lookups atomic.Int64
}

func (c *countingProcessor) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	c.charges.Add(1)
	return c.Processor.Charge(ctx, req)
}

func (c *countingProcessor) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	c.refunds.Add(1)
	return c.Processor.Refund(ctx, req)
}

func (c *countingProcessor) Lookup(ctx context.Context, key string) (ChargeResult, error) {
	c.lookups.Add(1)
	return c.Processor.Lookup(ctx, key)
}

// brokenProcessor fails every call as an unreachable network would.
type brokenProcessor struct{}

var errNetwork = errors.New("processor: connection refused")

func (brokenProcessor) Charge(context.Context, ChargeRequest) (ChargeResult, error) {
	return ChargeResult{}, errNetwork
}

func (brokenProcessor) Refund(context.Context, RefundRequest) (RefundResult, error) {
	return RefundResult{}, errNetwork
}

func (brokenProcessor) Lookup(context.Context, string) (ChargeResult, error) {
	return ChargeResult{}, errNetwork
}

func (brokenProcessor) Void(context.Context, string) (ChargeResult, error) {
	return ChargeResult{}, errNetwork
}

// mustPay makes a payment that must succeed.
func mustPay(t testing.TB, svc Service, req PaymentRequest) Payment {
	t.Helper()
	p, err := svc.MakePayment(context.Background(), req)
	if err != nil {
		t.Fatalf("MakePayment(%s): %v", req.OrderID, err)
	}
	return p
}
