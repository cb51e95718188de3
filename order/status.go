package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Status is where an order stands. It only moves forward:
// Pending → PaymentCancelled | PaymentFailed | PaymentProcessed → DeliveryStarted → DeliveryDone.
type Status string

// The order statuses, spelled as the original system did.
const (
	StatusPending          Status = "Pending"
	StatusPaymentCancelled Status = "PaymentCancelled"
	StatusPaymentFailed    Status = "PaymentFailed"
	StatusPaymentProcessed Status = "PaymentProcessed"
	StatusDeliveryStarted  Status = "DeliveryStarted"
	StatusDeliveryDone     Status = "DeliveryDone"
)

// Statuses returns every status, in the order an order goes through them.
func Statuses() []Status {
	return []Status{StatusPending, StatusPaymentCancelled, StatusPaymentFailed, StatusPaymentProcessed,
		StatusDeliveryStarted, StatusDeliveryDone}
}

// transitions is the state machine: the statuses an order in each status
// may move to. Pending goes straight to DeliveryStarted when the payment
// notification was sent while CreateOrder waited (Options.NotifyWithin).
var transitions = map[Status][]Status{
	StatusPending:          {StatusPaymentCancelled, StatusPaymentFailed, StatusPaymentProcessed, StatusDeliveryStarted},
	StatusPaymentProcessed: {StatusDeliveryStarted},
	StatusDeliveryStarted:  {StatusDeliveryDone},
}

// checkStatus refuses a status that is not one of Statuses
// (ErrInvalidArgument, naming them).
func checkStatus(st Status) error {
	all := Statuses()
	if slices.Contains(all, st) {
		return nil
	}
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = string(s)
	}
	return fmt.Errorf("%w: status must be one of %s", ErrInvalidArgument, strings.Join(names, ", "))
}

// CanMoveTo reports whether an order in status s may move to status to.
func (s Status) CanMoveTo(to Status) bool { return slices.Contains(transitions[s], to) }

// transition moves the order id from status from to status to, applying
// ch, with the store's one conditional update (Store.Transition: the order
// as it stands and ErrStaleStatus when it is no longer from). Every status
// change of the service goes through it: a move the state machine does not
// allow (CanMoveTo) is ErrIllegalTransition, and reaches no store.
func (s *Orders) transition(ctx context.Context, id string, from, to Status, ch Change) (Order, error) {
	if !from.CanMoveTo(to) {
		return Order{}, fmt.Errorf("%w: an order cannot move from %s to %s", ErrIllegalTransition, from, to)
	}
	return s.store.Transition(ctx, id, from, to, ch)
}

// DeliveryStarted moves a PaymentProcessed order to DeliveryStarted, in one
// conditional update without a read first. An order already there is
// returned as it is; any other status is ErrIllegalTransition. The order
// service starts delivery itself once the payment notification is sent
// (runOutbox); this method is the public contract of the original system,
// for an operator or an outside caller. It leaves the outbox alone: a
// payment notification not sent yet is still sent, and then only cleared.
func (s *Orders) DeliveryStarted(ctx context.Context, orderID string) (Order, error) {
	return s.moveOn(ctx, orderID, StatusPaymentProcessed, StatusDeliveryStarted)
}

// DeliveryDone moves an order whose delivery started to DeliveryDone, the
// courier's or an operator's "delivered", in one conditional update without
// a read first. An order already DeliveryDone is returned as it is; any
// other status is ErrIllegalTransition.
func (s *Orders) DeliveryDone(ctx context.Context, orderID string) (Order, error) {
	return s.moveOn(ctx, orderID, StatusDeliveryStarted, StatusDeliveryDone)
}

// moveOn is an operator's move of an order from status from to status to:
// a repeat (the order is at to already) returns the order as it is.
func (s *Orders) moveOn(ctx context.Context, orderID string, from, to Status) (Order, error) {
	if err := checkID("id", orderID); err != nil {
		return Order{}, err
	}
	moved, err := s.transition(ctx, orderID, from, to, Change{At: s.now()})
	if errors.Is(err, ErrStaleStatus) {
		if moved.Status == to {
			return moved, nil // a repeat, or the worker or a concurrent call won
		}
		return Order{}, fmt.Errorf("%w: order %s is %s, not %s", ErrIllegalTransition, orderID, moved.Status, from)
	}
	if err != nil {
		return Order{}, err
	}
	s.opts.RecordStatus(to)
	return moved, nil
}
