package payment

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMakePaymentApproved(t *testing.T) {
	t.Parallel()
	store, sim := newMemStore(), NewSimulator(SimulatorOptions{})
	svc := newTestService(t, store, sim)

	p := mustPay(t, svc, cardRequest("order-1", "4242 4242 4242 4242"))
	// A new payment is marked, stored Pending and moved to its verdict, whose answer is the reply (no
	// read), and its mark is dropped.
	if ops := store.calls(); !slices.Equal(ops, []string{"Mark", "Create", "Transition", "Unmark"}) {
		t.Errorf("store calls %v, want [Mark Create Transition Unmark]", ops)
	}
	if m := store.marked(); len(m) != 0 {
		t.Errorf("marks left: %v", m)
	}
	if p.Status != StatusApproved || p.Reason != "" {
		t.Errorf("status %s reason %q, want Approved without reason", p.Status, p.Reason)
	}
	if p.ID == "" || p.ID == p.OrderID || p.OrderID != "order-1" {
		t.Errorf("id %q order %q: want a payment id of its own and order-1", p.ID, p.OrderID)
	}
	if p.MaskedCardNumber != "**** **** **** 4242" || p.Amount != 9500 || p.Method != MethodCreditCard {
		t.Errorf("got masked %q amount %d method %s", p.MaskedCardNumber, p.Amount, p.Method)
	}
	if p.ChargeID == "" || p.CardFingerprint == "" {
		t.Errorf("charge id %q fingerprint %q: both must be set", p.ChargeID, p.CardFingerprint)
	}
	if !p.CreatedAt.Equal(testNow) || !p.UpdatedAt.Equal(testNow) {
		t.Errorf("timestamps %v %v, want the clock's %v", p.CreatedAt, p.UpdatedAt, testNow)
	}
	stored, err := store.Get(context.Background(), "order-1")
	if err != nil || stored != p {
		t.Errorf("stored %+v (%v), want the returned payment", stored, err)
	}
	if sim.Charges() != 1 {
		t.Errorf("processor made %d charges, want 1", sim.Charges())
	}
}

func TestMakePaymentDeclinedIsAResponse(t *testing.T) {
	t.Parallel()
	for number, reason := range map[string]string{
		TestCardInsufficientFunds: ReasonInsufficientFunds,
		TestCardStolen:            ReasonStolenCard,
		TestCardDeclined:          ReasonCardDeclined,
	} {
		t.Run(reason, func(t *testing.T) {
			t.Parallel()
			store := newMemStore()
			svc := newTestService(t, store, NewSimulator(SimulatorOptions{}))
			p, err := svc.MakePayment(context.Background(), cardRequest("order-"+reason, number))
			if err != nil {
				t.Fatalf("a decline must not be an error, got %v", err)
			}
			if p.Status != StatusRejected || p.Reason != reason {
				t.Errorf("status %s reason %q, want Rejected %q", p.Status, p.Reason, reason)
			}
			if stored, _ := store.Get(context.Background(), p.OrderID); stored.Status != StatusRejected || stored.Reason != reason {
				t.Errorf("stored %s %q, want Rejected %q", stored.Status, stored.Reason, reason)
			}
		})
	}
}

func TestMakePaymentKakao(t *testing.T) {
	t.Parallel()
	svc := newTestService(t, newMemStore(), NewSimulator(SimulatorOptions{}))
	p := mustPay(t, svc, kakaoRequest("order-k"))
	if p.Status != StatusApproved || p.Method != MethodKakao || p.MaskedCardNumber != "" || p.CardFingerprint != "" {
		t.Errorf("got %+v, want an approved Kakao payment without card", p)
	}
	if again := mustPay(t, svc, kakaoRequest("order-k")); again.ID != p.ID {
		t.Errorf("repeat gave payment %s, want %s", again.ID, p.ID)
	}
}

