package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kitshop/kitshop/internal/edge/storefront/browsertest"
)

// updateScreenshot rewrites docs/storefront.png, the README's picture of the
// storefront, from the browser test.
var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/storefront.png from TestStorefrontInABrowser")

// tab is one browser context (its own cookies: another device) at the shop.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots
}

// newTab opens a tab in a new browser context of the browser allocated by
// browser.
func newTab(t *testing.T, browser context.Context, sys *system) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1024, 800)); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx, base: sys.base, dir: t.ArtifactDir()}
}

// do runs steps with a time limit, failing the test on an error.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		b.t.Fatalf("%s: %v\npage: %.1500s", what, err, html)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *tab, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
	b.checkPage()
}

// checkPage fails on a control without a label, or a page wider than its
// window (at 360 px, it must not scroll sideways).
func (b *tab) checkPage() {
	b.t.Helper()
	unlabelled := eval[[]string](b, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea, button"))
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !(e.tagName == "BUTTON" && e.textContent.trim()))
		.map(e => e.outerHTML)`)
	if len(unlabelled) > 0 {
		b.t.Errorf("%s: controls without a label: %v", eval[string](b, "location.pathname"), unlabelled)
	}
	if wide := eval[bool](b, "document.documentElement.scrollWidth > window.innerWidth + 1"); wide {
		b.t.Errorf("%s: the page is wider (%v px) than the window (%v px)", eval[string](b, "location.pathname"),
			eval[float64](b, "document.documentElement.scrollWidth"), eval[float64](b, "window.innerWidth"))
	}
}

// shot saves a screenshot of the whole page as an artifact of the test.
func (b *tab) shot(name string) []byte {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return png
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// signUp registers through the sign-up page, which logs the user in.
func (b *tab) signUp(name, email string) {
	b.t.Helper()
	b.open("/signup")
	b.do("sign up",
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), userPassword),
		chromedp.SendKeys(chromedp.CSS("#age"), "30"),
		leave, chromedp.Click(chromedp.CSS("main button[type=submit]")),
		newPage(".flash"),
	)
}

// logIn logs in through the log-in page.
func (b *tab) logIn(email string) {
	b.t.Helper()
	b.open("/login")
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), userPassword),
		leave, chromedp.Click(chromedp.CSS("main button[type=submit]")),
		newPage(`form[action="/logout"]`),
	)
}

// addToCart adds one unit of the product from the catalogue page.
func (b *tab) addToCart(id string) {
	b.t.Helper()
	b.do("add "+id, leave, chromedp.Click(chromedp.CSS(`li[data-product="`+id+`"] button`)), newPage(".flash"))
}

// fillCheckout fills the checkout form with an address and card.
func (b *tab) fillCheckout(card string) {
	b.t.Helper()
	b.open("/checkout")
	b.do("fill the checkout form",
		chromedp.SendKeys(chromedp.CSS("#street"), "1 Sejong-daero"),
		chromedp.SendKeys(chromedp.CSS("#city"), "Seoul"),
		chromedp.SendKeys(chromedp.CSS("#postalCode"), "04524"),
		chromedp.SendKeys(chromedp.CSS("#cardNumber"), card),
		chromedp.SendKeys(chromedp.CSS("#expiryMonth"), "12"),
		chromedp.SendKeys(chromedp.CSS("#expiryYear"), fmt.Sprint(time.Now().Year()+2)),
	)
}

// leave marks the page, so that newPage tells the next one from it.
var leave = chromedp.Evaluate[chromedp.Void](`window.kitshopOldPage = true`)

// newPage waits until a new page has replaced the one leave marked (a page's
// flash message may be on the old one too), then until sel shows on it.
func newPage(sel string) chromedp.Action[chromedp.Void] {
	replaced := chromedp.Evaluate[bool](`!window.kitshopOldPage && document.readyState === "complete"`)
	return chromedp.Steps(
		func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			for {
				// An evaluation while the page navigates fails: ask again.
				if done, err := replaced(ctx, t); err == nil && done {
					return chromedp.Void{}, nil
				}
				select {
				case <-ctx.Done():
					return chromedp.Void{}, ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		},
		chromedp.WaitVisible(chromedp.CSS(sel)))
}

// tabTo presses Tab until the element matching sel has the focus, failing
// the test when 80 presses do not get there: it is out of keyboard reach.
func (b *tab) tabTo(sel string) {
	b.t.Helper()
	for range 80 {
		if eval[bool](b, `document.activeElement.matches(`+fmt.Sprintf("%q", sel)+`)`) {
			return
		}
		b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	}
	b.t.Fatalf("%s cannot be reached with Tab", sel)
}

// waitOrderStatus waits on the order page until its live status is want.
func (b *tab) waitOrderStatus(want string) {
	b.t.Helper()
	b.do("order page reaches "+want, chromedp.WaitVisible(chromedp.CSS(`#order-status[data-status="`+want+`"]`)))
}

