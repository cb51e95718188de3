package user

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// keys returns how many keys k remembers.
func (k *keyedLimiter) keys() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buckets.Len()
}

// take acquires a token of key's bucket at now and spends it, or returns
// how long until one is there.
func (k *keyedLimiter) take(key string, now time.Time) time.Duration {
	release, wait := k.acquire(key, now)
	if wait == 0 {
		release(true, now)
	}
	return wait
}

func TestKeyedLimiterTake(t *testing.T) {
	t.Parallel()
	t0 := newFakeClock().Now()
	k := newKeyedLimiter(5, 100)
	for i := range 5 {
		if w := k.take("a", t0); w != 0 {
			t.Fatalf("take %d: wait %v, want none within the burst", i+1, w)
		}
	}
	// 5 per minute: a token every 12 s.
	if w := k.take("a", t0); w != 12*time.Second {
		t.Errorf("6th take: wait %v, want 12s", w)
	}
	if w := k.take("a", t0.Add(6*time.Second)); w != 6*time.Second {
		t.Errorf("take after 6s: wait %v, want 6s", w)
	}
	if w := k.take("b", t0); w != 0 {
		t.Errorf("another key: wait %v, want none", w)
	}
	if w := k.take("a", t0.Add(12*time.Second)); w != 0 {
		t.Errorf("take after 12s: wait %v, want none", w)
	}
	if w := k.take("a", t0.Add(12*time.Second)); w == 0 {
		t.Error("a second take after 12s was allowed; only one token had come back")
	}
	if newKeyedLimiter(0, 100) != nil || newKeyedLimiter(-1, 100) != nil {
		t.Error("a limiter of no events per minute should be no limiter (nil)")
	}
}

func TestKeyedLimiterAcquire(t *testing.T) {
	t.Parallel()
	t0 := newFakeClock().Now()
	k := newKeyedLimiter(5, 100)

	// Released as not failed, an attempt gives its token back.
	for i := range 20 {
		release, w := k.acquire("a", t0)
		if w != 0 {
			t.Fatalf("attempt %d: wait %v; successes must not count", i+1, w)
		}
		release(false, t0)
	}
	// Held attempts count while pending: five at once, not a sixth.
	var held []func(bool, time.Time)
	for i := range 5 {
		release, w := k.acquire("a", t0)
		if w != 0 {
			t.Fatalf("pending attempt %d: wait %v", i+1, w)
		}
		held = append(held, release)
	}
	if _, w := k.acquire("a", t0); w != 12*time.Second {
		t.Errorf("6th concurrent attempt: wait %v, want 12s", w)
	}
	// Four fail, one succeeds: one token is left.
	for i, release := range held {
		release(i > 0, t0)
	}
	release, w := k.acquire("a", t0)
	if w != 0 {
		t.Fatalf("after four failures: wait %v, want one token left", w)
	}
	release(true, t0)
	if _, w := k.acquire("a", t0); w != 12*time.Second {
		t.Errorf("after five failures: wait %v, want 12s", w)
	}
}

func TestKeyedLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	k := newKeyedLimiter(5, 3)

	// Spraying keys never holds more than max.
	for i := range 100 {
		k.take(fmt.Sprintf("spray-%d@example.com", i), clock.Now())
		if n := k.keys(); n > 3 {
			t.Fatalf("after %d keys the limiter holds %d, want at most 3", i+1, n)
		}
	}

	// At capacity the least recently used key goes: a, b, c; a used again; d evicts b.
	k = newKeyedLimiter(5, 3)
	for _, key := range []string{"a", "b", "c"} {
		for range 5 {
			k.take(key, clock.Now())
		}
	}
	k.take("a", clock.Now())
	k.take("d", clock.Now())
	if w := k.take("a", clock.Now()); w == 0 {
		t.Error("a was forgotten; the least recently used key (b) should have been")
	}
	if w := k.take("b", clock.Now()); w != 0 {
		t.Errorf("b was kept (wait %v); it was the least recently used", w)
	}

	// Buckets idle long enough to be full again are dropped on the next use,
	// which forgets nothing: their limit has passed.
	k = newKeyedLimiter(5, 100)
	for i := range 50 {
		k.take(fmt.Sprint(i), clock.Now())
	}
	clock.Advance(time.Minute + time.Second)
	k.take("new", clock.Now())
	if n := k.keys(); n != 1 {
		t.Errorf("after a minute idle: %d keys, want only the new one", n)
	}

	// A pending attempt keeps its bucket, however long it takes.
	k = newKeyedLimiter(5, 100)
	release, _ := k.acquire("slow", clock.Now())
	clock.Advance(time.Hour)
	k.take("other", clock.Now())
	if n := k.keys(); n != 2 {
		t.Errorf("%d keys, want the pending one kept", n)
	}
	release(true, clock.Now())
}

