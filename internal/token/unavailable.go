package token

import (
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// KeysRetryAfter is the wait ErrKeysUnavailable advises a client.
const KeysRetryAfter = time.Second

// ErrKeysUnavailable is the error of a well-formed token presented to a
// Verifier whose keys are still being fetched (NewJWKSFetcher): the token
// can be neither trusted nor refused yet, and the client should retry after
// KeysRetryAfter. It matches neither ErrMissingToken nor ErrInvalidToken.
//
// It carries its own answer, so a transport that does not list it still
// sends the right one: for HTTP, the StatusCode, ErrorCode and Headers
// methods httpserver.EncodeError reads (503 "unavailable", Retry-After in
// whole seconds); for gRPC, GRPCStatus (Unavailable with an
// errdetails.RetryInfo).
var ErrKeysUnavailable error = keysUnavailableError{}

type keysUnavailableError struct{}

func (keysUnavailableError) Error() string {
	return "token: verification keys are not loaded yet; retry shortly"
}

// StatusCode implements go-kit's httptransport.StatusCoder.
func (keysUnavailableError) StatusCode() int { return http.StatusServiceUnavailable }

// ErrorCode is the machine code of the JSON error body.
func (keysUnavailableError) ErrorCode() string { return "unavailable" }

// Headers implements go-kit's httptransport.Headerer.
func (keysUnavailableError) Headers() http.Header {
	return http.Header{"Retry-After": []string{strconv.Itoa(int(KeysRetryAfter / time.Second))}}
}

// GRPCStatus is what grpc-go sends the client.
func (e keysUnavailableError) GRPCStatus() *status.Status {
	st := status.New(codes.Unavailable, e.Error())
	if withRetry, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(KeysRetryAfter)}); err == nil {
		return withRetry
	}
	return st
}
