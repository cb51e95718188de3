package order

import (
	"fmt"
	"log/slog"
	"time"
)

// PaymentMethod is how the customer pays.
type PaymentMethod string

// The payment methods.
const (
	MethodCreditCard PaymentMethod = "CreditCard"
	MethodKakao      PaymentMethod = "Kakao"
)

// PaymentStatus is where a payment stands.
type PaymentStatus string

// The payment statuses.
const (
	PaymentPending  PaymentStatus = "Pending"
	PaymentRejected PaymentStatus = "Rejected"
	PaymentApproved PaymentStatus = "Approved"
	PaymentRefunded PaymentStatus = "Refunded"
	// PaymentVoided: never charged, and the processor refuses any later charge of the order.
	PaymentVoided PaymentStatus = "Voided"
)

// Address is where an order goes.
type Address struct {
	Name       string
	Street     string
	City       string
	PostalCode string
	Country    string
}

// Customer is the user who placed an order, as they were at the time.
type Customer struct {
	UserID string
	Email  string
	Name   string
}

// Line is a product of an order as it was when the order was placed.
type Line struct {
	ProductID string
	Name      string
	Price     int64 // unit price, minor units
	Quantity  int64
}

// PaymentSummary is the order's view of its payment: never any card data
// beyond the masked number.
type PaymentSummary struct {
	PaymentID        string
	Method           PaymentMethod
	Name             string
	Amount           int64
	Status           PaymentStatus
	MaskedCardNumber string
}

// Order is a stored order.
type Order struct {
	ID            string
	Customer      Customer
	Products      []Line
	Address       Address
	Status        Status
	Payment       PaymentSummary
	Total         int64  // sum of price × quantity, minor units
	FailureReason string // why it failed or was cancelled
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// Fingerprint identifies the request that made an order placed with an
	// idempotency key (a keyed hash: no card data in clear). Never shown.
	Fingerprint string
	// Outbox holds the side effects still due for the order. Never shown.
	Outbox Outbox
}

// Outbox is the side effects due after an order's transition, recorded in
// the same update and cleared one by one once done.
type Outbox struct {
	// Notify is the payment notification to send, set with PaymentProcessed.
	Notify *Notification
	// ReleaseStock asks to put the order's reservation back.
	ReleaseStock bool
	// Refund asks to refund a payment approved for an order that failed.
	Refund bool
}

// Empty reports whether nothing is due.
func (b Outbox) Empty() bool { return b.Notify == nil && !b.ReleaseStock && !b.Refund }

// Notification is the payment notification of an order.
type Notification struct {
	To     string // the customer's e-mail
	UserID string
}

// Item asks for Quantity units of a product.
type Item struct {
	ProductID string
	Quantity  int64
}

// PaymentDetails is what the customer pays with. The card fields go to the
// payment service and are never stored here; formatting it (fmt, slog) shows
// only the masked card number.
type PaymentDetails struct {
	Method              PaymentMethod
	Name                string
	CardNumber          string
	ExpiryYear          string
	ExpiryMonth         string
	BirthOrRegistration string
	PasswordTwoDigits   string
	Amount              int64
}

// String keeps card data out of logs and error messages.
func (p PaymentDetails) String() string {
	return fmt.Sprintf("{%s %q card %s amount %d}", p.Method, p.Name, MaskCardNumber(p.CardNumber), p.Amount)
}

// LogValue keeps card data out of structured logs.
func (p PaymentDetails) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("method", string(p.Method)),
		slog.String("card", MaskCardNumber(p.CardNumber)),
		slog.Int64("amount", p.Amount),
	)
}

// GoString keeps card data out of %#v.
func (p PaymentDetails) GoString() string { return p.String() }

// NewOrder is a request to place an order.
type NewOrder struct {
	// ProductIDs lists products, each occurrence one unit (the original's form).
	ProductIDs []string
	// Items lists products with quantities; added to ProductIDs.
	Items   []Item
	Address Address
	Payment PaymentDetails
	// IdempotencyKey makes the request safe to repeat: the same caller and
	// key get the same order. Optional.
	IdempotencyKey string
}

// Page is a page of orders.
type Page struct {
	Orders []Order
	// NextPageToken fetches the next page; empty on the last one.
	NextPageToken string
}

// MaskCardNumber returns "**** **** **** 1234" for a card number (its last
// four digits), or "" when it has fewer than four digits.
func MaskCardNumber(card string) string {
	var last [4]byte
	n := 0
	for i := len(card) - 1; i >= 0 && n < 4; i-- {
		if c := card[i]; c >= '0' && c <= '9' {
			n++
			last[4-n] = c
		}
	}
	if n < 4 {
		return ""
	}
	return "**** **** **** " + string(last[:])
}
