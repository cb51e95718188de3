package order

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// memStore is an in-memory Store with MongoStore's semantics. It counts the
// calls that reach it.
type memStore struct {
	mu         sync.Mutex
	orders     map[string]Order
	lists      map[string][]string // each customer's order ids, oldest first
	statuses   map[Status][]string // each status's list (statusEntry), oldest first
	work       map[string]Work
	failNext   error // returned once by the next Transition
	failGet    error // returned by Get while set
	failInsert error // returned by Insert while set
	failList   error // while set, Insert stores the order unlisted and returns it, ListOrder returns it
	calls      map[string]int
}

func newMemStore() *memStore {
	return &memStore{orders: map[string]Order{}, lists: map[string][]string{}, statuses: map[Status][]string{},
		work: map[string]Work{}, calls: map[string]int{}}
}

// callsTo returns how many times method was called.
func (m *memStore) callsTo(method string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[method]
}

// callLog shows the calls counted, by method.
func (m *memStore) callLog() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprint(m.calls)
}

// resetCalls forgets the calls counted so far.
func (m *memStore) resetCalls() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = map[string]int{}
}

func (m *memStore) Insert(_ context.Context, o Order) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["Insert"]++
	if m.failInsert != nil {
		return m.failInsert
	}
	m.listStatus(o.ID, o.Status, o.UpdatedAt)
	if _, ok := m.orders[o.ID]; ok {
		return ErrDuplicateOrder
	}
	m.orders[o.ID] = clone(o)
	if m.failList != nil {
		return m.failList // stored, its listing failed (MongoStore.Insert's second write)
	}
	m.lists[o.Customer.UserID] = append(m.lists[o.Customer.UserID], o.ID)
	return nil
}

func (m *memStore) ListOrder(_ context.Context, o Order) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["ListOrder"]++
	if m.failList != nil {
		return m.failList
	}
	if !slices.Contains(m.lists[o.Customer.UserID], o.ID) {
		m.lists[o.Customer.UserID] = append(m.lists[o.Customer.UserID], o.ID)
	}
	return nil
}

func (m *memStore) Get(_ context.Context, id string) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["Get"]++
	if m.failGet != nil {
		return Order{}, m.failGet
	}
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrNotFound
	}
	return clone(o), nil
}

func (m *memStore) Transition(_ context.Context, id string, from, to Status, ch Change) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["Transition"]++
	m.listStatus(id, to, ch.At)
	if err := m.failNext; err != nil {
		m.failNext = nil
		return Order{}, err // listed under to, not moved: a crash between the two writes
	}
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrNotFound
	}
	if o.Status != from {
		return clone(o), ErrStaleStatus
	}
	o.Status, o.UpdatedAt = to, ch.At
	if ch.Payment != nil {
		o.Payment = *ch.Payment
	}
	if ch.FailureReason != "" {
		o.FailureReason = ch.FailureReason
	}
	o.Outbox = merge(without(o.Outbox, ch.Done), ch.Outbox)
	m.orders[id] = o
	return clone(o), nil
}

// without is b with the side effects of done cleared.
func without(b, done Outbox) Outbox {
	if done.Notify != nil {
		b.Notify = nil
	}
	b.ReleaseStock = b.ReleaseStock && !done.ReleaseStock
	b.Refund = b.Refund && !done.Refund
	return b
}

func merge(a, b Outbox) Outbox {
	if b.Notify != nil {
		n := *b.Notify
		a.Notify = &n
	}
	a.ReleaseStock = a.ReleaseStock || b.ReleaseStock
	a.Refund = a.Refund || b.Refund
	return a
}

func (m *memStore) AddOutbox(_ context.Context, id string, b Outbox) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["AddOutbox"]++
	o, ok := m.orders[id]
	if !ok {
		return ErrNotFound
	}
	o.Outbox = merge(o.Outbox, b)
	m.orders[id] = o
	return nil
}

