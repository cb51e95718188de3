// Package errtable is the one place a kitshop service says what each of its
// errors means: the gRPC code, the HTTP status and machine code, the metric
// outcome, and whether it is a business failure (it rides in a response, see
// go-kit's endpoint.Failer) or an infrastructure one (the endpoint's own
// error). Endpoints, the observing middleware and both transports read the
// same Table, so an error is declared once, in the service's errors file, and
// mapped once, in its table.
//
// A Table always ends with the entries every service shares (Shared): the
// access token's errors and the context's. An error no entry matches is an
// infrastructure failure: codes.Internal, HTTP 500 with a generic message,
// outcome "error".
package errtable

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/kitshop/kitshop/internal/token"
)

// Entry maps the errors that match Err (errors.Is) to what the transports
// and the metrics say about them.
type Entry struct {
	// Err is the sentinel error of the entry.
	Err error
	// GRPC is the status code of the gRPC answer.
	GRPC codes.Code
	// HTTP is the status of the HTTP answer; 0 leaves the error to
	// httpserver.EncodeError as it is (the context's errors: 504 and 499).
	HTTP int
	// Code is the stable machine code of the HTTP error body
	// ({"error":{"code":...}}), e.g. "out_of_stock".
	Code string
	// Outcome is the "outcome" label of the call metrics and the logs; empty
	// means Code.
	Outcome string
	// Business says the error is a business failure: it rides in the
	// response (endpoint.Failer), and a call that ends with it is not a
	// fault of the service. Otherwise it is the endpoint's error.
	Business bool
	// Headers, if set, adds HTTP headers for err (Retry-After,
	// WWW-Authenticate, ...).
	Headers func(err error, h http.Header)
	// Details, if set, returns the gRPC status details for err
	// (errdetails.ErrorInfo, errdetails.RetryInfo, ...).
	Details func(err error) []protoadapt.MessageV1
}

// outcome is the entry's metric label.
func (e *Entry) outcome() string {
	if e.Outcome != "" {
		return e.Outcome
	}
	return e.Code
}

// Table is a service's error table; the first entry that matches wins.
type Table struct {
	entries []Entry
}

// New returns the table of entries followed by Shared.
func New(entries ...Entry) *Table {
	all := make([]Entry, 0, len(entries)+len(Shared))
	all = append(all, entries...)
	all = append(all, Shared...)
	return &Table{entries: all}
}

// Outcomes returned for calls no entry explains.
const (
	OutcomeOK    = "ok"
	OutcomeError = "error"
)

// Shared are the entries at the end of every table: the access token's
// errors, checked by every service's endpoints, and the context's.
// token.ErrKeysUnavailable carries its own gRPC status and HTTP answer
// (503 with Retry-After); its entry only names its outcome.
var Shared = []Entry{
	{Err: token.ErrKeysUnavailable, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable, Code: "unavailable", Business: true},
	{Err: token.ErrMissingToken, GRPC: codes.Unauthenticated, HTTP: http.StatusUnauthorized, Code: "unauthenticated",
		Outcome: "invalid_token", Business: true, Headers: challenge(`Bearer realm="kitshop"`)},
	{Err: token.ErrExpired, GRPC: codes.Unauthenticated, HTTP: http.StatusUnauthorized, Code: "token_expired",
		Outcome: "invalid_token", Business: true,
		Headers: challenge(`Bearer realm="kitshop", error="invalid_token", error_description="expired"`)},
	{Err: token.ErrInvalidToken, GRPC: codes.Unauthenticated, HTTP: http.StatusUnauthorized, Code: "invalid_token",
		Business: true, Headers: challenge(`Bearer realm="kitshop", error="invalid_token"`)},
	{Err: context.DeadlineExceeded, GRPC: codes.DeadlineExceeded, Code: "deadline_exceeded"},
	{Err: context.Canceled, GRPC: codes.Canceled, Code: "canceled"},
}

