// Package notification is the kitshop notification service: it tells a
// customer that the payment of their order went through, exactly once per
// order.
//
// The order service calls SendPaymentNotification at least once per paid order
// (it has an outbox that retries) and, once the answer is Sent, moves the order
// to DeliveryStarted itself: this service calls no other. It turns those calls
// into exactly one e-mail:
//
//  1. The notification is stored with _id = orderId and status Pending. The
//     insert is the deduplication: a second insert of the same order fails on
//     the unique _id, and the caller gets the stored notification instead.
//  2. Whoever inserted it, or later claims it while it is still Pending, holds
//     a lease on it (a single-document conditional update, atomic on MongoDB
//     and on the embedded store) and alone may call the [Sender]. Identical
//     concurrent calls in one process share that one attempt and its outcome;
//     a caller who gives up does not stop a send in progress, which is bounded
//     by the send timeout instead.
//  3. A send that fails leaves the notification Pending with its lease
//     released and answers [ErrSendFailed] (gRPC Unavailable), so the order's
//     outbox retries and the retry sends. A Sender that does not return within
//     the send timeout also answers ErrSendFailed, but keeps the lease until it
//     expires, so that a Sender still running cannot be joined by a second one.
//  4. A successful send marks the notification Sent (sent_at) with one
//     conditional update, whose answer is the stored notification.
//
// A new notification therefore costs the store two commands, the insert and
// the update to Sent, and no read (see [MongoStore]).
//
// Exactly once holds as long as the store can record the send: if the process
// dies between a successful send and the Sent update, the lease expires and a
// retry sends again (SMTP offers no transaction to join). The SMTP sender gives
// every message of an order the same Message-ID so receivers can drop such a
// duplicate.
package notification

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"
)

// Status is where a notification stands.
type Status string

// The statuses of a notification.
const (
	// StatusPending means stored but not sent (yet).
	StatusPending Status = "Pending"
	// StatusSent means the Sender accepted the message.
	StatusSent Status = "Sent"
)

// Notification is the payment notification of one order. Its id is the order
// id: there is at most one per order.
type Notification struct {
	OrderID string
	// UserID is the order's owner, the only user who may read it back.
	UserID  string
	From    string
	To      string
	Subject string
	Content string
	Status  Status
	// CreatedAt is when it was first stored, SentAt when it was sent (zero
	// while Pending). Both have millisecond precision, as stored.
	CreatedAt time.Time
	SentAt    time.Time
}

// Message is an e-mail handed to a Sender.
type Message struct {
	// From is the sender address, possibly with a display name
	// ("kitshop <no-reply@kitshop.example>").
	From string
	// To is a bare e-mail address.
	To      string
	Subject string
	// Content is plain text with "\n" line breaks.
	Content string
	// OrderID identifies the notification; a Sender may use it to give every
	// attempt for the same order the same message id.
	OrderID string
}

// Sender delivers a message, e.g. to an SMTP relay. Send must honour ctx: the
// service gives up waiting for it when the send timeout passes either way.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Lease is a time-limited right to send a Pending notification.
type Lease struct {
	// Owner is a random token naming the holder.
	Owner string
	// Until is when the lease expires and another caller may claim it.
	Until time.Time
}

// Store keeps notifications, one per order, with the order id as key.
type Store interface {
	// Insert stores n (which must be Pending) held by lease. It returns
	// ErrDuplicate if a notification for n.OrderID exists.
	Insert(ctx context.Context, n Notification, lease Lease) error
	// Get returns the notification of an order, or ErrNotFound.
	Get(ctx context.Context, orderID string) (Notification, error)
	// Claim gives lease to the notification of orderID if it is Pending and
	// its current lease expired before now, and reports whether it did.
	Claim(ctx context.Context, orderID string, now time.Time, lease Lease) (bool, error)
	// Release ends the lease of owner on the notification of orderID, if it
	// still holds it.
	Release(ctx context.Context, orderID, owner string) error
	// MarkSent sets a Pending notification Sent at sentAt and ends its lease,
	// and returns the notification as stored afterwards (also when it was
	// Sent already).
	MarkSent(ctx context.Context, orderID string, sentAt time.Time) (Notification, error)
}

// Service sends and reads payment notifications.
type Service interface {
	// SendPaymentNotification sends the payment notification of an order to
	// the address to, once: a repeat for the same order returns the stored
	// notification. The answer is always Sent; a failed send is
	// ErrSendFailed, and a repeat may then send. When ctx ends first, the
	// call returns ctx's error, but a send it started still completes (within
	// the send timeout) and is recorded.
	SendPaymentNotification(ctx context.Context, to, orderID, userID string) (Notification, error)
	// GetNotification returns the notification of an order, whoever owns it.
	// It is for other services.
	GetNotification(ctx context.Context, orderID string) (Notification, error)
	// GetUserNotification returns the notification of one of userID's
	// orders. Another user's order is ErrNotFound, like an unknown one.
	GetUserNotification(ctx context.Context, userID, orderID string) (Notification, error)
}

