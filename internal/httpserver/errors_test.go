package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// notFound is a business error the way services declare them.
type notFound struct{ id string }

func (e notFound) Error() string        { return fmt.Sprintf("order %q not found", e.id) }
func (e notFound) StatusCode() int      { return http.StatusNotFound }
func (e notFound) ErrorCode() string    { return "order_not_found" }
func (e notFound) Is(target error) bool { _, ok := target.(notFound); return ok }

// statusOnly has a status but no code of its own.
type statusOnly struct {
	status int
	msg    string
}

func (e statusOnly) Error() string   { return e.msg }
func (e statusOnly) StatusCode() int { return e.status }

// throttled carries a Retry-After header (go-kit Headerer).
type throttled struct{}

func (throttled) Error() string   { return "too many payment attempts" }
func (throttled) StatusCode() int { return http.StatusTooManyRequests }
func (throttled) Headers() http.Header {
	return http.Header{"Retry-After": []string{"30"}}
}

type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeEnvelope(t *testing.T, rec *httptest.ResponseRecorder) envelope {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	var env envelope
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("body is not the error envelope: %v", err)
	}
	return env
}

func TestEncodeErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
		header  string // expected Retry-After
	}{
		{"request error", &RequestError{Status: 400, Msg: "amount must be positive"}, 400, "invalid_argument", "amount must be positive", ""},
		{"request error own code", &RequestError{Status: 400, Code: "amount_mismatch", Msg: "amount is 1000, total is 3000"}, 400, "amount_mismatch", "amount is 1000, total is 3000", ""},
		{"status and code methods", notFound{"o-1"}, 404, "order_not_found", `order "o-1" not found`, ""},
		{"wrapped status coder", fmt.Errorf("get order: %w", notFound{"o-2"}), 404, "order_not_found", `get order: order "o-2" not found`, ""},
		{"unauthenticated", statusOnly{401, "missing bearer token"}, 401, "unauthenticated", "missing bearer token", ""},
		{"forbidden", statusOnly{403, "not your order"}, 403, "permission_denied", "not your order", ""},
		{"conflict", statusOnly{409, "order exists"}, 409, "conflict", "order exists", ""},
		{"unavailable", statusOnly{503, "payment service unavailable"}, 503, "unavailable", "payment service unavailable", ""},
		{"explicit 500 hides text", statusOnly{500, "dial tcp 10.0.0.7:27017"}, 500, "internal", "internal error", ""},
		{"non-error status hides text", statusOnly{200, "dial tcp 10.0.0.7:27017"}, 500, "internal", "internal error", ""},
		{"headerer", throttled{}, 429, "resource_exhausted", "too many payment attempts", "30"},
		{"max bytes", &http.MaxBytesError{Limit: 10}, 413, "payload_too_large", "request body is larger than 10 bytes", ""},
		{"deadline", fmt.Errorf("call payment: %w", context.DeadlineExceeded), 504, "deadline_exceeded", "request timed out", ""},
		{"canceled", context.Canceled, 499, "canceled", "request canceled", ""},
		{"plain error", errors.New("mongo: connection refused to 10.0.0.7"), 500, "internal", "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			// A request state makes EncodeError hand the cause to New's logger
			// instead of slog.Default().
			ctx := context.WithValue(context.Background(), stateKey{}, &requestState{})
			EncodeError(ctx, tt.err, rec)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			env := decodeEnvelope(t, rec)
			if env.Error.Code != tt.code || env.Error.Message != tt.message {
				t.Fatalf("got %+v, want code %q message %q", env.Error, tt.code, tt.message)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.header {
				t.Fatalf("Retry-After %q, want %q", got, tt.header)
			}
		})
	}
}

