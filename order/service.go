// Package order is the kitshop order service, the orchestrator of a purchase:
// it reads the caller and the products, checks the amount against the total,
// stores the order Pending, reserves stock, charges the payment, has the
// notification service tell the customer, and then starts the delivery.
//
// Everything that can fail half-way is made safe to repeat: the order's
// status moves only forward through conditional single-document updates
// (Store.Transition), CreateOrder is idempotent per caller and key, stock and
// payment calls are idempotent per order id, an order left Pending by a lost
// answer is settled by the sweeper (Orders.Sweep) from the payment service's
// record, and side effects due after a transition (stock release, refund,
// payment notification) are written on the order in the same update and
// delivered at least once by the outbox dispatcher (Orders.Dispatch), which
// starts the delivery of a paid order once its notification is sent.
package order

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Service is the order service.
type Service interface {
	// CreateOrder places an order for userID (the verified caller). It
	// reports replayed when an earlier request with the same idempotency key
	// made the order, which it then returns as it stands.
	CreateOrder(ctx context.Context, userID string, req NewOrder) (o Order, replayed bool, err error)
	// DeliveryStarted moves a paid order to StatusDeliveryStarted and drops
	// its payment notification if still due; repeating it is harmless.
	DeliveryStarted(ctx context.Context, orderID string) (Order, error)
	// GetOrder returns one of userID's orders; another user's is ErrNotFound.
	GetOrder(ctx context.Context, userID, orderID string) (Order, error)
	// ListOrders pages through userID's orders, newest first.
	ListOrders(ctx context.Context, userID string, pageSize int, pageToken string) (Page, error)
}

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

// CanMoveTo reports whether an order in status s may move to status to.
func (s Status) CanMoveTo(to Status) bool {
	switch s {
	case StatusPending:
		// Straight to DeliveryStarted when the payment notification was sent
		// while CreateOrder waited (Options.NotifyWithin).
		return to == StatusPaymentCancelled || to == StatusPaymentFailed || to == StatusPaymentProcessed || to == StatusDeliveryStarted
	case StatusPaymentProcessed:
		return to == StatusDeliveryStarted
	case StatusDeliveryStarted:
		return to == StatusDeliveryDone
	}
	return false
}

// PaymentMethod is how the customer pays.
type PaymentMethod string

// The payment methods.
const (
	MethodCreditCard PaymentMethod = "CreditCard"
	MethodKakao      PaymentMethod = "Kakao"
)

// PaymentStatus is where a payment stands.
type PaymentStatus string

// The payment statuses.
const (
	PaymentPending  PaymentStatus = "Pending"
	PaymentRejected PaymentStatus = "Rejected"
	PaymentApproved PaymentStatus = "Approved"
	PaymentRefunded PaymentStatus = "Refunded"
	// PaymentVoided: never charged, and the processor refuses any later charge of the order.
	PaymentVoided PaymentStatus = "Voided"
)

// Address is where an order goes.
type Address struct {
	Name       string
	Street     string
	City       string
	PostalCode string
	Country    string
}

// Customer is the user who placed an order, as they were at the time.
type Customer struct {
	UserID string
	Email  string
	Name   string
}

// Line is a product of an order as it was when the order was placed.
type Line struct {
	ProductID string
	Name      string
	Price     int64 // unit price, minor units
	Quantity  int64
}

// PaymentSummary is the order's view of its payment: never any card data
// beyond the masked number.
type PaymentSummary struct {
	PaymentID        string
	Method           PaymentMethod
	Name             string
	Amount           int64
	Status           PaymentStatus
	MaskedCardNumber string
}

// Order is a stored order.
type Order struct {
	ID            string
	Customer      Customer
	Products      []Line
	Address       Address
	Status        Status
	Payment       PaymentSummary
	Total         int64  // sum of price × quantity, minor units
	FailureReason string // why it failed or was cancelled
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// Fingerprint identifies the request that made an order placed with an
	// idempotency key (a keyed hash: no card data in clear). Never shown.
	Fingerprint string
	// Outbox holds the side effects still due for the order. Never shown.
	Outbox Outbox
}

// Outbox is the side effects due after an order's transition, recorded in
// the same update and cleared one by one once done.
type Outbox struct {
	// Notify is the payment notification to send, set with PaymentProcessed.
	Notify *Notification
	// ReleaseStock asks to put the order's reservation back.
	ReleaseStock bool
	// Refund asks to refund a payment approved for an order that failed.
	Refund bool
}

// Empty reports whether nothing is due.
func (b Outbox) Empty() bool { return b.Notify == nil && !b.ReleaseStock && !b.Refund }

// Notification is the payment notification of an order.
type Notification struct {
	To     string // the customer's e-mail
	UserID string
}