// Defaults of Options.
const (
	DefaultFrom        = "kitshop <no-reply@kitshop.example>"
	DefaultSendTimeout = 10 * time.Second
)

const (
	// maxIDLen bounds order and user ids (ours are 24 to 36 bytes).
	maxIDLen = 128
	// maxAddressLen is the longest e-mail address (RFC 5321 path limit).
	maxAddressLen = 254
	// leaseMargin is how much longer than the send timeout a lease lasts: the
	// time left to record the send after the Sender returns.
	leaseMargin = 20 * time.Second
	// recordTimeout bounds recording an outcome once the caller is gone: a
	// message that went out must be marked Sent regardless.
	recordTimeout = 5 * time.Second
)

// Options configure NewService. Zero fields take the defaults.
type Options struct {
	// From is the sender address of every message, a bare address or one
	// with a display name; default DefaultFrom.
	From string
	// SendTimeout bounds one Sender call, including SendLatency; default
	// DefaultSendTimeout.
	SendTimeout time.Duration
	// SendLatency is waited before each send, to simulate a slow mail system
	// (the original waited 1 s); default none.
	SendLatency time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// service implements Service.
type service struct {
	store       Store
	sender      Sender
	from        string
	sendTimeout time.Duration
	latency     time.Duration
	leaseTTL    time.Duration
	now         func() time.Time
	// flight lets identical concurrent requests share one attempt.
	flight singleflight.Group
}

// NewService returns the notification service.
func NewService(store Store, sender Sender, opts Options) (Service, error) {
	if store == nil || sender == nil {
		return nil, errors.New("notification: a store and a sender are required")
	}
	if opts.From == "" {
		opts.From = DefaultFrom
	}
	if _, err := mail.ParseAddress(opts.From); err != nil {
		return nil, fmt.Errorf("notification: sender address %q: %w", opts.From, err)
	}
	if opts.SendTimeout == 0 {
		opts.SendTimeout = DefaultSendTimeout
	}
	if opts.SendTimeout < 0 || opts.SendLatency < 0 {
		return nil, errors.New("notification: send timeout and latency must not be negative")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &service{
		store:       store,
		sender:      sender,
		from:        opts.From,
		sendTimeout: opts.SendTimeout,
		latency:     opts.SendLatency,
		leaseTTL:    opts.SendTimeout + leaseMargin,
		now:         opts.Now,
	}, nil
}

func (s *service) SendPaymentNotification(ctx context.Context, to, orderID, userID string) (Notification, error) {
	if err := invalid(addressProblem(to), idProblem("orderId", orderID), idProblem("userId", userID)); err != nil {
		return Notification{}, err
	}
	draft := s.draft(to, orderID, userID)
	// Only identical requests share an attempt: a different recipient or user
	// for the same order must meet ErrConflict, not borrow another's result.
	key := orderID + "\x00" + userID + "\x00" + to
	for {
		var led bool
		ch := s.flight.DoChan(key, func() (any, error) {
			led = true
			return s.send(ctx, draft)
		})
		select {
		case <-ctx.Done():
			return Notification{}, ctx.Err()
		case r := <-ch:
			// The leader's context ended its attempt, not ours: try again,
			// leading or joining the next attempt.
			if r.Err != nil && !led && isContextError(r.Err) && !errors.Is(r.Err, ErrSendFailed) {
				continue
			}
			if r.Err != nil {
				return Notification{}, r.Err
			}
			return r.Val.(Notification), nil
		}
	}
}

// send is one attempt of SendPaymentNotification.
func (s *service) send(ctx context.Context, draft Notification) (Notification, error) {
	owner := rand.Text()
	lease := Lease{Owner: owner, Until: s.now().Add(s.leaseTTL)}
	n := draft
	// The lease is taken by a write (Insert, or Claim in takeOver) that the
	// caller's cancellation must not cut off: the write could then be applied
	// with its answer lost, leaving the notification leased to no one until
	// the lease expires, and every retry refused with ErrInProgress meanwhile.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	switch err := s.store.Insert(lctx, draft, lease); {
	case err == nil:
	case errors.Is(err, ErrDuplicate):
		var done bool
		if n, done, err = s.takeOver(lctx, draft, lease); err != nil || done {
			return n, err
		}
	default:
		return Notification{}, err
	}

	// The lease is ours. From here on the attempt no longer depends on the
	// caller: a send, once started, runs to its own bound (the send timeout)
	// and its outcome is recorded, so that a caller whose deadline is shorter
	// than the mail relay's answer still gets the message out, and finds it
	// Sent when it retries.
	detached := context.WithoutCancel(ctx)
	if returned, err := s.sendBounded(detached, n); err != nil {
		if returned {
			// The Sender is done and failed: let the next caller try at once.
			// One still running keeps the lease until it expires.
			rctx, cancel := context.WithTimeout(detached, recordTimeout)
			defer cancel()
			if rerr := s.store.Release(rctx, n.OrderID, owner); rerr != nil {
				err = errors.Join(err, fmt.Errorf("release lease (it expires by itself): %w", rerr))
			}
		}
		return Notification{}, &sendFailedError{cause: err}
	}
	rctx, cancel := context.WithTimeout(detached, recordTimeout)
	defer cancel()
	sent, err := s.store.MarkSent(rctx, n.OrderID, s.now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return Notification{}, fmt.Errorf("record sent notification of order %s: %w", n.OrderID, err)
	}
	return sent, nil
}

// takeOver handles an order whose notification is stored already. done means
// n is the answer (or err is); otherwise the caller now holds lease on the
// Pending notification n and must send it.
func (s *service) takeOver(ctx context.Context, draft Notification, lease Lease) (n Notification, done bool, err error) {
	n, err = s.store.Get(ctx, draft.OrderID)
	if err != nil {
		return Notification{}, true, err
	}
	if n.To != draft.To || n.UserID != draft.UserID {
		return Notification{}, true, ErrConflict
	}
	if n.Status == StatusSent {
		return n, true, nil
	}
	claimed, err := s.store.Claim(ctx, draft.OrderID, s.now(), lease)
	if err != nil {
		return Notification{}, true, err
	}
	if claimed {
		return n, false, nil
	}
	// Someone holds the lease, or has just sent it.
	if n, err = s.store.Get(ctx, draft.OrderID); err != nil {
		return Notification{}, true, err
	}
	if n.Status == StatusSent {
		return n, true, nil
	}
	return Notification{}, true, ErrInProgress
}

// errSendTimeout means the Sender did not return within the send timeout.
var errSendTimeout = errors.New("sender timed out")

// sendBounded calls the Sender, after the simulated latency, with a context
// ending at the send timeout, and waits for it at most that long even if the
// Sender ignores its context. returned reports whether the Sender returned,
// i.e. is not running any more.
func (s *service) sendBounded(ctx context.Context, n Notification) (returned bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.sendTimeout)
	defer cancel()
	m := Message{From: n.From, To: n.To, Subject: n.Subject, Content: n.Content, OrderID: n.OrderID}
	done := make(chan error, 1) // buffered: a late Sender must not leak blocked
	go func() {
		if err := sleep(ctx, s.latency); err != nil {
			done <- err
			return
		}
		done <- s.sender.Send(ctx, m)
	}()
	// Not ctx.Done: the Sender gets its context ended too, and waiting for
	// its answer tells whether it still runs.
	timer := time.NewTimer(s.sendTimeout)
	defer timer.Stop()
	select {
	case err = <-done:
		return true, err
	case <-timer.C:
		return false, errSendTimeout
	}
}

