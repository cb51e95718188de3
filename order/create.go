package order

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/telemetry"
)

// CreateOrder follows the seed's steps: user, products, total and amount
// check, store Pending, reserve stock, pay, return the stored order; it also
// sends the payment notification if that takes at most Options.NotifyWithin
// (the order is then DeliveryStarted, else PaymentProcessed). Once the
// order is stored it is carried to a final status even if the caller goes
// away, within Options.OrderTimeout; when the payment's outcome is unknown
// (lost answer, timeout) it stays Pending for the sweeper and the caller gets
// ErrUnavailable naming the order.
func (s *Orders) CreateOrder(ctx context.Context, userID string, req NewOrder) (Order, bool, error) {
	if userID == "" {
		return Order{}, false, fmt.Errorf("%w: no caller", ErrInvalidArgument)
	}
	items, err := req.validate(s.now())
	if err != nil {
		return Order{}, false, err
	}
	release, err := s.admit(ctx)
	if err != nil {
		return Order{}, false, err
	}
	defer release()
	deadline := time.Now().Add(s.opts.OrderTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	id, fingerprint, err := identify(userID, req, items)
	if err != nil {
		return Order{}, false, err
	}
	// No read before the insert: the order is made and inserted, and only a
	// duplicate _id (a repeat of the key) or a failure on the way reads the
	// order the key made, if any.
	o, err := s.newOrder(ctx, userID, id, fingerprint, req, items)
	if err != nil {
		return s.replayOr(ctx, req.IdempotencyKey, id, fingerprint, err)
	}
	// The work entry comes first: an order never exists without one until
	// it is final, whatever crashes where (worker.go).
	w, held, err := s.holdWork(ctx, id)
	if err != nil {
		return Order{}, false, err
	}
	if !held {
		// Another request or replica is at work on this key's order: answer
		// the order as it stands, if it is stored yet.
		return s.replayOr(ctx, req.IdempotencyKey, id, fingerprint, &UnavailableError{Dependency: "order", RetryAfter: time.Second,
			Detail: "a request with this idempotency key is in progress; retry shortly", Err: ErrInProgress})
	}
	if err := s.store.Insert(ctx, o); err != nil {
		if errors.Is(err, ErrDuplicateOrder) && req.IdempotencyKey != "" {
			// An earlier request with the same key made it; its handler is
			// gone, since this request holds the order's work: take the
			// order up where it was left, and answer it as it then stands.
			prev, gerr := s.store.Get(ctx, id)
			if gerr != nil {
				return Order{}, false, gerr
			}
			return replay(s.resumeForRepeat(ctx, &w, prev), fingerprint)
		}
		return Order{}, false, err
	}
	s.opts.RecordStatus(StatusPending)

	// From here on the order exists: finish it even if the caller goes away,
	// within the order's own deadline.
	work, cancelWork := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancelWork()
	o, err = s.process(work, &w, o, items, req.Payment)
	return o, false, err
}

// holdWork takes the work entry of the order id for its handler, for
// holdFor: a new entry, or one left by a handler or worker whose lease is
// over (a repeat after a crash). It reports false when another holds the
// entry: the order is being created or worked on.
func (s *Orders) holdWork(ctx context.Context, id string) (Work, bool, error) {
	until := s.now().Add(s.holdFor())
	w := Work{OrderID: id, Due: until, Owner: s.opts.Replica, LeaseUntil: until, Trace: telemetry.Traceparent(ctx)}
	err := s.store.InsertWork(ctx, w)
	if err == nil {
		return w, true, nil
	}
	if !errors.Is(err, ErrDuplicateWork) {
		return Work{}, false, err
	}
	cur, err := s.store.GetWork(ctx, id)
	if err == nil && !cur.LeaseUntil.After(s.now()) {
		cur.Owner, cur.LeaseUntil, cur.Due = s.opts.Replica, until, until
		if cur, err = s.store.UpdateWork(ctx, cur); err == nil {
			return cur, true, nil
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrWorkChanged) {
		return Work{}, false, err
	}
	return Work{}, false, nil
}

// newOrder makes the Pending order of a request: the user, the products'
// prices and the total, which must be the amount to pay.
func (s *Orders) newOrder(ctx context.Context, userID, id, fingerprint string, req NewOrder, items []Item) (Order, error) {
	user, err := s.deps.Users.GetUser(ctx, userID)
	if err != nil {
		return Order{}, err
	}
	lines, total, err := s.price(ctx, items)
	if err != nil {
		return Order{}, err
	}
	if req.Payment.Amount != total {
		return Order{}, fmt.Errorf("%w: payment.amount is %d but the order total is %d", ErrInvalidArgument, req.Payment.Amount, total)
	}
	now := s.now()
	return Order{
		ID:       id,
		Customer: Customer{UserID: userID, Email: user.Email, Name: user.Name},
		Products: lines,
		Address:  req.Address,
		Status:   StatusPending,
		Payment: PaymentSummary{
			Method:           req.Payment.Method,
			Name:             req.Payment.Name,
			Amount:           total,
			Status:           PaymentPending,
			MaskedCardNumber: MaskCardNumber(req.Payment.CardNumber),
		},
		Total:       total,
		CreatedAt:   now,
		UpdatedAt:   now,
		Fingerprint: fingerprint,
	}, nil
}

// process reserves the stock of a stored Pending order, charges it and, when
// the payment is approved, notifies the customer (notifyNow) or queues that.
// The handler holds the order's work entry w until it settles the order.
func (s *Orders) process(ctx context.Context, w *Work, o Order, items []Item, pay PaymentDetails) (Order, error) {
	if err := s.deps.Products.ReserveStock(ctx, o.ID, items); err != nil {
		// The payment was never attempted, so the order can be cancelled now.
		// A reservation whose answer was lost may still exist: release it.
		ch := Change{FailureReason: err.Error()}
		result := err
		var unavailable *UnavailableError
		switch {
		case errors.Is(err, ErrOutOfStock), errors.Is(err, ErrProductNotFound):
		case errors.As(err, &unavailable):
			// Even a refused call is followed by a release: releasing is
			// idempotent, and an earlier request for this order (an
			// idempotent replay) may have reserved.
			ch.Outbox.ReleaseStock = true
			result = withOrder(unavailable, o.ID, "order "+o.ID+" was cancelled")
		default:
			ch.Outbox.ReleaseStock = true
			ch.FailureReason = "stock reservation failed"
		}
		if _, terr := s.settle(ctx, w, o.ID, StatusPaymentCancelled, ch, false); terr != nil {
			s.logger.WarnContext(ctx, "order left pending for the sweeper", "order", o.ID, "err", terr)
		}
		return Order{}, result
	}

	p, err := s.deps.Payments.MakePayment(ctx, PaymentRequest{OrderID: o.ID, Details: pay, UserEmail: o.Customer.Email})
	var unavailable *UnavailableError
	switch {
	case err == nil && p.Status == PaymentApproved:
		to, ch := StatusDeliveryStarted, Change{Payment: summary(o.Payment, p)}
		if !s.notifyNow(ctx, o) {
			to, ch.Outbox = StatusPaymentProcessed, Outbox{Notify: &Notification{To: o.Customer.Email, UserID: o.Customer.UserID}}
		}
		done, terr := s.settle(ctx, w, o.ID, to, ch, false)
		switch {
		case errors.Is(terr, ErrStaleStatus) && (done.Status == StatusPaymentFailed || done.Status == StatusPaymentCancelled):
			return Order{}, fmt.Errorf("%w: order %s became %s while its payment was approved; the payment will be refunded",
				ErrIllegalTransition, o.ID, done.Status)
		case errors.Is(terr, ErrStaleStatus):
			// Another holder of its work (a sweep past this handler's hold)
			// settled it paid, from this same payment: it stands paid.
			return done, nil
		case terr != nil:
			return Order{}, terr
		}
		return done, nil
	case err == nil && p.Status == PaymentRejected:
		reason := p.Reason
		if reason == "" {
			reason = "rejected"
		}
		_, terr := s.settle(ctx, w, o.ID, StatusPaymentFailed, Change{
			Payment:       summary(o.Payment, p),
			FailureReason: "payment declined: " + reason,
			Outbox:        Outbox{ReleaseStock: true},
		}, true)
		if terr != nil && !errors.Is(terr, ErrStaleStatus) {
			return Order{}, terr
		}
		return Order{}, &DeclinedError{OrderID: o.ID, Reason: reason}
	case errors.Is(err, ErrInvalidArgument):
		// The payment service refused the details: nothing was charged.
		if _, terr := s.settle(ctx, w, o.ID, StatusPaymentFailed, Change{FailureReason: err.Error(), Outbox: Outbox{ReleaseStock: true}}, true); terr != nil && !errors.Is(terr, ErrStaleStatus) {
			return Order{}, terr
		}
		return Order{}, fmt.Errorf("%w (order %s failed)", err, o.ID)
	case errors.As(err, &unavailable) && unavailable.Refused:
		// The breaker refused the call: nothing was charged.
		if _, terr := s.settle(ctx, w, o.ID, StatusPaymentCancelled, Change{FailureReason: err.Error(), Outbox: Outbox{ReleaseStock: true}}, true); terr != nil {
			s.logger.WarnContext(ctx, "order left pending for the sweeper", "order", o.ID, "err", terr)
		}
		return Order{}, withOrder(unavailable, o.ID, "order "+o.ID+" was cancelled")
	case err == nil:
		// Still pending at the payment service: the worker will settle it.
		s.leaveWork(ctx, w, s.opts.SweepInterval, nil)
		return o, nil
	case errors.As(err, &unavailable):
		s.leaveWork(ctx, w, s.opts.SweepInterval, err)
		return Order{}, withOrder(unavailable, o.ID, "the outcome of the payment of order "+o.ID+" is not known yet; the order will be settled shortly")
	default:
		// An answer the payment service should not give (e.g. AlreadyExists):
		// leave the order to the worker, which asks for the payment's state.
		s.leaveWork(ctx, w, s.opts.SweepInterval, err)
		return Order{}, fmt.Errorf("order %s: payment: %w", o.ID, err)
	}
}

// notifyNow sends the payment notification of o, whose payment was just
// approved, within Options.NotifyWithin, and reports whether it was sent.
// When it was not, the worker sends it (an attempt that arrived late is
// not sent twice: the notification service keeps one per order).
func (s *Orders) notifyNow(ctx context.Context, o Order) bool {
	if s.opts.NotifyWithin < 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.NotifyWithin)
	defer cancel()
	if err := s.deps.Notifier.SendPaymentNotification(ctx, o.Customer.Email, o.ID, o.Customer.UserID); err != nil {
		s.logger.DebugContext(ctx, "payment notification left to the outbox", "order", o.ID, "err", err)
		return false
	}
	return true
}

// summary is the order's payment summary after the payment service answered.
func summary(prev PaymentSummary, p Payment) *PaymentSummary {
	s := prev
	s.PaymentID = p.ID
	s.Status = p.Status
	if p.MaskedCardNumber != "" {
		s.MaskedCardNumber = p.MaskedCardNumber
	}
	return &s
}

// settle moves a Pending order to a final payment status, or to
// DeliveryStarted when its payment notification is sent already, on a context
// of its own (the order's may be over), and records the status; then, holding
// the order's work entry w, it finishes the entry (followUp): deleted when
// nothing is left, else the side effects run at once with inline (when the
// dependency just answered and a caller waits for them, as for the stock of a
// declined order) or are handed to the worker, which it wakes. On
// ErrStaleStatus it returns the order as it stands; if the payment was
// approved but the order failed meanwhile, a refund is queued and tried at
// once. A settle that fails leaves w to the worker when its lease ends.
func (s *Orders) settle(ctx context.Context, w *Work, id string, to Status, ch Change, inline bool) (Order, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
	defer cancel()
	ch.At = s.now()
	paid := to == StatusPaymentProcessed || to == StatusDeliveryStarted
	o, err := s.transition(ctx, id, StatusPending, to, ch)
	switch {
	case err == nil:
		if to == StatusDeliveryStarted {
			s.opts.RecordStatus(StatusPaymentProcessed) // it was paid on the way
		}
		s.opts.RecordStatus(to)
		s.followUp(ctx, w, o, inline)
		return o, nil
	case errors.Is(err, ErrStaleStatus):
		if paid && (o.Status == StatusPaymentFailed || o.Status == StatusPaymentCancelled) {
			s.logger.WarnContext(ctx, "payment approved for an order that had failed; refunding", "order", id, "status", o.Status)
			if aerr := s.store.AddOutbox(ctx, id, Outbox{Refund: true}); aerr != nil {
				return o, errors.Join(err, aerr)
			}
			o.Outbox.Refund = true
			// The order was settled by another holder of its work, which may
			// have deleted the entry w: make sure the refund has one, then
			// try it at once if this handler still holds w.
			s.addWork(ctx, id)
		}
		s.followUp(ctx, w, o, true)
		return o, err
	default:
		return o, err
	}
}

// price looks the items' products up and returns the order lines and total,
// refusing prices that are not positive and totals that overflow int64.
func (s *Orders) price(ctx context.Context, items []Item) ([]Line, int64, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	products, err := s.deps.Products.GetProducts(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	byID := make(map[string]Product, len(products))
	for _, p := range products {
		byID[p.ID] = p
	}
	lines := make([]Line, 0, len(items))
	var total int64
	var missing []string
	for _, it := range items {
		p, ok := byID[it.ProductID]
		if !ok {
			missing = append(missing, it.ProductID)
			continue
		}
		if p.Price <= 0 {
			return nil, 0, fmt.Errorf("%w: product %s has no valid price", ErrInvalidArgument, p.ID)
		}
		if p.Price > math.MaxInt64/it.Quantity || total > math.MaxInt64-p.Price*it.Quantity {
			return nil, 0, fmt.Errorf("%w: the order total is too large", ErrInvalidArgument)
		}
		total += p.Price * it.Quantity
		lines = append(lines, Line{ProductID: p.ID, Name: p.Name, Price: p.Price, Quantity: it.Quantity})
	}
	if len(missing) > 0 {
		return nil, 0, fmt.Errorf("%w: %s", ErrProductNotFound, strings.Join(missing, ", "))
	}
	return lines, total, nil
}