// Item asks for Quantity units of a product.
type Item struct {
	ProductID string
	Quantity  int64
}

// PaymentDetails is what the customer pays with. The card fields go to the
// payment service and are never stored here; formatting it (fmt, slog) shows
// only the masked card number.
type PaymentDetails struct {
	Method              PaymentMethod
	Name                string
	CardNumber          string
	ExpiryYear          string
	ExpiryMonth         string
	BirthOrRegistration string
	PasswordTwoDigits   string
	Amount              int64
}

// String keeps card data out of logs and error messages.
func (p PaymentDetails) String() string {
	return fmt.Sprintf("{%s %q card %s amount %d}", p.Method, p.Name, MaskCardNumber(p.CardNumber), p.Amount)
}

// LogValue keeps card data out of structured logs.
func (p PaymentDetails) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("method", string(p.Method)),
		slog.String("card", MaskCardNumber(p.CardNumber)),
		slog.Int64("amount", p.Amount),
	)
}

// GoString keeps card data out of %#v.
func (p PaymentDetails) GoString() string { return p.String() }

// NewOrder is a request to place an order.
type NewOrder struct {
	// ProductIDs lists products, each occurrence one unit (the original's form).
	ProductIDs []string
	// Items lists products with quantities; added to ProductIDs.
	Items   []Item
	Address Address
	Payment PaymentDetails
	// IdempotencyKey makes the request safe to repeat: the same caller and
	// key get the same order. Optional.
	IdempotencyKey string
}

// Page is a page of orders.
type Page struct {
	Orders []Order
	// NextPageToken fetches the next page; empty on the last one.
	NextPageToken string
}

// Business errors. Messages built on them (fmt.Errorf("%w: ...")) are safe to
// show the caller.
var (
	// ErrInvalidArgument: the request is malformed (400 / InvalidArgument).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no such order, or not the caller's (404 / NotFound).
	ErrNotFound = errors.New("order not found")
	// ErrUserNotFound: the caller has no account (404 / NotFound).
	ErrUserNotFound = errors.New("user not found")
	// ErrProductNotFound: a requested product does not exist (404 / NotFound).
	ErrProductNotFound = errors.New("product not found")
	// ErrOutOfStock: not enough stock; the order is cancelled (409 / FailedPrecondition).
	ErrOutOfStock = errors.New("out of stock")
	// ErrPaymentDeclined: the payment was rejected; the order failed (402 / FailedPrecondition).
	ErrPaymentDeclined = errors.New("payment declined")
	// ErrIdempotencyKeyReused: the key was used for another request (422 / AlreadyExists).
	ErrIdempotencyKeyReused = errors.New("idempotency key already used for a different request")
	// ErrIllegalTransition: the order's status does not allow this (409 / FailedPrecondition).
	ErrIllegalTransition = errors.New("illegal order status transition")
	// ErrUnavailable: a dependency is down or its breaker open (503 / Unavailable).
	ErrUnavailable = errors.New("service unavailable")
	// ErrPaymentNotFound: the payment service has no payment for the order
	// (from Payments.GetPayment; the sweeper's "never paid").
	ErrPaymentNotFound = errors.New("payment not found")
)

// DeclinedError says the payment of an order was rejected.
type DeclinedError struct {
	OrderID string
	Reason  string
}

// Error implements error.
func (e *DeclinedError) Error() string {
	return fmt.Sprintf("payment declined for order %s: %s", e.OrderID, e.Reason)
}

// Is makes errors.Is(err, ErrPaymentDeclined) true.
func (e *DeclinedError) Is(target error) bool { return target == ErrPaymentDeclined }

// UnavailableError says a dependency could not be used.
type UnavailableError struct {
	// Dependency is the service that failed: "user", "product", "payment", "notification".
	Dependency string
	// Refused is true when the call never left this process (its circuit
	// breaker was open), so it certainly had no effect.
	Refused bool
	// RetryAfter is how long the breaker stays open (zero: unknown, or
	// half-open; the transports then advise one second).
	RetryAfter time.Duration
	// OrderID is the order that was stored before the failure, if any.
	OrderID string
	// Detail says what became of the order.
	Detail string
	// Err is the cause.
	Err error
}