func TestMakePaymentRepeatNeverChargesAgain(t *testing.T) {
	t.Parallel()
	proc := &countingProcessor{Processor: NewSimulator(SimulatorOptions{})}
	store := newMemStore()
	svc := newTestService(t, store, proc)

	first := mustPay(t, svc, cardRequest("order-r", "4242 4242 4242 4242"))
	// The same card written another way, another name and e-mail: still the same payment.
	req := cardRequest("order-r", "4242-4242-4242-4242")
	req.Name, req.UserEmail = "Someone Else", "other@example.com"
	if again := mustPay(t, svc, req); again != first {
		t.Errorf("repeat returned %+v, want %+v", again, first)
	}
	// The repeat's insert fails on the order id; it reads the stored payment, writes nothing to it, and
	// drops the mark it made again.
	if ops := store.calls(); !slices.Equal(ops, []string{"Mark", "Create", "Transition", "Unmark", "Mark", "Create", "Get", "Unmark"}) {
		t.Errorf("store calls %v, want [Mark Create Transition Unmark Mark Create Get Unmark]", ops)
	}
	if m := store.marked(); len(m) != 0 {
		t.Errorf("marks left: %v", m)
	}
	declined := mustPay(t, svc, cardRequest("order-d", TestCardStolen))
	if again := mustPay(t, svc, cardRequest("order-d", TestCardStolen)); again != declined {
		t.Errorf("repeat of a declined payment returned %+v, want %+v", again, declined)
	}
	if n := proc.charges.Load(); n != 2 {
		t.Errorf("processor charged %d times, want 2 (one per order)", n)
	}
}

func TestMakePaymentRepeatThatDisagrees(t *testing.T) {
	t.Parallel()
	otherAmount := cardRequest("o", TestCardApproved)
	otherAmount.Amount++
	otherCard := cardRequest("o", "5555 5555 5555 4444")
	otherMethod := kakaoRequest("o")
	otherMethod.Amount = cardRequest("o", "").Amount

	for name, status := range map[string]Status{"approved": StatusApproved, "pending": StatusPending} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newMemStore()
			proc := &countingProcessor{Processor: NewSimulator(SimulatorOptions{})}
			svc := newTestService(t, store, proc)
			first := mustPay(t, svc, cardRequest("o", TestCardApproved))
			if status == StatusPending {
				first.Status = StatusPending
				store.docs["o"] = first
			}
			for _, req := range []PaymentRequest{otherAmount, otherCard, otherMethod} {
				if _, err := svc.MakePayment(context.Background(), req); !errors.Is(err, ErrConflict) {
					t.Errorf("%s %d %s: got %v, want ErrConflict", req.Method, req.Amount, req.Card, err)
				}
			}
			if n := proc.charges.Load(); n != 1 {
				t.Errorf("processor charged %d times, want 1", n)
			}
		})
	}
}

