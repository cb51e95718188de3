package order

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// invalidPayments are payment parts the payment service refuses (see
// internal/card and payment.service.validate), each with the field the error
// must name. The env's clock is 2026-01-02.
var invalidPayments = []struct {
	name   string
	change func(*PaymentDetails)
	field  string
}{
	{"bad method", func(p *PaymentDetails) { p.Method = "Cash" }, "payment.paymentMethod"},
	{"no method", func(p *PaymentDetails) { p.Method = "" }, "payment.paymentMethod"},
	{"name with a control character", func(p *PaymentDetails) { p.Name = "Al\x07ice" }, "payment.paymentName"},
	{"name of invalid UTF-8", func(p *PaymentDetails) { p.Name = "Al\xffice" }, "payment.paymentName"},
	{"name over 100 bytes", func(p *PaymentDetails) { p.Name = strings.Repeat("a", 101) }, "payment.paymentName"},
	{"luhn", func(p *PaymentDetails) { p.CardNumber = "4111 1111 1111 1112" }, "payment.cardNumber"},
	{"no card number", func(p *PaymentDetails) { p.CardNumber = "" }, "payment.cardNumber"},
	{"11 digits", func(p *PaymentDetails) { p.CardNumber = "41111111111" }, "payment.cardNumber"},
	{"20 digits", func(p *PaymentDetails) { p.CardNumber = "41111111111111111111" }, "payment.cardNumber"},
	{"dotted number", func(p *PaymentDetails) { p.CardNumber = "4111.1111.1111.1111" }, "payment.cardNumber"},
	{"month 13", func(p *PaymentDetails) { p.ExpiryMonth = "13" }, "payment.expiryMonth"},
	{"no month", func(p *PaymentDetails) { p.ExpiryMonth = "" }, "payment.expiryMonth"},
	{"3-digit year", func(p *PaymentDetails) { p.ExpiryYear = "203" }, "payment.expiryYear"},
	{"expired last month", func(p *PaymentDetails) { p.ExpiryYear, p.ExpiryMonth = "2025", "12" }, "payment.expiryYear"},
	{"expired (2-digit year)", func(p *PaymentDetails) { p.ExpiryYear, p.ExpiryMonth = "25", "6" }, "payment.expiryYear"},
	{"expiry over 20 years ahead", func(p *PaymentDetails) { p.ExpiryYear = "2047" }, "payment.expiryYear"},
	{"birth of 7 digits", func(p *PaymentDetails) { p.BirthOrRegistration = "9001011" }, "payment.birthOrRegistration"},
	{"password of 3 digits", func(p *PaymentDetails) { p.PasswordTwoDigits = "123" }, "payment.passwordTwoDigits"},
	{"password letters", func(p *PaymentDetails) { p.PasswordTwoDigits = "ab" }, "payment.passwordTwoDigits"},
	{"kakao with a card number", func(p *PaymentDetails) { p.Method = MethodKakao }, "payment.cardNumber"},
	{"kakao with a password", func(p *PaymentDetails) {
		*p = PaymentDetails{Method: MethodKakao, Name: "Alice", PasswordTwoDigits: "12", Amount: 4000}
	}, "payment.passwordTwoDigits"},
	{"zero amount", func(p *PaymentDetails) { p.Amount = 0 }, "payment.amount"},
	{"negative amount", func(p *PaymentDetails) { p.Amount = -1 }, "payment.amount"},
}

// TestCreateOrderRefusesInvalidPayments: every payment part the payment
// service would refuse is refused before anything is stored, reserved or
// charged, with an error naming the field and not echoing card data.
func TestCreateOrderRefusesInvalidPayments(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidPayments {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.users.err = errors.New("the user service was called")
			req := validOrder()
			tc.change(&req.Payment)
			_, _, err := e.svc.CreateOrder(t.Context(), alice, req)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want ErrInvalidArgument naming %s", err, tc.field)
			}
			noCardData(t, err.Error(), req.Payment)
			noSideEffects(t, e)
		})
	}
}

