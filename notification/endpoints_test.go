package notification

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/internal/token"
)

// TestObservedEndpoints checks the metrics and the log line of every kind of
// call through the observed endpoints (NewSet): the outcomes, the levels
// (sends at Info, reads at Debug, a failed send at Warn, an infrastructure
// failure at Error), and that no line holds the recipient's address or the
// message.
func TestObservedEndpoints(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	set := NewSet(f.svc, signer.Verifier(), logger, reg)
	// A second Set on the same registry shares the collectors.
	_ = NewSet(f.svc, signer.Verifier(), nil, reg)
	asUser := func(user string) context.Context {
		pair, err := signer.IssuePair(user, token.RoleUser, "")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+pair.AccessToken)
		return token.HTTPToContext(context.Background(), r)
	}

	ctx := context.Background()
	send := func(to, orderID string) {
		_, _ = set.SendPaymentNotificationEndpoint(ctx, SendPaymentNotificationRequest{To: to, OrderID: orderID, UserID: testUser})
	}
	send(testTo, testOrder)
	send("bad", testOrder)
	send("eve@example.com", testOrder)
	_, _ = set.GetNotificationEndpoint(ctx, GetNotificationRequest{OrderID: testOrder})
	_, _ = set.GetNotificationEndpoint(ctx, GetNotificationRequest{OrderID: "order-2"})
	_, _ = set.GetUserNotificationEndpoint(asUser("user-2"), GetNotificationRequest{OrderID: testOrder})
	_, _ = set.GetUserNotificationEndpoint(ctx, GetNotificationRequest{OrderID: testOrder})
	f.sender.setFn(func(context.Context, int, Message) error { return errors.New("down") })
	send(testTo, "order-3")
	f.store.setFail(errStoreDown)
	_, _ = set.GetNotificationEndpoint(ctx, GetNotificationRequest{OrderID: testOrder})

	expected := `
# HELP kitshop_notification_requests_total Calls of the notification service, by method and outcome.
# TYPE kitshop_notification_requests_total counter
kitshop_notification_requests_total{method="GetNotification",outcome="error"} 1
kitshop_notification_requests_total{method="GetNotification",outcome="not_found"} 1
kitshop_notification_requests_total{method="GetNotification",outcome="ok"} 1
kitshop_notification_requests_total{method="GetUserNotification",outcome="invalid_token"} 1
kitshop_notification_requests_total{method="GetUserNotification",outcome="not_found"} 1
kitshop_notification_requests_total{method="GetUserNotification",outcome="ok"} 0
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="conflict"} 1
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="invalid_argument"} 1
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="ok"} 1
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="unavailable"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kitshop_notification_requests_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "kitshop_notification_request_duration_seconds"); err != nil || n != 10 {
		t.Errorf("duration series = %d (%v), want 10", n, err)
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := []string{
		`level=INFO msg="notification service call" method=SendPaymentNotification outcome=ok`,
		`level=INFO msg="notification service call" method=SendPaymentNotification outcome=invalid_argument`,
		`level=INFO msg="notification service call" method=SendPaymentNotification outcome=conflict`,
		`level=DEBUG msg="notification service call" method=GetNotification outcome=ok`,
		`level=DEBUG msg="notification service call" method=GetNotification outcome=not_found`,
		`level=DEBUG msg="notification service call" method=GetUserNotification outcome=not_found`,
		`level=DEBUG msg="notification service call" method=GetUserNotification outcome=invalid_token`,
		`level=WARN msg="notification service call" method=SendPaymentNotification outcome=unavailable`,
		`level=ERROR msg="notification service call" method=GetNotification outcome=error`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines for %d calls:\n%s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d %q, want %q", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[0], "order_id="+testOrder) || !strings.Contains(lines[8], errStoreDown.Error()) {
		t.Errorf("the lines lack the order or the cause:\n%s", logs.String())
	}
	for _, secret := range []string{testTo, "eve@example.com", "Payment received", "We have received"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs hold %q:\n%s", secret, logs.String())
		}
	}
}
