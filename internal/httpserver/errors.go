package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	httptransport "github.com/go-kit/kit/transport/http"
)

// RequestError is a client error with an HTTP status, a machine-readable code
// and a message safe to show the caller. EncodeError writes it as is.
type RequestError struct {
	// Status is the HTTP status code, e.g. http.StatusBadRequest.
	Status int
	// Code is the stable machine string; empty means CodeForStatus(Status).
	Code string
	// Msg is the human-readable message sent to the client.
	Msg string
	// Err is the optional underlying cause, reachable with errors.Is/As.
	Err error
}

// Error returns the client-facing message.
func (e *RequestError) Error() string { return e.Msg }

// StatusCode implements go-kit's httptransport.StatusCoder.
func (e *RequestError) StatusCode() int { return e.Status }

// ErrorCode returns Code, or the code derived from Status when Code is empty.
func (e *RequestError) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	return CodeForStatus(e.Status)
}

// Unwrap returns the underlying cause.
func (e *RequestError) Unwrap() error { return e.Err }

// CodeForStatus returns the stable error code used for an HTTP status when the
// error does not provide its own, e.g. 400 → "invalid_argument",
// 404 → "not_found", 500 → "internal".
func CodeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_argument"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "permission_denied"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusPreconditionFailed:
		return "failed_precondition"
	case http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnprocessableEntity:
		return "unprocessable_entity"
	case http.StatusTooManyRequests:
		return "resource_exhausted"
	case statusClientClosedRequest:
		return "canceled"
	case http.StatusInternalServerError:
		return "internal"
	case http.StatusNotImplemented:
		return "unimplemented"
	case http.StatusBadGateway:
		return "bad_gateway"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "deadline_exceeded"
	}
	if text := http.StatusText(status); text != "" {
		// e.g. 418 "I'm a teapot" → "im_a_teapot".
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z':
				return r
			case r >= 'A' && r <= 'Z':
				return r - 'A' + 'a'
			case r == ' ' || r == '-':
				return '_'
			default:
				return -1
			}
		}, text)
	}
	if status >= 400 && status < 500 {
		return "client_error"
	}
	return "internal"
}

// statusClientClosedRequest is the non-standard status (nginx's 499) recorded
// when the client went away before the answer was ready.
const statusClientClosedRequest = 499

// internalMessage is the only text a 500 ever shows; the cause goes to the log.
const internalMessage = "internal error"

// errorBody is the JSON shape of every error response:
// {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes {"error":{"code":code,"message":msg}} with the given
// status. An empty code is derived from status with CodeForStatus.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	if code == "" {
		code = CodeForStatus(status)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status line is out: a failed write means the client is gone.
	_ = json.NewEncoder(w).Encode(v)
}

// EncodeError is a go-kit httptransport.ErrorEncoder writing the JSON error
// envelope. The status comes from the error's StatusCode() (go-kit
// StatusCoder) anywhere in its chain; *http.MaxBytesError is 413; a deadline
// is 504 and a canceled request 499; anything else is 500 with a generic
// message. The code comes from an ErrorCode() string method if present, else
// from CodeForStatus. Headers from go-kit's Headerer (e.g. Retry-After) are
// added. The message of a 500 is never the error's text: the error is logged
// instead, by the handler New builds (or slog.Default() outside it).
func EncodeError(ctx context.Context, err error, w http.ResponseWriter) {
	if err == nil {
		err = errors.New("EncodeError called with a nil error")
	}
	status, msg := classify(err)
	code := CodeForStatus(status)
	var coder interface{ ErrorCode() string }
	if errors.As(err, &coder) && coder.ErrorCode() != "" {
		code = coder.ErrorCode()
	}
	var headerer httptransport.Headerer
	if errors.As(err, &headerer) {
		for k, values := range headerer.Headers() {
			for _, v := range values {
				w.Header().Add(k, v)
			}
		}
	}
	if !noteError(ctx, err) && status >= 500 {
		slog.Default().ErrorContext(ctx, "http request failed", "status", status, "error", err)
	}
	WriteError(w, status, code, msg)
}

// classify returns the status and client-facing message of err.
func classify(err error) (int, string) {
	var coder httptransport.StatusCoder
	if errors.As(err, &coder) {
		status := coder.StatusCode()
		if status < 400 || status > 599 || status == http.StatusInternalServerError {
			return http.StatusInternalServerError, internalMessage
		}
		return status, err.Error()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, tooLargeMessage(tooLarge.Limit)
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "request timed out"
	case errors.Is(err, context.Canceled):
		return statusClientClosedRequest, "request canceled"
	default:
		return http.StatusInternalServerError, internalMessage
	}
}

func tooLargeMessage(limit int64) string {
	return fmt.Sprintf("request body is larger than %d bytes", limit)
}

// DecodeJSON decodes the request body into v strictly: the body must be one
// JSON value, with no unknown object fields and nothing after it. Client
// mistakes come back as *RequestError with status 400 (413 when the body is
// over the limit set by LimitBody) and a message naming the problem, e.g.
// `unknown field "x"` or `field "payment.amount" must be a number`.
func DecodeJSON(r *http.Request, v any) error {
	if r.Body == nil || r.Body == http.NoBody {
		return badRequest("request body is empty", nil)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case isTooLarge(err):
		return decodeError(err)
	default:
		return badRequest("request body must hold a single JSON value, found more data after it", err)
	}
}

func isTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

func badRequest(msg string, cause error) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Msg: msg, Err: cause}
}

// decodeError turns an encoding/json error into a *RequestError.
func decodeError(err error) error {
	var (
		tooLarge   *http.MaxBytesError
		syntaxErr  *json.SyntaxError
		typeErr    *json.UnmarshalTypeError
		invalidErr *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &RequestError{Status: http.StatusRequestEntityTooLarge, Msg: tooLargeMessage(tooLarge.Limit), Err: err}
	case errors.As(err, &invalidErr):
		// A nil or non-pointer target is a programming error, not bad input.
		return err
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body is not valid JSON: unexpected end of input", err)
	case errors.As(err, &syntaxErr):
		return badRequest(fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", syntaxErr, syntaxErr.Offset), err)
	case errors.As(err, &typeErr):
		return badRequest(typeMessage(typeErr), err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for DisallowUnknownFields.
		return badRequest(strings.TrimPrefix(err.Error(), "json: "), err)
	default:
		// A read failure or an error from a type's UnmarshalJSON.
		return badRequest("invalid request body: "+err.Error(), err)
	}
}

// typeMessage describes a JSON value of the wrong type, e.g.
// `field "amount" must be a number`.
func typeMessage(e *json.UnmarshalTypeError) string {
	want := jsonKind(e.Type, e.Value)
	if e.Field == "" {
		return "request body must be " + want
	}
	return fmt.Sprintf("field %q must be %s", e.Field, want)
}

// jsonKind names the JSON value Go type t accepts. got is what the decoder
// found ("string", "number 1.5", ...).
func jsonKind(t reflect.Type, got string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if strings.HasPrefix(got, "number") {
			if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr {
				return "a non-negative whole number in range"
			}
			return "a whole number in range"
		}
		return "a number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "of another type"
	}
}
