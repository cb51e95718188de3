package notification

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable"
)

// Business errors. Every error the service returns for a request it refuses,
// or cannot serve now, matches one of them under errors.Is; errorTable says
// what each means to the transports and the metrics, and anything else is an
// infrastructure failure. Their messages are safe to show a client.
var (
	// ErrInvalidArgument means a request field is missing or malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound means there is no notification for the order (for this user).
	ErrNotFound = errors.New("notification not found")
	// ErrConflict means the order's notification exists for another
	// recipient or user.
	ErrConflict = errors.New("a notification for this order exists with another recipient or user")
	// ErrSendFailed means the message could not be sent now; the
	// notification stays Pending and a retry sends it.
	ErrSendFailed = errors.New("the notification could not be sent, retry later")
	// ErrInProgress means another caller is sending the order's notification
	// right now; a retry returns the outcome.
	ErrInProgress = errors.New("the notification of this order is being sent, retry later")
)

// ErrDuplicate is the Store's answer to inserting an existing order's
// notification. The service never returns it, so errorTable does not list it.
var ErrDuplicate = errors.New("notification exists")

// errorTable is the notification service's error table (internal/errtable),
// read by the endpoints (Table.Split), the observing middleware (outcomes)
// and both transports. ErrSendFailed and ErrInProgress are Unavailable: the
// notification is not sent yet, and the caller (the order service's outbox)
// must retry. The token's and the context's errors are the shared entries
// errtable.New appends.
var errorTable = errtable.New(
	errtable.Entry{Err: ErrInvalidArgument, GRPC: codes.InvalidArgument, HTTP: http.StatusBadRequest,
		Code: "invalid_argument", Business: true},
	errtable.Entry{Err: ErrNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "not_found", Business: true},
	errtable.Entry{Err: ErrConflict, GRPC: codes.AlreadyExists, HTTP: http.StatusConflict,
		Code: "already_exists", Outcome: "conflict", Business: true},
	errtable.Entry{Err: ErrSendFailed, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable,
		Code: "unavailable", Business: true},
	errtable.Entry{Err: ErrInProgress, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable,
		Code: "unavailable", Business: true},
)

// invalid returns ErrInvalidArgument naming the problems found, or nil.
func invalid(problems ...string) error {
	var found []string
	for _, p := range problems {
		if p != "" {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidArgument, strings.Join(found, "; "))
}

// sendFailedError is a failed send: ErrSendFailed with its cause. Its
// message, for the log, names the cause; over gRPC it answers with
// ErrSendFailed's status and message only, since the Sender's error may name
// mail servers (no HTTP route sends).
type sendFailedError struct{ cause error }

func (e *sendFailedError) Error() string { return ErrSendFailed.Error() + ": " + e.cause.Error() }

func (e *sendFailedError) Unwrap() []error { return []error{ErrSendFailed, e.cause} }

// GRPCStatus is what grpc-go sends the client: ErrSendFailed as errorTable
// answers it.
func (e *sendFailedError) GRPCStatus() *status.Status {
	return status.Convert(errorTable.GRPCStatus(ErrSendFailed))
}

// isContextError reports whether err comes from a context ending.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
