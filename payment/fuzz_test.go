package payment

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/token"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// instantProcessor approves every charge at once: the fuzzer explores the
// service's validation, not the simulator's waits (its hanging test card
// would stall an input until the deadline).
type instantProcessor struct{}

func (instantProcessor) Charge(_ context.Context, req ChargeRequest) (ChargeResult, error) {
	return ChargeResult{ChargeID: "ch-" + req.IdempotencyKey, Approved: true}, nil
}

func (instantProcessor) Refund(_ context.Context, req RefundRequest) (RefundResult, error) {
	return RefundResult{RefundID: "re-" + req.IdempotencyKey}, nil
}

func (instantProcessor) Lookup(context.Context, string) (ChargeResult, error) {
	return ChargeResult{}, ErrUnknownCharge
}

func (instantProcessor) Void(context.Context, string) (ChargeResult, error) {
	return ChargeResult{DeclineReason: ReasonVoided}, nil
}

// FuzzGRPCValidators calls MakePayment of the gRPC server (decode, validation,
// the service on an in-memory store and an approving processor) with any
// request built from the arguments (card fields split at "|": number, expiry
// year and month, birthOrRegistration, passwordTwoDigits; any payment method
// number), then GetPayment and RefundPayment with its order id. No status is
// ever Internal or Unknown: every refusal is a client error code. The service
// is shared by the inputs, so repeats of an order id meet its earlier
// payment (AlreadyExists, replays, refunds). Seeds: the f.Add calls and
// testdata/fuzz/FuzzGRPCValidators.
func FuzzGRPCValidators(f *testing.F) {
	f.Add("order-1", int32(1), "Hong Gildong", "4242 4242 4242 4242|2029|7|880715|58", int64(9500), "buyer@example.com")
	f.Add("order-2", int32(2), "hong", "", int64(3000), "buyer@example.com")
	f.Add("order-3", int32(2), "hong", "4242424242424242", int64(3000), "buyer@example.com")
	f.Add("order-1", int32(1), "Hong Gildong", "4000-0000-0000-0002|29|12||", int64(9500), "buyer@example.com")
	f.Add("", int32(0), "", "", int64(0), "")
	f.Add("order 4", int32(-1), "\x00", "4242424242424241|2020|13|1|123", int64(-1), "Buyer <buyer@example.com>")
	f.Add(strings.Repeat("o", 129), int32(99), strings.Repeat("n", 101), "1234567890123456789012|99999|0|12345678901|1", int64(9223372036854775807), "@")
	f.Add("\xff", int32(1), "\xff", "\xff|\xff|\xff|\xff|\xff", int64(1), "\xff@example.com")
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		f.Fatal(err)
	}
	srv := NewGRPCServer(NewSet(newTestService(f, newMemStore(), instantProcessor{}), signer.Verifier(), nil, nil))
	f.Fuzz(func(t *testing.T, orderID string, method int32, name, card string, amount int64, email string) {
		c := strings.SplitN(card, "|", 5)
		c = append(c, make([]string, 5-len(c))...)
		req := &paymentv1.MakePaymentRequest{
			OrderId: orderID, PaymentMethod: paymentv1.PaymentMethod(method), PaymentName: name,
			CardNumber: c[0], ExpiryYear: c[1], ExpiryMonth: c[2], BirthOrRegistration: c[3], PasswordTwoDigits: c[4],
			Amount: amount, UserEmail: email,
		}
		ctx := t.Context()
		_, err := srv.MakePayment(ctx, req)
		clientCode(t, "MakePayment", err)
		_, err = srv.GetPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: orderID})
		clientCode(t, "GetPayment", err)
		_, err = srv.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: orderID})
		clientCode(t, "RefundPayment", err)
	})
}

// clientCode fails the test if err's gRPC status is Internal or Unknown.
func clientCode(t *testing.T, method string, err error) {
	t.Helper()
	if code := status.Code(err); code == codes.Internal || code == codes.Unknown {
		t.Fatalf("%s: %v", method, err)
	}
}