func TestMakePaymentValidation(t *testing.T) {
	t.Parallel()
	const kakaoMsg = " must be empty for Kakao payments: Kakao Pay charges the customer's Kakao account and takes no card details"
	type tc struct {
		name   string
		edit   func(r *PaymentRequest)
		field  string
		msg    string
		secret string // must not appear in the message
	}
	card := func(number string) func(r *PaymentRequest) { return func(r *PaymentRequest) { r.Card.Number = number } }
	expiry := func(y, m string) func(r *PaymentRequest) {
		return func(r *PaymentRequest) { r.Card.ExpiryYear, r.Card.ExpiryMonth = y, m }
	}
	tests := []tc{
		{"no order id", func(r *PaymentRequest) { r.OrderID = "" }, "orderId", "orderId is required", ""},
		{"order id with space", func(r *PaymentRequest) { r.OrderID = "a b" }, "orderId", "orderId must be at most 128 bytes of text without spaces or control characters", ""},
		{"order id too long", func(r *PaymentRequest) { r.OrderID = strings.Repeat("x", 129) }, "orderId", "orderId must be at most 128 bytes of text without spaces or control characters", ""},
		{"no method", func(r *PaymentRequest) { r.Method = "" }, "paymentMethod", "paymentMethod must be CreditCard or Kakao", ""},
		{"unknown method", func(r *PaymentRequest) { r.Method = "Bitcoin" }, "paymentMethod", "paymentMethod must be CreditCard or Kakao", ""},
		{"zero amount", func(r *PaymentRequest) { r.Amount = 0 }, "amount", "amount must be greater than 0", ""},
		{"negative amount", func(r *PaymentRequest) { r.Amount = -100 }, "amount", "amount must be greater than 0", ""},
		{"no email", func(r *PaymentRequest) { r.UserEmail = "" }, "userEmail", "userEmail is required", ""},
		{"bad email", func(r *PaymentRequest) { r.UserEmail = "buyer.example.com" }, "userEmail", "userEmail must be a valid e-mail address (name@example.com)", ""},
		{"email with name", func(r *PaymentRequest) { r.UserEmail = "Bob <bob@example.com>" }, "userEmail", "userEmail must be a valid e-mail address (name@example.com)", ""},
		{"name too long", func(r *PaymentRequest) { r.Name = strings.Repeat("가", 101) }, "paymentName", "paymentName must be at most 100 characters of text", ""},
		{"name with newline", func(r *PaymentRequest) { r.Name = "a\nb" }, "paymentName", "paymentName must be at most 100 characters of text", ""},
		{"no card", card(""), "cardNumber", "cardNumber is required for CreditCard payments", ""},
		{"only separators", card(" - "), "cardNumber", "cardNumber is required for CreditCard payments", ""},
		{"luhn", card("4242 4242 4242 4241"), "cardNumber", "cardNumber is not a valid card number (Luhn check failed)", "4242424242424241"},
		{"too short", card("4242 4242 42"), "cardNumber", "cardNumber must be 12 to 19 digits (spaces and dashes allowed)", "4242424242"},
		{"too long", card("4242 4242 4242 4242 4242"), "cardNumber", "cardNumber must be 12 to 19 digits (spaces and dashes allowed)", "42424242424242424242"},
		{"letters", card("4242a42424242424"), "cardNumber", "cardNumber must be 12 to 19 digits (spaces and dashes allowed)", "4242a42424242424"},
		{"other separator", card("4242_4242_4242_4242"), "cardNumber", "cardNumber must be 12 to 19 digits (spaces and dashes allowed)", "4242_4242"},
		{"month 13", expiry("2029", "13"), "expiryMonth", "expiryMonth must be a month number from 1 to 12", ""},
		{"month 0", expiry("2029", "0"), "expiryMonth", "expiryMonth must be a month number from 1 to 12", ""},
		{"no month", expiry("2029", ""), "expiryMonth", "expiryMonth must be a month number from 1 to 12", ""},
		{"month +7", expiry("2029", "+7"), "expiryMonth", "expiryMonth must be a month number from 1 to 12", ""},
		{"month 3 digits", expiry("2029", "007"), "expiryMonth", "expiryMonth must be a month number from 1 to 12", ""},
		{"year 3 digits", expiry("202", "7"), "expiryYear", "expiryYear must be 2 or 4 digits (e.g. 27 or 2027)", ""},
		{"no year", expiry("", "7"), "expiryYear", "expiryYear must be 2 or 4 digits (e.g. 27 or 2027)", ""},
		{"year not digits", expiry("20x9", "7"), "expiryYear", "expiryYear must be 2 or 4 digits (e.g. 27 or 2027)", ""},
		{"expired last month", expiry("2026", "2"), "expiryYear", "the card expired at the end of 02/2026", ""},
		{"expired 2-digit year", expiry("25", "12"), "expiryYear", "the card expired at the end of 12/2025", ""},
		{"too far ahead", expiry("2047", "1"), "expiryYear", "expiryYear 2047 is more than 20 years ahead", ""},
		{"birth 5 digits", func(r *PaymentRequest) { r.Card.BirthOrRegistration = "88071" }, "birthOrRegistration", "birthOrRegistration must be a 6-digit birth date (YYMMDD) or a 10-digit business registration number", "88071"},
		{"password 1 digit", func(r *PaymentRequest) { r.Card.PasswordTwoDigits = "5" }, "passwordTwoDigits", "passwordTwoDigits must be exactly 2 digits", ""},
		{"password letters", func(r *PaymentRequest) { r.Card.PasswordTwoDigits = "ab" }, "passwordTwoDigits", "passwordTwoDigits must be exactly 2 digits", "ab"},
		{"kakao with card", func(r *PaymentRequest) { r.Method = MethodKakao }, "cardNumber", "cardNumber" + kakaoMsg, "4242424242424242"},
		{"kakao with password", func(r *PaymentRequest) { r.Method, r.Card = MethodKakao, Card{PasswordTwoDigits: "58"} }, "passwordTwoDigits", "passwordTwoDigits" + kakaoMsg, "58"},
		{"kakao with expiry", func(r *PaymentRequest) { r.Method, r.Card = MethodKakao, Card{ExpiryMonth: "7"} }, "expiryMonth", "expiryMonth" + kakaoMsg, ""},
	}
	store := newMemStore()
	proc := &countingProcessor{Processor: NewSimulator(SimulatorOptions{})}
	svc := newTestService(t, store, proc)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := cardRequest("order-v", TestCardApproved)
			tt.edit(&req)
			_, err := svc.MakePayment(context.Background(), req)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if verr.Field != tt.field || verr.Error() != tt.msg {
				t.Errorf("got field %q message %q,\nwant field %q message %q", verr.Field, verr.Error(), tt.field, tt.msg)
			}
			if tt.secret != "" && strings.Contains(verr.Error(), tt.secret) {
				t.Errorf("message %q repeats the input %q", verr.Error(), tt.secret)
			}
		})
	}
	if n := proc.charges.Load(); n != 0 || len(store.all()) != 0 {
		t.Errorf("invalid requests charged %d times and stored %d payments, want none", n, len(store.all()))
	}

	for name, edit := range map[string]func(r *PaymentRequest){
		"expires this month":   expiry("26", "3"),
		"expires in 20 years":  expiry("2046", "12"),
		"month with zero":      expiry("2029", "07"),
		"19 digits":            card("4242 4242 4242 4242 428"),
		"12 digits":            card("4242-4242-4242"),
		"registration number":  func(r *PaymentRequest) { r.Card.BirthOrRegistration = "123-45-67890" },
		"no birth or password": func(r *PaymentRequest) { r.Card.BirthOrRegistration, r.Card.PasswordTwoDigits = "", "" },
		"no name":              func(r *PaymentRequest) { r.Name = "" },
	} {
		req := cardRequest("ok-"+strings.ReplaceAll(name, " ", "-"), TestCardApproved)
		edit(&req)
		if _, err := svc.MakePayment(context.Background(), req); err != nil {
			t.Errorf("%s: got %v, want it accepted", name, err)
		}
	}
}

