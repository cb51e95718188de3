package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// testStore is the embedded store shared by the package's tests, started by
// the first test that needs it; each test uses a database of its own.
var testStore = docstoretest.NewShared("payment")

func TestMain(m *testing.M) { os.Exit(testStore.Run(m)) }

// newTestDB returns a database of its own for the calling test.
func newTestDB(t testing.TB) *mongo.Database {
	t.Helper()
	return testStore.NewDB(t)
}

// newTestMongoStore returns the store on db, its Updater configured by opts
// (docstoretest.Mode.Options).
func newTestMongoStore(t testing.TB, db *mongo.Database, opts ...docstore.UpdaterOption) *MongoStore {
	t.Helper()
	s, err := NewMongoStore(context.Background(), db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMongoStore(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := context.Background()
		db := newTestDB(t)
		s := newTestMongoStore(t, db, m.Options()...)
		if _, err := NewMongoStore(ctx, db, m.Options()...); err != nil {
			t.Fatalf("NewMongoStore on an existing collection: %v", err)
		}

		at := time.Date(2026, 3, 15, 10, 0, 0, 123_000_000, time.UTC)
		p := Payment{
			ID: "pay-1", OrderID: "order-1", Status: StatusPending, Method: MethodCreditCard, Name: "홍길동",
			Amount: 9500, MaskedCardNumber: "**** **** **** 4242", CardFingerprint: "abc", UserEmail: "a@example.com",
			CreatedAt: at, UpdatedAt: at,
		}
		if err := s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, Payment{ID: "pay-2", OrderID: "order-1", Status: StatusPending}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second payment of an order: %v, want ErrDuplicate", err)
		}
		if got, err := s.Get(ctx, "order-1"); err != nil || got != p {
			t.Errorf("Get: %+v, %v\nwant %+v", got, err, p)
		}
		if _, err := s.Get(ctx, "order-x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of an unknown order: %v, want ErrNotFound", err)
		}

		later := at.Add(time.Second)
		got, err := s.Transition(ctx, "order-1", StatusPending, Transition{To: StatusRejected, Reason: "stolen_card", ChargeID: "ch_1", At: later})
		want := p
		want.Status, want.Reason, want.ChargeID, want.UpdatedAt = StatusRejected, "stolen_card", "ch_1", later
		if err != nil || got != want {
			t.Errorf("Transition: %+v, %v\nwant %+v", got, err, want)
		}
		// The guard: a payment no longer Pending is not changed, and is returned as it is.
		got, err = s.Transition(ctx, "order-1", StatusPending, Transition{To: StatusApproved, ChargeID: "ch_2", At: later.Add(time.Second)})
		if err != nil || got != want {
			t.Errorf("guarded Transition: %+v, %v\nwant the payment unchanged %+v", got, err, want)
		}
		if _, err := s.Transition(ctx, "order-x", StatusPending, Transition{To: StatusApproved, At: later}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Transition of an unknown order: %v, want ErrNotFound", err)
		}
	})
}

// TestMongoStoreFiltersOnIDOnly: every command of the store looks payments up
// by _id alone, the only lookup whose cost does not grow with the number of
// payments on the embedded store.
func TestMongoStoreFiltersOnIDOnly(t *testing.T) {
	// Not parallel: FerretDB's embedded start-up writes a global (see
	// docstoretest.Start), so stores must not start at the same time.
	client, rec := docstoretest.Start(t)
	ctx := t.Context()
	s := newTestMongoStore(t, client.Database("payment"))
	rec.Reset()
	at := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	p := Payment{ID: "pay-1", OrderID: "order-1", Status: StatusPending, Method: MethodKakao, Amount: 3000,
		UserEmail: "a@example.com", CreatedAt: at, UpdatedAt: at}
	if err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, p); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := s.Get(ctx, "order-1"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Transition(ctx, "order-1", StatusPending, Transition{To: StatusApproved, ChargeID: "ch", At: at}); err != nil || got.Status != StatusApproved {
		t.Fatalf("Transition: %+v, %v", got, err)
	}
	if got, err := s.Transition(ctx, "order-1", StatusPending, Transition{To: StatusRejected, At: at}); err != nil || got.Status != StatusApproved {
		t.Fatalf("guarded Transition: %+v, %v", got, err)
	}
	if got, err := s.Transition(ctx, "order-1", StatusApproved, Transition{To: StatusRefunded, RefundID: "re", At: at}); err != nil || got.Status != StatusRefunded {
		t.Fatalf("refund Transition: %+v, %v", got, err)
	}
	rec.AssertIDOnly(t, "payment", CollectionName)

	// The mongodb mode really is MongoDB's way: the guard goes in the filter. (Were the store to drop its
	// Updater options, the mongodb subtests would run the embedded path again, unseen.)
	db := client.Database("payment_mongodb")
	s = newTestMongoStore(t, db, docstore.WithBackend(docstore.MongoDB))
	if err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, "order-1", StatusPending, Transition{To: StatusApproved, ChargeID: "ch", At: at}); err != nil {
		t.Fatal(err)
	}
	if cmds := rec.Commands(db.Name(), CollectionName); !slices.ContainsFunc(cmds, func(c docstoretest.Command) bool { return !c.IDOnly() }) {
		t.Errorf("mongodb mode: commands %v, want the guarded transition's filter on more than _id", cmds)
	}
}

