package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable/errtabletest"
	"github.com/kitshop/kitshop/internal/token"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// TestErrorTable checks every entry of errorTable through both transports' encoders, including those no
// request of the transport tests reaches: the gRPC code and message, the HTTP status, code and message,
// the outcome and whether the error rides in the response.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("%w: it was voided, nothing was charged", ErrNotRefundable)
	for _, tt := range []struct {
		err      error
		code     codes.Code
		status   int
		httpCode string
		msg      string // of both transports; "" for the generic ones of an infrastructure failure
		outcome  string
		business bool
	}{
		{invalid("amount", "amount must be greater than 0"), codes.InvalidArgument, 400, "invalid_argument", "amount must be greater than 0", "invalid_argument", true},
		{ErrNotFound, codes.NotFound, 404, "not_found", ErrNotFound.Error(), "not_found", true},
		{ErrConflict, codes.AlreadyExists, 409, "conflict", ErrConflict.Error(), "already_exists", true},
		{refused, codes.FailedPrecondition, 412, "failed_precondition", refused.Error(), "failed_precondition", true},
		{token.ErrForbidden, codes.PermissionDenied, 403, "permission_denied", token.ErrForbidden.Error(), "permission_denied", true},
		{token.ErrMissingToken, codes.Unauthenticated, 401, "unauthenticated", token.ErrMissingToken.Error(), "invalid_token", true},
		{context.DeadlineExceeded, codes.DeadlineExceeded, 504, "deadline_exceeded", "", "deadline_exceeded", false},
		{context.Canceled, codes.Canceled, 499, "canceled", "", "canceled", false},
		{errors.New("store down: secret detail"), codes.Internal, 500, "internal", "", "error", false},
	} {
		t.Run(tt.err.Error(), func(t *testing.T) {
			st := status.Convert(errorTable.GRPCStatus(tt.err))
			if st.Code() != tt.code || (tt.msg != "" && st.Message() != tt.msg) {
				t.Errorf("gRPC %s %q, want %s %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			rec := httptest.NewRecorder()
			encodeHTTPError(context.Background(), tt.err, rec)
			body := rec.Body.String()
			if rec.Code != tt.status || !strings.Contains(body, `"code":"`+tt.httpCode+`"`) ||
				(tt.msg != "" && !strings.Contains(body, `"message":"`+tt.msg+`"`)) {
				t.Errorf("HTTP %d %s, want %d code %q message %q", rec.Code, body, tt.status, tt.httpCode, tt.msg)
			}
			if strings.Contains(st.Message()+body, "secret detail") {
				t.Errorf("the cause of an infrastructure failure reached a client: %q, %s", st.Message(), body)
			}
			if got := errorTable.Outcome(tt.err); got != tt.outcome {
				t.Errorf("outcome %q, want %q", got, tt.outcome)
			}
			if got := errorTable.IsBusiness(tt.err); got != tt.business {
				t.Errorf("business %v, want %v", got, tt.business)
			}
		})
	}
}

// TestProcessorUnavailableHidesItsCause checks that a processor failure is Unavailable over gRPC with the
// sentinel's message only, while its error keeps the cause for the log.
func TestProcessorUnavailableHidesItsCause(t *testing.T) {
	t.Parallel()
	err := processorError(errNetwork)
	st := status.Convert(errorTable.GRPCStatus(err))
	if st.Code() != codes.Unavailable || st.Message() != ErrProcessorUnavailable.Error() {
		t.Errorf("gRPC %s %q, want Unavailable %q", st.Code(), st.Message(), ErrProcessorUnavailable)
	}
	if !strings.Contains(err.Error(), errNetwork.Error()) || !errors.Is(err, errNetwork) {
		t.Errorf("the cause is lost: %v", err)
	}
	if errorTable.IsBusiness(err) || errorTable.Outcome(err) != "unavailable" {
		t.Errorf("business %v outcome %q, want an infrastructure failure with outcome unavailable",
			errorTable.IsBusiness(err), errorTable.Outcome(err))
	}
	if processorError(context.DeadlineExceeded) != context.DeadlineExceeded {
		t.Error("a deadline of the processor call is not passed on as it is")
	}
}

// TestErrorMessagesSayItOnce makes every failure the transports can answer and checks that no message says
// a part twice (as "not found: not found: x" would).
func TestErrorMessagesSayItOnce(t *testing.T) {
	t.Parallel()
	f := newTransportFixture(t, NewSimulator(SimulatorOptions{}))
	ctx := context.Background()
	if _, err := f.client.MakePayment(ctx, grpcCardRequest("order-1", TestCardApproved)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.MakePayment(ctx, grpcCardRequest("order-2", TestCardStolen)); err != nil {
		t.Fatal(err)
	}
	other := grpcCardRequest("order-1", TestCardApproved)
	other.Amount = 1
	var msgs []string
	for _, call := range []func() error{
		func() error { _, err := f.client.MakePayment(ctx, other); return err },
		func() error { _, err := f.client.MakePayment(ctx, grpcCardRequest("", TestCardApproved)); return err },
		func() error {
			_, err := f.client.MakePayment(ctx, grpcCardRequest("order-3", "4242424242424241"))
			return err
		},
		func() error {
			_, err := f.client.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: "order-2"})
			return err
		},
		func() error {
			_, err := f.client.GetPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: "order-x"})
			return err
		},
	} {
		err := call()
		if err == nil {
			t.Fatal("a failing call succeeded")
		}
		msgs = append(msgs, status.Convert(err).Message())
	}
	for _, auth := range []string{"", "Bearer abc.def.ghi", bearer(t, f.signer, token.RoleUser)} {
		_, body := httpDo(t, f.http, http.MethodGet, "/payment/order-1", auth)
		msgs = append(msgs, string(body))
	}
	admin := bearer(t, f.signer, token.RoleAdmin)
	for _, path := range []string{"/payment/order-x", "/payment/a%20b"} {
		_, body := httpDo(t, f.http, http.MethodGet, path, admin)
		msgs = append(msgs, string(body))
	}
	for _, msg := range msgs {
		if part := errtabletest.Repeated(msg); part != "" {
			t.Errorf("message %q says %q twice", msg, part)
		}
	}
}
