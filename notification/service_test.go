package notification

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type serviceFixture struct {
	svc    Service
	store  *memStore
	sender *fakeSender
	clock  *fakeClock
}

func newServiceFixture(t *testing.T, opts Options) *serviceFixture {
	t.Helper()
	f := &serviceFixture{store: newMemStore(), sender: &fakeSender{}, clock: newFakeClock()}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	svc, err := NewService(f.store, f.sender, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

const (
	testTo    = "ann@example.com"
	testOrder = "order-1"
	testUser  = "user-1"
)

// TestSendPaymentNotificationSendsAndStores: a new notification is sent once
// and costs the store an Insert (which takes the lease) and one MarkSent,
// whose answer is the reply: no read.
func TestSendPaymentNotificationSendsAndStores(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	n, err := f.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if ops := f.store.calls(); !slices.Equal(ops, []string{"Insert", "MarkSent"}) {
		t.Errorf("store calls %v, want [Insert MarkSent]", ops)
	}
	if n.Status != StatusSent || n.OrderID != testOrder || n.UserID != testUser || n.To != testTo || n.From != DefaultFrom {
		t.Errorf("answer = %+v", n)
	}
	if !strings.Contains(n.Subject, testOrder) || !strings.Contains(n.Content, testOrder) {
		t.Errorf("subject %q and content %q must mention the order id", n.Subject, n.Content)
	}
	if !n.SentAt.Equal(f.clock.Now()) || !n.CreatedAt.Equal(f.clock.Now()) {
		t.Errorf("createdAt %v, sentAt %v, want %v", n.CreatedAt, n.SentAt, f.clock.Now())
	}
	stored, err := f.store.Get(context.Background(), testOrder)
	if err != nil || stored.Status != StatusSent {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	f.sender.mu.Lock()
	sent := f.sender.sent
	f.sender.mu.Unlock()
	want := Message{From: DefaultFrom, To: testTo, Subject: n.Subject, Content: n.Content, OrderID: testOrder}
	if len(sent) != 1 || sent[0] != want {
		t.Errorf("sender got %+v, want one %+v", sent, want)
	}
}

func TestSendPaymentNotificationRepeatReturnsStored(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	ctx := context.Background()
	first, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	again, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("repeat = %+v, want the stored %+v", again, first)
	}
	if calls, _ := f.sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}
	// The repeat's insert fails on the order id; it reads the stored one and
	// writes nothing.
	want := []string{"Insert", "MarkSent", "Insert", "Get"}
	if ops := f.store.calls(); !slices.Equal(ops, want) {
		t.Errorf("store calls %v, want %v", ops, want)
	}
}

func TestSendPaymentNotificationConcurrentIdenticalCallsSendOnce(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	release := make(chan struct{})
	f.sender.setFn(func(ctx context.Context, _ int, _ Message) error {
		<-release
		return nil
	})
	const callers = 20
	var wg sync.WaitGroup
	results := make([]Notification, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser)
		}()
	}
	waitFor(t, "the first send", func() bool { calls, _ := f.sender.counts(); return calls > 0 })
	close(release)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || results[i].Status != StatusSent {
			t.Errorf("caller %d: %+v, %v", i, results[i], errs[i])
		}
	}
	if calls, _ := f.sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}
	if len(f.store.docs) != 1 {
		t.Errorf("%d notifications stored, want 1", len(f.store.docs))
	}
}

func TestSendPaymentNotificationSenderFailureThenRetrySends(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	ctx := context.Background()
	f.sender.setFn(func(context.Context, int, Message) error { return errors.New("relay says 451 try later") })
	_, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if !errors.Is(err, ErrSendFailed) {
		t.Fatalf("err = %v, want ErrSendFailed", err)
	}
	stored, err := f.store.Get(ctx, testOrder)
	if err != nil || stored.Status != StatusPending || !stored.SentAt.IsZero() {
		t.Fatalf("stored = %+v, %v; want Pending", stored, err)
	}

	// The outbox retries at once (no clock change): the lease was released.
	f.sender.setFn(nil)
	n, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil || n.Status != StatusSent {
		t.Fatalf("retry = %+v, %v; want Sent", n, err)
	}
	if calls, sent := f.sender.counts(); calls != 2 || sent != 1 {
		t.Errorf("sender calls %d, sent %d; want 2 and 1", calls, sent)
	}
	if _, err = f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser); err != nil {
		t.Fatal(err)
	}
	if _, sent := f.sender.counts(); sent != 1 {
		t.Errorf("sent %d messages after a further repeat, want 1", sent)
	}
}

