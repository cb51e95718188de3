package notification

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// NewHTTPHandler returns the public HTTP route of the notification service:
//
//	GET /notification?orderId=ID   Bearer access token → 200 notification
//
// A notification is {id, orderId, from, to, subject, content, status,
// createdAt, sentAt}: status is "Pending" or "Sent", times are RFC 3339 and
// sentAt is null until sent; id is the order id (one notification per
// order). Only the order's owner can read it: another user's order answers
// 404, like an unknown one. A missing orderId is 400, a missing or bad token
// 401. Errors are {"error":{"code","message"}} (httpserver.EncodeError) with
// the status of the table httpStatuses. Health and metrics routes are added
// by httpserver.New.
func NewHTTPHandler(set Set) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /notification", httptransport.NewServer(
		set.GetUserNotificationEndpoint, decodeHTTPGetNotificationRequest, encodeHTTPNotificationResponse,
		httptransport.ServerErrorEncoder(encodeHTTPError),
		httptransport.ServerBefore(token.HTTPToContext),
	))
	return mux
}

// httpStatuses is THE table from business errors to HTTP statuses and error
// codes; the first entry that matches (errors.Is) wins. challenge, if set, is
// the WWW-Authenticate header (RFC 6750 §3). Other errors pass to
// httpserver.EncodeError as they are, and become 500.
var httpStatuses = []struct {
	err       error
	status    int
	code      string
	challenge string
}{
	{ErrInvalidArgument, http.StatusBadRequest, "invalid_argument", ""},
	{token.ErrMissingToken, http.StatusUnauthorized, "unauthenticated", `Bearer realm="kitshop"`},
	{token.ErrExpired, http.StatusUnauthorized, "token_expired", `Bearer realm="kitshop", error="invalid_token", error_description="expired"`},
	{token.ErrInvalidToken, http.StatusUnauthorized, "invalid_token", `Bearer realm="kitshop", error="invalid_token"`},
	{ErrNotFound, http.StatusNotFound, "not_found", ""},
	{ErrConflict, http.StatusConflict, "already_exists", ""},
	{ErrSendFailed, http.StatusServiceUnavailable, "unavailable", ""},
	{ErrInProgress, http.StatusServiceUnavailable, "unavailable", ""},
}

// httpError is a business error with its status, code and headers, in the
// shape httpserver.EncodeError reads.
type httpError struct {
	err       error
	status    int
	code      string
	challenge string
}

func (e *httpError) Error() string     { return e.err.Error() }
func (e *httpError) Unwrap() error     { return e.err }
func (e *httpError) StatusCode() int   { return e.status }
func (e *httpError) ErrorCode() string { return e.code }

// Headers implements go-kit's httptransport.Headerer.
func (e *httpError) Headers() http.Header {
	if e.challenge == "" {
		return nil
	}
	return http.Header{"Www-Authenticate": {e.challenge}}
}

// encodeHTTPError is the ErrorEncoder of every route.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	for _, m := range httpStatuses {
		if errors.Is(err, m.err) {
			err = &httpError{err: err, status: m.status, code: m.code, challenge: m.challenge}
			break
		}
	}
	httpserver.EncodeError(ctx, err, w)
}

// notificationJSON is a notification as the HTTP API shows it to its owner.
type notificationJSON struct {
	ID        string     `json:"id"`
	OrderID   string     `json:"orderId"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	Content   string     `json:"content"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt"`
}

func toNotificationJSON(n Notification) notificationJSON {
	j := notificationJSON{
		ID:        n.OrderID,
		OrderID:   n.OrderID,
		From:      n.From,
		To:        n.To,
		Subject:   n.Subject,
		Content:   n.Content,
		Status:    string(n.Status),
		CreatedAt: n.CreatedAt,
	}
	if !n.SentAt.IsZero() {
		sent := n.SentAt
		j.SentAt = &sent
	}
	return j
}

// decodeHTTPGetNotificationRequest reads ?orderId=. A missing one is left
// empty for the service to refuse, after the token is checked: an
// unauthenticated caller gets 401 whatever its query.
func decodeHTTPGetNotificationRequest(_ context.Context, r *http.Request) (any, error) {
	return GetNotificationRequest{OrderID: r.URL.Query().Get("orderId")}, nil
}

func encodeHTTPNotificationResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		encodeHTTPError(ctx, f.Failed(), w)
		return nil
	}
	// Personal data: no shared caches.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(toNotificationJSON(response.(GetNotificationResponse).Notification))
}