// gatedProcessor holds the first Charge until a second one arrives, so that two callers are sure to
// charge the same order at the same time.
type gatedProcessor struct {
	Processor
	calls  atomic.Int64
	second chan struct{}
}

func (g *gatedProcessor) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	switch g.calls.Add(1) {
	case 1:
		select {
		case <-g.second:
		case <-ctx.Done():
			return ChargeResult{}, fmt.Errorf("no second charge arrived: %w", ctx.Err())
		}
	case 2:
		close(g.second)
	}
	return g.Processor.Charge(ctx, req)
}

func TestConcurrentIdenticalPaymentsChargeOnce(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	sim := NewSimulator(SimulatorOptions{Latency: 20 * time.Millisecond})
	proc := &countingProcessor{Processor: sim}
	svc := newTestService(t, newTestMongoStore(t, db), proc)
	req := cardRequest("order-20", TestCardApproved)

	results := make([]Payment, 20)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i], errs[i] = svc.MakePayment(context.Background(), req) })
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i] != results[0] || results[i].Status != StatusApproved {
			t.Errorf("call %d: %+v, %v; want the approved payment of call 0", i, results[i], errs[i])
		}
	}
	if n := proc.charges.Load(); n != 1 {
		t.Errorf("the processor was called %d times, want 1", n)
	}
	if sim.Charges() != 1 {
		t.Errorf("the network made %d charges, want 1", sim.Charges())
	}
	if n, err := db.Collection(CollectionName).CountDocuments(context.Background(), bson.D{}); err != nil || n != 1 {
		t.Errorf("%d payments stored (%v), want 1", n, err)
	}
}

// Two service instances share no singleflight: the second finds the payment Pending and charges too, with
// the same idempotency key, and the network charges once, and both record and answer the one payment.
//
// They share one store, hence one docstore.Updater, as every writer of a database in one process must: an
// Updater remembers the documents it writes on the embedded store, so a second one on the same database
// would check its guards on stale copies. Two processes on one embedded database are not supported; on
// MongoDB each replica has its own store, which remembers nothing there.
func TestTwoInstancesOnOneStoreChargeOnce(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	sim := NewSimulator(SimulatorOptions{})
	gate := &gatedProcessor{Processor: sim, second: make(chan struct{})}
	store := newTestMongoStore(t, db)
	a := newTestService(t, store, gate)
	b := newTestService(t, store, gate)
	req := cardRequest("order-2x", TestCardApproved)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pa, pb Payment
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { pa, errA = a.MakePayment(ctx, req) })
	wg.Go(func() { pb, errB = b.MakePayment(ctx, req) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("errors %v, %v", errA, errB)
	}
	if pa != pb || pa.Status != StatusApproved {
		t.Errorf("the instances disagree or did not approve:\n%+v\n%+v", pa, pb)
	}
	if n := gate.calls.Load(); n != 2 {
		t.Errorf("the processor was called %d times, want 2 (one per instance)", n)
	}
	if sim.Charges() != 1 {
		t.Errorf("the network made %d charges, want 1", sim.Charges())
	}
}