func TestSendPaymentNotificationHangingSenderIsBounded(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{SendTimeout: 20 * time.Millisecond})
	ctx := context.Background()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	// Ignores its context, like a broken client library.
	f.sender.setFn(func(context.Context, int, Message) error { <-hang; return nil })

	_, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if !errors.Is(err, ErrSendFailed) {
		t.Fatalf("err = %v, want ErrSendFailed", err)
	}
	// The hung Sender may still deliver: nobody else may send until the
	// lease expires.
	f.sender.setFn(nil)
	if _, err = f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser); !errors.Is(err, ErrInProgress) {
		t.Fatalf("retry within the lease: err = %v, want ErrInProgress", err)
	}
	f.clock.Advance(20*time.Millisecond + leaseMargin + time.Millisecond)
	n, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil || n.Status != StatusSent {
		t.Fatalf("retry after the lease: %+v, %v; want Sent", n, err)
	}
	if calls, sent := f.sender.counts(); calls != 2 || sent != 1 {
		t.Errorf("sender calls %d, sent %d; want 2 and 1", calls, sent)
	}
}

func TestSendPaymentNotificationCallerLeavingDoesNotStopTheSend(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	f.sender.setFn(func(ctx context.Context, _ int, _ Message) error {
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done(): // only the send timeout (10 s) ends it
			return ctx.Err()
		}
	})
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := f.svc.SendPaymentNotification(leaderCtx, testTo, testOrder, testUser)
		leaderErr <- err
	}()
	<-entered
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller err = %v, want context.Canceled", err)
	}
	// The send goes on; a retry joins it (or finds it done) and answers Sent.
	retry := make(chan error, 1)
	var n Notification
	go func() {
		var err error
		n, err = f.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser)
		retry <- err
	}()
	close(release)
	if err := <-retry; err != nil || n.Status != StatusSent {
		t.Fatalf("retry = %+v, %v; want Sent", n, err)
	}
	if calls, sent := f.sender.counts(); calls != 1 || sent != 1 {
		t.Errorf("sender calls %d, sent %d; want 1 and 1", calls, sent)
	}
}

func TestSendPaymentNotificationFollowerRetriesWhenLeaderIsCancelled(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	// The leader's context ends during its first store call: a follower
	// sharing the attempt, whose context is alive, must not inherit that
	// error but try again.
	store := &blockingStore{memStore: f.store, entered: make(chan struct{})}
	svc, err := NewService(store, f.sender, Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := svc.SendPaymentNotification(leaderCtx, testTo, testOrder, testUser)
		leaderErr <- err
	}()
	<-store.entered
	follower := make(chan error, 1)
	var n Notification
	go func() {
		var err error
		n, err = svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser)
		follower <- err
	}()
	time.Sleep(20 * time.Millisecond) // lets the follower join the attempt; the outcome is the same if it does not
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader err = %v, want context.Canceled", err)
	}
	if err := <-follower; err != nil || n.Status != StatusSent {
		t.Fatalf("follower = %+v, %v; want Sent", n, err)
	}
	if calls, _ := f.sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}
}

// blockingStore is a memStore whose first Insert waits for its context to
// end, like a store call in flight when the caller gives up.
type blockingStore struct {
	*memStore
	entered chan struct{}
	once    sync.Once
}

func (s *blockingStore) Insert(ctx context.Context, n Notification, lease Lease) error {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.entered)
		<-ctx.Done()
		return fmt.Errorf("insert: %w", ctx.Err())
	}
	return s.memStore.Insert(ctx, n, lease)
}

func TestSendPaymentNotificationValidation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxIDLen+1)
	tests := []struct {
		name, to, orderID, userID, want string
	}{
		{"no recipient", "", testOrder, testUser, "to is required"},
		{"not an address", "ann", testOrder, testUser, "to must be an e-mail address"},
		{"display name", "Ann <ann@example.com>", testOrder, testUser, "to must be an e-mail address"},
		{"angle brackets", "<ann@example.com>", testOrder, testUser, "to must be an e-mail address"},
		{"header injection", "ann@example.com\r\nBcc: eve@example.com", testOrder, testUser, "to must be an e-mail address"},
		{"address too long", strings.Repeat("a", 250) + "@example.com", testOrder, testUser, "to is longer"},
		{"no order", testTo, "", testUser, "orderId is required"},
		{"no user", testTo, testOrder, "", "userId is required"},
		{"order too long", testTo, long, testUser, "orderId is longer"},
		{"control character", testTo, "order\n1", testUser, "orderId must be printable"},
		{"invalid UTF-8", testTo, "order\xff", testUser, "orderId must be printable"},
		{"everything", "", "", "", "to is required; orderId is required; userId is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newServiceFixture(t, Options{})
			_, err := f.svc.SendPaymentNotification(context.Background(), tt.to, tt.orderID, tt.userID)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidArgument mentioning %q", err, tt.want)
			}
			if ops := f.store.calls(); len(ops) != 0 {
				t.Errorf("the store was called (%v) for invalid input", ops)
			}
			if calls, _ := f.sender.counts(); calls != 0 {
				t.Errorf("the sender was called for invalid input")
			}
		})
	}
}

