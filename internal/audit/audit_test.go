package audit_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

// storeURI is the embedded store every test shares; each test uses databases of its own, through a client
// of its own, so that parallel tests do not queue on one connection.
var storeURI string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "audit-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	e, err := embedded.Start(ctx, embedded.Options{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	storeURI = e.URI()
	return m.Run()
}

// sampleStock is the starting stock of every product of a test world.
const sampleStock = 100

// world is a small consistent kitshop, written by the services' own stores so that its documents have
// exactly the shapes the services write:
//
//	delivered   DeliveryStarted, sample-1×2 sample-3×1 reserved, payment Approved, notification Sent (user u1)
//	paid        PaymentProcessed, sample-2×1 reserved, payment Approved, no notification yet (u1)
//	declined    PaymentFailed, its reservation released, payment Rejected (u1)
//	cancelled   PaymentCancelled, its reservation failed (out of stock), no payment (u1)
//	refunded    PaymentFailed, its reservation released, payment Approved then Refunded (u2)
//	inflight    Pending, created a moment ago, sample-4×1 reserved, no payment yet (u1)
type world struct {
	dbs     audit.Databases
	initial map[string]int64
}

// Order ids and user ids of a world.
const (
	delivered = "order-delivered"
	paid      = "order-paid"
	declined  = "order-declined"
	cancelled = "order-cancelled"
	refunded  = "order-refunded"
	inflight  = "order-inflight"
	u1, u2    = "user-1", "user-2"
)

// worlds numbers the worlds made, so that each has databases of its own also when the tests run again in
// the same process (go test -count).
var worlds atomic.Int64