func (m *memStore) ClearOutbox(_ context.Context, id string, b Outbox) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["ClearOutbox"]++
	o, ok := m.orders[id]
	if !ok {
		return nil
	}
	o.Outbox = without(o.Outbox, b)
	m.orders[id] = o
	return nil
}

// ListByCustomer lists newest first, by position in the customer's list.
func (m *memStore) ListByCustomer(_ context.Context, userID string, from int64, limit int) ([]Order, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.lists[userID]
	if from < 0 || from >= int64(len(list)) {
		from = int64(len(list)) - 1
	}
	var out []Order
	p := from
	for ; p >= 0 && len(out) < limit; p-- {
		out = append(out, clone(m.orders[list[p]]))
	}
	return out, p, nil
}

// listStatus appends an entry to st's list, as MongoStore does before the
// write; the caller holds m.mu.
func (m *memStore) listStatus(id string, st Status, at time.Time) {
	if st.atWork() {
		return
	}
	e := statusEntry(id, at)
	if list := m.statuses[st]; len(list) == 0 || list[len(list)-1] != e {
		m.statuses[st] = append(list, e)
	}
}

// ListByStatus pages st's list, or the work entries' orders, as MongoStore
// does (statusPage, atWorkPage).
func (m *memStore) ListByStatus(ctx context.Context, st Status, from int64, limit int) ([]Order, int64, error) {
	if st.atWork() {
		listWork := func(ctx context.Context) ([]Work, error) { return m.ListWork(ctx, time.Time{}) }
		return atWorkPage(ctx, st, from, limit, listWork, m.GetMany)
	}
	read := func(_ context.Context, from int64, n int) ([]string, int64, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		list := m.statuses[st]
		hi := int64(len(list))
		if from >= 0 {
			hi = min(from+1, hi)
		}
		lo := max(hi-int64(n), 0)
		out := slices.Clone(list[lo:hi])
		slices.Reverse(out)
		return out, lo - 1, nil
	}
	return statusPage(ctx, st, from, limit, read, m.GetMany)
}

func (m *memStore) GetMany(_ context.Context, ids []string) (map[string]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Order{}
	for _, id := range ids {
		if o, ok := m.orders[id]; ok {
			out[id] = clone(o)
		}
	}
	return out, nil
}

func (m *memStore) InsertWork(_ context.Context, w Work) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["InsertWork"]++
	if _, ok := m.work[w.OrderID]; ok {
		return ErrDuplicateWork
	}
	m.work[w.OrderID] = w
	return nil
}

func (m *memStore) GetWork(_ context.Context, id string) (Work, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["GetWork"]++
	w, ok := m.work[id]
	if !ok {
		return Work{}, ErrNotFound
	}
	return w, nil
}

func (m *memStore) UpdateWork(_ context.Context, w Work) (Work, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["UpdateWork"]++
	cur, ok := m.work[w.OrderID]
	if !ok || cur.Rev != w.Rev {
		return Work{}, ErrWorkChanged
	}
	w.Rev++
	w.Trace = cur.Trace // set at the insert only, as MongoStore does
	m.work[w.OrderID] = w
	return w, nil
}

func (m *memStore) DeleteWork(_ context.Context, w Work) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["DeleteWork"]++
	cur, ok := m.work[w.OrderID]
	if !ok || cur.Rev != w.Rev {
		return ErrWorkChanged
	}
	delete(m.work, w.OrderID)
	return nil
}

func (m *memStore) ListWork(_ context.Context, dueBy time.Time) ([]Work, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["ListWork"]++
	var out []Work
	for _, w := range m.work {
		if dueBy.IsZero() || !w.Due.After(dueBy) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b Work) int { return a.Due.Compare(b.Due) })
	return out, nil
}

// works returns the work entries.
func (m *memStore) works() map[string]Work {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Work, len(m.work))
	for id, w := range m.work {
		out[id] = w
	}
	return out
}

// set overwrites an order, as another actor would, listed under its status.
func (m *memStore) set(o Order) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listStatus(o.ID, o.Status, o.UpdatedAt)
	m.orders[o.ID] = clone(o)
}

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.orders)
}

