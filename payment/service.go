// Package payment is the kitshop payment service: it charges orders, at most once per order, and refunds
// them. The order service calls it over gRPC; HTTP offers only GET /payment/{orderId} to admins.
//
// # At most one charge per order
//
// A payment's document id is its order id. MakePayment first inserts the payment as Pending (the unique id
// decides which request creates it), then charges the [Processor] with the order id as idempotency key, then
// records the verdict (Approved, or Rejected with the reason) with an update guarded by the Pending status,
// whose answer is the reply: a new payment costs the store the insert and that one update, and no read.
// Identical concurrent requests in one process share one run (golang.org/x/sync/singleflight, the standard
// library's companion module); a request that finds the payment Pending (its first caller died, timed out,
// or runs in another process) charges again with the same key, and since the processor dedupes by key both
// converge on the one charge. A repeat of a finished payment returns it without calling the processor; a
// repeat with another amount, card or method is [ErrConflict].
//
// A caller whose deadline passes while the processor is charging gets context.DeadlineExceeded and the
// payment stays Pending. It is finished by the next MakePayment with the same details (which charges again
// under the same key) or by the next GetPayment or RefundPayment, which ask the processor for the charge's
// result ([Processor.Lookup]) and record it if there is one. A Pending payment the processor never received
// (the caller died between the insert and the charge) stays Pending until a MakePayment repeats it, since
// only a request carries the card.
//
// # Methods
//
// CreditCard takes a Luhn-valid card number of 12 to 19 digits and an expiry month and year not in the past;
// birthOrRegistration (6 or 10 digits) and passwordTwoDigits (2 digits) are optional and checked for form
// only, then passed to the processor. Kakao (Kakao Pay) charges the customer's Kakao account: it takes no
// card, and a Kakao request carrying any card field is refused, so that card data is never sent where it is
// not used.
//
// # Card data
//
// Only the masked number ("**** **** **** 4242") is stored, logged or returned. To recognise a repeat with
// another card, the store keeps an HMAC-SHA256 of the number under a server key that is not in the database
// ([LoadOrCreateCardKey]). passwordTwoDigits and birthOrRegistration go to the processor and nowhere else.
package payment

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/kitshop/kitshop/internal/card"
	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/telemetry"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Service charges, refunds and reports the payments of orders.
type Service interface {
	// MakePayment charges an order once. It returns the payment, Approved or Rejected (a declined card is
	// a result, not an error). Errors: *ValidationError, ErrConflict, ErrProcessorUnavailable,
	// context.DeadlineExceeded (the payment is Pending; repeat the request).
	MakePayment(ctx context.Context, req PaymentRequest) (Payment, error)
	// RefundPayment refunds an order's approved payment; a refunded one is returned as it is. Errors:
	// *ValidationError, ErrNotFound, ErrNotRefundable, ErrProcessorUnavailable.
	RefundPayment(ctx context.Context, orderID string) (Payment, error)
	// GetPayment returns an order's payment, finishing a Pending one whose charge the processor has
	// completed. Errors: *ValidationError, ErrNotFound.
	GetPayment(ctx context.Context, orderID string) (Payment, error)
}

// Status is where a payment stands.
type Status string

// The statuses of a payment. Pending moves to Approved, Rejected or Voided once; Approved may move to
// Refunded. Voided is a payment the processor never charged and will refuse to charge under its key.
const (
	StatusPending  Status = "Pending"
	StatusRejected Status = "Rejected"
	StatusApproved Status = "Approved"
	StatusRefunded Status = "Refunded"
	StatusVoided   Status = "Voided"
)

// Method is how the customer pays.
type Method string

// The payment methods.
const (
	MethodCreditCard Method = "CreditCard"
	MethodKakao      Method = "Kakao"
)

// PaymentRequest asks for an order to be charged.
type PaymentRequest struct {
	OrderID string
	Method  Method
	// Name is the name on the card or the account name; optional.
	Name string
	// Card is required for CreditCard and must be empty for Kakao.
	Card Card
	// Amount in minor units (won), > 0.
	Amount    int64
	UserEmail string
}