// TestCreateOrderExpiryUsesTheServiceClock: a card that expires this month
// is taken, and refused once the service's clock is in the next month.
func TestCreateOrderExpiryUsesTheServiceClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.Payment.ExpiryYear, req.Payment.ExpiryMonth = "26", "1"
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, req); err != nil {
		t.Fatalf("card expiring this month: %v", err)
	}
	e.clock.Advance(31 * 24 * time.Hour)
	req.IdempotencyKey = "after-expiry"
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, req); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "payment.expiryYear") {
		t.Fatalf("card expired last month: %v, want ErrInvalidArgument on payment.expiryYear", err)
	}
}

// TestCreateOrderAcceptsKakaoWithoutCard: Kakao takes no card fields.
func TestCreateOrderAcceptsKakaoWithoutCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := validOrder()
	req.Payment = PaymentDetails{Method: MethodKakao, Name: "Alice", Amount: 4000}
	if _, _, err := e.svc.CreateOrder(t.Context(), alice, req); err != nil {
		t.Fatalf("Kakao order: %v", err)
	}
}

// TestHTTPCreateOrderRefusesInvalidPayments: over HTTP the same refusals are
// 400 invalid_argument, and GET /order then shows no order.
func TestHTTPCreateOrderRefusesInvalidPayments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, from, to, field string }{
		{"luhn", `"cardNumber": "4111-1111-1111-1111"`, `"cardNumber": "4111-1111-1111-1112"`, "payment.cardNumber"},
		{"expired", `"expiryYear": "2030"`, `"expiryYear": "2025"`, "payment.expiryYear"},
		{"password", `"passwordTwoDigits": "12"`, `"passwordTwoDigits": "1"`, "payment.passwordTwoDigits"},
		{"kakao with card", `"paymentMethod": "CreditCard"`, `"paymentMethod": "Kakao"`, "payment.cardNumber"},
		{"zero amount", `"amount": 4000`, `"amount": 0`, "payment.amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t)
			body := strings.Replace(orderBody, tc.from, tc.to, 1)
			if body == orderBody {
				t.Fatalf("%s not in the body", tc.from)
			}
			a := tr.do(t, http.MethodPost, "/order", tr.tokens[alice], body, nil)
			if a.status != http.StatusBadRequest || errorCode(t, a.body) != "invalid_argument" || !strings.Contains(a.body, tc.field) {
				t.Fatalf("POST /order: %d %s, want 400 invalid_argument naming %s", a.status, a.body, tc.field)
			}
			for _, secret := range []string{"4111", "900101"} {
				if strings.Contains(a.body, secret) {
					t.Errorf("answer %s echoes card data %s", a.body, secret)
				}
			}
			noSideEffects(t, tr.env)
			if list := tr.do(t, http.MethodGet, "/order", tr.tokens[alice], "", nil); list.status != http.StatusOK || strings.Contains(list.body, `"id"`) {
				t.Errorf("GET /order after a refusal: %d %s, want no order", list.status, list.body)
			}
		})
	}
}

func noCardData(t *testing.T, msg string, p PaymentDetails) {
	t.Helper()
	for _, secret := range []string{p.CardNumber, p.BirthOrRegistration} { // two digits are in any message
		if len(secret) >= 4 && strings.Contains(msg, secret) {
			t.Errorf("error %q echoes card data %q", msg, secret)
		}
	}
}

// noSideEffects fails unless no order, reservation or payment was made.
func noSideEffects(t *testing.T, e *env) {
	t.Helper()
	if e.store.count() != 0 || e.store.callsTo("Insert") != 0 {
		t.Errorf("store calls %s, want no order inserted", e.store.callLog())
	}
	if e.products.reserves != 0 {
		t.Errorf("%d reservations, want none", e.products.reserves)
	}
	e.payments.mu.Lock()
	defer e.payments.mu.Unlock()
	if len(e.payments.seen) != 0 {
		t.Errorf("%d payment calls, want none", len(e.payments.seen))
	}
}
