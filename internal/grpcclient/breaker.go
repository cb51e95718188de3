package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/circuitbreaker"
	"github.com/go-kit/kit/endpoint"
	"github.com/sony/gobreaker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Code returns the gRPC code of err: codes.OK for nil, codes.Unavailable for
// an *OpenError, the code of a gRPC status error, DeadlineExceeded or
// Canceled for the context errors (all also wrapped), and codes.Unknown
// otherwise.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if isOpen(err) {
		return codes.Unavailable // without formatting its message, as GRPCStatus would
	}
	if se, ok := errors.AsType[grpcStatusError](err); ok {
		return se.GRPCStatus().Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// grpcStatusError is an error with a gRPC status, as status.FromError sees it.
type grpcStatusError interface {
	error
	GRPCStatus() *status.Status
}

// isOpen reports whether err is, or wraps, an *OpenError.
func isOpen(err error) bool {
	_, ok := errors.AsType[*OpenError](err)
	return ok
}

// IsInfrastructureFailure reports whether err says the dependency, not the
// request, is at fault: Unavailable, DeadlineExceeded, ResourceExhausted or
// Internal. Only these count against a breaker; a business answer
// (InvalidArgument, NotFound, FailedPrecondition, ...) and the caller's own
// cancellation do not.
func IsInfrastructureFailure(err error) bool {
	if err == nil {
		return false
	}
	if isOpen(err) {
		return false // a refusal of our own breaker, not an answer of the dependency
	}
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal:
		return true
	}
	return false
}

// OpenError is what a call gets when its breaker refuses it without calling
// the dependency: open, or half-open with its probes already in flight. Its
// gRPC code is Unavailable.
type OpenError struct {
	Dependency string // e.g. "payment"
	Method     string // e.g. "MakePayment"
	// RetryAfter is how long the breaker stays open; zero when half-open.
	RetryAfter time.Duration
	// Err is gobreaker.ErrOpenState or gobreaker.ErrTooManyRequests.
	Err error
}

// Error implements error.
func (e *OpenError) Error() string {
	return fmt.Sprintf("%s.%s: circuit breaker %v (retry after %s)", e.Dependency, e.Method, e.Err, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap returns the gobreaker error.
func (e *OpenError) Unwrap() error { return e.Err }

// GRPCStatus makes status.Code and Code see codes.Unavailable.
func (e *OpenError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, e.Error())
}

// breaker is a method's gobreaker with the time it stays open, which gobreaker
// does not expose.
type breaker struct {
	cb        *gobreaker.CircuitBreaker
	openUntil atomic.Int64 // unix nanoseconds; set on every move to open
	dep, meth string
}

func newBreaker(dep, meth string, cfg Config, logger *slog.Logger) *breaker {
	b := &breaker{dep: dep, meth: meth}
	failures := cfg.BreakerFailures
	b.cb = gobreaker.NewCircuitBreaker(gobreaker.Settings{
		Name:        dep + "." + meth,
		MaxRequests: cfg.BreakerHalfOpenRequests,
		Timeout:     cfg.BreakerOpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool {
			return !IsInfrastructureFailure(err)
		},
		// Called under the breaker's lock: keep it short.
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openUntil.Store(time.Now().Add(cfg.BreakerOpenTimeout).UnixNano())
			}
			log := logger.Info
			if to == gobreaker.StateOpen {
				log = logger.Warn
			}
			log("circuit breaker state changed", "dependency", dep, "method", meth, "from", from.String(), "to", to.String())
		},
	})
	return b
}

// middleware is go-kit's circuitbreaker.Gobreaker, with gobreaker's refusals
// turned into *OpenError. A refusal is the event "breaker_open" on the span
// of the call's context (it makes no client span: nothing left the process).
func (b *breaker) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	guarded := circuitbreaker.Gobreaker(b.cb)(next)
	return func(ctx context.Context, request any) (any, error) {
		resp, err := guarded(ctx, request)
		if err != nil && (err == gobreaker.ErrOpenState || err == gobreaker.ErrTooManyRequests) {
			refused := b.refusal(err)
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.AddEvent("breaker_open", trace.WithAttributes(dependencyKey.String(b.dep), methodKey.String(b.meth),
					attribute.Int64("kitshop.retry_after_ms", refused.RetryAfter.Milliseconds())))
			}
			return nil, refused
		}
		return resp, err
	}
}

// The attributes of the client chain's span events.
const (
	dependencyKey = attribute.Key("kitshop.dependency")
	methodKey     = attribute.Key("kitshop.method")
)

func (b *breaker) refusal(err error) *OpenError {
	var wait time.Duration
	if err == gobreaker.ErrOpenState {
		wait = b.openFor()
	}
	return &OpenError{Dependency: b.dep, Method: b.meth, RetryAfter: wait, Err: err}
}

// openFor is how long the breaker stays open from now, if it is open.
func (b *breaker) openFor() time.Duration {
	return max(time.Until(time.Unix(0, b.openUntil.Load())), 0)
}

// state reads the breaker's state now (gobreaker moves an open breaker whose
// open time has passed to half-open when asked).
func (b *breaker) state() BreakerState {
	st := BreakerState{Dependency: b.dep, Method: b.meth, State: b.cb.State()}
	if st.State == gobreaker.StateOpen {
		st.RetryAfter = b.openFor() // openUntil is stored before the breaker reports open (OnStateChange)
	}
	return st
}