func clone(o Order) Order {
	o.Products = slices.Clone(o.Products)
	if o.Outbox.Notify != nil {
		n := *o.Outbox.Notify
		o.Outbox.Notify = &n
	}
	return o
}

// fakeUsers knows a fixed set of users.
type fakeUsers struct {
	users map[string]User
	err   error
}

func (f *fakeUsers) GetUser(_ context.Context, id string) (User, error) {
	if f.err != nil {
		return User{}, f.err
	}
	u, ok := f.users[id]
	if !ok {
		return User{}, fmt.Errorf("%w: %s", ErrUserNotFound, id)
	}
	return u, nil
}

// fakeProducts is a catalogue with stock and idempotent reservations.
type fakeProducts struct {
	mu         sync.Mutex
	catalog    map[string]Product
	stock      map[string]int64
	reserved   map[string][]Item
	reserves   int
	releases   int
	reserveErr error // returned by ReserveStock instead of reserving
	releaseErr error // returned by ReleaseStock while set
}

func (f *fakeProducts) GetProducts(_ context.Context, ids []string) ([]Product, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Product
	var missing []string
	for _, id := range ids {
		p, ok := f.catalog[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, p)
	}
	if missing != nil {
		return nil, fmt.Errorf("%w: %v", ErrProductNotFound, missing)
	}
	return out, nil
}

func (f *fakeProducts) ReserveStock(_ context.Context, orderID string, items []Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reserves++
	if f.reserveErr != nil {
		return f.reserveErr
	}
	if _, ok := f.reserved[orderID]; ok {
		return nil
	}
	for _, it := range items {
		if f.stock[it.ProductID] < it.Quantity {
			return fmt.Errorf("%w: %s", ErrOutOfStock, it.ProductID)
		}
	}
	for _, it := range items {
		f.stock[it.ProductID] -= it.Quantity
	}
	f.reserved[orderID] = items
	return nil
}

func (f *fakeProducts) ReleaseStock(_ context.Context, orderID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases++
	if f.releaseErr != nil {
		return f.releaseErr
	}
	for _, it := range f.reserved[orderID] {
		f.stock[it.ProductID] += it.Quantity
	}
	delete(f.reserved, orderID)
	return nil
}

func (f *fakeProducts) stockOf(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stock[id]
}

// fakePayments charges at most once per order. decide makes the outcome of a
// new payment: the payment to record (nil: none) and the error to answer.
type fakePayments struct {
	mu       sync.Mutex
	payments map[string]Payment
	calls    map[string]int
	refunds  []string
	decide   func(req PaymentRequest) (*Payment, error)
	getErr   error
	seen     []PaymentRequest
}

func approve(req PaymentRequest) (*Payment, error) {
	return &Payment{ID: "pay-" + req.OrderID, Status: PaymentApproved, Method: req.Details.Method,
		Amount: req.Details.Amount, MaskedCardNumber: MaskCardNumber(req.Details.CardNumber)}, nil
}

func (f *fakePayments) MakePayment(_ context.Context, req PaymentRequest) (Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[req.OrderID]++
	f.seen = append(f.seen, req)
	if p, ok := f.payments[req.OrderID]; ok {
		return p, nil
	}
	p, err := f.decide(req)
	if p != nil {
		f.payments[req.OrderID] = *p
	}
	if err != nil {
		return Payment{}, err
	}
	return *p, nil
}

func (f *fakePayments) GetPayment(_ context.Context, orderID string) (Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return Payment{}, f.getErr
	}
	p, ok := f.payments[orderID]
	if !ok {
		return Payment{}, ErrPaymentNotFound
	}
	return p, nil
}

func (f *fakePayments) RefundPayment(_ context.Context, orderID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refunds = append(f.refunds, orderID)
	if p, ok := f.payments[orderID]; ok && p.Status == PaymentApproved {
		p.Status = PaymentRefunded
		f.payments[orderID] = p
	}
	return nil
}

func (f *fakePayments) callsFor(orderID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[orderID]
}

