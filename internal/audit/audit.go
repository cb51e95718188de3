// Package audit checks the invariants that hold across kitshop's five databases once the system is quiet:
// every order paid at most once and never charged when it failed, stock conserved, exactly one sent
// notification for every order whose delivery started, no order left Pending.
//
// The checker reads the databases raw, as the services store them (see each service's store.go for the
// document shapes), without importing the services: it is the outside observer that the end-to-end scenarios
// and cmd/loadtest run after their traffic stops. It only reads, so it is safe to run while the services
// write, but a live system is in motion: an order between two steps (its outbox not yet delivered, its
// notification not yet sent) shows as a violation until the step is done. Wait for the orders to
// settle ([WaitDelivered]) before calling [Check].
//
// The invariants, each reported per document with its [Invariant] name:
//
//   - [PaymentsPerOrder]: at most one payment per order.
//   - [PaidOrderPayment]: an order PaymentProcessed or later has an Approved payment for its total; an
//     Approved payment belongs to such an order (a payment refunded since is Refunded, not Approved), or to
//     an order still Pending within [Options.PendingLimit], whose outcome is not recorded yet.
//   - [FailedOrderPayment]: an order that ended PaymentFailed or PaymentCancelled has no payment, or a
//     Rejected or Refunded one.
//   - [StockConserved]: for every product, its stock before any reservation minus the units that
//     reservations keep equals its stock now (the starting stock comes from [Options.InitialStock]).
//   - [ReservationMatchesOrder]: a paid order keeps exactly its units reserved; a failed or cancelled order,
//     or no order at all, keeps none.
//   - [OneNotification]: an order DeliveryStarted or later has exactly one notification, and it is Sent; a
//     notification belongs to a paid order.
//   - [PendingTooOld]: no order stays Pending longer than [Options.PendingLimit].
//   - [NotDelivered]: the orders of [Options.Delivered] have reached DeliveryStarted or later.
//   - [CustomerExists]: an order's customer is a user, and every e-mail claim points at its user.
package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Invariant names one of the checked invariants (see the package documentation).
type Invariant string

// The invariants Check reports.
const (
	PaymentsPerOrder        Invariant = "payments-per-order"
	PaidOrderPayment        Invariant = "paid-order-payment"
	FailedOrderPayment      Invariant = "failed-order-payment"
	StockConserved          Invariant = "stock-conserved"
	ReservationMatchesOrder Invariant = "reservation-matches-order"
	OneNotification         Invariant = "one-notification"
	PendingTooOld           Invariant = "pending-too-old"
	NotDelivered            Invariant = "not-delivered"
	CustomerExists          Invariant = "customer-exists"
)

// Invariants returns every invariant, in the order Check reports them.
func Invariants() []Invariant {
	return []Invariant{PaymentsPerOrder, PaidOrderPayment, FailedOrderPayment, StockConserved,
		ReservationMatchesOrder, OneNotification, PendingTooOld, NotDelivered, CustomerExists}
}

// Violation is one broken invariant.
type Violation struct {
	Invariant Invariant `json:"invariant"`
	// ID is the document concerned: an order id, a product id or a user id.
	ID string `json:"id"`
	// Detail says what is wrong, with the values found.
	Detail string `json:"detail"`
}

// String formats the violation on one line.
func (v Violation) String() string { return fmt.Sprintf("%s %s: %s", v.Invariant, v.ID, v.Detail) }

// Report is the outcome of Check.
type Report struct {
	// Documents read, by kind.
	Orders        int `json:"orders"`
	Payments      int `json:"payments"`
	Products      int `json:"products"`
	Reservations  int `json:"reservations"`
	Notifications int `json:"notifications"`
	Users         int `json:"users"`
	// OrdersByStatus counts the orders in each status.
	OrdersByStatus map[string]int `json:"ordersByStatus"`
	// StockChecked is false when no starting stock was given and StockConserved was not checked.
	StockChecked bool `json:"stockChecked"`
	// Violations, sorted by invariant (in the order of Invariants), then id; empty, never nil, from Check.
	Violations []Violation `json:"violations"`
}

