package notification

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMiddlewares(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t, Options{})
	reg := prometheus.NewPedanticRegistry()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := InstrumentingMiddleware(reg)(LoggingMiddleware(logger)(f.svc))
	// Registering again on the same registry reuses the collectors.
	_ = InstrumentingMiddleware(reg)

	ctx := context.Background()
	if _, err := svc.SendPaymentNotification(ctx, testTo, testOrder, testUser); err != nil {
		t.Fatal(err)
	}
	_, _ = svc.SendPaymentNotification(ctx, "bad", testOrder, testUser)
	_, _ = svc.GetNotification(ctx, "order-2")
	_, _ = svc.GetUserNotification(ctx, "user-2", testOrder)
	f.sender.setFn(func(context.Context, int, Message) error { return errors.New("down") })
	_, _ = svc.SendPaymentNotification(ctx, testTo, "order-3", testUser)
	f.store.setFail(errStoreDown)
	_, _ = svc.GetNotification(ctx, testOrder)

	expected := `
# HELP kitshop_notification_requests_total Calls of the notification service, by method and outcome.
# TYPE kitshop_notification_requests_total counter
kitshop_notification_requests_total{method="GetNotification",outcome="error"} 1
kitshop_notification_requests_total{method="GetNotification",outcome="not_found"} 1
kitshop_notification_requests_total{method="GetNotification",outcome="ok"} 0
kitshop_notification_requests_total{method="GetUserNotification",outcome="not_found"} 1
kitshop_notification_requests_total{method="GetUserNotification",outcome="ok"} 0
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="invalid_argument"} 1
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="ok"} 1
kitshop_notification_requests_total{method="SendPaymentNotification",outcome="unavailable"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kitshop_notification_requests_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "kitshop_notification_request_duration_seconds"); err != nil || n != 8 {
		t.Errorf("duration series = %d (%v), want 8", n, err)
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 6 {
		t.Errorf("%d log lines for 6 calls:\n%s", len(lines), logs.String())
	}
	if strings.Contains(logs.String(), testTo) {
		t.Errorf("logs contain the recipient address:\n%s", logs.String())
	}
	for _, want := range []string{"level=INFO", "outcome=ok", "outcome=invalid_argument", "level=WARN", "outcome=unavailable", "level=ERROR", "store is down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}