// Error implements error; it never contains card data.
func (e *UnavailableError) Error() string {
	msg := e.Dependency + " service unavailable"
	if e.Refused {
		msg += " (circuit breaker open)"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Store keeps orders. Implementations make every method a single-document
// operation; MongoStore is the MongoDB one.
type Store interface {
	// Insert stores a new order; ErrDuplicateOrder if its ID is taken.
	Insert(ctx context.Context, o Order) error
	// Get returns an order, or ErrNotFound.
	Get(ctx context.Context, id string) (Order, error)
	// Transition moves an order from status from to status to, applying ch,
	// in one conditional update (only if the status is still from), and
	// returns the updated order. It returns ErrNotFound for an unknown order,
	// and the order as it stands with ErrStaleStatus when its status is not
	// from.
	Transition(ctx context.Context, id string, from, to Status, ch Change) (Order, error)
	// AddOutbox records more side effects due for an order, whatever its status.
	AddOutbox(ctx context.Context, id string, b Outbox) error
	// ClearOutbox removes the side effects set in b (done) from an order.
	ClearOutbox(ctx context.Context, id string, b Outbox) error
	// ListByCustomer returns up to limit of userID's orders, newest first,
	// starting after the order afterID (from the newest when empty).
	ListByCustomer(ctx context.Context, userID, afterID string, limit int) ([]Order, error)

	// InsertWork stores the work entry of an order (worker.go);
	// ErrDuplicateWork if the order has one.
	InsertWork(ctx context.Context, w Work) error
	// GetWork returns an order's work entry, or ErrNotFound.
	GetWork(ctx context.Context, orderID string) (Work, error)
	// UpdateWork sets the entry of w.OrderID to w if its revision is still
	// w.Rev, in one conditional update, and returns it with its new
	// revision; ErrWorkChanged if it was changed or deleted meanwhile.
	UpdateWork(ctx context.Context, w Work) (Work, error)
	// DeleteWork deletes the entry of w.OrderID if its revision is still
	// w.Rev; ErrWorkChanged otherwise.
	DeleteWork(ctx context.Context, w Work) error
	// ListWork returns the work entries due by dueBy; every one when dueBy
	// is zero. Its cost follows the work left, not the orders stored.
	ListWork(ctx context.Context, dueBy time.Time) ([]Work, error)
}

// Store errors.
var (
	// ErrDuplicateOrder: Insert found the ID taken.
	ErrDuplicateOrder = errors.New("order id already exists")
	// ErrStaleStatus: Transition found the order in another status.
	ErrStaleStatus = errors.New("order status changed")
	// ErrDuplicateWork: InsertWork found the order's entry there.
	ErrDuplicateWork = errors.New("order work entry already exists")
	// ErrWorkChanged: UpdateWork or DeleteWork found the entry at another
	// revision, or gone: another replica claimed or finished it.
	ErrWorkChanged = errors.New("order work entry changed")
)

// Work is an order's background work as the store keeps it: an entry exists
// while the order is Pending or has side effects due, and whoever holds its
// lease (Owner until LeaseUntil) is the one replica that may work on it.
type Work struct {
	OrderID    string
	Due        time.Time // not to be looked at before
	Owner      string    // the replica holding the lease; "" for none
	LeaseUntil time.Time // the lease's end: past it, any replica may claim the entry
	Attempts   int       // failed rounds of its side effects (the backoff)
	Rev        int64     // the revision: every write changes it
}

// Change is what a transition sets besides the status.
type Change struct {
	Payment       *PaymentSummary // nil: unchanged
	FailureReason string          // empty: unchanged
	Outbox        Outbox          // side effects now due
	Done          Outbox          // side effects done, cleared in the same update (unless Outbox sets them again)
	At            time.Time       // the new UpdatedAt
}

// User is what the order needs of a user.
type User struct {
	ID    string
	Email string
	Name  string
}

// Product is what the order needs of a product.
type Product struct {
	ID    string
	Name  string
	Price int64 // minor units
}

// PaymentRequest asks to charge an order.
type PaymentRequest struct {
	OrderID   string
	Details   PaymentDetails
	UserEmail string
}

// Payment is a payment as the payment service reports it.
type Payment struct {
	ID               string
	Status           PaymentStatus
	Method           PaymentMethod
	Amount           int64
	MaskedCardNumber string
	Reason           string // why it was rejected
}

// The dependencies, as the order service needs them. Their implementations
// (clients.go) return *UnavailableError when a dependency cannot be used,
// and the business errors named on each method.

// Users reads users.
type Users interface {
	// GetUser returns a user, or ErrUserNotFound.
	GetUser(ctx context.Context, userID string) (User, error)
}

// Products reads products and reserves their stock.
type Products interface {
	// GetProducts returns every product of ids, or ErrProductNotFound.
	GetProducts(ctx context.Context, ids []string) ([]Product, error)
	// ReserveStock takes stock for an order, all items or none; idempotent
	// per order. ErrOutOfStock or ErrProductNotFound when it cannot.
	ReserveStock(ctx context.Context, orderID string, items []Item) error
	// ReleaseStock puts an order's reservation back; idempotent, and a no-op
	// for an order without one.
	ReleaseStock(ctx context.Context, orderID string) error
}

// Payments charges orders.
type Payments interface {
	// MakePayment charges an order, at most once per order. A declined
	// payment is a Payment with status PaymentRejected, not an error;
	// ErrInvalidArgument when the payment details are refused.
	MakePayment(ctx context.Context, req PaymentRequest) (Payment, error)
	// GetPayment returns an order's payment, or ErrPaymentNotFound.
	GetPayment(ctx context.Context, orderID string) (Payment, error)
	// RefundPayment refunds an order's approved payment; idempotent.
	RefundPayment(ctx context.Context, orderID string) error
}

// Notifier sends order notifications.
type Notifier interface {
	// SendPaymentNotification tells the customer their order is paid; the
	// notification service dedupes it by order id.
	SendPaymentNotification(ctx context.Context, to, orderID, userID string) error
}

// Dependencies are the services the order service calls.
type Dependencies struct {
	Users    Users
	Products Products
	Payments Payments
	Notifier Notifier
}

// Limits of a request.
const (
	MaxQuantity        = 1000 // units of one product
	MaxProducts        = 100  // distinct products
	MaxProductIDs      = MaxProducts * 10
	maxIDLen           = 128
	maxKeyLen          = 255
	maxAddressFieldLen = 200
	maxPaymentFieldLen = 100
	DefaultPageSize    = 20
	MaxPageSize        = 100
)

// Options tune the service. Zero fields take the defaults.
//
// The recovery bound. An order's work entry (worker.go) is held by the
// replica creating it until OrderTimeout + the final update's limit (5s) +
// SweepGrace after its creation; then any live replica claims it within
// DispatchInterval and settles the order from its payment's state, which the
// payment service makes final (it voids a charge the processor never got,
// after its -void-after, which must be shorter than that hold). A replica
// that dies holding a claimed entry holds it at most Lease. So an order whose
// replica died is final at most
//
//	OrderTimeout + 5s + SweepGrace + DispatchInterval   (15s + 5s + 2s + 0.25s = 22.25s by default)
//
// after its creation, or Lease + DispatchInterval after a claim, as long as
// some replica runs and the payment service answers (each failed attempt
// waits SweepInterval). The flags of cmd/order and cmd/shop set every part.
type Options struct {
	// OrderTimeout bounds all the calls CreateOrder makes (default 15s).
	OrderTimeout time.Duration
	// SweepInterval is the wait before a Pending order left by its handler
	// is looked at again when its payment is still pending or the payment
	// service did not answer (default 2s).
	SweepInterval time.Duration
	// SweepGrace is added to OrderTimeout and the final store update's own
	// limit before another replica may touch a Pending order, so that it
	// never races a handler still at work (default 2s).
	SweepGrace time.Duration
	// Lease is how long a replica holds the work it claimed: past it,
	// another replica may take the work over (default 10s). A round of an
	// order's work stops its calls before its lease ends.
	Lease time.Duration
	// DispatchInterval is how often the worker looks for due work besides
	// being woken (default 250ms).
	DispatchInterval time.Duration
	// OutboxBackoff and OutboxBackoffMax bound the exponential backoff of a
	// failing side effect (defaults 500ms and 1m).
	OutboxBackoff    time.Duration
	OutboxBackoffMax time.Duration
	// DispatchConcurrency is how many orders' side effects run at once (default 8).
	DispatchConcurrency int
	// MaxConcurrentOrders bounds the CreateOrder calls at work at once
	// (default 64; negative: no bound). A call past it waits up to
	// AdmissionWait for a turn (default 1s), then fails with ErrUnavailable
	// and a retry advice, having done nothing: under more load than the
	// store can take, orders in progress keep their speed instead of all
	// slowing down until their calls time out half-way (an open loop at 200
	// orders/s against a capacity of ~150 served 61 orders/s without it).
	MaxConcurrentOrders int
	AdmissionWait       time.Duration
	// NotifyWithin is how long CreateOrder waits for the payment
	// notification of an approved order (default 250ms; negative: it does
	// not wait). Sent in time, the order goes from Pending to DeliveryStarted
	// in one store update; otherwise (late, failed, refused, the notification
	// service down) it becomes PaymentProcessed with the notification queued
	// for the dispatcher, as with a negative NotifyWithin. A notification
	// sent twice this way is one: the notification service keeps one per
	// order. The wait saves a store update per order (the PaymentProcessed
	// step) and the dispatcher's work, for the notification's round trip in
	// CreateOrder's latency.
	NotifyWithin time.Duration
	// RecordStatus is called each time an order reaches a status (metrics).
	RecordStatus func(Status)
	// Now is the clock of creation times, due times and leases (default time.Now).
	Now func() time.Time
	// Replica names this instance as the owner of the leases it takes
	// (default: random, new at every start).
	Replica string
}

// Defaults of Options.
const (
	DefaultOrderTimeout        = 15 * time.Second
	DefaultSweepInterval       = 2 * time.Second
	DefaultSweepGrace          = 2 * time.Second
	DefaultLease               = 10 * time.Second
	DefaultDispatchInterval    = 250 * time.Millisecond
	DefaultOutboxBackoff       = 500 * time.Millisecond
	DefaultOutboxBackoffMax    = time.Minute
	DefaultDispatchConcurrency = 8
	DefaultMaxConcurrentOrders = 64
	DefaultAdmissionWait       = time.Second
	DefaultNotifyWithin        = 250 * time.Millisecond
	// finalizeTimeout bounds the store update that settles an order after
	// its calls, which runs even when the order's deadline has passed.
	finalizeTimeout = 5 * time.Second
)

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.OrderTimeout, DefaultOrderTimeout)
	def(&o.SweepInterval, DefaultSweepInterval)
	def(&o.SweepGrace, DefaultSweepGrace)
	def(&o.Lease, DefaultLease)
	def(&o.DispatchInterval, DefaultDispatchInterval)
	def(&o.OutboxBackoff, DefaultOutboxBackoff)
	def(&o.OutboxBackoffMax, DefaultOutboxBackoffMax)
	if o.DispatchConcurrency <= 0 {
		o.DispatchConcurrency = DefaultDispatchConcurrency
	}
	if o.MaxConcurrentOrders == 0 {
		o.MaxConcurrentOrders = DefaultMaxConcurrentOrders
	}
	def(&o.AdmissionWait, DefaultAdmissionWait)
	if o.NotifyWithin == 0 {
		o.NotifyWithin = DefaultNotifyWithin
	}
	if o.RecordStatus == nil {
		o.RecordStatus = func(Status) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Orders is the order service: it implements Service and runs the worker
// that settles what handlers left and runs the side effects due (worker.go).
type Orders struct {
	store    Store
	deps     Dependencies
	opts     Options
	logger   *slog.Logger
	wake     chan struct{}
	draining atomic.Bool   // Drain was called: no new orders
	admitted chan struct{} // a slot per CreateOrder at work (Options.MaxConcurrentOrders); nil: no bound
}

// NewService returns the order service. logger nil discards the workers' logs.
func NewService(store Store, deps Dependencies, opts Options, logger *slog.Logger) (*Orders, error) {
	if store == nil || deps.Users == nil || deps.Products == nil || deps.Payments == nil || deps.Notifier == nil {
		return nil, errors.New("order: NewService needs a store and every dependency")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	s := &Orders{
		store:  store,
		deps:   deps,
		opts:   opts,
		logger: logger,
		wake:   make(chan struct{}, 1),
	}
	if s.opts.Replica == "" {
		s.opts.Replica = rand.Text()
	}
	if opts.MaxConcurrentOrders > 0 {
		s.admitted = make(chan struct{}, opts.MaxConcurrentOrders)
	}
	return s, nil
}

// RegisterFlags registers the flags of the Options a process sets: the parts
// of the recovery bound (-order-timeout, -sweep-interval, -sweep-grace,
// -lease, -dispatch-interval), admission (-max-concurrent-orders,
// -admission-wait) and -notify-within. cmd/order and cmd/shop share them.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.OrderTimeout, "order-timeout", DefaultOrderTimeout, "time limit of all the calls one order creation makes")
	fs.DurationVar(&o.SweepInterval, "sweep-interval", DefaultSweepInterval, "wait before a pending order left by its handler is looked at again, when its payment is still pending or the payment service does not answer")
	fs.DurationVar(&o.SweepGrace, "sweep-grace", DefaultSweepGrace, "extra hold, beyond -order-timeout and the final update's 5s, before another replica may settle a pending order")
	fs.DurationVar(&o.Lease, "lease", DefaultLease, "how long a replica holds the background work it claimed before another may take it over")
	fs.DurationVar(&o.DispatchInterval, "dispatch-interval", DefaultDispatchInterval, "how often the worker looks for due work (notifications, releases, refunds, pending orders left behind)")
	fs.IntVar(&o.MaxConcurrentOrders, "max-concurrent-orders", DefaultMaxConcurrentOrders, "most order creations at work at once; past it one waits up to -admission-wait for a turn, then gets 503 with Retry-After (negative: no bound)")
	fs.DurationVar(&o.AdmissionWait, "admission-wait", DefaultAdmissionWait, "longest wait of an order creation for a turn (see -max-concurrent-orders)")
	fs.DurationVar(&o.NotifyWithin, "notify-within", DefaultNotifyWithin, "how long an order creation waits for the payment notification before leaving it to the outbox (negative: always the outbox)")
}

// CheckFlags reports, through bad, each flag of RegisterFlags set to a value
// the service refuses.
func (o Options) CheckFlags(bad func(name, format string, args ...any)) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"order-timeout", o.OrderTimeout}, {"sweep-interval", o.SweepInterval}, {"sweep-grace", o.SweepGrace},
		{"lease", o.Lease}, {"dispatch-interval", o.DispatchInterval}, {"admission-wait", o.AdmissionWait}} {
		if d.v <= 0 {
			bad(d.name, "%s: must be positive", d.v)
		}
	}
	if o.MaxConcurrentOrders == 0 {
		bad("max-concurrent-orders", "must not be 0 (negative: no bound)")
	}
}