// Clean reports whether no invariant is broken.
func (r Report) Clean() bool { return len(r.Violations) == 0 }

// Count returns the number of violations of each invariant that has any.
func (r Report) Count() map[Invariant]int {
	n := make(map[Invariant]int)
	for _, v := range r.Violations {
		n[v.Invariant]++
	}
	return n
}

// Databases are the five service databases. Each must be set.
type Databases struct {
	User, Product, Order, Payment, Notification *mongo.Database
}

// Database names kitshop uses: each service keeps its own database, named after it, on a shared server.
const (
	UserDatabase         = "user"
	ProductDatabase      = "product"
	OrderDatabase        = "order"
	PaymentDatabase      = "payment"
	NotificationDatabase = "notification"
)

// FromClient returns the five databases of kitshop on the server of c, under their usual names.
func FromClient(c *mongo.Client) Databases {
	return Databases{
		User:         c.Database(UserDatabase),
		Product:      c.Database(ProductDatabase),
		Order:        c.Database(OrderDatabase),
		Payment:      c.Database(PaymentDatabase),
		Notification: c.Database(NotificationDatabase),
	}
}

func (d Databases) validate() error {
	if d.User == nil || d.Product == nil || d.Order == nil || d.Payment == nil || d.Notification == nil {
		return errors.New("audit: every one of the five databases is required")
	}
	return nil
}

// DefaultPendingLimit is how long an order may stay Pending when Options.PendingLimit is zero: the order
// service's own deadline (20 s), its sweeper's grace (30 s) and interval (5 s), with a margin.
const DefaultPendingLimit = 2 * time.Minute

// Options tune Check.
type Options struct {
	// InitialStock is the stock of each product before any reservation, as [Baseline] measures it. Products
	// missing from it (created since) are not checked for conservation; nil skips the check.
	InitialStock map[string]int64
	// PendingLimit is the longest an order may stay Pending; zero means DefaultPendingLimit.
	PendingLimit time.Duration
	// Delivered lists orders that must have reached DeliveryStarted or later (the orders a load test
	// created); each one that has not is a NotDelivered violation.
	Delivered []string
	// Now is the clock of PendingLimit; nil means time.Now.
	Now func() time.Time
}

// Order statuses, payment statuses and notification statuses as stored.
const (
	statusPending          = "Pending"
	statusPaymentCancelled = "PaymentCancelled"
	statusPaymentFailed    = "PaymentFailed"
	statusPaymentProcessed = "PaymentProcessed"
	statusDeliveryStarted  = "DeliveryStarted"
	statusDeliveryDone     = "DeliveryDone"

	paymentApproved = "Approved"
	paymentRejected = "Rejected"
	paymentRefunded = "Refunded"
	paymentVoided   = "Voided" // never charged: the processor refuses any charge under its key

	notificationSent = "Sent"
)

// paid reports whether an order in status s has been paid.
func paid(s string) bool {
	return s == statusPaymentProcessed || s == statusDeliveryStarted || s == statusDeliveryDone
}

// delivered reports whether an order in status s has started delivery.
func delivered(s string) bool { return s == statusDeliveryStarted || s == statusDeliveryDone }

// failed reports whether an order in status s ended without being paid.
func failed(s string) bool { return s == statusPaymentFailed || s == statusPaymentCancelled }