func newWorld(t *testing.T, name string) world {
	t.Helper()
	ctx := t.Context()
	name = fmt.Sprintf("%s_%d", name, worlds.Add(1))
	client, err := mongo.Connect(options.Client().ApplyURI(storeURI))
	must(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	dbs := audit.Databases{
		User:         client.Database(name + "_user"),
		Product:      client.Database(name + "_product"),
		Order:        client.Database(name + "_order"),
		Payment:      client.Database(name + "_payment"),
		Notification: client.Database(name + "_notification"),
	}
	now := time.Now().UTC().Truncate(time.Millisecond)

	users, err := user.NewMongoStore(ctx, dbs.User)
	must(t, err)
	for _, u := range []string{u1, u2} {
		must(t, users.Create(ctx, user.Account{
			User:         user.User{ID: u, Email: u + "@example.com", Name: u, Role: "user"},
			PasswordHash: []byte("not-a-real-hash"), CreatedAt: now,
		}))
	}

	pstore, err := product.NewMongoStore(ctx, dbs.Product)
	must(t, err)
	products, err := product.NewService(pstore, product.Options{SampleStock: sampleStock})
	must(t, err)
	_, err = products.CreateSamples(ctx)
	must(t, err)
	initial := make(map[string]int64)
	for _, p := range product.SampleProducts(sampleStock) {
		initial[p.ID] = p.Stock
	}

	ostore, err := order.NewMongoStore(ctx, dbs.Order)
	must(t, err)
	paystore, err := payment.NewMongoStore(ctx, dbs.Payment)
	must(t, err)
	nstore, err := notification.NewMongoStore(ctx, dbs.Notification)
	must(t, err)

	type line struct {
		id  string
		qty int64
	}
	prices := map[string]int64{}
	for _, p := range product.SampleProducts(sampleStock) {
		prices[p.ID] = p.Price
	}
	place := func(id, uid string, lines ...line) order.Order {
		o := order.Order{
			ID:        id,
			Customer:  order.Customer{UserID: uid, Email: uid + "@example.com", Name: uid},
			Address:   order.Address{Name: uid, Street: "1 Sejong-daero", City: "Seoul", PostalCode: "04524", Country: "KR"},
			Status:    order.StatusPending,
			CreatedAt: now, UpdatedAt: now,
		}
		for _, l := range lines {
			o.Products = append(o.Products, order.Line{ProductID: l.id, Name: l.id, Price: prices[l.id], Quantity: l.qty})
			o.Total += prices[l.id] * l.qty
		}
		o.Payment = order.PaymentSummary{Method: order.MethodKakao, Name: uid, Amount: o.Total, Status: order.PaymentPending}
		must(t, ostore.Insert(ctx, o))
		return o
	}
	reserve := func(o order.Order) error {
		items := make([]product.Item, len(o.Products))
		for i, l := range o.Products {
			items[i] = product.Item{ProductID: l.ProductID, Quantity: l.Quantity}
		}
		_, err := products.ReserveStock(ctx, o.ID, items)
		return err
	}
	pay := func(o order.Order, status payment.Status) {
		must(t, paystore.Create(ctx, payment.Payment{
			ID: "pay-" + o.ID, OrderID: o.ID, Status: payment.StatusPending, Method: payment.Method("Kakao"),
			Amount: o.Total, UserEmail: o.Customer.Email, CreatedAt: now, UpdatedAt: now,
		}))
		if status != payment.StatusPending {
			_, err := paystore.Transition(ctx, o.ID, payment.StatusPending, payment.Transition{To: status, At: now})
			must(t, err)
		}
	}
	move := func(o order.Order, to order.Status, ps order.PaymentStatus) {
		sum := o.Payment
		sum.Status = ps
		if ps != order.PaymentPending {
			sum.PaymentID = "pay-" + o.ID
		}
		_, err := ostore.Transition(ctx, o.ID, o.Status, to, order.Change{Payment: &sum, At: now})
		must(t, err)
	}

	o := place(delivered, u1, line{"sample-1", 2}, line{"sample-3", 1})
	must(t, reserve(o))
	pay(o, payment.StatusApproved)
	move(o, order.StatusPaymentProcessed, order.PaymentApproved)
	o.Status = order.StatusPaymentProcessed
	must(t, nstore.Insert(ctx, notification.Notification{
		OrderID: delivered, UserID: u1, From: "shop@example.com", To: o.Customer.Email,
		Subject: "paid", Content: "paid", CreatedAt: now,
	}, notification.Lease{Owner: "test", Until: now.Add(time.Minute)}))
	_, err = nstore.MarkSent(ctx, delivered, now)
	must(t, err)
	move(o, order.StatusDeliveryStarted, order.PaymentApproved)

	o = place(paid, u1, line{"sample-2", 1})
	must(t, reserve(o))
	pay(o, payment.StatusApproved)
	move(o, order.StatusPaymentProcessed, order.PaymentApproved)

	o = place(declined, u1, line{"sample-1", 1}, line{"sample-5", 3})
	must(t, reserve(o))
	pay(o, payment.StatusRejected)
	move(o, order.StatusPaymentFailed, order.PaymentRejected)
	_, err = products.ReleaseStock(ctx, declined)
	must(t, err)

	o = place(cancelled, u1, line{"sample-2", sampleStock + 1})
	if err := reserve(o); err == nil {
		t.Fatal("reserving more than the stock succeeded")
	}
	move(o, order.StatusPaymentCancelled, order.PaymentPending)

	o = place(refunded, u2, line{"sample-3", 2})
	must(t, reserve(o))
	pay(o, payment.StatusApproved)
	_, err = paystore.Transition(ctx, refunded, payment.StatusApproved, payment.Transition{To: payment.StatusRefunded, At: now})
	must(t, err)
	move(o, order.StatusPaymentFailed, order.PaymentRefunded)
	_, err = products.ReleaseStock(ctx, refunded)
	must(t, err)

	o = place(inflight, u1, line{"sample-4", 1})
	must(t, reserve(o))

	return world{dbs: dbs, initial: initial}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// found is what a test expects of a report: the violations as "invariant id".
func found(r audit.Report) []string {
	var got []string
	for _, v := range r.Violations {
		got = append(got, string(v.Invariant)+" "+v.ID)
	}
	slices.Sort(got)
	return slices.Compact(got)
}

func TestConsistentWorldIsClean(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "clean")
	r, err := audit.Check(t.Context(), w.dbs, audit.Options{InitialStock: w.initial})
	must(t, err)
	if !r.Clean() {
		t.Fatalf("violations in a consistent world:\n%s", violations(r))
	}
	if r.Orders != 6 || r.Payments != 4 || r.Notifications != 1 || r.Users != 2 || r.Products != 5 || r.Reservations != 6 {
		t.Errorf("read %+v, want 6 orders, 4 payments, 1 notification, 2 users, 5 products, 6 reservations", r)
	}
	if !r.StockChecked {
		t.Error("StockChecked is false with a starting stock")
	}
	if r.OrdersByStatus["PaymentFailed"] != 2 || r.OrdersByStatus["DeliveryStarted"] != 1 {
		t.Errorf("OrdersByStatus = %v", r.OrdersByStatus)
	}
}

func TestBaselineAddsBackKeptUnits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "baseline")
	got, err := audit.Baseline(t.Context(), w.dbs)
	must(t, err)
	if len(got) != len(w.initial) {
		t.Fatalf("Baseline = %v, want %v", got, w.initial)
	}
	for id, want := range w.initial {
		if got[id] != want {
			t.Errorf("Baseline[%s] = %d, want %d (stock now plus units kept)", id, got[id], want)
		}
	}
}

