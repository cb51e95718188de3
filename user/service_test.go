package user

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/token"
)

// fakeStore is an in-memory Store of accounts and sessions. It has no carts
// (a nil CartStore): the cart's rules are the store's, tested on the
// embedded store (cart_test.go).
type fakeStore struct {
	CartStore

	mu       sync.Mutex
	byID     map[string]Account
	byEmail  map[string]string // e-mail → id
	sessions map[string]Session
	err      error // if set, every call fails with it
	// createSessionErr, if set, fails CreateSession alone.
	createSessionErr error
	// beforeExtend, if set, runs at the start of ExtendSession, without
	// the lock: what happens between a refresh's session check and its
	// extension.
	beforeExtend func(id string)
}

func newFakeStore() *fakeStore {
	return &fakeStore{byID: map[string]Account{}, byEmail: map[string]string{}, sessions: map[string]Session{}}
}

func (f *fakeStore) Create(_ context.Context, a Account) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.byEmail[a.Email]; ok {
		return ErrEmailTaken
	}
	f.byEmail[a.Email] = a.ID
	f.byID[a.ID] = a
	return nil
}

func (f *fakeStore) ByID(_ context.Context, id string) (Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Account{}, f.err
	}
	a, ok := f.byID[id]
	if !ok {
		return Account{}, ErrNotFound
	}
	return a, nil
}

func (f *fakeStore) ByEmail(ctx context.Context, email string) (Account, error) {
	f.mu.Lock()
	id, ok := f.byEmail[email]
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return Account{}, err
	}
	if !ok {
		return Account{}, ErrNotFound
	}
	return f.ByID(ctx, id)
}

func (f *fakeStore) SetRole(_ context.Context, id string, role token.Role) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	a, ok := f.byID[id]
	if !ok {
		return ErrNotFound
	}
	a.Role = role
	f.byID[id] = a
	return nil
}

func (f *fakeStore) CreateSession(_ context.Context, s Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.createSessionErr != nil {
		return f.createSessionErr
	}
	f.sessions[s.ID] = s
	return nil
}

func (f *fakeStore) Session(_ context.Context, id string) (Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Session{}, f.err
	}
	s, ok := f.sessions[id]
	if !ok {
		return Session{}, ErrSessionEnded
	}
	return s, nil
}

func (f *fakeStore) ExtendSession(_ context.Context, id string, expiresAt time.Time) error {
	if f.beforeExtend != nil {
		f.beforeExtend(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	s, ok := f.sessions[id]
	if !ok {
		return ErrSessionEnded
	}
	s.ExpiresAt = expiresAt
	f.sessions[id] = s
	return nil
}

func (f *fakeStore) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	delete(f.sessions, id)
	return nil
}

func (f *fakeStore) delete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byEmail, f.byID[id].Email)
	delete(f.byID, id)
}

