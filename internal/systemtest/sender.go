package systemtest

import (
	"context"
	"sync"

	"github.com/kitshop/kitshop/notification"
)

// Sender is the mail relay of a System: a notification.Sender that counts
// the messages it accepts, by order. It outlives notification restarts, so
// Count tells how many e-mails an order's customer really got.
type Sender struct {
	mu    sync.Mutex
	sent  map[string]int
	total int
}

func newSender() *Sender { return &Sender{sent: make(map[string]int)} }

// Send implements notification.Sender.
func (s *Sender) Send(ctx context.Context, m notification.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[m.OrderID]++
	s.total++
	return nil
}

// Count returns how many messages were sent for the order.
func (s *Sender) Count(orderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[orderID]
}

// Total returns how many messages were sent in all.
func (s *Sender) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

var _ notification.Sender = (*Sender)(nil)
