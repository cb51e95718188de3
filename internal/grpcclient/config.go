package grpcclient

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"
)

// Config is the resilience settings of a Client, shared by its endpoints.
type Config struct {
	// AttemptTimeout bounds one attempt of a call (-client-attempt-timeout).
	AttemptTimeout time.Duration
	// RetryBudget bounds the retries of an idempotent call: no attempt runs,
	// and no wait lasts, past RetryBudget from the call's start
	// (-client-retry-budget). It must be at least AttemptTimeout.
	RetryBudget time.Duration
	// MaxAttempts is the most attempts of an idempotent call, the first
	// included; 1 disables retries (-client-max-attempts).
	MaxAttempts int
	// BackoffBase is the first backoff between attempts; it doubles with each
	// retry up to BackoffMax, and each wait is drawn at random between half
	// the backoff and the backoff (-client-backoff, -client-backoff-max).
	BackoffBase time.Duration
	// BackoffMax caps the backoff.
	BackoffMax time.Duration
	// BreakerFailures is the number of consecutive infrastructure failures
	// that opens a method's breaker (-breaker-failures).
	BreakerFailures uint32
	// BreakerOpenTimeout is how long an open breaker refuses calls before it
	// lets probes through, half-open (-breaker-open-timeout). It is not a call
	// timeout.
	BreakerOpenTimeout time.Duration
	// BreakerHalfOpenRequests is how many probes a half-open breaker lets
	// through; that many successes close it, one failure opens it again
	// (-breaker-half-open-requests).
	BreakerHalfOpenRequests uint32
}

// DefaultConfig returns the defaults of the flags RegisterFlags defines.
func DefaultConfig() Config {
	return Config{
		AttemptTimeout:          3 * time.Second,
		RetryBudget:             6 * time.Second,
		MaxAttempts:             3,
		BackoffBase:             50 * time.Millisecond,
		BackoffMax:              time.Second,
		BreakerFailures:         5,
		BreakerOpenTimeout:      10 * time.Second,
		BreakerHalfOpenRequests: 1,
	}
}

// RegisterFlags defines the client flags on fs, storing into c, with the
// values of DefaultConfig as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultConfig()
	fs.DurationVar(&c.AttemptTimeout, "client-attempt-timeout", d.AttemptTimeout, "deadline of one attempt of a call to another service")
	fs.DurationVar(&c.RetryBudget, "client-retry-budget", d.RetryBudget, "total time of the attempts and waits of a retried (idempotent) call")
	fs.IntVar(&c.MaxAttempts, "client-max-attempts", d.MaxAttempts, "most attempts of an idempotent call, the first included (1: no retries)")
	fs.DurationVar(&c.BackoffBase, "client-backoff", d.BackoffBase, "first backoff between attempts; doubles each retry, with jitter")
	fs.DurationVar(&c.BackoffMax, "client-backoff-max", d.BackoffMax, "largest backoff between attempts")
	// The back-quoted `number` names the value in -h: flag can tell no type
	// for a flag.Value and would print "value".
	c.BreakerFailures, c.BreakerHalfOpenRequests = d.BreakerFailures, d.BreakerHalfOpenRequests
	fs.Var(uint32Value{&c.BreakerFailures}, "breaker-failures", "`number` of consecutive infrastructure failures that open a circuit breaker")
	fs.DurationVar(&c.BreakerOpenTimeout, "breaker-open-timeout", d.BreakerOpenTimeout, "how long an open circuit breaker refuses calls before probing")
	fs.Var(uint32Value{&c.BreakerHalfOpenRequests}, "breaker-half-open-requests", "`number` of probes a half-open circuit breaker lets through; that many successes close it")
}

// uint32Value is a flag.Value for a uint32 setting.
type uint32Value struct{ p *uint32 }

// String implements flag.Value.
func (v uint32Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatUint(uint64(*v.p), 10)
}

// Set implements flag.Value.
func (v uint32Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("%q is not a whole number in 0..%d", s, uint32(1<<32-1))
	}
	*v.p = uint32(n)
	return nil
}

// Validate reports every setting out of range.
func (c Config) Validate() error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s: %s", flagName, fmt.Sprintf(format, args...)))
	}
	if c.AttemptTimeout <= 0 {
		bad("client-attempt-timeout", "%s: must be positive", c.AttemptTimeout)
	}
	if c.RetryBudget < c.AttemptTimeout {
		bad("client-retry-budget", "%s: must be at least -client-attempt-timeout (%s)", c.RetryBudget, c.AttemptTimeout)
	}
	if c.MaxAttempts < 1 {
		bad("client-max-attempts", "%d: must be at least 1", c.MaxAttempts)
	}
	if c.BackoffBase <= 0 {
		bad("client-backoff", "%s: must be positive", c.BackoffBase)
	}
	if c.BackoffMax < c.BackoffBase {
		bad("client-backoff-max", "%s: must be at least -client-backoff (%s)", c.BackoffMax, c.BackoffBase)
	}
	if c.BreakerFailures < 1 {
		bad("breaker-failures", "%d: must be at least 1", c.BreakerFailures)
	}
	if c.BreakerOpenTimeout <= 0 {
		bad("breaker-open-timeout", "%s: must be positive", c.BreakerOpenTimeout)
	}
	if c.BreakerHalfOpenRequests < 1 {
		bad("breaker-half-open-requests", "%d: must be at least 1", c.BreakerHalfOpenRequests)
	}
	return errors.Join(errs...)
}