// countingService counts the logins that reach the service.
type countingService struct {
	Service
	mu     sync.Mutex
	logins int
}

func (c *countingService) LoginUser(ctx context.Context, creds Credentials) (token.Pair, error) {
	c.mu.Lock()
	c.logins++
	c.mu.Unlock()
	return c.Service.LoginUser(ctx, creds)
}

func (c *countingService) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logins
}

// newLimitedService returns a service with one user, kim@example.com
// (password "right"), behind LoginRateLimitMiddleware with opts on clock.
func newLimitedService(t *testing.T, opts Options, clock *fakeClock) (Service, *countingService) {
	t.Helper()
	svc, _, _ := newTestService(t, Options{})
	if _, err := svc.RegisterUser(t.Context(), Credentials{Email: "kim@example.com", Password: "right"}, validProfile); err != nil {
		t.Fatal(err)
	}
	inner := &countingService{Service: svc}
	opts.Now = clock.Now
	return LoginRateLimitMiddleware(opts)(inner), inner
}

func wantRateLimited(t *testing.T, err error, limit string, retryAfter time.Duration) {
	t.Helper()
	var rl *RateLimitedError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want a *RateLimitedError", err)
	}
	if rl.Limit != limit || rl.RetryAfter != retryAfter {
		t.Errorf("limit %q retry after %v, want %q %v", rl.Limit, rl.RetryAfter, limit, retryAfter)
	}
}

