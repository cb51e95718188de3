package notification

import (
	"context"
	"encoding/json"
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
// the status and code errorTable gives. Health and metrics routes are added
// by httpserver.New; the calls are logged by set's endpoints (NewSet).
func NewHTTPHandler(set Set) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /notification", httptransport.NewServer(
		set.GetUserNotificationEndpoint, decodeHTTPGetNotificationRequest, encodeHTTPNotificationResponse,
		httptransport.ServerErrorEncoder(encodeHTTPError),
		httptransport.ServerBefore(token.HTTPToContext),
	))
	return mux
}

// encodeHTTPError is the ErrorEncoder of every route: err as errorTable
// answers it.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	httpserver.EncodeError(ctx, errorTable.HTTPError(err), w)
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