func TestHangHitsTheCallersDeadlineThenConverges(t *testing.T) {
	t.Parallel()
	for _, finish := range []string{"MakePayment", "GetPayment", "RefundPayment"} {
		t.Run(finish, func(t *testing.T) {
			t.Parallel()
			store := newMemStore()
			sim := NewSimulator(SimulatorOptions{})
			proc := &countingProcessor{Processor: sim}
			svc := newTestService(t, store, proc)
			req := cardRequest("order-h", TestCardHang)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := svc.MakePayment(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want context.DeadlineExceeded", err)
			}
			if p, _ := store.Get(context.Background(), "order-h"); p.Status != StatusPending {
				t.Fatalf("after the deadline the payment is %s, want Pending", p.Status)
			}

			var p Payment
			var err error
			switch finish {
			case "MakePayment":
				p, err = svc.MakePayment(context.Background(), req)
			case "GetPayment":
				p, err = svc.GetPayment(context.Background(), "order-h")
			case "RefundPayment":
				p, err = svc.RefundPayment(context.Background(), "order-h")
			}
			want := StatusApproved
			if finish == "RefundPayment" {
				want = StatusRefunded
			}
			if err != nil || p.Status != want {
				t.Fatalf("%s after the deadline: %s, %v; want %s", finish, p.Status, err, want)
			}
			if sim.Charges() != 1 {
				t.Errorf("the network made %d charges, want 1", sim.Charges())
			}
			if again := mustPay(t, svc, req); again.Status != want || again.ID != p.ID {
				t.Errorf("a later repeat got %s %s, want %s %s", again.Status, again.ID, want, p.ID)
			}
		})
	}
}