func TestSendPaymentNotificationConflict(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	ctx := context.Background()
	if _, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ to, user string }{{"eve@example.com", testUser}, {testTo, "user-2"}} {
		if _, err := f.svc.SendPaymentNotification(ctx, tt.to, testOrder, tt.user); !errors.Is(err, ErrConflict) {
			t.Errorf("SendPaymentNotification(%s, %s) err = %v, want ErrConflict", tt.to, tt.user, err)
		}
	}
	if calls, _ := f.sender.counts(); calls != 1 {
		t.Errorf("sender called %d times, want 1", calls)
	}
}

func TestSendPaymentNotificationStoreFailure(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	f.store.setFail(errStoreDown)
	_, err := f.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser)
	if !errors.Is(err, errStoreDown) || errorTable.IsBusiness(err) {
		t.Fatalf("err = %v, want the store's infrastructure error", err)
	}
	if calls, _ := f.sender.counts(); calls != 0 {
		t.Errorf("sent although nothing was stored")
	}
}

func TestSendPaymentNotificationLatency(t *testing.T) {
	t.Parallel()
	// A latency longer than the send timeout makes the send fail: the latency
	// is inside the bound.
	f := newServiceFixture(t, Options{SendTimeout: 10 * time.Millisecond, SendLatency: time.Minute})
	if _, err := f.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser); !errors.Is(err, ErrSendFailed) {
		t.Fatalf("err = %v, want ErrSendFailed", err)
	}
	if calls, _ := f.sender.counts(); calls != 0 {
		t.Errorf("the sender was called before the latency passed")
	}
	f = newServiceFixture(t, Options{SendLatency: time.Millisecond})
	if n, err := f.svc.SendPaymentNotification(context.Background(), testTo, testOrder, testUser); err != nil || n.Status != StatusSent {
		t.Fatalf("with a short latency: %+v, %v", n, err)
	}
}

func TestGetNotification(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{From: "shop@example.com"})
	ctx := context.Background()
	sent, err := f.svc.SendPaymentNotification(ctx, testTo, testOrder, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if sent.From != "shop@example.com" {
		t.Errorf("from = %q", sent.From)
	}
	got, err := f.svc.GetNotification(ctx, testOrder)
	if err != nil || got != sent {
		t.Errorf("GetNotification = %+v, %v; want %+v", got, err, sent)
	}
	if _, err = f.svc.GetNotification(ctx, "order-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: err = %v, want ErrNotFound", err)
	}
	if _, err = f.svc.GetNotification(ctx, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no order: err = %v, want ErrInvalidArgument", err)
	}

	got, err = f.svc.GetUserNotification(ctx, testUser, testOrder)
	if err != nil || got != sent {
		t.Errorf("GetUserNotification(owner) = %+v, %v", got, err)
	}
	for _, user := range []string{"user-2", ""} {
		if _, err = f.svc.GetUserNotification(ctx, user, testOrder); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetUserNotification(%q) err = %v, want ErrNotFound", user, err)
		}
	}
	if _, err = f.svc.GetUserNotification(ctx, testUser, "order-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: err = %v, want ErrNotFound", err)
	}
	if _, err = f.svc.GetUserNotification(ctx, testUser, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no order: err = %v, want ErrInvalidArgument", err)
	}
}

func TestNewServiceRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{{From: "not an address"}, {SendTimeout: -time.Second}, {SendLatency: -time.Second}} {
		if _, err := NewService(newMemStore(), &fakeSender{}, opts); err == nil {
			t.Errorf("NewService(%+v) accepted", opts)
		}
	}
	if _, err := NewService(nil, &fakeSender{}, Options{}); err == nil {
		t.Error("NewService without a store accepted")
	}
	if _, err := NewService(newMemStore(), nil, Options{}); err == nil {
		t.Error("NewService without a sender accepted")
	}
}