// Check reads the five databases and reports every violation of the invariants. It fails only when a
// database cannot be read.
func Check(ctx context.Context, dbs Databases, opts Options) (Report, error) {
	if err := dbs.validate(); err != nil {
		return Report{}, err
	}
	w, err := readWorld(ctx, dbs)
	if err != nil {
		return Report{}, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	limit := cmp.Or(opts.PendingLimit, DefaultPendingLimit)

	r := Report{
		Orders: len(w.orders), Payments: w.payments, Products: len(w.products),
		Reservations: len(w.reservations), Notifications: w.notifications, Users: len(w.users),
		OrdersByStatus: make(map[string]int), StockChecked: opts.InitialStock != nil,
		Violations: []Violation{},
	}
	add := func(inv Invariant, id, format string, args ...any) {
		r.Violations = append(r.Violations, Violation{Invariant: inv, ID: id, Detail: fmt.Sprintf(format, args...)})
	}
	for _, o := range w.orders {
		r.OrdersByStatus[o.Status]++
	}

	checkPayments(w, now(), limit, add)
	checkStock(w, opts.InitialStock, add)
	checkNotifications(w, add)
	checkOrders(w, now(), limit, opts.Delivered, add)

	rank := make(map[Invariant]int)
	for i, inv := range Invariants() {
		rank[inv] = i
	}
	slices.SortFunc(r.Violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(rank[a.Invariant], rank[b.Invariant]), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Detail, b.Detail))
	})
	return r, nil
}

type addFunc func(inv Invariant, id, format string, args ...any)

func checkPayments(w *world, now time.Time, limit time.Duration, add addFunc) {
	for _, id := range sortedKeys(w.paymentsByOrder) {
		ps := w.paymentsByOrder[id]
		if len(ps) > 1 {
			add(PaymentsPerOrder, id, "%d payments for one order", len(ps))
		}
		o, ok := w.orders[id]
		// A Pending order younger than the limit is in flight: its payment may be approved before the order
		// records it (or the sweeper settles it). Once older, PendingTooOld reports it.
		inFlight := ok && o.Status == statusPending && now.Sub(o.CreatedAt) <= limit
		for _, p := range ps {
			switch {
			case p.Status == paymentApproved && !ok:
				add(PaidOrderPayment, id, "payment %s is Approved but there is no such order", p.PaymentID)
			case p.Status == paymentApproved && !paid(o.Status) && !inFlight:
				add(PaidOrderPayment, id, "payment %s is Approved but the order is %s%s", p.PaymentID, o.Status, o.outboxNote())
			}
		}
	}
	for _, id := range sortedKeys(w.orders) {
		o := w.orders[id]
		ps := w.paymentsByOrder[id]
		switch {
		case paid(o.Status):
			approved := 0
			for _, p := range ps {
				if p.Status != paymentApproved {
					continue
				}
				approved++
				if p.Amount != o.Total {
					add(PaidOrderPayment, id, "payment %s approved %d for an order total of %d", p.PaymentID, p.Amount, o.Total)
				}
				if o.Payment.PaymentID != "" && o.Payment.PaymentID != p.PaymentID {
					add(PaidOrderPayment, id, "the order names payment %s but the approved payment is %s", o.Payment.PaymentID, p.PaymentID)
				}
			}
			if approved == 0 {
				add(PaidOrderPayment, id, "the order is %s without an Approved payment (%s)", o.Status, describePayments(ps))
			}
		case failed(o.Status):
			for _, p := range ps {
				if p.Status != paymentRejected && p.Status != paymentRefunded && p.Status != paymentVoided {
					add(FailedOrderPayment, id, "the order is %s but payment %s is %s%s", o.Status, p.PaymentID, p.Status, o.outboxNote())
				}
			}
		}
	}
}

func checkStock(w *world, initial map[string]int64, add addFunc) {
	kept, keptByOrder := w.keptUnits()
	if initial != nil {
		for _, id := range sortedKeys(w.products) {
			p := w.products[id]
			start, ok := initial[id]
			if !ok {
				continue
			}
			if want := start - kept[id]; p.Stock != want {
				add(StockConserved, id, "stock is %d, want %d (starting stock %d minus %d units kept by reservations)", p.Stock, want, start, kept[id])
			}
		}
		for _, id := range sortedKeys(initial) {
			if _, ok := w.products[id]; !ok {
				add(StockConserved, id, "the product had a starting stock of %d and is gone", initial[id])
			}
		}
	}
	for _, id := range sortedKeys(w.products) {
		if s := w.products[id].Stock; s < 0 {
			add(StockConserved, id, "stock is negative: %d", s)
		}
	}

	for _, id := range sortedKeys(w.orders) {
		o := w.orders[id]
		units := keptByOrder[id]
		switch {
		case paid(o.Status):
			if want := o.units(); !equalUnits(units, want) {
				add(ReservationMatchesOrder, id, "the order is %s and bought %s but its reservation keeps %s", o.Status, formatUnits(want), formatUnits(units))
			}
		case failed(o.Status):
			if len(units) > 0 {
				add(ReservationMatchesOrder, id, "the order is %s but its reservation still keeps %s%s", o.Status, formatUnits(units), o.outboxNote())
			}
		}
	}
	for _, id := range sortedKeys(keptByOrder) {
		if _, ok := w.orders[id]; !ok {
			add(ReservationMatchesOrder, id, "a reservation keeps %s for an order that does not exist", formatUnits(keptByOrder[id]))
		}
	}
}

