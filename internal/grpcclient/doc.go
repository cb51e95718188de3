// Package grpcclient is the generic plumbing of a kitshop service's calls to
// another service over gRPC: the connection (Dial) and one go-kit client
// endpoint per remote method, wrapped, outermost first, in
//
//	instrumenting → retry → circuit breaker → per-attempt deadline → go-kit gRPC client
//
// The links of the chain:
//
//   - instrumenting counts and times every call, retries included, in
//     kitshop_client_requests_total and kitshop_client_request_duration_seconds
//     {dependency, method, outcome}; outcome is "ok", "breaker_open" or the
//     snake_case gRPC code of the failure ("unavailable", "not_found", ...);
//   - retry (only for methods marked Idempotent) repeats a call that failed
//     with Unavailable, DeadlineExceeded (of the attempt, not of the caller) or
//     ResourceExhausted, with exponential backoff and jitter, at most
//     Config.MaxAttempts times and within Config.RetryBudget; never after a
//     business error and never when the breaker is open;
//   - the breaker (github.com/sony/gobreaker through go-kit's
//     circuitbreaker.Gobreaker, one per dependency and method) counts only
//     infrastructure failures (IsInfrastructureFailure): a business error such
//     as NotFound or FailedPrecondition passes through it as a success. While
//     open it fails at once with an *OpenError carrying the remaining open
//     time; its state is exported as kitshop_circuit_breaker_state
//     {dependency, method} (0 closed, 1 half-open, 2 open), read as the
//     breakers of a Metrics report it (Metrics.Breakers);
//   - the deadline bounds each attempt by Config.AttemptTimeout, derived from
//     the caller's context, so the caller's own deadline and cancellation still
//     apply. It is left to gRPC on a connection dialed with Config.DialOption
//     (gRPC derives a context for each call anyway, and sets the deadline on
//     it), and it is not set when the caller's deadline comes first.
//
// The consumer owns its adapters: it declares the small interface it needs and
// implements it with endpoints from Client.Endpoint, whose default codecs pass
// the generated request and response messages through unchanged:
//
//	conn, err := grpcclient.Dial(addr, cfg.DialOption())
//	c, err := grpcclient.New(conn, "payment", cfg, grpcclient.NewMetrics(reg), logger)
//	makePayment := c.Endpoint(grpcclient.Method{
//		Service:    paymentv1.PaymentService_ServiceDesc.ServiceName,
//		Name:       "MakePayment",
//		Idempotent: true, // the payment service dedupes by order id
//		Reply:      &paymentv1.MakePaymentResponse{},
//	})
//	resp, err := makePayment(ctx, &paymentv1.MakePaymentRequest{...})
//	// resp.(*paymentv1.MakePaymentResponse) on success
//
// Errors come back as the gRPC status error of the last attempt, or as an
// *OpenError (which reports codes.Unavailable to status.Code) when the breaker
// refused the call.
package grpcclient