func TestProcessorTimeoutBoundsACallerWithoutDeadline(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	svc, err := NewService(store, NewSimulator(SimulatorOptions{}), Options{CardKey: testCardKey, Now: fixedClock, ProcessorTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.MakePayment(context.Background(), cardRequest("order-t", TestCardHang)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if p, _ := store.Get(context.Background(), "order-t"); p.Status != StatusPending {
		t.Errorf("payment is %s, want Pending", p.Status)
	}
}

func TestPendingPaymentOfADeadCallerIsResumed(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	sim := NewSimulator(SimulatorOptions{})
	svc := newTestService(t, store, sim)
	// A caller inserted the payment and died before the processor heard of it.
	deadSvc := newTestService(t, store, brokenProcessor{})
	if _, err := deadSvc.MakePayment(context.Background(), cardRequest("order-p", TestCardApproved)); !errors.Is(err, ErrProcessorUnavailable) {
		t.Fatalf("got %v, want ErrProcessorUnavailable", err)
	}

	p, err := svc.GetPayment(context.Background(), "order-p")
	if err != nil || p.Status != StatusPending {
		t.Fatalf("GetPayment: %s, %v; want Pending (the processor never saw the charge)", p.Status, err)
	}
	if _, err := svc.RefundPayment(context.Background(), "order-p"); !errors.Is(err, ErrNotRefundable) {
		t.Errorf("refund of a pending payment: got %v, want ErrNotRefundable", err)
	}
	resumed := mustPay(t, svc, cardRequest("order-p", TestCardApproved))
	if resumed.Status != StatusApproved || resumed.ID != p.ID {
		t.Errorf("resumed payment %s %s, want Approved %s", resumed.Status, resumed.ID, p.ID)
	}
	if sim.Charges() != 1 {
		t.Errorf("the network made %d charges, want 1", sim.Charges())
	}
}

func TestProcessorUnavailable(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	svc := newTestService(t, store, brokenProcessor{})
	_, err := svc.MakePayment(context.Background(), cardRequest("order-u", TestCardApproved))
	if !errors.Is(err, ErrProcessorUnavailable) || errorTable.IsBusiness(err) {
		t.Fatalf("got %v, want ErrProcessorUnavailable, not a business error", err)
	}
	if !errors.Is(err, errNetwork) {
		t.Errorf("the cause is lost: %v", err)
	}
	// GetPayment still answers: the payment is pending, which is the truth.
	if p, err := svc.GetPayment(context.Background(), "order-u"); err != nil || p.Status != StatusPending {
		t.Errorf("GetPayment: %s, %v; want Pending", p.Status, err)
	}
	store.docs["order-a"] = Payment{OrderID: "order-a", Status: StatusApproved, ChargeID: "ch_1", Amount: 10}
	if _, err := svc.RefundPayment(context.Background(), "order-a"); !errors.Is(err, ErrProcessorUnavailable) {
		t.Errorf("refund: got %v, want ErrProcessorUnavailable", err)
	}
	if store.docs["order-a"].Status != StatusApproved {
		t.Errorf("a failed refund changed the payment to %s", store.docs["order-a"].Status)
	}
}

func TestStoreFailureIsNotABusinessError(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	store.fail = errors.New("store down")
	svc := newTestService(t, store, NewSimulator(SimulatorOptions{}))
	_, err1 := svc.MakePayment(context.Background(), cardRequest("order-s", TestCardApproved))
	_, err2 := svc.GetPayment(context.Background(), "order-s")
	_, err3 := svc.RefundPayment(context.Background(), "order-s")
	for _, err := range []error{err1, err2, err3} {
		if err == nil || errorTable.IsBusiness(err) || errors.Is(err, ErrProcessorUnavailable) {
			t.Errorf("got %v, want the store's failure", err)
		}
	}
}

func TestRefundPayment(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	proc := &countingProcessor{Processor: NewSimulator(SimulatorOptions{})}
	svc := newTestService(t, store, proc)
	ctx := context.Background()

	approved := mustPay(t, svc, cardRequest("order-ok", TestCardApproved))
	refunded, err := svc.RefundPayment(ctx, "order-ok")
	if err != nil || refunded.Status != StatusRefunded || refunded.RefundID == "" || refunded.ID != approved.ID || refunded.ChargeID != approved.ChargeID {
		t.Fatalf("refund: %+v, %v; want the payment Refunded with a refund id", refunded, err)
	}
	again, err := svc.RefundPayment(ctx, "order-ok")
	if err != nil || again != refunded {
		t.Errorf("second refund: %+v, %v; want the same refunded payment", again, err)
	}
	if n := proc.refunds.Load(); n != 1 {
		t.Errorf("processor refunded %d times, want 1", n)
	}
	if p := mustPay(t, svc, cardRequest("order-ok", TestCardApproved)); p.Status != StatusRefunded {
		t.Errorf("MakePayment after the refund: %s, want the refunded payment, not a new charge", p.Status)
	}

	mustPay(t, svc, cardRequest("order-no", TestCardInsufficientFunds))
	_, err = svc.RefundPayment(ctx, "order-no")
	if !errors.Is(err, ErrNotRefundable) || err.Error() != "the payment cannot be refunded: it was rejected (insufficient_funds), nothing was charged" {
		t.Errorf("refund of a rejected payment: %v, want ErrNotRefundable", err)
	}
	if _, err := svc.RefundPayment(ctx, "order-none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("refund of an unknown order: %v, want ErrNotFound", err)
	}
	var verr *ValidationError
	if _, err := svc.RefundPayment(ctx, ""); !errors.As(err, &verr) {
		t.Errorf("refund without order id: %v, want a *ValidationError", err)
	}
}

func TestGetPayment(t *testing.T) {
	t.Parallel()
	svc := newTestService(t, newMemStore(), NewSimulator(SimulatorOptions{}))
	want := mustPay(t, svc, kakaoRequest("order-g"))
	if got, err := svc.GetPayment(context.Background(), "order-g"); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := svc.GetPayment(context.Background(), "order-x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: %v, want ErrNotFound", err)
	}
	var verr *ValidationError
	if _, err := svc.GetPayment(context.Background(), "bad id"); !errors.As(err, &verr) {
		t.Errorf("bad order id: %v, want a *ValidationError", err)
	}
}

// A caller that joined another's run must not inherit that caller's deadline.
func TestFollowerOutlivesTheLeadersDeadline(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{Latency: 150 * time.Millisecond})
	svc := newTestService(t, newMemStore(), sim)
	req := cardRequest("order-f", TestCardApproved)

	leaderCtx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var leaderErr error
	wg.Go(func() { _, leaderErr = svc.MakePayment(leaderCtx, req) })
	time.Sleep(10 * time.Millisecond) // let the leader start its run; the result holds either way
	p, err := svc.MakePayment(context.Background(), req)
	wg.Wait()
	if !errors.Is(leaderErr, context.DeadlineExceeded) {
		t.Errorf("leader: %v, want context.DeadlineExceeded", leaderErr)
	}
	if err != nil || p.Status != StatusApproved {
		t.Fatalf("follower: %s, %v; want Approved", p.Status, err)
	}
	if sim.Charges() != 1 {
		t.Errorf("the network made %d charges, want 1", sim.Charges())
	}
}

func TestNewServiceInvalid(t *testing.T) {
	t.Parallel()
	sim := NewSimulator(SimulatorOptions{})
	for name, f := range map[string]func() (Service, error){
		"short key":    func() (Service, error) { return NewService(newMemStore(), sim, Options{CardKey: testCardKey[:31]}) },
		"no store":     func() (Service, error) { return NewService(nil, sim, Options{CardKey: testCardKey}) },
		"no processor": func() (Service, error) { return NewService(newMemStore(), nil, Options{CardKey: testCardKey}) },
		"negative timeout": func() (Service, error) {
			return NewService(newMemStore(), sim, Options{CardKey: testCardKey, ProcessorTimeout: -1})
		},
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}