// challenge returns a Headers that sets WWW-Authenticate (RFC 6750 §3).
func challenge(value string) func(error, http.Header) {
	return func(_ error, h http.Header) { h.Set("WWW-Authenticate", value) }
}

// Lookup returns the first entry that matches err, or nil.
func (t *Table) Lookup(err error) *Entry {
	if err == nil {
		return nil
	}
	for i := range t.entries {
		if errors.Is(err, t.entries[i].Err) {
			return &t.entries[i]
		}
	}
	return nil
}

// Outcome is the metric label of a call that ended with err: OutcomeOK for
// nil, the entry's outcome, or OutcomeError.
func (t *Table) Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	if e := t.Lookup(err); e != nil {
		return e.outcome()
	}
	return OutcomeError
}

// Outcomes lists every outcome the table can give, OutcomeOK and
// OutcomeError included, each once.
func (t *Table) Outcomes() []string {
	seen := map[string]bool{OutcomeOK: true, OutcomeError: true}
	out := []string{OutcomeOK}
	for i := range t.entries {
		if o := t.entries[i].outcome(); !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return append(out, OutcomeError)
}

// IsBusiness reports whether err is a business failure.
func (t *Table) IsBusiness(err error) bool {
	e := t.Lookup(err)
	return e != nil && e.Business
}

// Split sorts the error a service method returned into a business failure,
// for the response, or an infrastructure failure, for the endpoint's error.
func (t *Table) Split(err error) (business, infra error) {
	if err == nil {
		return nil, nil
	}
	if t.IsBusiness(err) {
		return err, nil
	}
	return nil, err
}

// GRPCStatus returns the gRPC status error of err: its own status if it has
// one (GRPCStatus method), else the entry's code with the error's message
// and the entry's details, else an error that grpc-go sends as
// codes.Internal with a generic message while its Error() keeps the cause,
// for the server's logging interceptor (the cause is for the log, never the
// client).
func (t *Table) GRPCStatus(err error) error {
	if err == nil {
		return nil
	}
	var own interface{ GRPCStatus() *status.Status }
	if errors.As(err, &own) {
		return own.GRPCStatus().Err()
	}
	e := t.Lookup(err)
	if e == nil {
		return internalError{cause: err}
	}
	st := status.New(e.GRPC, err.Error())
	if e.Details != nil {
		if details := e.Details(err); len(details) > 0 {
			if withDetails, derr := st.WithDetails(details...); derr == nil {
				st = withDetails
			}
		}
	}
	return st.Err()
}

// internalError is an infrastructure failure as gRPC answers it.
type internalError struct{ cause error }

func (e internalError) Error() string { return e.cause.Error() }
func (e internalError) Unwrap() error { return e.cause }

// GRPCStatus is what grpc-go sends the client.
func (e internalError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, "internal error")
}

// HTTPError returns err as httpserver.EncodeError reads it: with the entry's
// status, code and headers (go-kit's StatusCoder and Headerer), or err itself
// when no entry matches, the entry has no HTTP status, or err answers for
// itself (a StatusCode method, as httpserver.RequestError and
// token.ErrKeysUnavailable have).
func (t *Table) HTTPError(err error) error {
	var own interface{ StatusCode() int }
	if err == nil || errors.As(err, &own) {
		return err
	}
	e := t.Lookup(err)
	if e == nil || e.HTTP == 0 {
		return err
	}
	h := http.Header{}
	if e.Headers != nil {
		e.Headers(err, h)
	}
	return &httpError{err: err, status: e.HTTP, code: e.Code, headers: h}
}

// httpError is an error with its HTTP status, code and headers.
type httpError struct {
	err     error
	status  int
	code    string
	headers http.Header
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// StatusCode implements go-kit's httptransport.StatusCoder.
func (e *httpError) StatusCode() int { return e.status }

// ErrorCode is the machine code of the JSON error body.
func (e *httpError) ErrorCode() string { return e.code }

// Headers implements go-kit's httptransport.Headerer.
func (e *httpError) Headers() http.Header { return e.headers }
