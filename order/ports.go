package order

import (
	"context"
	"time"

	"github.com/kitshop/kitshop/internal/grpcclient"
)

// Store keeps orders. Implementations make every method a single-document
// operation; MongoStore is the MongoDB one.
type Store interface {
	// Insert stores a new order and lists it under its customer
	// (ListByCustomer); ErrDuplicateOrder if its ID is taken. Another error
	// may leave the order stored but not listed: ListOrder lists it. An
	// order in a status not atWork (none a creation makes) is listed under
	// its status (ListByStatus) before it is stored.
	Insert(ctx context.Context, o Order) error
	// ListOrder lists the stored order o under its customer unless the
	// customer's newest listed orders hold it already (a repeat after a
	// failed Insert, or after a crash within one).
	ListOrder(ctx context.Context, o Order) error
	// Get returns an order, or ErrNotFound.
	Get(ctx context.Context, id string) (Order, error)
	// GetMany returns the orders of ids that exist, by id, read as a
	// listing reads them; its cost follows len(ids).
	GetMany(ctx context.Context, ids []string) (map[string]Order, error)
	// Transition moves an order from status from to status to, applying ch,
	// in one conditional update (only if the status is still from), and
	// returns the updated order. It returns ErrNotFound for an unknown order,
	// and the order as it stands with ErrStaleStatus when its status is not
	// from. It lists the order under to (ListByStatus) before the update, so
	// that an order is never in a status without being listed there; a
	// status atWork is listed by the order's work entry instead.
	Transition(ctx context.Context, id string, from, to Status, ch Change) (Order, error)
	// AddOutbox records more side effects due for an order, whatever its status.
	AddOutbox(ctx context.Context, id string, b Outbox) error
	// ClearOutbox removes the side effects set in b (done) from an order.
	ClearOutbox(ctx context.Context, id string, b Outbox) error
	// ListByCustomer returns up to limit of userID's orders, newest first,
	// from the position from of the customer's list (the newest when
	// negative), and the position of the next page, -1 when none follows.
	// Positions do not change when orders are added. Its cost follows limit,
	// not the orders stored.
	ListByCustomer(ctx context.Context, userID string, from int64, limit int) (orders []Order, next int64, err error)
	// ListByStatus returns up to limit of the orders now in status st,
	// newest first by the time they entered it, from the position from of
	// the status's list (the newest when negative), and the position of the
	// next page, -1 when none follows. It reads past the orders that have
	// moved on until the page is full or the list ends, but reads at most
	// maxStatusScan of the list's entries: a page may then be short, with a
	// next page (status_list.go). Positions do not change when orders are
	// added. For a status atWork, the orders are those of the work entries
	// and positions are offsets among them (atWorkPage).
	ListByStatus(ctx context.Context, st Status, from int64, limit int) (orders []Order, next int64, err error)

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
	// LastError is why the last round that failed left the entry (a
	// dependency down, the store failing), "" while none did.
	LastError string
	// Trace is the W3C traceparent of the span that inserted the entry (the
	// request that caused the work), "" for none: the worker's span for the
	// entry continues that trace (work_trace.go). Set at the insert only.
	Trace string
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

// Breakers reports the circuit breakers of the clients of the dependencies:
// *grpcclient.Metrics, whose clients NewDependencies makes.
type Breakers interface {
	Breakers() []grpcclient.BreakerState
}

// Dependencies are the services the order service calls.
type Dependencies struct {
	Users    Users
	Products Products
	Payments Payments
	Notifier Notifier
	// Breakers are the breakers of the clients above; nil reports none
	// (fakes without breakers).
	Breakers Breakers
}