// newTestKey returns a fresh Ed25519 private key.
func newTestKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// newTestSigner returns a signer with default options.
func newTestSigner(t testing.TB, key ed25519.PrivateKey) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expiredPair returns a token pair signed by key an hour and a week ago, so
// that both tokens have expired.
func expiredPair(t testing.TB, key ed25519.PrivateKey, sub string) token.Pair {
	t.Helper()
	past := time.Now().Add(-8 * 24 * time.Hour)
	s, err := token.NewSigner(key, token.Options{Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.IssuePair(sub, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestService returns a service on a fake store, with the minimum bcrypt
// cost and opts.AdminEmails.
func newTestService(t testing.TB, opts Options) (Service, *fakeStore, *token.Signer) {
	t.Helper()
	store := newFakeStore()
	signer := newTestSigner(t, newTestKey(t))
	opts.BcryptCost = bcrypt.MinCost
	svc, err := NewService(store, signer, opts)
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, signer
}

var validProfile = Profile{Name: "Alice", Age: 30, Profile: "likes tea"}

func TestRegisterUser(t *testing.T) {
	t.Parallel()
	svc, store, _ := newTestService(t, Options{})
	ctx := context.Background()

	u, err := svc.RegisterUser(ctx, Credentials{Email: "  Alice@Example.COM ", Password: "s3cret:with:colons"}, validProfile)
	if err != nil {
		t.Fatal(err)
	}
	want := User{ID: u.ID, Email: "alice@example.com", Name: "Alice", Age: 30, Profile: "likes tea", Role: token.RoleUser}
	if u != want {
		t.Errorf("RegisterUser = %+v, want %+v", u, want)
	}
	if u.ID == "" {
		t.Error("RegisterUser returned an empty id")
	}
	a, err := store.ByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.PasswordHash) == "s3cret:with:colons" {
		t.Error("password stored in plain text")
	}
	if err := bcrypt.CompareHashAndPassword(a.PasswordHash, []byte("s3cret:with:colons")); err != nil {
		t.Errorf("stored hash does not match the password: %v", err)
	}
	if a.CreatedAt.IsZero() {
		t.Error("CreatedAt not set")
	}

	// The same e-mail, differently written, is taken.
	_, err = svc.RegisterUser(ctx, Credentials{Email: "alice@EXAMPLE.com", Password: "other"}, Profile{})
	if !errors.Is(err, ErrEmailTaken) {
		t.Errorf("second registration: err = %v, want ErrEmailTaken", err)
	}
	// Two users get two ids.
	u2, err := svc.RegisterUser(ctx, Credentials{Email: "bob@example.com", Password: "pw"}, Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if u2.ID == u.ID {
		t.Errorf("two users share id %s", u.ID)
	}
}

func TestRegisterUserInvalid(t *testing.T) {
	t.Parallel()
	svc, store, _ := newTestService(t, Options{})
	ok := Credentials{Email: "carol@example.com", Password: "pw"}
	tests := []struct {
		name  string
		creds Credentials
		p     Profile
		msg   string // part of the error message
	}{
		{"empty e-mail", Credentials{Email: " ", Password: "pw"}, validProfile, "e-mail address is required"},
		{"not an e-mail", Credentials{Email: "carol", Password: "pw"}, validProfile, "not a valid e-mail address"},
		{"display name", Credentials{Email: "Carol <carol@example.com>", Password: "pw"}, validProfile, "not a valid e-mail address"},
		{"two addresses", Credentials{Email: "a@example.com, b@example.com", Password: "pw"}, validProfile, "not a valid e-mail address"},
		{"e-mail too long", Credentials{Email: strings.Repeat("a", 250) + "@example.com", Password: "pw"}, validProfile, "longer than 254 bytes"},
		{"empty password", Credentials{Email: ok.Email}, validProfile, "password is required"},
		{"password over 72 bytes", Credentials{Email: ok.Email, Password: strings.Repeat("é", 37)}, validProfile, "longer than 72 bytes"},
		{"negative age", ok, Profile{Name: "C", Age: -1}, "age must not be negative"},
		{"age too high", ok, Profile{Name: "C", Age: MaxAge + 1}, "age must be at most"},
		{"name too long", ok, Profile{Name: strings.Repeat("김", MaxNameLen+1)}, "name is longer than 100 characters"},
		{"name not UTF-8", ok, Profile{Name: "\xff"}, "name is not valid UTF-8"},
		{"profile too long", ok, Profile{Profile: strings.Repeat("x", MaxProfileLen+1)}, "profile is longer than 1000 characters"},
		{"profile not UTF-8", ok, Profile{Profile: "a\xc3"}, "profile is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.RegisterUser(context.Background(), tt.creds, tt.p)
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
		})
	}
	if n := len(store.byID); n != 0 {
		t.Errorf("%d users stored after invalid registrations", n)
	}

	// The limits themselves are accepted.
	_, err := svc.RegisterUser(context.Background(),
		Credentials{Email: ok.Email, Password: strings.Repeat("p", MaxPasswordLen)},
		Profile{Name: strings.Repeat("김", MaxNameLen), Age: MaxAge, Profile: strings.Repeat("x", MaxProfileLen)})
	if err != nil {
		t.Errorf("registration at the limits: %v", err)
	}
}

func TestLoginUser(t *testing.T) {
	t.Parallel()
	svc, _, signer := newTestService(t, Options{})
	ctx := context.Background()
	u, err := svc.RegisterUser(ctx, Credentials{Email: "dave@example.com", Password: "right"}, validProfile)
	if err != nil {
		t.Fatal(err)
	}

	p, err := svc.LoginUser(ctx, Credentials{Email: " DAVE@example.com", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ExpiresIn != token.DefaultAccessTTL {
		t.Errorf("ExpiresIn = %v, want %v", p.ExpiresIn, token.DefaultAccessTTL)
	}
	c, err := signer.Verifier().VerifyAccess(p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != u.ID || c.Role != token.RoleUser {
		t.Errorf("access claims = %+v, want subject %s role user", c, u.ID)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt); got != 15*time.Minute {
		t.Errorf("access token lives %v, want 15m", got)
	}
	rc, err := signer.Verifier().VerifyRefresh(p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := rc.ExpiresAt.Sub(rc.IssuedAt); got != 7*24*time.Hour {
		t.Errorf("refresh token lives %v, want 168h", got)
	}

	// Wrong password and unknown e-mail get the very same answer.
	_, errWrong := svc.LoginUser(ctx, Credentials{Email: "dave@example.com", Password: "wrong"})
	_, errUnknown := svc.LoginUser(ctx, Credentials{Email: "nobody@example.com", Password: "right"})
	for _, err := range []error{errWrong, errUnknown} {
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("err = %v, want ErrInvalidCredentials", err)
		}
	}
	if errWrong != nil && errUnknown != nil && errWrong.Error() != errUnknown.Error() {
		t.Errorf("wrong password says %q, unknown e-mail says %q", errWrong, errUnknown)
	}

	// Malformed input is refused as at registration.
	for _, creds := range []Credentials{
		{Email: "dave", Password: "right"},
		{Email: "dave@example.com"},
		{Email: "dave@example.com", Password: strings.Repeat("x", 73)},
	} {
		if _, err := svc.LoginUser(ctx, creds); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("LoginUser(%q, %d-byte password): err = %v, want ErrInvalidArgument", creds.Email, len(creds.Password), err)
		}
	}
}

func TestAdminEmails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newFakeStore()
	signer := newTestSigner(t, newTestKey(t))
	newSvc := func(admins ...string) Service {
		svc, err := NewService(store, signer, Options{AdminEmails: admins, BcryptCost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	roleOfLogin := func(svc Service, email string) token.Role {
		t.Helper()
		p, err := svc.LoginUser(ctx, Credentials{Email: email, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := signer.Verifier().VerifyAccess(p.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return c.Role
	}
	storedRole := func(id string) token.Role {
		t.Helper()
		a, err := store.ByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Role
	}

	svc := newSvc(" Boss@Example.com", "", "ops@example.com")
	boss, err := svc.RegisterUser(ctx, Credentials{Email: "boss@example.com", Password: "pw"}, Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if boss.Role != token.RoleAdmin {
		t.Errorf("listed user registered with role %q, want admin", boss.Role)
	}
	late, err := svc.RegisterUser(ctx, Credentials{Email: "late@example.com", Password: "pw"}, Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if got := roleOfLogin(svc, "late@example.com"); got != token.RoleUser {
		t.Errorf("unlisted user logs in as %q", got)
	}

	// Listed later: promoted at login, in the token and in the store.
	svc = newSvc("boss@example.com", "LATE@example.com")
	if got := roleOfLogin(svc, "late@example.com"); got != token.RoleAdmin {
		t.Errorf("user listed later logs in as %q, want admin", got)
	}
	if got := storedRole(late.ID); got != token.RoleAdmin {
		t.Errorf("stored role %q, want admin", got)
	}

	// Unlisted: demoted at the next refresh.
	p, err := svc.LoginUser(ctx, Credentials{Email: "boss@example.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	svc = newSvc("late@example.com")
	p, err = svc.RefreshToken(ctx, p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signer.Verifier().VerifyAccess(p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != token.RoleUser || storedRole(boss.ID) != token.RoleUser {
		t.Errorf("unlisted admin refreshed to role %q (stored %q), want user", c.Role, storedRole(boss.ID))
	}
}

func TestNewServiceInvalid(t *testing.T) {
	t.Parallel()
	signer := newTestSigner(t, newTestKey(t))
	for name, opts := range map[string]Options{
		"bad admin e-mail": {AdminEmails: []string{"not-an-address"}, BcryptCost: bcrypt.MinCost},
		"cost too low":     {BcryptCost: bcrypt.MinCost - 1},
		"cost too high":    {BcryptCost: bcrypt.MaxCost + 1},
	} {
		if _, err := NewService(newFakeStore(), signer, opts); err == nil {
			t.Errorf("%s: NewService succeeded", name)
		}
	}
	if _, err := NewService(nil, signer, Options{}); err == nil {
		t.Error("NewService without a store succeeded")
	}
}

func TestParseBearerToken(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	store := newFakeStore()
	svc, err := NewService(store, newTestSigner(t, key), Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := svc.RegisterUser(ctx, Credentials{Email: "erin@example.com", Password: "pw"}, Profile{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.LoginUser(ctx, Credentials{Email: "erin@example.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.ParseBearerToken(ctx, p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != u.ID || c.Role != token.RoleUser || !c.ExpiresAt.After(time.Now()) {
		t.Errorf("claims = %+v", c)
	}

	otherKey := newTestSigner(t, newTestKey(t))
	foreign, err := otherKey.IssuePair(u.ID, token.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", token.ErrMissingToken},
		{"garbage", "not.a.token", token.ErrInvalidToken},
		{"refresh token", p.RefreshToken, token.ErrInvalidToken},
		{"expired", expiredPair(t, key, u.ID).AccessToken, token.ErrExpired},
		{"other key", foreign.AccessToken, token.ErrInvalidToken},
	}
	for _, tt := range tests {
		if _, err := svc.ParseBearerToken(ctx, tt.tok); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	store := newFakeStore()
	signer := newTestSigner(t, key)
	svc, err := NewService(store, signer, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := svc.RegisterUser(ctx, Credentials{Email: "fay@example.com", Password: "pw"}, Profile{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.LoginUser(ctx, Credentials{Email: "fay@example.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	np, err := svc.RefreshToken(ctx, p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if np.AccessToken == p.AccessToken || np.RefreshToken == p.RefreshToken {
		t.Error("refresh returned the same tokens")
	}
	c, err := signer.Verifier().VerifyAccess(np.AccessToken)
	if err != nil || c.Subject != u.ID {
		t.Errorf("refreshed access token: claims %+v, err %v", c, err)
	}

	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrInvalidArgument},
		{"garbage", "x.y.z", token.ErrInvalidToken},
		{"access token", p.AccessToken, token.ErrInvalidToken},
		{"expired", expiredPair(t, key, u.ID).RefreshToken, token.ErrExpired},
	}
	for _, tt := range tests {
		if _, err := svc.RefreshToken(ctx, tt.tok); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	// A user that no longer exists cannot refresh.
	store.delete(u.ID)
	if _, err := svc.RefreshToken(ctx, np.RefreshToken); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("refresh of a deleted user: err = %v, want ErrInvalidToken", err)
	}
}

func TestGetUserInfo(t *testing.T) {
	t.Parallel()
	svc, _, _ := newTestService(t, Options{})
	ctx := context.Background()
	u, err := svc.RegisterUser(ctx, Credentials{Email: "gus@example.com", Password: "pw"}, validProfile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.GetUserInfo(ctx, u.ID)
	if err != nil || got != u {
		t.Errorf("GetUserInfo = %+v, %v; want %+v", got, err, u)
	}
	tests := []struct {
		id   string
		want error
	}{
		{"", ErrInvalidArgument},
		{strings.Repeat("x", MaxUserIDLen+1), ErrInvalidArgument},
		{"0190b7a4-0000-7000-8000-000000000000", ErrNotFound},
	}
	for _, tt := range tests {
		if _, err := svc.GetUserInfo(ctx, tt.id); !errors.Is(err, tt.want) {
			t.Errorf("GetUserInfo(%.20q): err = %v, want %v", tt.id, err, tt.want)
		}
	}
}

func TestKeySetVerifiesTokens(t *testing.T) {
	t.Parallel()
	svc, _, signer := newTestService(t, Options{})
	set, err := svc.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].Kid != signer.KeyID() {
		t.Errorf("KeySet = %+v, want the signer's key %s", set, signer.KeyID())
	}
}

func TestStoreFailureIsNotABusinessError(t *testing.T) {
	t.Parallel()
	svc, store, _ := newTestService(t, Options{})
	boom := errors.New("store down")
	store.err = boom
	ctx := context.Background()
	set := NewSet(svc, nil, nil, nil)

	_, err := svc.LoginUser(ctx, Credentials{Email: "h@example.com", Password: "pw"})
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("LoginUser with a failing store: err = %v, want the store error", err)
	}
	// The endpoint returns it as its own error, not inside the response.
	if _, err := set.GetUserInfoEndpoint(ctx, GetUserInfoRequest{UserID: "x"}); !errors.Is(err, boom) {
		t.Errorf("GetUserInfo endpoint: err = %v, want the store error", err)
	}
	// A business error rides in the response.
	resp, err := set.GetUserInfoEndpoint(ctx, GetUserInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resp.(UserResponse).Failed(), ErrInvalidArgument) {
		t.Errorf("response error = %v, want ErrInvalidArgument", resp.(UserResponse).Failed())
	}
}

func TestParseBasicAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header  string
		want    Credentials
		wantErr bool
	}{
		{"Basic YUBiLmM6cDpx", Credentials{Email: "a@b.c", Password: "p:q"}, false},
		{"basic   YUBiLmM6cDpx ", Credentials{Email: "a@b.c", Password: "p:q"}, false},
		{"Basic YUBiLmM6", Credentials{Email: "a@b.c", Password: ""}, false}, // empty password: the service refuses it
		{"", Credentials{}, true},
		{"Basic", Credentials{}, true},
		{"Bearer YUBiLmM6cDpx", Credentials{}, true},
		{"Basic not-base64!", Credentials{}, true},
		{"Basic YUBiLmM=", Credentials{}, true}, // "a@b.c": no colon
		{"Basic " + strings.Repeat("A", 2000), Credentials{}, true},
	}
	for _, tt := range tests {
		got, err := parseBasicAuth(tt.header)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("parseBasicAuth(%.30q): err = %v, want ErrInvalidArgument", tt.header, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseBasicAuth(%q) = %+v, %v; want %+v", tt.header, got, err, tt.want)
		}
	}
}

// BenchmarkLoginUser compares the work of a login with a wrong password and
// with an unknown e-mail, at the production bcrypt cost: the two should take
// about the same time, so that timing does not tell which e-mails exist.
func BenchmarkLoginUser(b *testing.B) {
	store := newFakeStore()
	svc, err := NewService(store, newTestSigner(b, newTestKey(b)), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.RegisterUser(ctx, Credentials{Email: "bench@example.com", Password: "right"}, Profile{}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, email string }{
		{"WrongPassword", "bench@example.com"},
		{"UnknownEmail", "nobody@example.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.LoginUser(ctx, Credentials{Email: bc.email, Password: "wrong"}); !errors.Is(err, ErrInvalidCredentials) {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSessions: each login is a session of its own, stored with the expiry
// of its refresh token; a refresh keeps the session and moves its expiry to
// the new refresh token's; logging out ends that session alone (refresh and
// CheckSession refuse its tokens), and ending it again is no error.
func TestSessions(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	store := newFakeStore()
	signer := newTestSigner(t, key)
	svc, err := NewService(store, signer, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.RegisterUser(ctx, Credentials{Email: "ines@example.com", Password: "pw"}, Profile{}); err != nil {
		t.Fatal(err)
	}
	login := func() (token.Pair, token.Claims) {
		t.Helper()
		p, err := svc.LoginUser(ctx, Credentials{Email: "ines@example.com", Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := signer.Verifier().VerifyAccess(p.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := signer.Verifier().VerifyRefresh(p.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if c.SessionID == "" || rc.SessionID != c.SessionID {
			t.Fatalf("access sid %q, refresh sid %q: want one session id", c.SessionID, rc.SessionID)
		}
		sess, err := store.Session(ctx, c.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		if sess.UserID != c.Subject || !sess.ExpiresAt.Equal(rc.ExpiresAt) || sess.CreatedAt.IsZero() {
			t.Errorf("session = %+v, want user %s expiring with the refresh token at %v", sess, c.Subject, rc.ExpiresAt)
		}
		return p, c
	}
	first, firstClaims := login()
	second, secondClaims := login()
	if firstClaims.SessionID == secondClaims.SessionID {
		t.Fatalf("two logins share session %q", firstClaims.SessionID)
	}
	if len(firstClaims.SessionID) < 26 {
		t.Errorf("session id %q is shorter than 128 random bits in base32", firstClaims.SessionID)
	}

	// A refresh stays in its session and extends it.
	refreshed, err := svc.RefreshToken(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := signer.Verifier().VerifyRefresh(refreshed.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if rc.SessionID != firstClaims.SessionID {
		t.Errorf("refreshed sid = %q, want the login's %q", rc.SessionID, firstClaims.SessionID)
	}
	if sess, _ := store.Session(ctx, rc.SessionID); !sess.ExpiresAt.Equal(rc.ExpiresAt) {
		t.Errorf("session expires at %v after the refresh, want the new refresh token's %v", sess.ExpiresAt, rc.ExpiresAt)
	}

	// Logging out ends the first session: every token of it is refused.
	if err := svc.Logout(ctx, first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"login's": first.RefreshToken, "refreshed": refreshed.RefreshToken} {
		if _, err := svc.RefreshToken(ctx, tok); !errors.Is(err, ErrSessionEnded) {
			t.Errorf("refresh with the %s refresh token of an ended session: err = %v, want ErrSessionEnded", name, err)
		}
	}
	if err := svc.CheckSession(ctx, firstClaims); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("CheckSession of the ended session: err = %v, want ErrSessionEnded", err)
	}
	if _, err := svc.ParseBearerToken(ctx, first.AccessToken); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("ParseBearerToken of the ended session: err = %v, want ErrSessionEnded", err)
	}
	// Again: no error.
	if err := svc.Logout(ctx, refreshed.RefreshToken); err != nil {
		t.Errorf("second logout: %v", err)
	}
	// The second login's session is untouched.
	if err := svc.CheckSession(ctx, secondClaims); err != nil {
		t.Errorf("CheckSession of the other session: %v", err)
	}
	if _, err := svc.ParseBearerToken(ctx, second.AccessToken); err != nil {
		t.Errorf("ParseBearerToken of the other session: %v", err)
	}
	if _, err := svc.RefreshToken(ctx, second.RefreshToken); err != nil {
		t.Errorf("refresh of the other session: %v", err)
	}

	// A token without a session id (issued before sessions) has no session.
	old, err := signer.IssuePair(firstClaims.Subject, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	oldClaims, err := signer.Verifier().VerifyAccess(old.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RefreshToken(ctx, old.RefreshToken); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("refresh without a session: err = %v, want ErrSessionEnded", err)
	}
	if err := svc.CheckSession(ctx, oldClaims); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("CheckSession without a session: err = %v, want ErrSessionEnded", err)
	}
	if err := svc.Logout(ctx, old.RefreshToken); err != nil {
		t.Errorf("logout without a session: %v", err)
	}

	// Logout verifies the token as refresh does.
	for _, tt := range []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrInvalidArgument},
		{"garbage", "x.y.z", token.ErrInvalidToken},
		{"access token", second.AccessToken, token.ErrInvalidToken},
		{"expired", expiredPair(t, key, firstClaims.Subject).RefreshToken, token.ErrExpired},
	} {
		if err := svc.Logout(ctx, tt.tok); !errors.Is(err, tt.want) {
			t.Errorf("logout %s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := svc.CheckSession(ctx, secondClaims); err != nil {
		t.Errorf("refused logouts ended the other session: %v", err)
	}
}

// TestSessionWriteFailures: a login whose session cannot be stored hands out
// no tokens, and a refresh whose session ends (a logout) between its check
// and its extension hands out no pair: ErrSessionEnded.
func TestSessionWriteFailures(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	svc, err := NewService(store, newTestSigner(t, newTestKey(t)), Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	creds := Credentials{Email: "oda@example.com", Password: "pw"}
	if _, err := svc.RegisterUser(ctx, creds, Profile{}); err != nil {
		t.Fatal(err)
	}

	boom := errors.New("sessions unavailable")
	store.createSessionErr = boom
	if p, err := svc.LoginUser(ctx, creds); !errors.Is(err, boom) || p != (token.Pair{}) {
		t.Errorf("login without a stored session: pair handed out %t, err %v; want none, %v", p.AccessToken != "", err, boom)
	}
	store.createSessionErr = nil

	p, err := svc.LoginUser(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	store.beforeExtend = func(id string) {
		if err := store.DeleteSession(ctx, id); err != nil {
			t.Error(err)
		}
	}
	if got, err := svc.RefreshToken(ctx, p.RefreshToken); !errors.Is(err, ErrSessionEnded) || got != (token.Pair{}) {
		t.Errorf("refresh logged out meanwhile: pair handed out %t, err %v; want none, ErrSessionEnded", got.AccessToken != "", err)
	}
}
