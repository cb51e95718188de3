package notification

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store with the semantics of MongoStore.
type memStore struct {
	mu   sync.Mutex
	docs map[string]*memDoc
	fail error    // returned by every method when set
	ops  []string // the methods called, oldest first
}

type memDoc struct {
	n     Notification
	lease Lease
}

func newMemStore() *memStore { return &memStore{docs: make(map[string]*memDoc)} }

// enter records a call of method; the caller holds mu.
func (s *memStore) enter(method string) error {
	s.ops = append(s.ops, method)
	return s.fail
}

// calls returns the methods called so far, oldest first.
func (s *memStore) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ops)
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *memStore) Insert(_ context.Context, n Notification, lease Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("Insert"); err != nil {
		return err
	}
	if _, ok := s.docs[n.OrderID]; ok {
		return ErrDuplicate
	}
	n.Status = StatusPending
	s.docs[n.OrderID] = &memDoc{n: n, lease: lease}
	return nil
}

func (s *memStore) Get(_ context.Context, orderID string) (Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("Get"); err != nil {
		return Notification{}, err
	}
	d, ok := s.docs[orderID]
	if !ok {
		return Notification{}, ErrNotFound
	}
	return d.n, nil
}

func (s *memStore) Claim(_ context.Context, orderID string, now time.Time, lease Lease) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("Claim"); err != nil {
		return false, err
	}
	d, ok := s.docs[orderID]
	if !ok || d.n.Status != StatusPending || !d.lease.Until.Before(now) {
		return false, nil
	}
	d.lease = lease
	return true, nil
}

func (s *memStore) Release(_ context.Context, orderID, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("Release"); err != nil {
		return err
	}
	if d, ok := s.docs[orderID]; ok && d.n.Status == StatusPending && d.lease.Owner == owner {
		d.lease = Lease{Until: time.Unix(0, 0)}
	}
	return nil
}

func (s *memStore) MarkSent(_ context.Context, orderID string, sentAt time.Time) (Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("MarkSent"); err != nil {
		return Notification{}, err
	}
	d, ok := s.docs[orderID]
	if !ok {
		return Notification{}, ErrNotFound
	}
	if d.n.Status == StatusPending {
		d.n.Status, d.n.SentAt = StatusSent, sentAt
		d.lease = Lease{Until: time.Unix(0, 0)}
	}
	return d.n, nil
}

// fakeSender records messages; fn, if set, decides each outcome.
type fakeSender struct {
	mu    sync.Mutex
	sent  []Message
	calls int
	fn    func(ctx context.Context, call int, m Message) error
}

func (s *fakeSender) Send(ctx context.Context, m Message) error {
	s.mu.Lock()
	s.calls++
	call, fn := s.calls, s.fn
	s.mu.Unlock()
	var err error
	if fn != nil {
		err = fn(ctx, call, m)
	}
	if err == nil {
		s.mu.Lock()
		s.sent = append(s.sent, m)
		s.mu.Unlock()
	}
	return err
}

func (s *fakeSender) counts() (calls, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, len(s.sent)
}

func (s *fakeSender) setFn(fn func(ctx context.Context, call int, m Message) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fn = fn
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// errStoreDown is an infrastructure failure of a fake store.
var errStoreDown = errors.New("store is down")

// waitFor polls cond every few milliseconds until it holds, failing the test
// if it does not within a generous bound (it bounds a hang, it does not
// measure speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