func TestLoginRateLimitPerEmail(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	svc, inner := newLimitedService(t, Options{LoginRatePerIP: -1}, clock)
	ctx := t.Context()
	login := func(email, password string) error {
		_, err := svc.LoginUser(ctx, Credentials{Email: email, Password: password})
		return err
	}

	// Successes never count against the e-mail.
	for i := range 3 * DefaultLoginRatePerEmail {
		if err := login("kim@example.com", "right"); err != nil {
			t.Fatalf("successful login %d: %v", i+1, err)
		}
	}
	// Five failures, spelled differently: the key is the normalized e-mail.
	for i, email := range []string{"kim@example.com", "KIM@example.com", " kim@EXAMPLE.com", "kim@example.com", "Kim@Example.Com"} {
		if err := login(email, "wrong"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v, want ErrInvalidCredentials", i+1, err)
		}
	}
	reached := inner.count()
	// The sixth is refused before the password is checked, even the right one.
	wantRateLimited(t, login("kim@example.com", "right"), LimitEmail, 12*time.Second)
	wantRateLimited(t, login("kim@example.com", "wrong"), LimitEmail, 12*time.Second)
	if n := inner.count(); n != reached {
		t.Errorf("%d refused logins reached the service", n-reached)
	}
	if err := login("lee@example.com", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("another e-mail: %v, want its own budget", err)
	}
	// Malformed e-mails have no bucket; the service refuses them as before.
	if err := login("not-an-email", "x"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("malformed e-mail: %v, want ErrInvalidArgument", err)
	}

	// A token every 12 s: the right password gets in and gives its token back.
	clock.Advance(12 * time.Second)
	if err := login("kim@example.com", "right"); err != nil {
		t.Fatalf("after 12s: %v", err)
	}
	if err := login("kim@example.com", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("the token given back by the success: %v", err)
	}
	wantRateLimited(t, login("kim@example.com", "right"), LimitEmail, 12*time.Second)

	// Unknown e-mails are limited exactly like known ones: no existence leak.
	for range DefaultLoginRatePerEmail {
		if err := login("ghost@example.com", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	errGhost := login("ghost@example.com", "wrong")
	wantRateLimited(t, errGhost, LimitEmail, 12*time.Second)
	if errKim := login("kim@example.com", "wrong"); errKim.Error() != errGhost.Error() {
		t.Errorf("known e-mail: %q; unknown e-mail: %q", errKim, errGhost)
	}
	if msg := errGhost.Error(); strings.Contains(msg, "ghost") {
		t.Errorf("message %q names the e-mail", msg)
	}

	// Infrastructure failures do not count: the attempt said nothing about the password.
	down := LoginRateLimitMiddleware(Options{Now: clock.Now, LoginRatePerIP: -1})(failingService{err: errors.New("store down")})
	for i := range 2 * DefaultLoginRatePerEmail {
		if _, err := down.LoginUser(ctx, Credentials{Email: "kim@example.com", Password: "x"}); errors.Is(err, ErrRateLimited) {
			t.Fatalf("attempt %d with the store down was rate-limited", i+1)
		}
	}
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	svc, inner := newLimitedService(t, Options{}, clock)
	from := func(addr string) context.Context { return withClientAddr(t.Context(), addr) }

	// Every attempt counts, successful or not, whatever the e-mail.
	for i := range DefaultLoginRatePerIP {
		email, password := fmt.Sprintf("spray-%d@example.com", i), "guess"
		if i%4 == 0 {
			email, password = "kim@example.com", "right"
		}
		_, err := svc.LoginUser(from("198.51.100.9:5000"), Credentials{Email: email, Password: password})
		if errors.Is(err, ErrRateLimited) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	reached := inner.count()
	// 20 per minute: one every 3 s. Another port of the address is the same client.
	_, err := svc.LoginUser(from("198.51.100.9:6000"), Credentials{Email: "kim@example.com", Password: "right"})
	wantRateLimited(t, err, LimitAddress, 3*time.Second)
	if inner.count() != reached {
		t.Error("the refused login reached the service")
	}
	// Refused by the address, the attempt did not spend the e-mail's budget.
	for i := range DefaultLoginRatePerEmail {
		if _, err := svc.LoginUser(from("192.0.2.1:1"), Credentials{Email: "kim@example.com", Password: "wrong"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure %d from another address: %v", i+1, err)
		}
	}

	// Refused by its e-mail, an attempt does not spend the address's budget.
	for range 3 * DefaultLoginRatePerIP {
		_, err := svc.LoginUser(from("192.0.2.1:1"), Credentials{Email: "kim@example.com", Password: "right"})
		wantRateLimited(t, err, LimitEmail, 12*time.Second)
	}
	if _, err := svc.LoginUser(from("192.0.2.1:1"), Credentials{Email: "lee@example.com", Password: "x"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("the address after refusals by e-mail: %v", err)
	}

	// An address over its limit does not reach the e-mail limiter, so it
	// cannot flood it with keys to push others' buckets out.
	perEmail := svc.(loginLimitMiddleware).perEmailAddr
	keys := perEmail.keys()
	for i := range 100 {
		_, err := svc.LoginUser(from("198.51.100.9:5000"), Credentials{Email: fmt.Sprintf("churn-%d@example.com", i), Password: "x"})
		wantRateLimited(t, err, LimitAddress, 3*time.Second)
	}
	if n := perEmail.keys(); n != keys {
		t.Errorf("refused logins added %d e-mail buckets", n-keys)
	}

	// An IPv6 client is its /64.
	for i := range DefaultLoginRatePerIP {
		email := fmt.Sprintf("v6-%d@example.com", i)
		if _, err := svc.LoginUser(from("[2001:db8:0:1::1]:443"), Credentials{Email: email, Password: "x"}); errors.Is(err, ErrRateLimited) {
			t.Fatal(err)
		}
	}
	_, err = svc.LoginUser(from("[2001:db8:0:1:ffff::2]:443"), Credentials{Email: "park@example.com", Password: "x"})
	wantRateLimited(t, err, LimitAddress, 3*time.Second)
	if _, err = svc.LoginUser(from("[2001:db8:0:2::1]:443"), Credentials{Email: "park@example.com", Password: "x"}); errors.Is(err, ErrRateLimited) {
		t.Errorf("another /64: %v", err)
	}

	clock.Advance(3 * time.Second)
	if _, err := svc.LoginUser(from("198.51.100.9:7000"), Credentials{Email: "lee@example.com", Password: "x"}); errors.Is(err, ErrRateLimited) {
		t.Errorf("after 3s: %v", err)
	}

	// Calls without an address (in-process) are limited per e-mail only.
	for i := range 2 * DefaultLoginRatePerIP {
		email := fmt.Sprintf("in-process-%d@example.com", i)
		if _, err := svc.LoginUser(t.Context(), Credentials{Email: email, Password: "x"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("in-process attempt %d: %v", i+1, err)
		}
	}
}

// TestLoginRateLimitNoLockout checks that failed logins from one address
// never lock the account's owner out from another: the failures are limited
// for their (e-mail, address), the owner's address keeps its whole budget,
// and the attacker's address gets no more guesses at the account however
// long the owner keeps logging in.
func TestLoginRateLimitNoLockout(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	svc, _ := newLimitedService(t, Options{}, clock)
	from := func(addr string) context.Context { return withClientAddr(t.Context(), addr) }
	login := func(addr, password string) error {
		_, err := svc.LoginUser(from(addr), Credentials{Email: "kim@example.com", Password: password})
		return err
	}
	const attacker, owner, ownerV6 = "203.0.113.66:4000", "198.51.100.7:5000", "[2001:db8:1:2::7]:443"

	for i := range DefaultLoginRatePerEmail {
		if err := login(attacker, "guess"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v, want ErrInvalidCredentials", i+1, err)
		}
	}
	// The attacker is stopped, even with the right password and another port.
	wantRateLimited(t, login(attacker, "guess"), LimitEmail, 12*time.Second)
	wantRateLimited(t, login("203.0.113.66:4001", "right"), LimitEmail, 12*time.Second)
	// The owner is not: the right password from elsewhere gets in, repeatedly,
	// and a typo of theirs is a typo, not a lockout.
	for _, addr := range []string{owner, ownerV6, owner} {
		if err := login(addr, "right"); err != nil {
			t.Fatalf("owner from %s: %v", addr, err)
		}
	}
	if err := login(owner, "typo"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("owner's typo: %v, want ErrInvalidCredentials", err)
	}
	if err := login(owner, "right"); err != nil {
		t.Errorf("owner after a typo: %v", err)
	}
	// And the attacker still waits: the owner's successes gave it nothing.
	wantRateLimited(t, login(attacker, "guess"), LimitEmail, 12*time.Second)
	clock.Advance(12 * time.Second)
	if err := login(attacker, "guess"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("one guess per 12 s: %v", err)
	}
	wantRateLimited(t, login(attacker, "guess"), LimitEmail, 12*time.Second)
}

// TestLoginRateLimitSprayFromOneAddress checks that one address guessing at
// many accounts is stopped by the per-address limit, and the accounts' owners
// are not.
func TestLoginRateLimitSprayFromOneAddress(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	svc, inner := newLimitedService(t, Options{}, clock)
	attacker := withClientAddr(t.Context(), "203.0.113.66:4000")
	for i := range DefaultLoginRatePerIP {
		if _, err := svc.LoginUser(attacker, Credentials{Email: fmt.Sprintf("victim-%d@example.com", i), Password: "guess"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	reached := inner.count()
	for i := range 100 {
		_, err := svc.LoginUser(attacker, Credentials{Email: fmt.Sprintf("more-%d@example.com", i), Password: "guess"})
		wantRateLimited(t, err, LimitAddress, 3*time.Second)
	}
	if n := inner.count() - reached; n != 0 {
		t.Errorf("%d guesses past the address's limit reached the service", n)
	}
	if _, err := svc.LoginUser(withClientAddr(t.Context(), "198.51.100.7:5000"), Credentials{Email: "kim@example.com", Password: "right"}); err != nil {
		t.Errorf("kim from her own address: %v", err)
	}
}

// TestLoginRateLimitBoundedMemory checks that failures spread over more
// (e-mail, address) pairs and addresses than a limiter holds leave each at
// its bound.
func TestLoginRateLimitBoundedMemory(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := LoginRateLimitMiddleware(Options{Now: clock.Now})(failingService{err: ErrInvalidCredentials}).(loginLimitMiddleware)
	for i := range loginLimiterKeys + 1000 {
		ctx := withClientAddr(t.Context(), fmt.Sprintf("10.%d.%d.%d:1", i>>16&0xff, i>>8&0xff, i&0xff))
		if _, err := m.LoginUser(ctx, Credentials{Email: fmt.Sprintf("u%d@example.com", i%97), Password: "x"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if n := m.perEmailAddr.keys(); n != loginLimiterKeys {
		t.Errorf("(e-mail, address) limiter holds %d keys, want its bound %d", n, loginLimiterKeys)
	}
	if n := m.perIP.keys(); n != loginLimiterKeys {
		t.Errorf("address limiter holds %d keys, want its bound %d", n, loginLimiterKeys)
	}
}

func TestLoginRateLimitDisabled(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	svc, _ := newLimitedService(t, Options{LoginRatePerEmail: -1, LoginRatePerIP: -1}, clock)
	ctx := withClientAddr(t.Context(), "198.51.100.9:5000")
	for i := range 50 {
		if _, err := svc.LoginUser(ctx, Credentials{Email: "kim@example.com", Password: "wrong"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
}

// blockingLogins fails every login with ErrInvalidCredentials once release
// is closed, announcing each arrival on arrived.
type blockingLogins struct {
	Service
	arrived chan struct{}
	release chan struct{}
}

func (b blockingLogins) LoginUser(context.Context, Credentials) (token.Pair, error) {
	b.arrived <- struct{}{}
	<-b.release
	return token.Pair{}, ErrInvalidCredentials
}

// TestLoginRateLimitConcurrentGuesses checks that guesses in flight at once
// from one address cannot overspend its budget for an e-mail: of ten
// concurrent guesses, five reach the password check and five are refused.
func TestLoginRateLimitConcurrentGuesses(t *testing.T) {
	t.Parallel()
	const guesses = 10
	clock := newFakeClock()
	inner := blockingLogins{arrived: make(chan struct{}, guesses), release: make(chan struct{})}
	svc := LoginRateLimitMiddleware(Options{Now: clock.Now})(inner)
	results := make(chan error, guesses)
	for i := range guesses {
		go func() {
			ctx := withClientAddr(t.Context(), fmt.Sprintf("198.51.100.9:%d", 1000+i))
			_, err := svc.LoginUser(ctx, Credentials{Email: "kim@example.com", Password: fmt.Sprint("guess", i)})
			results <- err
		}()
	}
	arrived, refused := 0, 0
	for arrived+refused < guesses {
		select {
		case <-inner.arrived:
			arrived++
		case err := <-results:
			if !errors.Is(err, ErrRateLimited) {
				t.Fatalf("a guess returned %v before any was released", err)
			}
			refused++
		}
	}
	close(inner.release)
	for range arrived {
		if err := <-results; !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("released guess: %v", err)
		}
	}
	if arrived != DefaultLoginRatePerEmail || refused != guesses-DefaultLoginRatePerEmail {
		t.Errorf("%d guesses reached the password check and %d were refused, want %d and %d",
			arrived, refused, DefaultLoginRatePerEmail, guesses-DefaultLoginRatePerEmail)
	}
	_, err := svc.LoginUser(withClientAddr(t.Context(), "198.51.100.9:2000"), Credentials{Email: "kim@example.com", Password: "right"})
	wantRateLimited(t, err, LimitEmail, 12*time.Second)
}

// TestLoginRateLimitTransports checks the answers of a refused login: 429
// with Retry-After and the JSON error over HTTP, ResourceExhausted with
// RetryInfo over gRPC, and the rate_limited outcome in the metrics.
func TestLoginRateLimitTransports(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	env := newTestEnv(t, Options{Now: clock.Now, LoginRatePerIP: 8})
	ctx := t.Context()
	if r := env.do(t, "POST", "/auth/register", basic("kim@example.com", "right"), `{"name":"Kim"}`); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}

	// Per (e-mail, address): each transport reads the client's address, the
	// HTTP client's (RemoteAddr) and the gRPC peer's (bufconn), which differ.
	for i := range DefaultLoginRatePerEmail {
		if r := env.do(t, "POST", "/auth/login", basic("kim@example.com", "wrong"), ""); r.status != http.StatusUnauthorized {
			t.Fatalf("HTTP failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := env.do(t, "POST", "/auth/login", basic("kim@example.com", "right"), "")
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") != "12" ||
		!strings.Contains(string(r.body), "too many failed logins for this e-mail address") {
		t.Errorf("HTTP: %d Retry-After %q %s, want 429 rate_limited with Retry-After 12", r.status, r.header.Get("Retry-After"), r.body)
	}
	// The failures over HTTP do not lock the account for the gRPC peer.
	if _, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("kim@example.com", "right")}); err != nil {
		t.Errorf("gRPC login with the right password after HTTP failures: %v", err)
	}
	_, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("kim@example.com", "wrong")})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC failure with its own budget: %v", err)
	}

	// Per address: 8 attempts per minute from the test client, one every 7.5 s.
	// Five HTTP attempts so far (register is not limited, and the refused one
	// did not count): three more, and the ninth is refused.
	for i := range 3 {
		if r := env.do(t, "POST", "/auth/login", basic(fmt.Sprintf("u%d@example.com", i), "x"), ""); r.status != http.StatusUnauthorized {
			t.Fatalf("HTTP attempt %d: %d %s", i+1, r.status, r.body)
		}
	}
	r = env.do(t, "POST", "/auth/login", basic("other@example.com", "x"), "")
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") != "8" ||
		!strings.Contains(string(r.body), "from this address") {
		t.Errorf("HTTP per address: %d Retry-After %q %s, want 429 with Retry-After 8", r.status, r.header.Get("Retry-After"), r.body)
	}
	// gRPC calls come from another peer (bufconn) with their own budget: two
	// attempts so far.
	for i := range 6 {
		_, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic(fmt.Sprintf("g%d@example.com", i), "x")})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("gRPC attempt %d: %v", i+1, err)
		}
	}
	_, err = env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("g9@example.com", "x")})
	wantRetryInfo(t, err, 8*time.Second)

	if got := counterValue(t, env.reg, "LoginUser", "rate_limited"); got != 3 {
		t.Errorf("LoginUser rate_limited count = %v, want 3", got)
	}
	if strings.Contains(env.logs.String(), "kim@example.com") {
		t.Errorf("the logs show an e-mail address: %s", env.logs)
	}
}

func wantRetryInfo(t *testing.T, err error, delay time.Duration) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Errorf("gRPC: %v, want ResourceExhausted", err)
		return
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			if got := info.GetRetryDelay().AsDuration(); got != delay {
				t.Errorf("RetryInfo delay %v, want %v", got, delay)
			}
			return
		}
	}
	t.Errorf("gRPC status %v has no RetryInfo", st.Proto())
}
