package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The documents as the services store them, reduced to the fields the invariants need. Extra fields are
// ignored, so the services may add some freely.

// orderDoc is an order (order database, orders collection, _id = order id).
type orderDoc struct {
	ID       bson.RawValue `bson:"_id"`
	Status   string        `bson:"status"`
	Customer struct {
		UserID string `bson:"userId"`
	} `bson:"customer"`
	Products []struct {
		ProductID string `bson:"productId"`
		Quantity  int64  `bson:"quantity"`
	} `bson:"products"`
	Total   int64 `bson:"total"`
	Payment struct {
		PaymentID string `bson:"paymentId"`
		Status    string `bson:"paymentStatus"`
	} `bson:"payment"`
	CreatedAt time.Time `bson:"createdAt"`
	// The outbox: side effects still due.
	Notify       bson.RawValue `bson:"notify"`
	ReleaseStock bool          `bson:"releaseStock"`
	Refund       bool          `bson:"refund"`
}

// units returns the quantities the order bought, by product.
func (o orderDoc) units() units {
	u := make(units)
	for _, l := range o.Products {
		u[l.ProductID] += l.Quantity
	}
	return u
}

// outboxNote names the side effects still due on the order, for violation details.
func (o orderDoc) outboxNote() string {
	var due []string
	if o.ReleaseStock {
		due = append(due, "stock release")
	}
	if o.Refund {
		due = append(due, "refund")
	}
	if !o.Notify.IsZero() && o.Notify.Type != bson.TypeNull {
		due = append(due, "notification")
	}
	if len(due) == 0 {
		return ""
	}
	return fmt.Sprintf(" (still due in its outbox: %v)", due)
}

// paymentDoc is a payment (payment database, payments collection, _id = order id).
type paymentDoc struct {
	ID        bson.RawValue `bson:"_id"`
	OrderID   string        `bson:"orderId"`
	PaymentID string        `bson:"paymentId"`
	Status    string        `bson:"status"`
	Amount    int64         `bson:"amount"`
}

// productDoc is a product (product database, products collection, _id = product id).
type productDoc struct {
	ID        bson.RawValue `bson:"_id"`
	Stock     int64         `bson:"stock"`
	Inflight  []string      `bson:"inflight"`
	Returning []string      `bson:"returning"`
}

// reservationDoc is a stock reservation (product database, reservations collection, _id = order id). Its
// current state is State changed by the entries of Log that apply, in order (product.MongoStore's
// UpdateReservation); a store that updates State in place has no Log.
type reservationDoc struct {
	ID    bson.RawValue `bson:"_id"`
	State string        `bson:"state"`
	Owner string        `bson:"owner"`
	Items []struct {
		ProductID string `bson:"productId"`
		Quantity  int64  `bson:"quantity"`
	} `bson:"items"`
	Log []struct {
		IfState string `bson:"ifState"`
		IfOwner string `bson:"ifOwner"`
		State   string `bson:"state"`
		Owner   string `bson:"owner"`
	} `bson:"log"`
}

// Reservation states (product/stock.go).
const (
	reservationPending   = "pending"
	reservationReserved  = "reserved"
	reservationReleasing = "releasing"
)

// state folds the log into the reservation's current state.
func (r reservationDoc) state() string {
	state, owner := r.State, r.Owner
	for _, c := range r.Log {
		if state != c.IfState || (c.IfOwner != "" && owner != c.IfOwner) {
			continue
		}
		if c.State != "" {
			state = c.State
		}
		if c.Owner != "" {
			owner = c.Owner
		}
	}
	return state
}

// notificationDoc is a notification (notification database, notifications collection, _id = order id).
type notificationDoc struct {
	ID      bson.RawValue `bson:"_id"`
	OrderID string        `bson:"orderId"`
	Status  string        `bson:"status"`
}

// userDoc is a user (user database, users collection, _id = user id).
type userDoc struct {
	ID    bson.RawValue `bson:"_id"`
	Email string        `bson:"email"`
}

// emailDoc is an e-mail claim (user database, emails collection, _id = e-mail).
type emailDoc struct {
	ID     bson.RawValue `bson:"_id"`
	UserID string        `bson:"userId"`
}