// ErrOverloaded is the cause of the ErrUnavailable a CreateOrder gets when
// no turn came within Options.AdmissionWait.
var ErrOverloaded = errors.New("too many orders in progress")

// ErrDraining is the cause of the ErrUnavailable a CreateOrder gets once the
// service is stopping (Drain): another replica takes it.
var ErrDraining = errors.New("the order service is stopping")

// Drain makes CreateOrder refuse new orders from now on, with ErrUnavailable
// (503 with Retry-After, gRPC Unavailable) and nothing done, while the orders
// in flight finish. The process calls it as its stop begins
// (rungroup.Group.Stopping); the worker hands its leases over when its
// context ends (RunWorker).
func (s *Orders) Drain() { s.draining.Store(true) }

// admit waits for a turn of CreateOrder and returns the function that gives
// it back (see Options.MaxConcurrentOrders). It refuses every order once
// Drain has been called.
func (s *Orders) admit(ctx context.Context) (func(), error) {
	if s.draining.Load() {
		return nil, &UnavailableError{Dependency: "order", RetryAfter: time.Second,
			Detail: "the service is stopping, nothing was done; retry", Err: ErrDraining}
	}
	if s.admitted == nil {
		return func() {}, nil
	}
	release := func() { <-s.admitted }
	select {
	case s.admitted <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(s.opts.AdmissionWait)
	defer t.Stop()
	select {
	case s.admitted <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &UnavailableError{Dependency: "order", RetryAfter: time.Second,
			Detail: "too many orders in progress, nothing was done; retry shortly", Err: ErrOverloaded}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

var _ Service = (*Orders)(nil)

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

// ErrInProgress is the cause of the ErrUnavailable a repeat of a request gets
// while the first one is still at work on the order.
var ErrInProgress = errors.New("a request with this idempotency key is in progress")

// holdWork takes the work entry of the order id for its handler, for
// holdFor: a new entry, or one left by a handler or worker whose lease is
// over (a repeat after a crash). It reports false when another holds the
// entry: the order is being created or worked on.
func (s *Orders) holdWork(ctx context.Context, id string) (Work, bool, error) {
	until := s.now().Add(s.holdFor())
	w := Work{OrderID: id, Due: until, Owner: s.opts.Replica, LeaseUntil: until}
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

// resumeForRepeat takes up the work of an order a repeat of its request
// found, holding its entry w, and returns the order as it then stands; if
// that cannot be done now (a dependency down), the order as it was, the
// entry left to the worker.
func (s *Orders) resumeForRepeat(ctx context.Context, w *Work, o Order) Order {
	now, err := s.resume(ctx, w, o)
	if err != nil {
		s.logger.WarnContext(ctx, "repeat: the order's work is left to the worker", "order", o.ID, "err", err)
		return o
	}
	if !now.Outbox.Empty() { // its side effects ran: how does it stand now?
		if cur, err := s.store.Get(ctx, o.ID); err == nil {
			return cur
		}
	}
	return now
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

// replayOr answers a request that failed with err before its insert. A
// repeat of a keyed request whose order exists gets that order (or
// ErrIdempotencyKeyReused), as if its insert had found it: the order stands
// even when it could not be made again now (a user or product gone, a price
// changed, a dependency down). Only such failures read the store.
func (s *Orders) replayOr(ctx context.Context, key, id, fingerprint string, err error) (Order, bool, error) {
	if key == "" {
		return Order{}, false, err
	}
	prev, gerr := s.store.Get(ctx, id)
	if gerr != nil {
		return Order{}, false, err // no such order (a first request), or the first failure says more
	}
	return replay(prev, fingerprint)
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
		if terr != nil {
			if errors.Is(terr, ErrStaleStatus) {
				return Order{}, fmt.Errorf("%w: order %s became %s while its payment was approved; the payment will be refunded",
					ErrIllegalTransition, o.ID, done.Status)
			}
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
		s.leaveWork(ctx, w, s.opts.SweepInterval)
		return o, nil
	case errors.As(err, &unavailable):
		s.leaveWork(ctx, w, s.opts.SweepInterval)
		return Order{}, withOrder(unavailable, o.ID, "the outcome of the payment of order "+o.ID+" is not known yet; the order will be settled shortly")
	default:
		// An answer the payment service should not give (e.g. AlreadyExists):
		// leave the order to the worker, which asks for the payment's state.
		s.leaveWork(ctx, w, s.opts.SweepInterval)
		return Order{}, fmt.Errorf("order %s: payment: %w", o.ID, err)
	}
}

// notifyNow sends the payment notification of o, whose payment was just
// approved, within Options.NotifyWithin, and reports whether it was sent.
// When it was not, the dispatcher sends it (an attempt that arrived late is
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

// withOrder returns a copy of e naming the stored order and its fate.
func withOrder(e *UnavailableError, orderID, detail string) *UnavailableError {
	c := *e
	c.OrderID = orderID
	c.Detail = detail
	return &c
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
	o, err := s.store.Transition(ctx, id, StatusPending, to, ch)
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

// DeliveryStarted moves a PaymentProcessed order to DeliveryStarted, in one
// conditional update without a read first. An order already there is
// returned as it is; any other status is ErrIllegalTransition. The order
// service starts delivery itself once the payment notification is sent
// (runOutbox); this method is the public contract of the original system,
// for an operator or an outside caller. It leaves the outbox alone: a
// payment notification not sent yet is still sent, and then only cleared.
func (s *Orders) DeliveryStarted(ctx context.Context, orderID string) (Order, error) {
	if err := checkID("id", orderID); err != nil {
		return Order{}, err
	}
	done, err := s.store.Transition(ctx, orderID, StatusPaymentProcessed, StatusDeliveryStarted, Change{At: s.now()})
	if errors.Is(err, ErrStaleStatus) {
		if done.Status == StatusDeliveryStarted {
			return done, nil // a repeat, or the dispatcher or a concurrent call won
		}
		return Order{}, fmt.Errorf("%w: order %s is %s, not %s", ErrIllegalTransition, orderID, done.Status, StatusPaymentProcessed)
	}
	if err != nil {
		return Order{}, err
	}
	s.opts.RecordStatus(StatusDeliveryStarted)
	return done, nil
}

// GetOrder returns one of userID's orders.
func (s *Orders) GetOrder(ctx context.Context, userID, orderID string) (Order, error) {
	if err := checkID("id", orderID); err != nil {
		return Order{}, err
	}
	o, err := s.store.Get(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	if o.Customer.UserID != userID {
		return Order{}, ErrNotFound // do not reveal that it exists
	}
	return o, nil
}

// ListOrders pages through userID's orders, newest first. pageSize 0 means
// DefaultPageSize; more than MaxPageSize is MaxPageSize.
func (s *Orders) ListOrders(ctx context.Context, userID string, pageSize int, pageToken string) (Page, error) {
	switch {
	case pageSize < 0:
		return Page{}, fmt.Errorf("%w: pageSize must not be negative", ErrInvalidArgument)
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	var after string
	if pageToken != "" {
		var err error
		if after, err = decodePageToken(pageToken); err != nil {
			return Page{}, err
		}
	}
	orders, err := s.store.ListByCustomer(ctx, userID, after, pageSize+1)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if len(orders) > pageSize {
		orders = orders[:pageSize]
		page.NextPageToken = encodePageToken(orders[pageSize-1].ID)
	}
	page.Orders = orders
	return page, nil
}

// now is the service clock, at the store's precision (milliseconds), in UTC.
func (s *Orders) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

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

// validate checks the request, its payment part at time now, and returns its
// items: the units of ProductIDs and the Items merged by product, in
// first-seen order.
func (r NewOrder) validate(now time.Time) ([]Item, error) {
	bad := func(format string, args ...any) ([]Item, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
	}
	if len(r.ProductIDs) > MaxProductIDs {
		return bad("productIds has more than %d entries", MaxProductIDs)
	}
	if len(r.Items) > MaxProducts {
		return bad("items has more than %d entries", MaxProducts)
	}
	var items []Item
	index := make(map[string]int)
	add := func(field, id string, q int64) error {
		if err := checkID(field, id); err != nil {
			return err
		}
		if q < 1 || q > MaxQuantity {
			return fmt.Errorf("%w: %s: quantity must be between 1 and %d", ErrInvalidArgument, field, MaxQuantity)
		}
		i, ok := index[id]
		if !ok {
			if len(items) == MaxProducts {
				return fmt.Errorf("%w: an order holds at most %d different products", ErrInvalidArgument, MaxProducts)
			}
			index[id] = len(items)
			items = append(items, Item{ProductID: id})
			i = len(items) - 1
		}
		items[i].Quantity += q
		if items[i].Quantity > MaxQuantity {
			return fmt.Errorf("%w: product %s: quantity must be between 1 and %d", ErrInvalidArgument, id, MaxQuantity)
		}
		return nil
	}
	for i, id := range r.ProductIDs {
		if err := add(fmt.Sprintf("productIds[%d]", i), id, 1); err != nil {
			return nil, err
		}
	}
	for i, it := range r.Items {
		if err := add(fmt.Sprintf("items[%d]", i), it.ProductID, it.Quantity); err != nil {
			return nil, err
		}
	}
	if len(items) == 0 {
		return bad("the order has no products (productIds or items)")
	}
	a := r.Address
	for _, f := range []struct{ name, value string }{
		{"address.name", a.Name}, {"address.street", a.Street}, {"address.city", a.City},
		{"address.postalCode", a.PostalCode}, {"address.country", a.Country},
	} {
		if err := checkText(f.name, f.value, maxAddressFieldLen, true); err != nil {
			return nil, err
		}
	}
	if err := r.Payment.validate(now); err != nil {
		return nil, err
	}
	if k := r.IdempotencyKey; len(k) > maxKeyLen || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return bad("the idempotency key must be at most %d printable ASCII characters", maxKeyLen)
	}
	return items, nil
}

// checkID checks a product or order id.
func checkID(field, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("%w: %s must not be empty", ErrInvalidArgument, field)
	}
	if len(id) > maxIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("%w: %s is not a valid id", ErrInvalidArgument, field)
	}
	return nil
}

// checkText checks a free-text field.
func checkText(field, v string, maxLen int, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalidArgument, field)
	}
	if len(v) > maxLen || !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s must be valid text of at most %d bytes", ErrInvalidArgument, field, maxLen)
	}
	return nil
}

// identify returns the order id and, for a request with an idempotency key,
// its fingerprint. With a key, the id is derived from the caller and the key,
// so the store's unique _id decides which of concurrent repeats creates the
// order; without, it is random. The fingerprint is an HMAC of the normalized
// request keyed by a hash of the caller and key: equal requests give equal
// fingerprints, and the card data cannot be recovered from it without the
// key, which is not stored.
func identify(userID string, r NewOrder, items []Item) (id, fingerprint string, err error) {
	if r.IdempotencyKey == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", "", err
		}
		return hex.EncodeToString(b), "", nil
	}
	idSum := sha256.Sum256([]byte("kitshop/order/id\x00" + userID + "\x00" + r.IdempotencyKey))
	macKey := sha256.Sum256([]byte("kitshop/order/fingerprint\x00" + userID + "\x00" + r.IdempotencyKey))
	canonical, err := json.Marshal(struct {
		Items   []Item
		Address Address
		Payment PaymentDetails
	}{items, r.Address, r.Payment})
	if err != nil {
		return "", "", err
	}
	mac := hmac.New(sha256.New, macKey[:])
	mac.Write(canonical)
	return hex.EncodeToString(idSum[:16]), hex.EncodeToString(mac.Sum(nil)), nil
}

// replay answers a repeat of an idempotent request.
func replay(prev Order, fingerprint string) (Order, bool, error) {
	if !hmac.Equal([]byte(prev.Fingerprint), []byte(fingerprint)) {
		return Order{}, false, fmt.Errorf("%w (order %s)", ErrIdempotencyKeyReused, prev.ID)
	}
	return prev, true, nil
}

// MaskCardNumber returns "**** **** **** 1234" for a card number (its last
// four digits), or "" when it has fewer than four digits.
func MaskCardNumber(card string) string {
	var last [4]byte
	n := 0
	for i := len(card) - 1; i >= 0 && n < 4; i-- {
		if c := card[i]; c >= '0' && c <= '9' {
			n++
			last[4-n] = c
		}
	}
	if n < 4 {
		return ""
	}
	return "**** **** **** " + string(last[:])
}

// pageToken is the content of an opaque page token: the last order shown.
type pageToken struct {
	After string `json:"a"`
}

func encodePageToken(afterID string) string {
	b, _ := json.Marshal(pageToken{After: afterID}) // cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.After == "" || len(t.After) > maxIDLen {
		return "", fmt.Errorf("%w: pageToken is not a token this service gave", ErrInvalidArgument)
	}
	return t.After, nil
}
