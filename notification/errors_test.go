package notification

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable/errtabletest"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
)

// TestErrorTable checks every entry of errorTable through both transports'
// encoders, including those no request of the transport tests reaches.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	bad := invalid("to is required")
	for _, tt := range []struct {
		err      error
		code     codes.Code
		status   int
		httpCode string
		msg      string // of both transports; "" for the generic ones of an infrastructure failure
		outcome  string
		business bool
	}{
		{bad, codes.InvalidArgument, 400, "invalid_argument", "invalid argument: to is required", "invalid_argument", true},
		{ErrNotFound, codes.NotFound, 404, "not_found", ErrNotFound.Error(), "not_found", true},
		{ErrConflict, codes.AlreadyExists, 409, "already_exists", ErrConflict.Error(), "conflict", true},
		{ErrInProgress, codes.Unavailable, 503, "unavailable", ErrInProgress.Error(), "unavailable", true},
		{&sendFailedError{cause: errors.New("dial tcp 10.0.0.7:25")}, codes.Unavailable, 503, "unavailable", "", "unavailable", true},
		{context.DeadlineExceeded, codes.DeadlineExceeded, 504, "deadline_exceeded", "", "deadline_exceeded", false},
		{context.Canceled, codes.Canceled, 499, "canceled", "", "canceled", false},
		{errStoreDown, codes.Internal, 500, "internal", "", "error", false},
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
			if got := errorTable.Outcome(tt.err); got != tt.outcome {
				t.Errorf("outcome %q, want %q", got, tt.outcome)
			}
			if got := errorTable.IsBusiness(tt.err); got != tt.business {
				t.Errorf("business %v, want %v", got, tt.business)
			}
		})
	}
	if st := status.Convert(errorTable.GRPCStatus(&sendFailedError{cause: errors.New("dial tcp 10.0.0.7:25")})); st.Message() != ErrSendFailed.Error() {
		t.Errorf("a failed send answers %q over gRPC, want %q only", st.Message(), ErrSendFailed)
	}
}

// TestErrorMessagesSayItOnce makes every failure the transports can answer
// and checks that no message says a part twice (as "invalid argument:
// invalid argument: x" would).
func TestErrorMessagesSayItOnce(t *testing.T) {
	t.Parallel()
	env := newTransportEnv(t)
	ctx := context.Background()
	var msgs []string
	grpcMsg := func(err error) {
		if err == nil {
			t.Fatal("a failing call succeeded")
		}
		msgs = append(msgs, status.Convert(err).Message())
	}
	send := func(to, orderID, userID string) error {
		_, err := env.client.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: to, OrderId: orderID, UserId: userID})
		return err
	}
	if err := send(testTo, testOrder, testUser); err != nil {
		t.Fatal(err)
	}
	grpcMsg(send("nope", "", ""))
	grpcMsg(send("eve@example.com", testOrder, testUser))
	_, err := env.client.GetNotification(ctx, &notificationv1.GetNotificationRequest{OrderId: "order-2"})
	grpcMsg(err)
	env.sender.setFn(func(context.Context, int, Message) error { return errors.New("down") })
	grpcMsg(send(testTo, "order-3", testUser))

	owner := "Bearer " + env.accessToken(t, env.signer, testUser)
	for _, c := range []struct{ target, auth string }{
		{"/notification", owner},
		{"/notification?orderId=order-2", owner},
		{"/notification?orderId=" + testOrder, ""},
		{"/notification?orderId=" + testOrder, "Bearer not.a.jwt"},
	} {
		r := env.get(t, c.target, c.auth)
		e, _ := r.body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if msg == "" {
			t.Fatalf("%s: no error message in %v", c.target, r.body)
		}
		msgs = append(msgs, msg)
	}
	for _, msg := range msgs {
		if part := errtabletest.Repeated(msg); part != "" {
			t.Errorf("message %q says %q twice", msg, part)
		}
	}
}