func TestCodeForStatus(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]string{
		400: "invalid_argument", 401: "unauthenticated", 404: "not_found", 413: "payload_too_large",
		429: "resource_exhausted", 500: "internal", 503: "unavailable", 418: "im_a_teapot", 460: "client_error",
	} {
		if got := CodeForStatus(status); got != want {
			t.Errorf("CodeForStatus(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusNotFound, "", "no such product")
	env := decodeEnvelope(t, rec)
	if rec.Code != 404 || env.Error.Code != "not_found" || env.Error.Message != "no such product" {
		t.Fatalf("got %d %+v", rec.Code, env)
	}
}

type orderRequest struct {
	ProductIDs []string `json:"productIds"`
	Payment    struct {
		Amount     int64  `json:"amount"`
		CardNumber string `json:"cardNumber"`
	} `json:"payment"`
	Count uint `json:"count"`
	Gift  bool `json:"gift"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
		msg    string // substring of the message; empty means success
	}{
		{"valid", `{"productIds":["a","b"],"payment":{"amount":3000}} `, 0, ""},
		{"unknown field", `{"productIds":[],"x":1}`, 400, `unknown field "x"`},
		{"wrong type", `{"payment":{"amount":"3000"}}`, 400, `field "payment.amount" must be a number`},
		{"fraction for integer", `{"payment":{"amount":10.5}}`, 400, `field "payment.amount" must be a whole number`},
		{"negative unsigned", `{"count":-1}`, 400, `field "count" must be a non-negative whole number`},
		{"string expected", `{"payment":{"cardNumber":4111}}`, 400, `field "payment.cardNumber" must be a string`},
		{"array expected", `{"productIds":"a"}`, 400, `field "productIds" must be an array`},
		{"boolean expected", `{"gift":"yes"}`, 400, `field "gift" must be a boolean`},
		{"not an object", `[1,2]`, 400, "request body must be an object"},
		{"trailing data", `{"gift":true} {"gift":false}`, 400, "single JSON value"},
		{"trailing garbage", `{"gift":true}}`, 400, "single JSON value"},
		{"empty", ``, 400, "request body is empty"},
		{"only whitespace", "  \n", 400, "request body is empty"},
		{"truncated", `{"gift":`, 400, "unexpected end of input"},
		{"syntax", `{"gift":tru}`, 400, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/order", strings.NewReader(tt.body))
			var v orderRequest
			err := DecodeJSON(r, &v)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if v.Payment.Amount != 3000 || len(v.ProductIDs) != 2 {
					t.Fatalf("decoded %+v", v)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want *RequestError", err, err)
			}
			if re.StatusCode() != tt.status || !strings.Contains(re.Error(), tt.msg) {
				t.Fatalf("got %d %q, want %d containing %q", re.StatusCode(), re.Error(), tt.status, tt.msg)
			}
			// And through the encoder the client sees the same thing.
			rec := httptest.NewRecorder()
			EncodeError(context.WithValue(context.Background(), stateKey{}, &requestState{}), err, rec)
			if env := decodeEnvelope(t, rec); rec.Code != tt.status || env.Error.Message != re.Error() || env.Error.Code != "invalid_argument" {
				t.Fatalf("encoded as %d %+v", rec.Code, env)
			}
		})
	}
}

func TestDecodeJSONNoBody(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/order", nil)
	var v orderRequest
	if err := DecodeJSON(r, &v); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeJSONTooLarge(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"productIds":["` + strings.Repeat("a", 100) + `"]}`, // limit hit inside the value
		`{"gift":true}` + strings.Repeat(" ", 100),            // limit hit while checking for trailing data
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/order", strings.NewReader(body))
		r.Body = http.MaxBytesReader(rec, r.Body, 20)
		var v orderRequest
		err := DecodeJSON(r, &v)
		var re *RequestError
		if !errors.As(err, &re) || re.StatusCode() != http.StatusRequestEntityTooLarge || re.ErrorCode() != "payload_too_large" {
			t.Fatalf("got %v, want a 413 RequestError", err)
		}
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			t.Fatal("cause *http.MaxBytesError not reachable through errors.As")
		}
	}
}
