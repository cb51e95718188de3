package grpcclient

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestConfigFlags(t *testing.T) {
	t.Parallel()
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if c != DefaultConfig() {
		t.Fatalf("after RegisterFlags: %+v, want defaults %+v", c, DefaultConfig())
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := fs.Parse([]string{"-client-attempt-timeout=1s", "-client-retry-budget=4s", "-client-max-attempts=2",
		"-breaker-failures=7", "-breaker-open-timeout=3s", "-breaker-half-open-requests=2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AttemptTimeout != time.Second || c.RetryBudget != 4*time.Second || c.MaxAttempts != 2 ||
		c.BreakerFailures != 7 || c.BreakerOpenTimeout != 3*time.Second || c.BreakerHalfOpenRequests != 2 {
		t.Errorf("parsed %+v", c)
	}
	if err := fs.Parse([]string{"-breaker-failures=-1"}); err == nil {
		t.Error("negative -breaker-failures accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := Config{RetryBudget: -1, BackoffBase: 2, BackoffMax: 1}
	err := c.Validate()
	if err == nil {
		t.Fatal("zero config accepted")
	}
	for _, name := range []string{"client-attempt-timeout", "client-max-attempts", "client-backoff-max",
		"breaker-failures", "breaker-open-timeout", "breaker-half-open-requests"} {
		if !strings.Contains(err.Error(), "-"+name) {
			t.Errorf("error does not name -%s: %v", name, err)
		}
	}
	c = DefaultConfig()
	c.RetryBudget = c.AttemptTimeout - 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "-client-retry-budget") {
		t.Errorf("budget below attempt timeout: %v", err)
	}
}