// TestSecretsNeverStoredOrLogged makes payments of every kind, then reads every stored document raw and
// every log line, and fails if card data other than the masked number appears.
func TestSecretsNeverStoredOrLogged(t *testing.T) {
	t.Parallel()
	const (
		birth    = "9912314321" // 10 digits, unlike anything else in the output
		password = "83"
	)
	db := newTestDB(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inner, err := NewService(newTestMongoStore(t, db), NewSimulator(SimulatorOptions{}),
		Options{CardKey: testCardKey, Now: fixedClock, Logger: logger, ProcessorTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc := observedService(logger)(inner)
	ctx := context.Background()

	withSecrets := func(orderID, number string) PaymentRequest {
		r := cardRequest(orderID, number)
		r.Card.BirthOrRegistration, r.Card.PasswordTwoDigits = birth, password
		return r
	}
	numbers := []string{TestCardApproved, TestCardInsufficientFunds, TestCardStolen, TestCardHang, "5555555555554444", "4242424242424241"}
	spaced := func(n string) string { return n[:4] + " " + n[4:8] + " " + n[8:12] + " " + n[12:] }

	mustPay(t, svc, withSecrets("s-approved", spaced(TestCardApproved)))
	mustPay(t, svc, withSecrets("s-funds", TestCardInsufficientFunds))
	mustPay(t, svc, withSecrets("s-stolen", strings.ReplaceAll(spaced(TestCardStolen), " ", "-")))
	// The processor timeout, not a caller's deadline, so that the payment is surely stored first.
	if _, err := svc.MakePayment(ctx, withSecrets("s-hang", TestCardHang)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v", err)
	}
	if _, err := svc.MakePayment(ctx, withSecrets("s-approved", "5555555555554444")); !errors.Is(err, ErrConflict) {
		t.Fatalf("other card: %v", err)
	}
	if _, err := svc.MakePayment(ctx, withSecrets("s-bad", "4242424242424241")); err == nil {
		t.Fatal("a Luhn-invalid card was accepted")
	}
	for _, id := range []string{"s-approved", "s-hang"} {
		if _, err := svc.GetPayment(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RefundPayment(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.RefundPayment(ctx, "s-funds"); !errors.Is(err, ErrNotRefundable) {
		t.Fatal(err)
	}

	// Every stored document, raw.
	var raw [][]byte
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			raw = append(raw, bytes.Clone(cur.Current))
		}
		if err := cur.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(raw) != 4 {
		t.Fatalf("read %d stored documents, want 4 (the payments; no mark is left of a final payment)", len(raw))
	}
	if !bytes.Contains(bytes.Join(raw, nil), []byte("**** **** **** 4242")) {
		t.Error("the masked number is not stored; is this test reading the right data?")
	}

	// Look at every string in the documents and the log lines, and at the raw bytes too.
	var strs []string
	for _, doc := range raw {
		var m map[string]any
		if err := bson.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		strs = collectStrings(strs, m)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged; is this test reading the right output?")
	}
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		strs = collectStrings(strs, m)
	}
	everything := string(bytes.Join(raw, nil)) + logs.String()
	for _, n := range numbers {
		for _, form := range []string{n, spaced(n), strings.ReplaceAll(spaced(n), " ", "-"), n[:12]} {
			if strings.Contains(everything, form) {
				t.Errorf("card number %s (as %q) was stored or logged", n, form)
			}
		}
	}
	if strings.Contains(everything, birth) {
		t.Error("birthOrRegistration was stored or logged")
	}
	for _, s := range strs {
		lower := strings.ToLower(s)
		if s == password || strings.Contains(lower, "password") || strings.Contains(lower, "birth") {
			t.Errorf("passwordTwoDigits or a field named after a secret was stored or logged: %q", s)
		}
	}
}

// collectStrings appends every string in v (map keys included) to dst.
func collectStrings(dst []string, v any) []string {
	switch v := v.(type) {
	case string:
		return append(dst, v)
	case map[string]any:
		for k, e := range v {
			dst = collectStrings(append(dst, k), e)
		}
	case bson.D:
		for _, e := range v {
			dst = collectStrings(append(dst, e.Key), e.Value)
		}
	case bson.A:
		for _, e := range v {
			dst = collectStrings(dst, e)
		}
	case []any:
		for _, e := range v {
			dst = collectStrings(dst, e)
		}
	}
	return dst
}

// syncWriter serializes writes from concurrent loggers.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
