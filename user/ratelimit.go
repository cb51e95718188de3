package user

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/internal/token"
)

// Middleware decorates a Service.
type Middleware func(Service) Service

// LoginRateLimitMiddleware limits logins against password guessing, with
// opts.LoginRatePerEmail and opts.LoginRatePerIP (token buckets of
// golang.org/x/time/rate on opts.Now), throttling without locking anyone out
// (OWASP Authentication Cheat Sheet):
//
//   - per e-mail address (normalized) and client address together, only
//     failed logins count: a user who knows the password is never slowed by
//     their own logins, and failures from one address never stop the owner
//     logging in from another, so guessing cannot lock an account. An
//     attempt is held against the budget while its password is checked, so
//     concurrent guesses cannot overspend it, and given back if it was not a
//     wrong e-mail or password;
//   - per client address, every attempt counts, which bounds one address
//     spraying guesses over many e-mails and the bcrypt work it can cause.
//
// The client address is the one the transport put in the context
// (withClientAddr: the connection's peer, or for an HTTP peer in
// Options.TrustedProxies the client its X-Forwarded-For names; an IPv6
// address counts as its /64); a call without one is limited per e-mail
// among the calls without one.
//
// A refused login is a *RateLimitedError (ErrRateLimited); it costs no
// password check and spends no budget. The address is checked first, so an
// address over its limit never reaches the (e-mail, address) limiter. Each
// limiter remembers at most loginLimiterKeys keys: buckets idle long enough
// to be full again are dropped, and beyond that the least recently used, so
// spraying e-mails or addresses cannot grow memory without bound.
func LoginRateLimitMiddleware(opts Options) Middleware {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	perEmail := newKeyedLimiter(perMinute(opts.LoginRatePerEmail, DefaultLoginRatePerEmail), loginLimiterKeys)
	perIP := newKeyedLimiter(perMinute(opts.LoginRatePerIP, DefaultLoginRatePerIP), loginLimiterKeys)
	return func(next Service) Service {
		return loginLimitMiddleware{Service: next, perEmailAddr: perEmail, perIP: perIP, now: now}
	}
}

// loginLimiterKeys bounds the keys each login limiter remembers.
const loginLimiterKeys = 1 << 16

// perMinute returns n, or def for zero, or 0 (no limit) for a negative n.
func perMinute(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// loginLimitMiddleware limits LoginUser and passes every other method on.
type loginLimitMiddleware struct {
	Service
	perEmailAddr *keyedLimiter // failed logins by (e-mail, client address); nil: no limit
	perIP        *keyedLimiter // attempts by client address; nil: no limit
	now          func() time.Time
}

func (m loginLimitMiddleware) LoginUser(ctx context.Context, creds Credentials) (token.Pair, error) {
	now := m.now()
	// The address first: an address over its limit must not reach, and
	// churn, the (e-mail, address) limiter.
	client := clientAddrFrom(ctx) // "" when the call has no address
	var releaseAddr, releaseEmail func(spend bool, at time.Time)
	if m.perIP != nil && client != "" {
		var wait time.Duration
		if releaseAddr, wait = m.perIP.acquire(client, now); wait > 0 {
			return token.Pair{}, &RateLimitedError{Limit: LimitAddress, RetryAfter: wait}
		}
	}
	// A malformed e-mail has no bucket: the service refuses it without a
	// password check.
	if email, err := normalizeEmail(creds.Email); m.perEmailAddr != nil && err == nil {
		var wait time.Duration
		// NUL appears in neither an e-mail address nor a client key.
		if releaseEmail, wait = m.perEmailAddr.acquire(email+"\x00"+client, now); wait > 0 {
			if releaseAddr != nil {
				releaseAddr(false, now) // refused, so not an attempt
			}
			return token.Pair{}, &RateLimitedError{Limit: LimitEmail, RetryAfter: wait}
		}
	}
	p, err := m.Service.LoginUser(ctx, creds)
	at := m.now()
	if releaseAddr != nil {
		releaseAddr(true, at)
	}
	if releaseEmail != nil {
		releaseEmail(errors.Is(err, ErrInvalidCredentials), at)
	}
	return p, err
}

// keyedLimiter is one token bucket (rate.Limiter) per key, for keys a client
// chooses, in bounded memory. A bucket left alone for idle is full again,
// the same as a new one, so it is dropped; beyond max buckets the least
// recently used one is dropped, which forgets the least of what matters.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *bucket]
}

// bucket is the state of one key.
type bucket struct {
	lim     *rate.Limiter
	pending int       // attempts acquired and not yet released
	last    time.Time // last use
}

// newKeyedLimiter returns a limiter of n events per minute per key, with a
// burst of n, remembering at most max keys (max > 0); nil for n <= 0 (no
// limit).
func newKeyedLimiter(n, max int) *keyedLimiter {
	if n <= 0 {
		return nil
	}
	buckets, err := simplelru.NewLRU[string, *bucket](max, nil)
	if err != nil {
		panic("user: " + err.Error()) // max <= 0: a constant of this package
	}
	return &keyedLimiter{
		limit: rate.Limit(float64(n) / 60),
		burst: n,
		// An empty bucket refills in burst/limit, a minute; the second
		// absorbs the float rounding.
		idle:    time.Minute + time.Second,
		buckets: buckets,
	}
}

// acquire holds a token of key's bucket at now for an attempt whose outcome
// is not known yet, or returns how long until one is there. release(spend,
// at) ends the attempt: it spends the token at at, or gives it back. Held
// tokens count, so concurrent attempts cannot overspend a bucket.
func (k *keyedLimiter) acquire(key string, now time.Time) (release func(spend bool, at time.Time), wait time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.bucket(key, now)
	if wait = k.wait(b, now); wait > 0 {
		return nil, wait
	}
	b.pending++
	return func(spend bool, at time.Time) {
		k.mu.Lock()
		defer k.mu.Unlock()
		b.pending--
		if spend {
			// Always spends, into debt if need be: an attempt is never lost.
			b.lim.ReserveN(at, 1)
		}
		b.last = at
	}, 0
}

// wait returns how long until b has a token not held by a pending attempt.
// k.mu must be held.
func (k *keyedLimiter) wait(b *bucket, now time.Time) time.Duration {
	free := b.lim.TokensAt(now) - float64(b.pending)
	if free >= 1 {
		return 0
	}
	return time.Duration((1 - free) / float64(k.limit) * float64(time.Second))
}

// bucket returns key's bucket, marked used at now, after dropping the idle
// ones from the least recently used end (up to the first that is pending or
// not idle) and, when full, the least recently used. A pending attempt on a
// dropped bucket still releases safely, to the dropped bucket. k.mu must be
// held.
func (k *keyedLimiter) bucket(key string, now time.Time) *bucket {
	for {
		_, b, ok := k.buckets.GetOldest()
		if !ok || b.pending > 0 || now.Sub(b.last) < k.idle {
			break
		}
		k.buckets.RemoveOldest()
	}
	b, ok := k.buckets.Get(key)
	if !ok {
		b = &bucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets.Add(key, b) // evicts the least recently used when full
	}
	b.last = now
	return b
}