func (s *service) GetNotification(ctx context.Context, orderID string) (Notification, error) {
	if err := invalid(idProblem("orderId", orderID)); err != nil {
		return Notification{}, err
	}
	return s.store.Get(ctx, orderID)
}

func (s *service) GetUserNotification(ctx context.Context, userID, orderID string) (Notification, error) {
	if err := invalid(idProblem("orderId", orderID)); err != nil {
		return Notification{}, err
	}
	n, err := s.store.Get(ctx, orderID)
	if err != nil {
		return Notification{}, err
	}
	if userID == "" || n.UserID != userID {
		return Notification{}, ErrNotFound
	}
	return n, nil
}

// draft is the new Pending notification of an order.
func (s *service) draft(to, orderID, userID string) Notification {
	return Notification{
		OrderID:   orderID,
		UserID:    userID,
		From:      s.from,
		To:        to,
		Subject:   fmt.Sprintf("Payment received for order %s", orderID),
		Content:   fmt.Sprintf("Hello,\n\nWe have received the payment for your order %s and are preparing it for delivery.\nWe will let you know when it is on its way.\n\nThank you for shopping at kitshop.\n", orderID),
		Status:    StatusPending,
		CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
}

// addressProblem checks a recipient: a bare e-mail address
// ("ann@example.com"), the only form a notification is sent to.
func addressProblem(to string) string {
	if to == "" {
		return "to is required"
	}
	if len(to) > maxAddressLen {
		return fmt.Sprintf("to is longer than %d bytes", maxAddressLen)
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return "to must be an e-mail address like name@example.com"
	}
	return ""
}

// idProblem checks an id: non-empty printable text of at most maxIDLen bytes.
func idProblem(field, id string) string {
	switch {
	case id == "":
		return field + " is required"
	case len(id) > maxIDLen:
		return fmt.Sprintf("%s is longer than %d bytes", field, maxIDLen)
	case !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return field + " must be printable text"
	}
	return ""
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
