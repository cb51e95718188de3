package user

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
	"github.com/kitshop/kitshop/internal/token"
)

// testStore is the embedded store shared by the package's tests, started by
// the first test that needs it; each test uses a database of its own.
var testStore = docstoretest.NewShared("user")

func TestMain(m *testing.M) { os.Exit(testStore.Run(m)) }

// newTestDB returns a database of its own for the calling test.
func newTestDB(t testing.TB) *mongo.Database {
	t.Helper()
	return testStore.NewDB(t)
}

func newTestMongoStore(t testing.TB, opts ...docstore.UpdaterOption) *MongoStore {
	t.Helper()
	s, err := NewMongoStore(context.Background(), newTestDB(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testAccount(id, email string) Account {
	return Account{
		User: User{
			ID:      id,
			Email:   email,
			Name:    "이름 Name",
			Age:     41,
			Profile: "profile",
			Role:    token.RoleUser,
		},
		PasswordHash: []byte("$2a$04$abcdefghijklmnopqrstuv0123456789ABCDEFGHIJKLMNOPQRSTU"),
		CreatedAt:    time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
	}
}

func TestMongoStoreRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestMongoStore(t)
	a := testAccount("id-1", "ann@example.com")
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	byID, err := s.ByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	byEmail, err := s.ByEmail(ctx, a.Email)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]Account{"ByID": byID, "ByEmail": byEmail} {
		if got.User != a.User || string(got.PasswordHash) != string(a.PasswordHash) || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("%s = %+v, want %+v", name, got, a)
		}
	}

	if _, err := s.ByID(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByID(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.ByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByEmail(unknown): err = %v, want ErrNotFound", err)
	}

	if err := s.SetRole(ctx, a.ID, token.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ByID(ctx, a.ID); got.Role != token.RoleAdmin {
		t.Errorf("role after SetRole = %q, want admin", got.Role)
	}
	if err := s.SetRole(ctx, "nobody", token.RoleAdmin); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetRole(unknown): err = %v, want ErrNotFound", err)
	}
}

func TestMongoStoreDuplicateEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestMongoStore(t)
	if err := s.Create(ctx, testAccount("first", "dup@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, testAccount("second", "dup@example.com")); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("second Create: err = %v, want ErrEmailTaken", err)
	}
	// The loser's user document is gone, the winner's claim intact.
	if _, err := s.ByID(ctx, "second"); !errors.Is(err, ErrNotFound) {
		t.Errorf("loser's user: err = %v, want ErrNotFound", err)
	}
	if a, err := s.ByEmail(ctx, "dup@example.com"); err != nil || a.ID != "first" {
		t.Errorf("ByEmail = %q, %v; want the first user", a.ID, err)
	}
}

func TestMongoStoreCreateReplayed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestMongoStore(t)
	a := testAccount("replayed", "replay@example.com")
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A replay of the same Create (a driver retry) finds its own documents.
	if err := s.Create(ctx, a); err != nil {
		t.Fatalf("replayed Create: %v", err)
	}
	if got, err := s.ByEmail(ctx, a.Email); err != nil || got.ID != a.ID {
		t.Errorf("ByEmail after replay = %q, %v", got.ID, err)
	}
}

// TestMongoStoreFiltersOnIDOnly: every command of the store looks users and
// e-mail claims up by _id alone, the only lookup whose cost does not grow with
// the number of users on the embedded store; registering a taken e-mail (read
// the claim, delete the loser) too.
func TestMongoStoreFiltersOnIDOnly(t *testing.T) {
	// Not parallel: FerretDB's embedded start-up writes a global (see
	// docstoretest.Start), so stores must not start at the same time.
	client, rec := docstoretest.Start(t)
	ctx := t.Context()
	s, err := NewMongoStore(ctx, client.Database("user"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	a := testAccount("id-1", "ann@example.com")
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, testAccount("id-2", a.Email)); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("taken e-mail: %v", err)
	}
	if _, err := s.ByID(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ByEmail(ctx, a.Email); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, a.ID, token.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	sess := Session{ID: "sid-1", UserID: a.ID, CreatedAt: a.CreatedAt, ExpiresAt: a.CreatedAt.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ExtendSession(ctx, sess.ID, sess.ExpiresAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, sess.ID); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("deleted session: %v", err)
	}
	if err := s.ExtendSession(ctx, "sid-unknown", sess.ExpiresAt); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("extend unknown session: %v", err)
	}
	rec.AssertIDOnly(t, "user", usersCollection)
	rec.AssertIDOnly(t, "user", emailsCollection)
	rec.AssertIDOnly(t, "user", sessionsCollection)
}

