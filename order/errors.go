package order

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kitshop/kitshop/internal/errtable"
	"github.com/kitshop/kitshop/internal/token"
)

// Business errors. Messages built on them (fmt.Errorf("%w: ...")) are safe to
// show the caller. What each becomes on the wire is in errorTable.
var (
	// ErrInvalidArgument: the request is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no such order, or not the caller's.
	ErrNotFound = errors.New("order not found")
	// ErrUserNotFound: the caller has no account.
	ErrUserNotFound = errors.New("user not found")
	// ErrProductNotFound: a requested product does not exist.
	ErrProductNotFound = errors.New("product not found")
	// ErrOutOfStock: not enough stock; the order is cancelled.
	ErrOutOfStock = errors.New("out of stock")
	// ErrPaymentDeclined: the payment was rejected; the order failed.
	ErrPaymentDeclined = errors.New("payment declined")
	// ErrIdempotencyKeyReused: the key was used for another request.
	ErrIdempotencyKeyReused = errors.New("idempotency key already used for a different request")
	// ErrIllegalTransition: the order's status does not allow this (the
	// state machine: Status.CanMoveTo).
	ErrIllegalTransition = errors.New("illegal order status transition")
	// ErrUnavailable: a dependency is down or its breaker open, or the
	// service is overloaded or stopping (*UnavailableError says which).
	ErrUnavailable = errors.New("service unavailable")
)

// The causes of an ErrUnavailable (the Err of its *UnavailableError): its
// table entry, not theirs, decides what the caller sees.
var (
	// ErrOverloaded: no turn came within Options.AdmissionWait.
	ErrOverloaded = errors.New("too many orders in progress")
	// ErrDraining: the service is stopping (Drain); another replica takes
	// the order.
	ErrDraining = errors.New("the order service is stopping")
	// ErrInProgress: a repeat of a request came while the first one is
	// still at work on the order.
	ErrInProgress = errors.New("a request with this idempotency key is in progress")
)

// Errors that never leave the service: the payment service's answer the
// sweeper reads, and the store's. Were one to reach a transport it would be
// an infrastructure failure (500 / Internal).
var (
	// ErrPaymentNotFound: the payment service has no payment for the order
	// (from Payments.GetPayment; the sweeper's "never paid").
	ErrPaymentNotFound = errors.New("payment not found")
	// ErrDuplicateOrder: Store.Insert found the ID taken.
	ErrDuplicateOrder = errors.New("order id already exists")
	// ErrStaleStatus: Store.Transition found the order in another status.
	ErrStaleStatus = errors.New("order status changed")
	// ErrDuplicateWork: Store.InsertWork found the order's entry there.
	ErrDuplicateWork = errors.New("order work entry already exists")
	// ErrWorkChanged: Store.UpdateWork or DeleteWork found the entry at
	// another revision, or gone: another replica claimed or finished it.
	ErrWorkChanged = errors.New("order work entry changed")
)

// errorDomain is the domain of the errdetails.ErrorInfo this service attaches.
const errorDomain = "order.kitshop"

// errorTable is THE table of the order service's errors: endpoints (split),
// the observing middleware (outcome) and both transports read it. Every
// business error above has its entry; the token and context errors follow
// (errtable.Shared). The outcome label is the HTTP code unless said.
var errorTable = errtable.New(
	errtable.Entry{Err: ErrInvalidArgument, GRPC: codes.InvalidArgument, HTTP: http.StatusBadRequest,
		Code: "invalid_argument", Business: true},
	errtable.Entry{Err: token.ErrForbidden, GRPC: codes.PermissionDenied, HTTP: http.StatusForbidden,
		Code: "permission_denied", Business: true,
		Headers: func(_ error, h http.Header) {
			h.Set("WWW-Authenticate", `Bearer realm="kitshop", error="insufficient_scope"`)
		}},
	errtable.Entry{Err: ErrNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "not_found", Business: true},
	errtable.Entry{Err: ErrUserNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "user_not_found", Outcome: "not_found", Business: true},
	errtable.Entry{Err: ErrProductNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "product_not_found", Outcome: "not_found", Business: true},
	errtable.Entry{Err: ErrOutOfStock, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict,
		Code: "out_of_stock", Business: true},
	errtable.Entry{Err: ErrPaymentDeclined, GRPC: codes.FailedPrecondition, HTTP: http.StatusPaymentRequired,
		Code: "payment_declined", Business: true, Details: declinedDetails},
	errtable.Entry{Err: ErrIllegalTransition, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict,
		Code: "failed_precondition", Business: true},
	errtable.Entry{Err: ErrIdempotencyKeyReused, GRPC: codes.AlreadyExists, HTTP: http.StatusUnprocessableEntity,
		Code: "idempotency_key_reused", Outcome: "already_exists", Business: true},
	errtable.Entry{Err: ErrUnavailable, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable,
		Code: "unavailable", Business: true, Headers: unavailableHeaders, Details: unavailableDetails},
)

// declinedDetails: a declined payment carries an errdetails.ErrorInfo
// (reason PAYMENT_DECLINED, metadata orderId and reason).
func declinedDetails(err error) []protoadapt.MessageV1 {
	var declined *DeclinedError
	if !errors.As(err, &declined) {
		return nil
	}
	return []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: "PAYMENT_DECLINED", Domain: errorDomain,
		Metadata: map[string]string{"orderId": declined.OrderID, "reason": declined.Reason}}}
}

// unavailableDetails: an unavailable dependency carries an ErrorInfo
// (DEPENDENCY_UNAVAILABLE, metadata dependency, and orderId if one was
// stored) and an errdetails.RetryInfo (retryAfter).
func unavailableDetails(err error) []protoadapt.MessageV1 {
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) {
		return nil
	}
	md := map[string]string{"dependency": unavailable.Dependency}
	if unavailable.OrderID != "" {
		md["orderId"] = unavailable.OrderID
	}
	return []protoadapt.MessageV1{
		&errdetails.ErrorInfo{Reason: "DEPENDENCY_UNAVAILABLE", Domain: errorDomain, Metadata: md},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter(unavailable.RetryAfter))},
	}
}

// unavailableHeaders: an unavailable dependency gets Retry-After (retryAfter).
func unavailableHeaders(err error, h http.Header) {
	var unavailable *UnavailableError
	if errors.As(err, &unavailable) {
		h.Set("Retry-After", strconv.FormatInt(int64(retryAfter(unavailable.RetryAfter)/time.Second), 10))
	}
}

// retryAfter rounds a breaker's remaining open time up to whole seconds, at
// least one: what a client should wait.
func retryAfter(d time.Duration) time.Duration {
	return max(time.Second, (d+time.Second-1)/time.Second*time.Second)
}

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
	// Dependency is the service that failed: "user", "product", "payment",
	// "notification", or "order" itself (overloaded, stopping, busy with
	// the same request).
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

// withOrder returns a copy of e naming the stored order and its fate.
func withOrder(e *UnavailableError, orderID, detail string) *UnavailableError {
	c := *e
	c.OrderID = orderID
	c.Detail = detail
	return &c
}