func TestEachCorruptionIsReported(t *testing.T) {
	t.Parallel()
	later := func() time.Time { return time.Now().Add(time.Hour) }
	tests := []struct {
		name    string
		corrupt func(ctx context.Context, t *testing.T, w world)
		opts    func(w world) audit.Options
		want    []string
	}{{
		name: "second payment for an order",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Payment, "payments", bson.D{
				{Key: "_id", Value: "another-payment"}, {Key: "orderId", Value: delivered},
				{Key: "paymentId", Value: "pay-2"}, {Key: "status", Value: "Rejected"}, {Key: "amount", Value: int64(5000)},
			})
		},
		want: []string{"payments-per-order " + delivered},
	}, {
		name: "delivered order without an approved payment",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			set(ctx, t, w.dbs.Payment, "payments", delivered, bson.D{{Key: "status", Value: "Pending"}})
		},
		want: []string{"paid-order-payment " + delivered},
	}, {
		name: "approved payment for a different amount",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			set(ctx, t, w.dbs.Payment, "payments", paid, bson.D{{Key: "amount", Value: int64(1)}})
		},
		want: []string{"paid-order-payment " + paid},
	}, {
		name: "approved payment of a declined order",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			set(ctx, t, w.dbs.Payment, "payments", declined, bson.D{{Key: "status", Value: "Approved"}})
		},
		want: []string{"failed-order-payment " + declined, "paid-order-payment " + declined},
	}, {
		name: "pending payment of a cancelled order",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Payment, "payments", bson.D{
				{Key: "_id", Value: cancelled}, {Key: "paymentId", Value: "pay-c"},
				{Key: "status", Value: "Pending"}, {Key: "amount", Value: int64(2000)},
			})
		},
		want: []string{"failed-order-payment " + cancelled},
	}, {
		name: "voided payment of a cancelled order (never charged: fine)",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Payment, "payments", bson.D{
				{Key: "_id", Value: cancelled}, {Key: "paymentId", Value: "pay-c"},
				{Key: "status", Value: "Voided"}, {Key: "amount", Value: int64(2000)},
			})
		},
		want: nil,
	}, {
		name: "voided payment of a delivered order",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			set(ctx, t, w.dbs.Payment, "payments", delivered, bson.D{{Key: "status", Value: "Voided"}})
		},
		want: []string{"paid-order-payment " + delivered},
	}, {
		name: "stock changed behind the reservations' back",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			inc(ctx, t, w.dbs.Product, "products", "sample-5", "stock", 1)
		},
		want: []string{"stock-conserved sample-5"},
	}, {
		name: "released reservation back to reserved",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			// A reservation with the state in place (no log), as a store that updates in place writes it.
			set(ctx, t, w.dbs.Product, "reservations", declined, bson.D{{Key: "state", Value: "reserved"}, {Key: "log", Value: bson.A{}}})
		},
		want: []string{"reservation-matches-order " + declined, "stock-conserved sample-1", "stock-conserved sample-5"},
	}, {
		name: "paid order whose reservation keeps other units",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			set(ctx, t, w.dbs.Order, "orders", paid, bson.D{{Key: "products.0.quantity", Value: int64(5)}})
		},
		want: []string{"reservation-matches-order " + paid},
	}, {
		name: "stock kept for an order that does not exist",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Product, "reservations", bson.D{
				{Key: "_id", Value: "ghost"}, {Key: "state", Value: "reserved"},
				{Key: "items", Value: bson.A{bson.D{{Key: "productId", Value: "sample-4"}, {Key: "quantity", Value: int64(1)}}}},
			})
			inc(ctx, t, w.dbs.Product, "products", "sample-4", "stock", -1)
		},
		want: []string{"reservation-matches-order ghost"},
	}, {
		name: "delivered order without its notification",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			remove(ctx, t, w.dbs.Notification, "notifications", delivered)
		},
		want: []string{"one-notification " + delivered},
	}, {
		name: "delivered order whose notification was never sent",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			set(ctx, t, w.dbs.Notification, "notifications", delivered, bson.D{{Key: "status", Value: "Pending"}})
		},
		want: []string{"one-notification " + delivered},
	}, {
		name: "second notification for a delivered order",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Notification, "notifications", bson.D{
				{Key: "_id", Value: "another-notification"}, {Key: "orderId", Value: delivered}, {Key: "status", Value: "Sent"},
			})
		},
		want: []string{"one-notification " + delivered},
	}, {
		name: "notification for a cancelled order",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Notification, "notifications", bson.D{{Key: "_id", Value: cancelled}, {Key: "status", Value: "Sent"}})
		},
		want: []string{"one-notification " + cancelled},
	}, {
		name: "order pending too long",
		opts: func(w world) audit.Options {
			return audit.Options{InitialStock: w.initial, Now: later}
		},
		want: []string{"pending-too-old " + inflight},
	}, {
		name: "approved payment of an order in flight",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Payment, "payments", bson.D{
				{Key: "_id", Value: inflight}, {Key: "paymentId", Value: "pay-i"},
				{Key: "status", Value: "Approved"}, {Key: "amount", Value: int64(2000)},
			})
		},
		want: nil, // the order may record it any moment
	}, {
		name: "approved payment of an order pending too long",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			insert(ctx, t, w.dbs.Payment, "payments", bson.D{
				{Key: "_id", Value: inflight}, {Key: "paymentId", Value: "pay-i"},
				{Key: "status", Value: "Approved"}, {Key: "amount", Value: int64(2000)},
			})
		},
		opts: func(w world) audit.Options {
			return audit.Options{InitialStock: w.initial, Now: later}
		},
		want: []string{"paid-order-payment " + inflight, "pending-too-old " + inflight},
	}, {
		name: "orders that should have been delivered",
		opts: func(w world) audit.Options {
			return audit.Options{InitialStock: w.initial, Delivered: []string{delivered, paid, "never-made"}}
		},
		want: []string{"not-delivered never-made", "not-delivered " + paid},
	}, {
		name: "customer who is not a user",
		corrupt: func(ctx context.Context, t *testing.T, w world) {
			remove(ctx, t, w.dbs.User, "users", u2)
		},
		want: []string{"customer-exists " + refunded, "customer-exists " + u2},
	}}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			w := newWorld(t, fmt.Sprintf("corrupt%02d", i))
			if tt.corrupt != nil {
				tt.corrupt(ctx, t, w)
			}
			opts := audit.Options{InitialStock: w.initial}
			if tt.opts != nil {
				opts = tt.opts(w)
			}
			r, err := audit.Check(ctx, w.dbs, opts)
			must(t, err)
			if got := found(r); !slices.Equal(got, tt.want) {
				t.Errorf("violations %q, want %q; in full:\n%s", got, tt.want, violations(r))
			}
		})
	}
}