// TestMongoStoreSessions: a session is found until it is deleted, extended
// while it exists, and deleting it twice is no error.
func TestMongoStoreSessions(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		s := newTestMongoStore(t, m.Options()...)
		created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		first := Session{ID: "sid-first", UserID: "u-1", CreatedAt: created, ExpiresAt: created.Add(7 * 24 * time.Hour)}
		second := Session{ID: "sid-second", UserID: "u-1", CreatedAt: created, ExpiresAt: created.Add(7 * 24 * time.Hour)}
		for _, sess := range []Session{first, second} {
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Session(ctx, first.ID); err != nil || got != first {
			t.Errorf("Session = %+v, %v; want %+v", got, err, first)
		}
		later := first.ExpiresAt.Add(time.Hour)
		if err := s.ExtendSession(ctx, first.ID, later); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Session(ctx, first.ID); err != nil || !got.ExpiresAt.Equal(later) || got.UserID != first.UserID {
			t.Errorf("extended session = %+v, %v; want expiresAt %v", got, err, later)
		}
		for i := range 2 {
			if err := s.DeleteSession(ctx, first.ID); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
		}
		if _, err := s.Session(ctx, first.ID); !errors.Is(err, ErrSessionEnded) {
			t.Errorf("deleted session: err = %v, want ErrSessionEnded", err)
		}
		if err := s.ExtendSession(ctx, first.ID, later); !errors.Is(err, ErrSessionEnded) {
			t.Errorf("extend a deleted session: err = %v, want ErrSessionEnded", err)
		}
		if got, err := s.Session(ctx, second.ID); err != nil || got != second {
			t.Errorf("the other session = %+v, %v; want it intact", got, err)
		}
	})
}

func TestNewMongoStoreIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTestDB(t)
	for i := range 2 {
		if _, err := NewMongoStore(ctx, db); err != nil {
			t.Fatalf("NewMongoStore #%d: %v", i+1, err)
		}
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{cartsCollection, emailsCollection, sessionsCollection, usersCollection}; !slices.Equal(names, want) {
		t.Errorf("collections = %v, want %v", names, want)
	}
}

// TestConcurrentRegistrationSameEmail registers one e-mail from 20 goroutines
// through the service on the embedded store: exactly one must win, and no
// user document of a loser may remain.
func TestConcurrentRegistrationSameEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTestDB(t)
	store, err := NewMongoStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(store, newTestSigner(t, newTestKey(t)), Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}

	const n = 20
	var (
		wg       sync.WaitGroup
		ok, lost atomic.Int64
		winner   atomic.Value
		errs     = make(chan error, n)
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			u, err := svc.RegisterUser(ctx,
				Credentials{Email: "Race@Example.com", Password: fmt.Sprintf("pw-%d", i)}, Profile{Name: "racer"})
			switch {
			case err == nil:
				ok.Add(1)
				winner.Store(u.ID)
			case errors.Is(err, ErrEmailTaken):
				lost.Add(1)
			default:
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	if ok.Load() != 1 || lost.Load() != n-1 {
		t.Fatalf("%d registrations succeeded and %d got ErrEmailTaken, want 1 and %d", ok.Load(), lost.Load(), n-1)
	}
	users, err := db.Collection(usersCollection).CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if users != 1 {
		t.Errorf("%d user documents remain, want 1", users)
	}
	a, err := store.ByEmail(ctx, "race@example.com")
	if err != nil || a.ID != winner.Load() {
		t.Errorf("ByEmail = %q, %v; want the winner %v", a.ID, err, winner.Load())
	}
}