func checkNotifications(w *world, add addFunc) {
	for _, id := range sortedKeys(w.orders) {
		o := w.orders[id]
		if !delivered(o.Status) {
			continue
		}
		ns := w.notificationsByOrder[id]
		switch {
		case len(ns) == 0:
			add(OneNotification, id, "the order is %s without a notification", o.Status)
		case len(ns) > 1:
			add(OneNotification, id, "the order is %s with %d notifications", o.Status, len(ns))
		case ns[0].Status != notificationSent:
			add(OneNotification, id, "the order is %s but its notification is %s", o.Status, ns[0].Status)
		}
	}
	for _, id := range sortedKeys(w.notificationsByOrder) {
		o, ok := w.orders[id]
		switch {
		case !ok:
			add(OneNotification, id, "a notification for an order that does not exist")
		case !paid(o.Status):
			add(OneNotification, id, "a notification for an order that is %s", o.Status)
		}
	}
}

func checkOrders(w *world, now time.Time, limit time.Duration, mustDeliver []string, add addFunc) {
	for _, id := range sortedKeys(w.orders) {
		o := w.orders[id]
		if o.Status == statusPending && now.Sub(o.CreatedAt) > limit {
			add(PendingTooOld, id, "Pending since %s (%s, limit %s)", o.CreatedAt.UTC().Format(time.RFC3339), now.Sub(o.CreatedAt).Round(time.Second), limit)
		}
		if o.Customer.UserID == "" {
			add(CustomerExists, id, "the order has no customer")
		} else if _, ok := w.users[o.Customer.UserID]; !ok {
			add(CustomerExists, id, "the order's customer %s is not a user", o.Customer.UserID)
		}
	}
	for _, email := range sortedKeys(w.emails) {
		uid := w.emails[email]
		u, ok := w.users[uid]
		switch {
		case !ok:
			add(CustomerExists, uid, "the e-mail claim %s points at a user that does not exist", email)
		case u.Email != email:
			add(CustomerExists, uid, "the e-mail claim %s points at a user whose e-mail is %s", email, u.Email)
		}
	}
	seen := make(map[string]bool, len(mustDeliver))
	for _, id := range mustDeliver {
		if seen[id] {
			continue
		}
		seen[id] = true
		o, ok := w.orders[id]
		switch {
		case !ok:
			add(NotDelivered, id, "the order does not exist")
		case !delivered(o.Status):
			add(NotDelivered, id, "the order is %s%s", o.Status, o.outboxNote())
		}
	}
}

func describePayments(ps []paymentDoc) string {
	if len(ps) == 0 {
		return "no payment"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += "payment " + p.PaymentID + " " + p.Status
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// units are product quantities by product id.
type units map[string]int64

func equalUnits(a, b units) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func formatUnits(u units) string {
	if len(u) == 0 {
		return "nothing"
	}
	s := ""
	for i, k := range sortedKeys(u) {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s×%d", k, u[k])
	}
	return s
}

// idString returns a document id as a string: a string _id as it is, an ObjectID in hex.
func idString(v bson.RawValue) string {
	if s, ok := v.StringValueOK(); ok {
		return s
	}
	if oid, ok := v.ObjectIDOK(); ok {
		return oid.Hex()
	}
	return v.String()
}