func TestWaitDelivered(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "wait")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	left, err := audit.WaitDelivered(ctx, w.dbs.Order, []string{delivered, paid, "never-made"}, 50*time.Millisecond)
	must(t, err)
	if want := []string{"never-made", paid}; !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	left, err = audit.WaitDelivered(t.Context(), w.dbs.Order, []string{delivered}, time.Second)
	must(t, err)
	if left != nil {
		t.Errorf("left %q for a delivered order", left)
	}
}

func TestCheckNeedsEveryDatabase(t *testing.T) {
	t.Parallel()
	if _, err := audit.Check(t.Context(), audit.Databases{}, audit.Options{}); err == nil {
		t.Error("Check without databases did not fail")
	}
	if _, err := audit.Baseline(t.Context(), audit.Databases{}); err == nil {
		t.Error("Baseline without databases did not fail")
	}
}

func violations(r audit.Report) string {
	var b strings.Builder
	for _, v := range r.Violations {
		b.WriteString(v.String() + "\n")
	}
	return b.String()
}

func insert(ctx context.Context, t *testing.T, db *mongo.Database, coll string, doc bson.D) {
	t.Helper()
	_, err := db.Collection(coll).InsertOne(ctx, doc)
	must(t, err)
}

func set(ctx context.Context, t *testing.T, db *mongo.Database, coll, id string, fields bson.D) {
	t.Helper()
	res, err := db.Collection(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: fields}})
	must(t, err)
	if res.MatchedCount != 1 {
		t.Fatalf("no %s %s to corrupt", coll, id)
	}
}

func inc(ctx context.Context, t *testing.T, db *mongo.Database, coll, id, field string, by int64) {
	t.Helper()
	res, err := db.Collection(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: field, Value: by}}}})
	must(t, err)
	if res.MatchedCount != 1 {
		t.Fatalf("no %s %s to corrupt", coll, id)
	}
}

func remove(ctx context.Context, t *testing.T, db *mongo.Database, coll, id string) {
	t.Helper()
	res, err := db.Collection(coll).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	must(t, err)
	if res.DeletedCount != 1 {
		t.Fatalf("no %s %s to delete", coll, id)
	}
}
