package payment

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable"
	"github.com/kitshop/kitshop/internal/token"
)

// Business errors of the Service. Every error it returns for a request it
// refuses matches one of them under errors.Is; errorTable says what each
// means to the transports and the metrics, and anything else is an
// infrastructure failure. Their messages are safe to show a client.
var (
	// ErrInvalidArgument is matched by every *ValidationError.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the order has no payment.
	ErrNotFound = errors.New("no payment exists for this order")
	// ErrConflict: the order already has a payment with another amount, card
	// or method.
	ErrConflict = errors.New("this order already has a payment with another amount, card or payment method")
	// ErrNotRefundable: the payment is not Approved; the error wrapping it
	// says why.
	ErrNotRefundable = errors.New("the payment cannot be refunded")
	// ErrProcessorUnavailable: the processor failed; the payment is unchanged
	// and the call may be repeated. It is an infrastructure failure (the
	// endpoint's error), with an entry of its own so that its callers see
	// Unavailable, not Internal.
	ErrProcessorUnavailable = errors.New("the card processor is unavailable; retry later")
)

// ErrDuplicate is returned by [Store.Create] when the order already has a
// payment. The Service never returns it, so errorTable does not list it.
var ErrDuplicate = errors.New("payment: the order already has a stored payment")

// errorTable is the payment service's error table (internal/errtable), read
// by the endpoints (Table.Split), the observing middleware (outcomes) and
// both transports. The token's and the context's errors are the shared
// entries errtable.New appends.
var errorTable = errtable.New(
	errtable.Entry{Err: ErrInvalidArgument, GRPC: codes.InvalidArgument, HTTP: http.StatusBadRequest,
		Code: "invalid_argument", Business: true},
	errtable.Entry{Err: ErrNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "not_found", Business: true},
	errtable.Entry{Err: ErrConflict, GRPC: codes.AlreadyExists, HTTP: http.StatusConflict,
		Code: "conflict", Outcome: "already_exists", Business: true},
	errtable.Entry{Err: ErrNotRefundable, GRPC: codes.FailedPrecondition, HTTP: http.StatusPreconditionFailed,
		Code: "failed_precondition", Business: true},
	errtable.Entry{Err: ErrProcessorUnavailable, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable,
		Code: "unavailable"},
	// The admin check of the HTTP route: a valid token without the admin role.
	errtable.Entry{Err: token.ErrForbidden, GRPC: codes.PermissionDenied, HTTP: http.StatusForbidden,
		Code: "permission_denied", Business: true},
)

// ValidationError is a request that cannot be served as it is. It matches
// ErrInvalidArgument. Its message names the field and never contains card
// data.
type ValidationError struct {
	// Field is the request field at fault, as named in JSON (e.g. "cardNumber").
	Field string
	// Msg is the whole message, e.g. "amount must be greater than 0".
	Msg string
}

// Error returns the message.
func (e *ValidationError) Error() string { return e.Msg }

// Is reports whether target is ErrInvalidArgument.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidArgument }

func invalid(field, msg string) *ValidationError { return &ValidationError{Field: field, Msg: msg} }

// processorUnavailableError is a processor failure: ErrProcessorUnavailable
// with its cause. Its message, for the log, names the cause; over gRPC it
// answers with ErrProcessorUnavailable's status and message only, since the
// cause may name the processor's hosts (no HTTP route returns it).
type processorUnavailableError struct{ cause error }

func (e *processorUnavailableError) Error() string {
	return ErrProcessorUnavailable.Error() + ": " + e.cause.Error()
}

func (e *processorUnavailableError) Unwrap() []error {
	return []error{ErrProcessorUnavailable, e.cause}
}

// GRPCStatus is what grpc-go sends the client: ErrProcessorUnavailable as
// errorTable answers it.
func (e *processorUnavailableError) GRPCStatus() *status.Status {
	return status.Convert(errorTable.GRPCStatus(ErrProcessorUnavailable))
}

// processorError passes context errors on (the outcome is unknown and the
// payment stays as it was) and makes any other failure
// ErrProcessorUnavailable.
func processorError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return &processorUnavailableError{cause: err}
}