// fakeNotifier fails while failures > 0, refuses with refuse when set, then
// records what it sends; onSend runs before it answers.
type fakeNotifier struct {
	mu       sync.Mutex
	failures int
	hangs    int // calls that wait for their context's end, as a notification service that does not answer
	refuse   error
	attempts int
	sent     []string // order ids
	to       []string
	onSend   func(orderID string)
	spans    []trace.SpanContext // the span context of each call's ctx
}

func (f *fakeNotifier) SendPaymentNotification(ctx context.Context, to, orderID, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	f.spans = append(f.spans, trace.SpanContextFromContext(ctx))
	if f.hangs > 0 {
		f.hangs--
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return &UnavailableError{Dependency: depNotification, Err: ctx.Err()}
	}
	if f.failures > 0 {
		f.failures--
		return &UnavailableError{Dependency: depNotification, Err: fmt.Errorf("down")}
	}
	if f.refuse != nil {
		return f.refuse
	}
	if f.onSend != nil {
		f.onSend(orderID)
	}
	f.sent = append(f.sent, orderID)
	f.to = append(f.to, to)
	return nil
}

func (f *fakeNotifier) sentOrders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a service on fakes.
type env struct {
	svc      *Orders
	store    *memStore
	users    *fakeUsers
	products *fakeProducts
	payments *fakePayments
	notifier *fakeNotifier
	clock    *clock
	statuses *statusLog
}

// statusLog records Options.RecordStatus calls.
type statusLog struct {
	mu  sync.Mutex
	log []Status
}

func (l *statusLog) record(s Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, s)
}

func (l *statusLog) count(s Status) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.log {
		if x == s {
			n++
		}
	}
	return n
}

// Catalogue of the tests: the original's sample prices.
const (
	alice = "user-alice"
	bob   = "user-bob"
)

// newEnv returns a service over fakes whose CreateOrder leaves the payment
// notification to the dispatcher (a negative NotifyWithin), the path most
// tests follow; newEnvNotifyWithin one that waits that long for it.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvNotifyWithin(t, -1)
}

func newEnvNotifyWithin(t testing.TB, notifyWithin time.Duration) *env {
	t.Helper()
	e := &env{
		store: newMemStore(),
		users: &fakeUsers{users: map[string]User{
			alice: {ID: alice, Email: "alice@example.com", Name: "Alice"},
			bob:   {ID: bob, Email: "bob@example.com", Name: "Bob"},
		}},
		products: &fakeProducts{
			catalog: map[string]Product{
				"p1": {ID: "p1", Name: "Apple", Price: 1000},
				"p2": {ID: "p2", Name: "Banana", Price: 2000},
				"p3": {ID: "p3", Name: "Cherry", Price: 3000},
			},
			stock:    map[string]int64{"p1": 100, "p2": 100, "p3": 1},
			reserved: map[string][]Item{},
		},
		payments: &fakePayments{payments: map[string]Payment{}, calls: map[string]int{}, decide: approve},
		notifier: &fakeNotifier{},
		clock:    &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		statuses: &statusLog{},
	}
	svc, err := NewService(e.store, Dependencies{Users: e.users, Products: e.products, Payments: e.payments, Notifier: e.notifier},
		Options{Now: e.clock.Now, RecordStatus: e.statuses.record, OrderTimeout: 5 * time.Second, NotifyWithin: notifyWithin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// validOrder asks for two p1 (as productIds) and one p2 (as an item): 4000.
func validOrder() NewOrder {
	return NewOrder{
		ProductIDs: []string{"p1", "p1"},
		Items:      []Item{{ProductID: "p2", Quantity: 1}},
		Address:    Address{Name: "Alice", Street: "1 Main St", City: "Seoul", PostalCode: "04524", Country: "KR"},
		Payment: PaymentDetails{
			Method: MethodCreditCard, Name: "Alice", CardNumber: "4111-1111-1111-1111", ExpiryYear: "2030",
			ExpiryMonth: "12", BirthOrRegistration: "900101", PasswordTwoDigits: "12", Amount: 4000,
		},
	}
}
