package grpcclient

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
)

// retry repeats a call that failed for a transient reason (see retryable), at
// most cfg.MaxAttempts times in all. The first attempt runs on the caller's
// context; later ones, and the waits before them, also end at
// cfg.RetryBudget from the start of the call, so a retried call lasts at most
// max(AttemptTimeout, RetryBudget). Each further attempt is the event "retry"
// on the span of the call's context (attempt number, the previous attempt's
// code, the wait), beside the attempts' own client spans. No attempt starts when the remaining
// budget is shorter than the wait before it. A call returns an *OpenError
// only when no attempt of it left the process: when the breaker opens
// during the retries, the last real attempt's error is returned.
func retry(cfg Config) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		if cfg.MaxAttempts <= 1 {
			return next
		}
		return func(ctx context.Context, request any) (any, error) {
			start := time.Now()
			resp, err := next(ctx, request)
			if err == nil || !retryable(ctx, err) {
				return resp, err
			}
			// Allocated only on the retry path, so a first-time success costs nothing here.
			budgetEnd := start.Add(cfg.RetryBudget)
			budgetCtx, cancel := context.WithDeadline(ctx, budgetEnd)
			defer cancel()
			callerEnd, callerBound := ctx.Deadline()
			for attempt := 2; attempt <= cfg.MaxAttempts && retryable(budgetCtx, err); attempt++ {
				wait := backoff(cfg, attempt-1)
				if time.Until(start.Add(cfg.RetryBudget)) <= wait {
					break
				}
				if span := trace.SpanFromContext(ctx); span.IsRecording() {
					span.AddEvent("retry", trace.WithAttributes(attribute.Int("kitshop.attempt", attempt),
						attribute.String("kitshop.previous", codeName(Code(err))), attribute.Int64("kitshop.wait_ms", wait.Milliseconds())))
				}
				if !sleep(budgetCtx, wait) {
					break
				}
				prev := err
				// The attempt ends at the budget's end if that comes before
				// its own timeout and the caller's deadline.
				budgetBound := !budgetEnd.After(time.Now().Add(cfg.AttemptTimeout)) && (!callerBound || budgetEnd.Before(callerEnd))
				if resp, err = next(budgetCtx, request); err == nil {
					return resp, nil
				}
				if ctx.Err() == nil && (budgetCtx.Err() != nil || budgetBound && Code(err) == codes.DeadlineExceeded) {
					// Cut short by the retry budget, not by the caller: the
					// dependency's own failure is the meaningful answer. (The
					// server may report the deadline a moment before the
					// budget's context is done.)
					return nil, prev
				}
				if isOpen(err) {
					// The breaker opened during the retries. An earlier attempt
					// did leave the process and its outcome is unknown, so the
					// caller must not read this call as "certainly had no
					// effect" (an OpenError's meaning): report that attempt's
					// failure instead.
					return nil, prev
				}
			}
			return nil, err
		}
	}
}

// retryable reports whether a failed attempt may be repeated: the caller is
// still waiting (ctx not done) and the failure is transient, i.e. the
// dependency was unreachable (Unavailable), did not answer within the
// attempt's deadline (DeadlineExceeded) or shed load (ResourceExhausted).
// Never after a business error, Internal (a server fault is unlikely to go
// away at once) or a refusal of the breaker, which would only be refused again.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if isOpen(err) {
		return false
	}
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// backoff returns the wait before retry n (1 for the first retry): a random
// duration in [d/2, d] with d = BackoffBase·2^(n-1), capped at BackoffMax.
func backoff(cfg Config, n int) time.Duration {
	d := cfg.BackoffBase
	for i := 1; i < n && d < cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, cfg.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d, or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
