package errtable

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/kitshop/kitshop/internal/token"
)

var (
	errNotFound = errors.New("thing not found")
	errBusy     = errors.New("busy")
)

func testTable() *Table {
	return New(
		Entry{Err: errNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound, Code: "not_found", Business: true,
			Details: func(error) []protoadapt.MessageV1 {
				return []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: "NOT_FOUND", Domain: "test"}}
			}},
		Entry{Err: errBusy, GRPC: codes.Unavailable, HTTP: http.StatusServiceUnavailable, Code: "unavailable",
			Outcome: "busy", Headers: func(_ error, h http.Header) { h.Set("Retry-After", "3") }},
	)
}

func TestClassification(t *testing.T) {
	tab := testTable()
	wrapped := fmt.Errorf("%w: nope-9", errNotFound)
	for _, c := range []struct {
		err      error
		outcome  string
		business bool
	}{
		{nil, OutcomeOK, false},
		{wrapped, "not_found", true},
		{errBusy, "busy", false},
		{token.ErrExpired, "invalid_token", true},
		{token.ErrMissingToken, "invalid_token", true},
		{context.DeadlineExceeded, "deadline_exceeded", false},
		{errors.New("disk on fire"), OutcomeError, false},
	} {
		if got := tab.Outcome(c.err); got != c.outcome {
			t.Errorf("Outcome(%v) = %q, want %q", c.err, got, c.outcome)
		}
		business, infra := tab.Split(c.err)
		if (business != nil) != c.business || (c.err != nil && !c.business && infra == nil) {
			t.Errorf("Split(%v) = %v, %v", c.err, business, infra)
		}
	}
	outcomes := tab.Outcomes()
	if outcomes[0] != OutcomeOK || outcomes[len(outcomes)-1] != OutcomeError {
		t.Errorf("Outcomes() = %v: ok first, error last", outcomes)
	}
	seen := map[string]bool{}
	for _, o := range outcomes {
		if seen[o] {
			t.Errorf("outcome %q listed twice in %v", o, outcomes)
		}
		seen[o] = true
	}
}

func TestGRPCStatus(t *testing.T) {
	tab := testTable()
	st := status.Convert(tab.GRPCStatus(fmt.Errorf("%w: nope-9", errNotFound)))
	if st.Code() != codes.NotFound || st.Message() != "thing not found: nope-9" || len(st.Details()) != 1 {
		t.Errorf("not found: %v %q %v", st.Code(), st.Message(), st.Details())
	}
	infra := tab.GRPCStatus(errors.New("secret path /var/x"))
	st = status.Convert(infra)
	if st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Errorf("infrastructure failure: %v %q, want Internal with a generic message", st.Code(), st.Message())
	}
	if infra.Error() != "secret path /var/x" {
		t.Errorf("infrastructure failure's Error() = %q, want the cause, for the server's log", infra.Error())
	}
	st = status.Convert(tab.GRPCStatus(token.ErrKeysUnavailable))
	if st.Code() != codes.Unavailable || len(st.Details()) != 1 {
		t.Errorf("keys unavailable: %v %v, want its own status with a RetryInfo", st.Code(), st.Details())
	}
	if tab.GRPCStatus(nil) != nil {
		t.Error("GRPCStatus(nil) is not nil")
	}
}

func TestHTTPError(t *testing.T) {
	tab := testTable()
	err := tab.HTTPError(errBusy)
	var coder interface {
		StatusCode() int
		ErrorCode() string
		Headers() http.Header
	}
	if !errors.As(err, &coder) || coder.StatusCode() != 503 || coder.ErrorCode() != "unavailable" || coder.Headers().Get("Retry-After") != "3" {
		t.Fatalf("HTTPError(busy) = %#v", err)
	}
	if !errors.Is(err, errBusy) || err.Error() != "busy" {
		t.Errorf("HTTPError hides its cause: %v", err)
	}
	err = tab.HTTPError(token.ErrMissingToken)
	if !errors.As(err, &coder) || coder.StatusCode() != 401 || coder.Headers().Get("WWW-Authenticate") == "" {
		t.Errorf("missing token: %#v, want 401 with a challenge", err)
	}
	for _, own := range []error{context.Canceled, token.ErrKeysUnavailable, errors.New("x")} {
		if got := tab.HTTPError(own); got != own {
			t.Errorf("HTTPError(%v) = %v, want the error as it is", own, got)
		}
	}
}
