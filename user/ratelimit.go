package user

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/internal/token"
)

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
// The client address is the connection's peer, which the transport put in
// the context (an IPv6 address counts as its /64), or for a peer in
// opts.TrustedProxies the client its X-Forwarded-For names; a call without
// one is limited per e-mail among the calls without one.
//
// A refused login is a *RateLimitedError (ErrRateLimited); it costs no
// password check and spends no budget. The address is checked first, so an
// address over its limit never reaches the (e-mail, address) limiter. Each
// limiter remembers a bounded number of keys: buckets idle long enough to be
// full again are dropped, and beyond that the least recently used, so
// spraying e-mails or addresses cannot grow memory without bound.
func LoginRateLimitMiddleware(opts Options) Middleware {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	perEmail := newKeyedLimiter(perMinute(opts.LoginRatePerEmail, DefaultLoginRatePerEmail), loginLimiterKeys)
	perIP := newKeyedLimiter(perMinute(opts.LoginRatePerIP, DefaultLoginRatePerIP), loginLimiterKeys)
	return func(next Service) Service {
		return loginLimitMiddleware{Service: next, perEmailAddr: perEmail, perIP: perIP, trusted: opts.TrustedProxies, now: now}
	}
}

// loginLimiterKeys bounds the keys each login limiter remembers: about 200
// bytes each (an (e-mail, address) key up to some 300 with a long e-mail),
// so at most some 13-20 MB per limiter.
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
	trusted      []netip.Prefix
	now          func() time.Time
}

func (m loginLimitMiddleware) LoginUser(ctx context.Context, creds Credentials) (token.Pair, error) {
	now := m.now()
	// The address first: an address over its limit must not reach, and
	// churn, the (e-mail, address) limiter.
	var client string // the client's key; "" when the call has no address
	if addr := clientAddrFrom(ctx, m.trusted); addr != "" {
		client = clientKey(addr)
	}
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
	max   int

	mu      sync.Mutex
	buckets map[string]*list.Element // values are *bucket
	lru     *list.List               // front: most recently used
}

// bucket is the state of one key.
type bucket struct {
	key     string
	lim     *rate.Limiter
	pending int       // attempts acquired and not yet released
	last    time.Time // last use
}

// newKeyedLimiter returns a limiter of n events per minute per key, with a
// burst of n, remembering at most max keys; nil for n <= 0 (no limit).
func newKeyedLimiter(n, max int) *keyedLimiter {
	if n <= 0 {
		return nil
	}
	return &keyedLimiter{
		limit: rate.Limit(float64(n) / 60),
		burst: n,
		// An empty bucket refills in burst/limit, a minute; the second
		// absorbs the float rounding.
		idle:    time.Minute + time.Second,
		max:     max,
		buckets: make(map[string]*list.Element),
		lru:     list.New(),
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
// ones and, when full, the least recently used. k.mu must be held.
func (k *keyedLimiter) bucket(key string, now time.Time) *bucket {
	for e := k.lru.Back(); e != nil; e = k.lru.Back() {
		b := e.Value.(*bucket)
		if b.pending > 0 || now.Sub(b.last) < k.idle {
			break
		}
		k.drop(e)
	}
	e, ok := k.buckets[key]
	if !ok {
		if k.lru.Len() >= k.max {
			k.drop(k.lru.Back())
		}
		e = k.lru.PushFront(&bucket{key: key, lim: rate.NewLimiter(k.limit, k.burst)})
		k.buckets[key] = e
	}
	k.lru.MoveToFront(e)
	b := e.Value.(*bucket)
	b.last = now
	return b
}

// drop forgets a bucket. A pending attempt on it still releases safely, to
// the dropped bucket. k.mu must be held.
func (k *keyedLimiter) drop(e *list.Element) {
	delete(k.buckets, e.Value.(*bucket).key)
	k.lru.Remove(e)
}

type clientAddrKey struct{}

// clientAddr is what a transport knows of where a call comes from.
type clientAddr struct {
	peer         string // the connection's remote address
	forwardedFor string // the X-Forwarded-For header, if any
}

// withClientAddr returns ctx carrying the address of the call's peer and the
// X-Forwarded-For it sent ("" for none), for the login rate limit.
func withClientAddr(ctx context.Context, peer, forwardedFor string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, clientAddr{peer: peer, forwardedFor: forwardedFor})
}

// clientAddrFrom returns the client's address in ctx, or "": the peer, or
// when the peer is a trusted proxy, the right-most address of its
// X-Forwarded-For that is not a trusted proxy (the left-most if all are).
// Entries left of that one are the client's own claims and never read.
func clientAddrFrom(ctx context.Context, trusted []netip.Prefix) string {
	a, _ := ctx.Value(clientAddrKey{}).(clientAddr)
	if a.forwardedFor == "" || !isTrusted(a.peer, trusted) {
		return a.peer
	}
	hops := strings.Split(a.forwardedFor, ",")
	for i := len(hops) - 1; i > 0; i-- {
		if hop := strings.TrimSpace(hops[i]); !isTrusted(hop, trusted) {
			return hop
		}
	}
	return strings.TrimSpace(hops[0])
}

// isTrusted reports whether the address ("host:port" or "host") is in one of
// the trusted prefixes.
func isTrusted(addr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ip, ok := parseIP(addr)
	if !ok {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseIP returns the IP of an address ("host:port" or "host"), IPv4-mapped
// IPv6 as IPv4, without a zone.
func parseIP(addr string) (netip.Addr, bool) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// clientKey returns the rate limit key of a network address ("host:port" or
// "host"): an IPv4 address as it is, an IPv6 address as its /64 (what one
// subscriber is usually given), anything else (e.g. a Unix socket) as it is.
func clientKey(addr string) string {
	ip, ok := parseIP(addr)
	if !ok {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			return h
		}
		return addr
	}
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes or bare
// IP addresses ("10.0.0.0/8, 192.0.2.7") for Options.TrustedProxies; an empty
// list is none.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if ip, err := netip.ParseAddr(item); err == nil {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("user: trusted proxy %q is neither an IP address nor a CIDR prefix", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