// world is everything Check reads, indexed.
type world struct {
	orders               map[string]orderDoc
	paymentsByOrder      map[string][]paymentDoc
	payments             int
	products             map[string]productDoc
	reservations         map[string]reservationDoc
	notificationsByOrder map[string][]notificationDoc
	notifications        int
	users                map[string]userDoc
	emails               map[string]string // e-mail → user id
}

// orderKey is the order a payment or notification belongs to: its orderId field if it has one, else its _id.
func orderKey(orderID string, id bson.RawValue) string {
	if orderID != "" {
		return orderID
	}
	return idString(id)
}

func readWorld(ctx context.Context, dbs Databases) (*world, error) {
	w := &world{
		orders:               make(map[string]orderDoc),
		paymentsByOrder:      make(map[string][]paymentDoc),
		products:             make(map[string]productDoc),
		reservations:         make(map[string]reservationDoc),
		notificationsByOrder: make(map[string][]notificationDoc),
		users:                make(map[string]userDoc),
		emails:               make(map[string]string),
	}
	err := readAll(ctx, dbs.Order.Collection("orders"), func(d orderDoc) { w.orders[idString(d.ID)] = d })
	if err != nil {
		return nil, err
	}
	err = readAll(ctx, dbs.Payment.Collection("payments"), func(d paymentDoc) {
		k := orderKey(d.OrderID, d.ID)
		w.paymentsByOrder[k] = append(w.paymentsByOrder[k], d)
		w.payments++
	})
	if err != nil {
		return nil, err
	}
	if w.products, err = readProducts(ctx, dbs.Product); err != nil {
		return nil, err
	}
	err = readAll(ctx, dbs.Product.Collection("reservations"), func(d reservationDoc) { w.reservations[idString(d.ID)] = d })
	if err != nil {
		return nil, err
	}
	err = readAll(ctx, dbs.Notification.Collection("notifications"), func(d notificationDoc) {
		k := orderKey(d.OrderID, d.ID)
		w.notificationsByOrder[k] = append(w.notificationsByOrder[k], d)
		w.notifications++
	})
	if err != nil {
		return nil, err
	}
	if err = readAll(ctx, dbs.User.Collection("users"), func(d userDoc) { w.users[idString(d.ID)] = d }); err != nil {
		return nil, err
	}
	err = readAll(ctx, dbs.User.Collection("emails"), func(d emailDoc) { w.emails[idString(d.ID)] = d.UserID })
	if err != nil {
		return nil, err
	}
	return w, nil
}

func readProducts(ctx context.Context, db *mongo.Database) (map[string]productDoc, error) {
	ps := make(map[string]productDoc)
	err := readAll(ctx, db.Collection("products"), func(d productDoc) { ps[idString(d.ID)] = d })
	return ps, err
}

// readAll decodes every document of c into a T and hands it to fn.
func readAll[T any](ctx context.Context, c *mongo.Collection, fn func(T)) error {
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("audit: read %s.%s: %w", c.Database().Name(), c.Name(), err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d T
		if err = cur.Decode(&d); err != nil {
			return fmt.Errorf("audit: decode a document of %s.%s: %w", c.Database().Name(), c.Name(), err)
		}
		fn(d)
	}
	if err = cur.Err(); err != nil {
		return fmt.Errorf("audit: read %s.%s: %w", c.Database().Name(), c.Name(), err)
	}
	return nil
}

