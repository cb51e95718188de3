package storefront

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// page is what every template gets: the layout's data and the page's own.
type page struct {
	Title string
	User  *apiUser
	CSRF  string
	Flash string
	// Path is the page's path and query, for the log-in link's ?next=.
	Path string
	Data any
}

// errorPage is the data of the error template.
type errorPage struct {
	Title, Message string
	// RetryAfter is when to try again, for an API that is down or limiting.
	RetryAfter time.Duration
	// Links offer ways on.
	Links []link
}

type link struct{ Href, Text string }

var funcs = template.FuncMap{
	"won":         won,
	"statusText":  statusText,
	"statusClass": statusClass,
	"when":        func(t time.Time) string { return t.Local().Format("2 Jan 2006 15:04") },
	"seconds":     seconds,
	"final":       finalStatus,
	"mul":         func(a int64, b int) int64 { return a * int64(b) },
	"escape":      urlQueryEscape,
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, f)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// page renders the named template with status, after the session.
func (v *visit) page(status int, name, title string, data any) {
	p := page{Title: title, User: v.user, CSRF: v.csrf(), Flash: v.takeFlash(), Path: v.r.URL.RequestURI(), Data: data}
	var b bytes.Buffer
	if err := v.s.pages[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		v.s.logger.ErrorContext(v.r.Context(), "storefront: render", "page", name, "err", err)
		status, b = http.StatusInternalServerError, *bytes.NewBufferString("<!doctype html><title>Error</title><p>The page could not be shown.")
	}
	v.save()
	v.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if ep, ok := data.(errorPage); ok && ep.RetryAfter > 0 {
		v.w.Header().Set("Retry-After", strconv.Itoa(seconds(ep.RetryAfter)))
	}
	v.w.WriteHeader(status)
	_, _ = v.w.Write(b.Bytes())
}

// redirect answers 303 to a path of the storefront, after the session.
func (v *visit) redirect(to string) {
	v.save()
	http.Redirect(v.w, v.r, to, http.StatusSeeOther)
}

// fail shows the error page for an error of the API (its status, with what
// to do), or a 500 page for anything else (logged).
func (v *visit) fail(err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		v.s.logger.ErrorContext(v.r.Context(), "storefront: request failed", "path", v.r.URL.Path, "err", err)
		v.page(http.StatusInternalServerError, "error", "Error", errorPage{Title: "Something went wrong on our side",
			Message: "The page could not be made. Try again in a moment."})
		return
	}
	again := v.r.URL.RequestURI() // the page to come back to
	if v.r.Method != http.MethodGet {
		again = localPath(refererPath(v.r))
	}
	if ae.Status == http.StatusUnauthorized {
		v.signOut()
		v.redirect("/login?next=" + urlQueryEscape(again))
		return
	}
	v.page(ae.Status, "error", http.StatusText(ae.Status), explain(ae, again))
}

// explain says what an API error means to a shopper; again is the page to
// try again from.
func explain(ae *apiError, again string) errorPage {
	p := errorPage{Title: http.StatusText(ae.Status), Message: ae.Message, RetryAfter: ae.RetryAfter}
	switch {
	case ae.Code == "payment_declined":
		p.Title = "Your card was declined"
		p.Message = ae.Message + " Nothing was charged and the items are back in stock; your cart is as it was."
		p.Links = []link{{"/checkout", "Try another card"}, {"/cart", "Back to the cart"}}
	case ae.Code == "out_of_stock" || ae.Code == "insufficient_stock":
		p.Title = "Out of stock"
		p.Message = ae.Message + " Nothing was charged. Change the quantities in your cart and try again."
		p.Links = []link{{"/cart", "Back to the cart"}}
	case ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusBadGateway || ae.Status == http.StatusGatewayTimeout:
		p.Title = "A part of the shop is not answering"
		p.Message = ae.Message
		if ae.RetryAfter == 0 {
			p.RetryAfter = 5 * time.Second
		}
		p.Links = []link{{again, "Try again"}}
	case ae.Status == http.StatusTooManyRequests:
		p.Title = "Too many attempts"
	case ae.Status == http.StatusNotFound:
		p.Title = "Not found"
	case ae.Status == http.StatusForbidden:
		p.Title = "Not allowed"
	case ae.Code == "idempotency_key_reused":
		p.Title = "This checkout was already sent with another cart"
		p.Message = "Your cart changed after this checkout page was opened. Open the checkout again to see what you are buying."
		p.Links = []link{{"/checkout", "Open the checkout again"}}
	}
	return p
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// won formats an amount of won: ₩12,000.
func won(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-₩" + b.String()
	}
	return "₩" + b.String()
}

// statusText says an order's status in words.
func statusText(status string) string {
	switch status {
	case "Pending":
		return "Being placed"
	case "PaymentProcessed":
		return "Paid, confirming"
	case "DeliveryStarted":
		return "Paid, on its way"
	case "DeliveryDone":
		return "Delivered"
	case "PaymentFailed":
		return "Payment failed"
	case "PaymentCancelled":
		return "Cancelled"
	}
	return status
}

// statusClass is the CSS class of a status badge.
func statusClass(status string) string {
	switch status {
	case "DeliveryStarted", "DeliveryDone":
		return "ok"
	case "PaymentFailed", "PaymentCancelled":
		return "bad"
	}
	return "wait"
}

// finalStatus says an order's status will not change without an operator.
func finalStatus(status string) bool {
	switch status {
	case "DeliveryStarted", "DeliveryDone", "PaymentFailed", "PaymentCancelled":
		return true
	}
	return false
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// refererPath is the path and query of the page a form was posted from, when
// it is this site's.
func refererPath(r *http.Request) string {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Host != r.Host {
		return "/"
	}
	return u.RequestURI()
}

// formInt reads a form's integer field.
func formInt(v *visit, name string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v.r.PostFormValue(name)))
	if err != nil {
		return 0, fmt.Errorf("%s must be a whole number", name)
	}
	return n, nil
}