// TestStorefrontInABrowser drives the storefront and the admin console in
// headless Chromium, as shoppers and an admin would, on a whole cmd/shop.
func TestStorefrontInABrowser(t *testing.T) {
	browser := browsertest.Start(t)
	sys := startSystem(t)

	shopper := newTab(t, browser, sys)
	const email = "shopper@example.com"

	t.Run("a purchase from sign-up to delivery", func(t *testing.T) {
		shopper.t = t
		shopper.signUp("Kim", email)
		shopper.open("/?q=milk")
		if got := eval[int](shopper, `document.querySelectorAll("li.card").length`); got != 1 || !strings.Contains(shopper.text("li.card h2"), "Banana Milk") {
			t.Fatalf("searching milk shows %d products (%q), want Banana Milk", got, shopper.text("main"))
		}
		shopper.addToCart("sample-5")
		shopper.open("/?q=coffee")
		shopper.addToCart("sample-4")
		shopper.open("/")
		png := shopper.shot("catalogue")
		if *updateScreenshot {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "storefront.png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		shopper.open("/cart")
		shopper.do("reload the cart", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#cart-total")))
		if lines := eval[int](shopper, `document.querySelectorAll("tbody tr[data-product]").length`); lines != 2 {
			t.Fatalf("the cart after a reload has %d lines, want 2", lines)
		}
		if total := shopper.text("#cart-total"); total != "₩3,500" {
			t.Errorf("cart total = %q, want ₩3,500 (1,500 + 2,000)", total)
		}
		shopper.shot("cart")

		other := newTab(t, browser, sys) // another device
		other.logIn(email)
		other.open("/cart")
		if lines := eval[int](other, `document.querySelectorAll("tbody tr[data-product]").length`); lines != 2 {
			t.Errorf("the cart on another device has %d lines, want 2", lines)
		}

		shopper.fillCheckout("4242 4242 4242 4242")
		shopper.shot("checkout")
		shopper.do("place the order", leave, chromedp.Click(chromedp.CSS("#place-order")), newPage("#order-status"))
		shopper.waitOrderStatus("DeliveryStarted")
		shopper.do("the notification shows", chromedp.Poll[chromedp.Void](`document.getElementById("order-notification").textContent.includes("sent to")`, chromedp.WithPollingTimeout(20*time.Second)))
		shopper.checkPage()
		shopper.shot("order")
		shopper.open("/cart")
		if !strings.Contains(shopper.text("main"), "Your cart is empty") {
			t.Error("the ordered products are still in the cart")
		}
	})

	t.Run("a declined card", func(t *testing.T) {
		shopper.t = t
		before := sys.product(t, "sample-1").Stock
		shopper.open("/")
		shopper.addToCart("sample-1")
		shopper.fillCheckout("4000 0000 0000 9995")
		shopper.do("place the order", leave, chromedp.Click(chromedp.CSS("#place-order")), newPage("#error-title"))
		if got := shopper.text("#error-title"); got != "Your card was declined" {
			t.Errorf("the declined checkout shows %q", got)
		}
		shopper.shot("declined")
		if after := sys.product(t, "sample-1").Stock; after != before {
			t.Errorf("stock of sample-1 after a declined card = %d, want %d (back)", after, before)
		}
		shopper.open("/p/sample-1")
		if !strings.Contains(shopper.text(".stock"), fmt.Sprint(before)) {
			t.Errorf("the product page shows %q, want %d in stock", shopper.text(".stock"), before)
		}
	})

	t.Run("a double click places one order", func(t *testing.T) {
		shopper.t = t
		tok := sys.logIn(t, email)
		before := sys.orderCount(t, tok)
		shopper.fillCheckout("4242 4242 4242 4242") // sample-1 is still in the cart
		// The same form sent again, as the back button and a resubmit, or a
		// browser without the page's script, would: both answers lead to one
		// order.
		shopper.do("keep the form", chromedp.Evaluate[chromedp.Void](`window.sentForm = new URLSearchParams(new FormData(document.querySelector("form[data-once]"))).toString()`))
		form := eval[string](shopper, "window.sentForm")
		shopper.do("double-click Place order", leave, chromedp.DoubleClick(chromedp.CSS("#place-order")), newPage("#order-status"))
		first := eval[string](shopper, "location.pathname")
		again := eval[string](shopper, `fetch("/checkout", {method: "POST", body: new URLSearchParams(`+fmt.Sprintf("%q", form)+`)}).then(r => new URL(r.url).pathname)`, chromedp.EvalAwaitPromise)
		if again != first {
			t.Errorf("the form sent again led to %s, the first to %s", again, first)
		}
		if n := sys.orderCount(t, tok); n != before+1 {
			t.Errorf("a double click and a resubmit made %d orders, want 1", n-before)
		}
	})

	t.Run("an admin sets a stock to 0 and shoppers see it", func(t *testing.T) {
		shopper.t = t
		admin := newTab(t, browser, sys)
		admin.signUp("Admin", adminEmail)
		admin.open("/admin")
		if !strings.Contains(admin.text("#breakers"), "payment") {
			t.Errorf("the breakers table does not list the payment service: %q", admin.text("#breakers"))
		}
		admin.shot("admin")
		admin.open("/admin/products")
		admin.do("set the stock of sample-3 to 0",
			chromedp.SetValue(chromedp.CSS("#stock-sample-3"), "0"),
			leave, chromedp.Click(chromedp.CSS(`tr[data-product="sample-3"] button`)),
			newPage(".flash"))
		admin.shot("admin-products")
		admin.do("add a product",
			chromedp.SendKeys(chromedp.CSS("#new-name"), "Green Tea"),
			chromedp.SendKeys(chromedp.CSS("#new-description"), "Bottled, unsweetened."),
			chromedp.SendKeys(chromedp.CSS("#new-price"), "1800"),
			chromedp.SetValue(chromedp.CSS("#new-stock"), "3"),
			leave, chromedp.Click(chromedp.CSS(`form[action="/admin/products"] button`)),
			newPage(".flash"))
		if flash := admin.text(".flash"); flash != "Green Tea is in the catalogue." {
			t.Errorf("adding a product says %q", flash)
		}
		admin.open("/admin/orders?status=DeliveryStarted")
		if rows := eval[int](admin, `document.querySelectorAll("tbody tr").length`); rows < 2 {
			t.Errorf("the admin's DeliveryStarted orders list %d, want the 2 placed", rows)
		}
		admin.shot("admin-orders")

		shopper.open("/?q=green")
		if got := shopper.text("li.card h2"); got != "Green Tea" {
			t.Errorf("a shopper searching green finds %q, want the admin's Green Tea", got)
		}
		shopper.open("/")
		if got := shopper.text(`li[data-product="sample-3"] .stock`); got != "Out of stock" {
			t.Errorf("a shopper sees sample-3 as %q, want Out of stock", got)
		}
		if n := eval[int](shopper, `document.querySelectorAll('li[data-product="sample-3"] button').length`); n != 0 {
			t.Error("a shopper can still add an out-of-stock product")
		}
	})

	t.Run("a purchase by keyboard alone", func(t *testing.T) {
		shopper.t = t
		shopper.open("/")
		shopper.tabTo(`li[data-product="sample-2"] button`)
		shopper.do("press Enter on Add to cart", leave, chromedp.KeyEvent(kb.Enter), newPage(".flash"))
		shopper.open("/checkout")
		for _, f := range []struct{ id, value string }{{"street", "1 Sejong-daero"}, {"city", "Seoul"}, {"postalCode", "04524"},
			{"cardNumber", "4242 4242 4242 4242"}, {"expiryMonth", "12"}, {"expiryYear", fmt.Sprint(time.Now().Year() + 2)}} {
			shopper.tabTo("#" + f.id)
			shopper.do("type "+f.id, chromedp.KeyEvent(f.value))
		}
		shopper.tabTo("#place-order")
		shopper.do("press Enter on Place order", leave, chromedp.KeyEvent(kb.Enter), newPage("#order-status"))
		shopper.waitOrderStatus("DeliveryStarted")
	})

	t.Run("a customer gets the 403 page at /admin", func(t *testing.T) {
		shopper.t = t
		resp, err := chromedp.RunResponse(shopper.ctx, chromedp.Navigate(shopper.base+"/admin"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != int64(http.StatusForbidden) || shopper.text("#error-title") != "Admins only" {
			t.Errorf("a customer at /admin got %d %q, want 403 Admins only", resp.Status, shopper.text("#error-title"))
		}
	})

	t.Run("at 360 px", func(t *testing.T) {
		shopper.t = t
		shopper.do("narrow the window", chromedp.EmulateViewport(360, 740))
		for _, path := range []string{"/", "/p/sample-2", "/cart", "/orders", "/login"} {
			shopper.open(path)
		}
		shopper.open("/")
		shopper.shot("catalogue-360px")
	})
}

// logIn logs a user in through the API and returns its access token.
func (s *system) logIn(t *testing.T, email string) string {
	t.Helper()
	var tokens struct{ AccessToken, RefreshToken string }
	if code, raw := s.call(t, "POST", "/auth/login", basic(email, userPassword), nil, &tokens); code != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, code, raw)
	}
	s.secrets = append(s.secrets, tokens.AccessToken, tokens.RefreshToken)
	return tokens.AccessToken
}

// orderCount counts the user's orders (at most 100).
func (s *system) orderCount(t *testing.T, tok string) int {
	t.Helper()
	var page struct{ Orders []orderJSON }
	if code, raw := s.call(t, "GET", "/order?pageSize=100", bearer(tok), nil, &page); code != http.StatusOK {
		t.Fatalf("GET /order: %d %s", code, raw)
	}
	return len(page.Orders)
}