// keptUnits returns the units the reservations keep out of stock, by product and by order. A reservation
// keeps its items while reserved; while pending, those whose take is applied (the product carries the
// order's inflight mark); while releasing, those whose return is not yet applied (no returning mark).
// Failed and released reservations keep nothing.
func (w *world) keptUnits() (byProduct units, byOrder map[string]units) {
	byProduct = make(units)
	byOrder = make(map[string]units)
	marked := func(productID string, marks func(productDoc) []string, orderID string) bool {
		p, ok := w.products[productID]
		if !ok {
			return false
		}
		for _, m := range marks(p) {
			if m == orderID {
				return true
			}
		}
		return false
	}
	inflight := func(p productDoc) []string { return p.Inflight }
	returning := func(p productDoc) []string { return p.Returning }
	for id, r := range w.reservations {
		state := r.state()
		for _, it := range r.Items {
			var keep bool
			switch state {
			case reservationReserved:
				keep = true
			case reservationPending:
				keep = marked(it.ProductID, inflight, id)
			case reservationReleasing:
				keep = !marked(it.ProductID, returning, id)
			}
			if !keep {
				continue
			}
			byProduct[it.ProductID] += it.Quantity
			if byOrder[id] == nil {
				byOrder[id] = make(units)
			}
			byOrder[id][it.ProductID] += it.Quantity
		}
	}
	return byProduct, byOrder
}

// Baseline returns the stock each product would have without any reservation: its stock now plus the units
// reservations keep. Taken while the system is quiet, before a load test, it is the Options.InitialStock
// that Check compares with afterwards.
func Baseline(ctx context.Context, dbs Databases) (map[string]int64, error) {
	if err := dbs.validate(); err != nil {
		return nil, err
	}
	w := &world{reservations: make(map[string]reservationDoc)}
	var err error
	if w.products, err = readProducts(ctx, dbs.Product); err != nil {
		return nil, err
	}
	err = readAll(ctx, dbs.Product.Collection("reservations"), func(d reservationDoc) { w.reservations[idString(d.ID)] = d })
	if err != nil {
		return nil, err
	}
	kept, _ := w.keptUnits()
	initial := make(map[string]int64, len(w.products))
	for id, p := range w.products {
		initial[id] = p.Stock + kept[id]
	}
	return initial, nil
}

// WaitDelivered waits until every order of ids has reached DeliveryStarted or later, polling the order
// database every interval, and returns the ids still short of it when ctx ends (nil when all made it; ctx's
// end is then not an error). An order that is missing counts as not delivered. It fails only when the
// database cannot be read.
func WaitDelivered(ctx context.Context, db *mongo.Database, ids []string, interval time.Duration) ([]string, error) {
	if db == nil {
		return nil, errors.New("audit: the order database is required")
	}
	remaining := make(map[string]bool, len(ids))
	for _, id := range ids {
		remaining[id] = true
	}
	orders := db.Collection("orders")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := dropDelivered(ctx, orders, remaining); err != nil {
			// The driver gives up on a command when less time is left than a round trip takes, before ctx
			// itself ends: that is the end of the wait too.
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				return sortedKeys(remaining), nil
			}
			return nil, err
		}
		if len(remaining) == 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return sortedKeys(remaining), nil
		case <-t.C:
		}
	}
}

// scanAbove is the number of remaining orders above which dropDelivered reads the status of every order in
// one query instead of each remaining one by its _id: on the embedded store only an exact _id lookup is indexed,
// so one scan beats many lookups when many remain.
const scanAbove = 200

// dropDelivered removes from remaining the orders that have reached DeliveryStarted or later.
func dropDelivered(ctx context.Context, orders *mongo.Collection, remaining map[string]bool) error {
	type statusDoc struct {
		ID     bson.RawValue `bson:"_id"`
		Status string        `bson:"status"`
	}
	if len(remaining) > scanAbove {
		cur, err := orders.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "status", Value: 1}}))
		if err != nil {
			return fmt.Errorf("audit: read order statuses: %w", err)
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			var d statusDoc
			if err = cur.Decode(&d); err != nil {
				return fmt.Errorf("audit: decode an order: %w", err)
			}
			if delivered(d.Status) {
				delete(remaining, idString(d.ID))
			}
		}
		if err = cur.Err(); err != nil {
			return fmt.Errorf("audit: read order statuses: %w", err)
		}
		return nil
	}
	for id := range remaining {
		var d statusDoc
		err := orders.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
		switch {
		case err == nil:
			if delivered(d.Status) {
				delete(remaining, id)
			}
		case errors.Is(err, mongo.ErrNoDocuments):
		default:
			return fmt.Errorf("audit: read order %s: %w", id, err)
		}
	}
	return nil
}