// Payment is an order's payment as stored. It holds no card data beyond the masked number.
type Payment struct {
	// ID is the payment's own id (a UUID); the order id identifies it too.
	ID      string
	OrderID string
	Status  Status
	Method  Method
	Name    string
	Amount  int64
	// MaskedCardNumber is "**** **** **** 1234"; empty for Kakao.
	MaskedCardNumber string
	// CardFingerprint is the keyed hash of the card number (see the package documentation); empty for Kakao.
	CardFingerprint string
	UserEmail       string
	// Reason says why the payment was rejected.
	Reason string
	// ChargeID and RefundID are the processor's references.
	ChargeID  string
	RefundID  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store keeps payments, one per order. Implementations: [MongoStore].
type Store interface {
	// Create stores a new payment, or fails with ErrDuplicate when its order has one.
	Create(ctx context.Context, p Payment) error
	// Get returns the payment of an order, or ErrNotFound.
	Get(ctx context.Context, orderID string) (Payment, error)
	// Transition applies t if the payment's status is from, atomically, and returns the payment as stored
	// afterwards (unchanged if its status was not from). ErrNotFound if the order has no payment.
	Transition(ctx context.Context, orderID string, from Status, t Transition) (Payment, error)
	// Mark records that the order's payment may be Pending, since m.At, and reports whether the mark is new;
	// marking a marked order changes nothing (the first mark's At and Trace stay). The marks are kept apart from the payments, so that listing
	// them costs what the payments not yet final number, not all of them.
	Mark(ctx context.Context, m Mark) (bool, error)
	// Marks returns every mark.
	Marks(ctx context.Context) ([]Mark, error)
	// Unmark deletes the order's mark; no mark is no error.
	Unmark(ctx context.Context, orderID string) error
}

// Mark is an order whose payment may still be Pending ([Store.Mark]).
type Mark struct {
	OrderID string
	At      time.Time
	// Trace is the W3C traceparent of the MakePayment call that made the mark ("" for none): the
	// Reconciler's span for the mark continues that trace (telemetry.Continue).
	Trace string
}

// Transition is a status change recorded by [Store.Transition]. Empty Reason, ChargeID and RefundID leave the
// stored values as they are.
type Transition struct {
	To       Status
	Reason   string
	ChargeID string
	RefundID string
	At       time.Time
}

// Defaults of [Options].
const (
	DefaultProcessorTimeout = 30 * time.Second
	// DefaultVoidAfter is [Options.VoidAfter]'s default: far longer than the moment between a payment's
	// insert and its charge reaching the processor, and shorter than the order service's hold of an order
	// (order.Options), so that its worker finds the payment final when it asks.
	DefaultVoidAfter = 10 * time.Second
	// DefaultCleanupDelay is Build's Options.CleanupDelay.
	DefaultCleanupDelay = 100 * time.Millisecond
	// DefaultReconcileInterval is [Options.ReconcileInterval]'s default.
	DefaultReconcileInterval = 5 * time.Second
	// recordTimeout bounds the store write that records a processor's answer after the caller has gone.
	recordTimeout = 5 * time.Second
)

// Limits of request fields.
const (
	maxOrderIDLen = 128
	maxEmailLen   = 254
)

// Options configures [NewService].
type Options struct {
	// CardKey is the HMAC key of card fingerprints, at least [MinCardKeyBytes] bytes. Required.
	CardKey []byte
	// ProcessorTimeout bounds each processor call; a caller's earlier deadline wins. Zero means
	// DefaultProcessorTimeout.
	ProcessorTimeout time.Duration
	// VoidAfter is how old a Pending payment whose charge the processor never received must be before it
	// is voided (Processor.Void) and becomes Voided; zero means DefaultVoidAfter.
	VoidAfter time.Duration
	// ReconcileInterval is how often the Reconciler looks at the payments that may be Pending; zero means
	// DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// CleanupDelay is how long the delete of a final payment's mark waits for others to go with it
	// (docstore.Soon): 0, as NewService is mostly given, deletes at once; Build uses
	// DefaultCleanupDelay. A mark of a final payment left meanwhile (or by a crash) is the Reconciler's to
	// drop.
	CleanupDelay time.Duration
	// Now is the clock (expiry checks, timestamps, VoidAfter). Nil means time.Now.
	Now func() time.Time
	// Logger receives processor lookups that failed. Nil discards.
	Logger *slog.Logger
	// Tracer is the payment service's tracer provider, which starts the Reconciler's span for each mark it
	// resolves, continuing the trace of the MakePayment behind it. Nil means telemetry.Disabled.
	Tracer trace.TracerProvider
}

type service struct {
	store            Store
	processor        Processor
	cardKey          []byte
	processorTimeout time.Duration
	voidAfter        time.Duration
	now              func() time.Time
	logger           *slog.Logger
	flights          singleflight.Group
	cleanup          *docstore.Soon // the deletes of final payments' marks (Options.CleanupDelay)
}

// NewService returns the payment Service on store and processor.
func NewService(store Store, processor Processor, opts Options) (Service, error) {
	return newService(store, processor, opts)
}

func newService(store Store, processor Processor, opts Options) (*service, error) {
	if store == nil || processor == nil {
		return nil, errors.New("payment: a store and a processor are required")
	}
	if len(opts.CardKey) < MinCardKeyBytes {
		return nil, fmt.Errorf("payment: card key has %d bytes, want at least %d", len(opts.CardKey), MinCardKeyBytes)
	}
	if opts.ProcessorTimeout < 0 || opts.VoidAfter < 0 || opts.ReconcileInterval < 0 {
		return nil, errors.New("payment: negative processor timeout, void-after or reconcile interval")
	}
	s := &service{
		store:            store,
		processor:        processor,
		cardKey:          append([]byte(nil), opts.CardKey...),
		processorTimeout: opts.ProcessorTimeout,
		voidAfter:        opts.VoidAfter,
		now:              opts.Now,
		logger:           opts.Logger,
		cleanup:          docstore.NewSoon(opts.CleanupDelay),
	}
	if s.processorTimeout == 0 {
		s.processorTimeout = DefaultProcessorTimeout
	}
	if s.voidAfter == 0 {
		s.voidAfter = DefaultVoidAfter
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// charge is a validated MakePayment request.
type charge struct {
	req         PaymentRequest // Card.Number normalized to digits
	masked      string
	fingerprint string
}

// flightKey identifies identical requests: only they share a run.
func (c charge) flightKey() string {
	return strings.Join([]string{c.req.OrderID, string(c.req.Method), strconv.FormatInt(c.req.Amount, 10), c.fingerprint}, "\x00")
}

// matches reports whether p was made by a request like c (same amount, method and card).
func (c charge) matches(p Payment) bool {
	return p.Amount == c.req.Amount && p.Method == c.req.Method &&
		subtle.ConstantTimeCompare([]byte(p.CardFingerprint), []byte(c.fingerprint)) == 1
}

// callerGoneError is the result of a shared run whose leading caller's context ended: the other callers of
// the run, whose contexts are still alive, start a new one.
type callerGoneError struct{ err error }

func (e *callerGoneError) Error() string { return e.err.Error() }
func (e *callerGoneError) Unwrap() error { return e.err }

// MakePayment implements [Service].
func (s *service) MakePayment(ctx context.Context, req PaymentRequest) (Payment, error) {
	c, err := s.validate(req)
	if err != nil {
		return Payment{}, err
	}
	for {
		ch := s.flights.DoChan(c.flightKey(), func() (any, error) {
			p, err := s.pay(ctx, c)
			if err != nil && ctx.Err() != nil {
				return p, &callerGoneError{err: ctx.Err()}
			}
			return p, err
		})
		select {
		case <-ctx.Done():
			return Payment{}, ctx.Err()
		case r := <-ch:
			var gone *callerGoneError
			switch {
			case errors.As(r.Err, &gone) && ctx.Err() == nil:
				continue // another caller led the run and went away; this one is still waiting
			case errors.As(r.Err, &gone):
				return Payment{}, ctx.Err()
			case r.Err != nil:
				return Payment{}, r.Err
			}
			return r.Val.(Payment), nil
		}
	}
}

// pay creates the Pending payment if the order has none, then charges it unless it is finished.
func (s *service) pay(ctx context.Context, c charge) (Payment, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	p := Payment{
		ID:               uuid.NewString(),
		OrderID:          c.req.OrderID,
		Status:           StatusPending,
		Method:           c.req.Method,
		Name:             c.req.Name,
		Amount:           c.req.Amount,
		MaskedCardNumber: c.masked,
		CardFingerprint:  c.fingerprint,
		UserEmail:        c.req.UserEmail,
		CreatedAt:        now,
		UpdatedAt:        now,
	}
	// The mark first: a payment is never Pending without one, whatever crashes where (Reconciler).
	marked, err := s.store.Mark(ctx, Mark{OrderID: c.req.OrderID, At: now, Trace: telemetry.Traceparent(ctx)})
	if err != nil {
		return Payment{}, err
	}
	err = s.store.Create(ctx, p)
	if errors.Is(err, ErrDuplicate) {
		if p, err = s.store.Get(ctx, c.req.OrderID); err != nil {
			return Payment{}, err
		}
		if marked && p.Status != StatusPending {
			// A repeat of a final payment: its mark was dropped already.
			if err := s.store.Unmark(ctx, c.req.OrderID); err != nil {
				return Payment{}, err
			}
		}
		if !c.matches(p) {
			return Payment{}, ErrConflict
		}
		if p.Status != StatusPending {
			return p, nil
		}
	} else if err != nil {
		return Payment{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.processorTimeout)
	res, err := s.processor.Charge(pctx, ChargeRequest{
		IdempotencyKey: c.req.OrderID,
		Method:         c.req.Method,
		Amount:         c.req.Amount,
		Card:           c.req.Card,
		Name:           c.req.Name,
		Email:          c.req.UserEmail,
	})
	cancel()
	if err != nil {
		return Payment{}, processorError(err)
	}
	return s.record(ctx, c.req.OrderID, res)
}

// record finishes a Pending payment with the processor's verdict (Approved, Rejected, or Voided for a key
// that Void closed) and returns it as stored (as another caller finished it, if one was first), then drops
// its mark. The processor has answered by now, so the writes are not abandoned when the caller's context
// ends: they get a few seconds of their own, keeping the caller's values.
func (s *service) record(ctx context.Context, orderID string, res ChargeResult) (Payment, error) {
	t := Transition{To: StatusApproved, ChargeID: res.ChargeID, At: s.now().UTC().Truncate(time.Millisecond)}
	switch {
	case res.Approved:
	case res.DeclineReason == ReasonVoided:
		t.To, t.Reason = StatusVoided, "never charged: the processor did not receive the charge in time, and it was voided"
	default:
		t.To, t.Reason = StatusRejected, res.DeclineReason
		if t.Reason == "" {
			t.Reason = ReasonCardDeclined
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	p, err := s.store.Transition(wctx, orderID, StatusPending, t)
	if err == nil && p.Status != StatusPending {
		s.cleanup.Do(func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			defer cancel()
			if uerr := s.store.Unmark(uctx, orderID); uerr != nil {
				s.logger.WarnContext(ctx, "dropping a final payment's mark failed; the reconciler will", "order_id", orderID, "err", uerr)
			}
		})
	}
	return p, err
}

// resolve finishes a Pending payment if the processor has a result for its charge. If the processor never
// received the charge and the payment is older than Options.VoidAfter, it voids the key (Processor.Void)
// and records what that answers: Voided, or the charge that reached the processor meanwhile. Otherwise, or
// if the processor cannot be asked, it returns p as it is, since Pending is then the truth.
func (s *service) resolve(ctx context.Context, p Payment) (Payment, error) {
	if p.Status != StatusPending {
		return p, nil
	}
	pctx, cancel := context.WithTimeout(ctx, s.processorTimeout)
	defer cancel()
	res, err := s.processor.Lookup(pctx, p.OrderID)
	if errors.Is(err, ErrUnknownCharge) {
		if s.now().Sub(p.CreatedAt) < s.voidAfter {
			return p, nil // its charge may be on its way
		}
		res, err = s.processor.Void(pctx, p.OrderID)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "processor lookup failed; payment left pending", "order_id", p.OrderID, "err", err)
		return p, nil
	}
	return s.record(ctx, p.OrderID, res)
}

// GetPayment implements [Service].
func (s *service) GetPayment(ctx context.Context, orderID string) (Payment, error) {
	if err := checkOrderID(orderID); err != nil {
		return Payment{}, err
	}
	p, err := s.store.Get(ctx, orderID)
	if err != nil {
		return Payment{}, err
	}
	return s.resolve(ctx, p)
}

// RefundPayment implements [Service].
func (s *service) RefundPayment(ctx context.Context, orderID string) (Payment, error) {
	if err := checkOrderID(orderID); err != nil {
		return Payment{}, err
	}
	p, err := s.store.Get(ctx, orderID)
	if err != nil {
		return Payment{}, err
	}
	if p, err = s.resolve(ctx, p); err != nil {
		return Payment{}, err
	}
	switch p.Status {
	case StatusRefunded:
		return p, nil
	case StatusRejected:
		return Payment{}, fmt.Errorf("%w: it was rejected (%s), nothing was charged", ErrNotRefundable, p.Reason)
	case StatusVoided:
		return Payment{}, fmt.Errorf("%w: it was voided, nothing was charged", ErrNotRefundable)
	case StatusPending:
		return Payment{}, fmt.Errorf("%w: it is still pending; repeat MakePayment to finish it", ErrNotRefundable)
	}
	pctx, cancel := context.WithTimeout(ctx, s.processorTimeout)
	res, err := s.processor.Refund(pctx, RefundRequest{IdempotencyKey: orderID, ChargeID: p.ChargeID, Amount: p.Amount})
	cancel()
	if err != nil {
		return Payment{}, processorError(err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	t := Transition{To: StatusRefunded, RefundID: res.RefundID, At: s.now().UTC().Truncate(time.Millisecond)}
	return s.store.Transition(wctx, orderID, StatusApproved, t)
}

// validate checks a MakePayment request and prepares it.
func (s *service) validate(req PaymentRequest) (charge, error) {
	if err := checkOrderID(req.OrderID); err != nil {
		return charge{}, err
	}
	if req.Method != MethodCreditCard && req.Method != MethodKakao {
		return charge{}, invalid("paymentMethod", "paymentMethod must be CreditCard or Kakao")
	}
	if req.Amount <= 0 {
		return charge{}, invalid("amount", "amount must be greater than 0")
	}
	if err := checkEmail(req.UserEmail); err != nil {
		return charge{}, err
	}
	if err := checkName(req.Name); err != nil {
		return charge{}, err
	}
	c := charge{req: req}
	if req.Method == MethodKakao {
		if field := firstCardField(req.Card); field != "" {
			return charge{}, invalid(field, field+" must be empty for Kakao payments: Kakao Pay charges the customer's Kakao account and takes no card details")
		}
		return c, nil
	}
	digits, err := normalizeCardNumber(req.Card.Number)
	if err != nil {
		return charge{}, err
	}
	if err := checkExpiry(req.Card.ExpiryYear, req.Card.ExpiryMonth, s.now()); err != nil {
		return charge{}, err
	}
	if err := checkBirthOrRegistration(req.Card.BirthOrRegistration); err != nil {
		return charge{}, err
	}
	if err := checkPasswordTwoDigits(req.Card.PasswordTwoDigits); err != nil {
		return charge{}, err
	}
	c.req.Card.Number = digits
	c.masked = MaskCardNumber(digits)
	c.fingerprint = cardFingerprint(s.cardKey, digits)
	return c, nil
}

// firstCardField names the first card field set in c, or returns "".
func firstCardField(c Card) string { return card.Details(c).FirstSet() }

func checkOrderID(id string) error {
	if id == "" {
		return invalid("orderId", "orderId is required")
	}
	if len(id) > maxOrderIDLen || !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return invalid("orderId", fmt.Sprintf("orderId must be at most %d bytes of text without spaces or control characters", maxOrderIDLen))
	}
	return nil
}

func checkEmail(email string) error {
	if email == "" {
		return invalid("userEmail", "userEmail is required")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > maxEmailLen {
		return invalid("userEmail", "userEmail must be a valid e-mail address (name@example.com)")
	}
	return nil
}

func checkName(name string) error { return validationError(card.CheckName(name)) }
