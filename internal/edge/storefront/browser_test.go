package storefront

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kitshop/kitshop/internal/edge/storefront/browsertest"
)

// TestOrderPageFollowsTheOrder: the order page, opened while its order is
// still at work, shows each later status without a reload: an approved order
// reaching DeliveryStarted with its notification, and one that ends
// PaymentCancelled with its reason.
func TestOrderPageFollowsTheOrder(t *testing.T) {
	browser := browsertest.Start(t)
	// Each order answers its first two reads with its status at work.
	var reads [2]atomic.Int32
	orderAt := func(i int, id, working, final, reason string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			o := map[string]any{"id": id, "status": working, "total": 1000, "payment": map[string]any{"paymentStatus": "Pending"}}
			if reads[i].Add(1) > 2 {
				o["status"], o["failureReason"] = final, reason
				o["payment"] = map[string]any{"paymentStatus": map[bool]string{true: "Approved", false: "Refunded"}[reason == ""]}
			}
			jsonAnswer(200, o)(w, r)
		}
	}
	api := fakeAPI{
		"POST /auth/login": jsonAnswer(200, map[string]any{"accessToken": "a", "refreshToken": "r", "expiresIn": 900, "tokenType": "Bearer"}),
		"GET /users/me":    jsonAnswer(200, map[string]any{"id": "u1", "email": "kim@example.com", "name": "Kim", "role": "user"}),
		"GET /order/o1":    orderAt(0, "o1", "PaymentProcessed", "DeliveryStarted", ""),
		"GET /order/o2":    orderAt(1, "o2", "Pending", "PaymentCancelled", "Canned Coffee is out of stock"),
		"GET /notification": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("orderId") != "o1" || reads[0].Load() <= 2 {
				jsonAnswer(404, map[string]any{"error": map[string]string{"code": "not_found", "message": "no notification"}})(w, r)
				return
			}
			jsonAnswer(200, map[string]any{"subject": "Payment received", "to": "kim@example.com", "status": "Sent", "sentAt": time.Now()})(w, r)
		},
	}
	srv := httptest.NewServer(newTestStorefront(t, api))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	status := func() string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("order-status").dataset.status`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.SendKeys(chromedp.CSS("#email"), "kim@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "secret"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
		chromedp.Navigate(srv.URL+"/orders/o1"),
		chromedp.WaitReady(chromedp.CSS("#order-status")),
	); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "PaymentProcessed" {
		t.Fatalf("the order page opened at %s, want PaymentProcessed (the test's order at work)", got)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#order-status[data-status="DeliveryStarted"]`))); err != nil {
		t.Fatalf("the order page did not follow its order to DeliveryStarted: %v", err)
	}
	note, err := chromedp.Run(ctx, chromedp.Poll[string](`(t => t.includes("sent to") && t)(document.getElementById("order-notification").textContent)`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !strings.Contains(note, "kim@example.com") {
		t.Errorf("the notification shows %q (%v), want it sent to kim@example.com", note, err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/orders/o2"), chromedp.WaitReady(chromedp.CSS("#order-status"))); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "Pending" {
		t.Fatalf("the second order page opened at %s, want Pending", got)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#order-status[data-status="PaymentCancelled"]`)),
		chromedp.WaitVisible(chromedp.CSS("#order-reason"))); err != nil {
		t.Fatalf("the order page did not follow its order to PaymentCancelled: %v", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#order-reason")))
	if err != nil || reason != "Canned Coffee is out of stock" {
		t.Errorf("the failure shows %q (%v)", reason, err)
	}
}
