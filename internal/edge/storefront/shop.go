package storefront

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Page sizes of the storefront's listings.
const (
	catalogueSize = 12
	ordersSize    = 10
	// maxQuantity is the most of one product a cart line holds (the cart
	// API's limit).
	maxQuantity = 99
)

// optionalUser looks the visitor up for a page anyone may see: when the
// user service cannot say, the page is shown as to a visitor, the session
// kept.
func (v *visit) optionalUser() {
	if _, err := v.currentUser(); err != nil {
		v.s.logger.WarnContext(v.r.Context(), "storefront: the signed-in user could not be looked up", "err", err)
	}
}

type catalogueData struct {
	Query    string
	Products []product
	// Next is the next page's token; Paged says this is not the first page.
	Next  string
	Paged bool
}

func (s *Storefront) catalogue(v *visit) {
	v.optionalUser()
	q := strings.TrimSpace(v.r.URL.Query().Get("q"))
	tok := v.r.URL.Query().Get("page")
	var pg productPage
	err := s.api.do(v.r, call{method: http.MethodGet, path: query("/product", "q", q, "pageSize", strconv.Itoa(catalogueSize), "pageToken", tok)}, &pg)
	if err != nil {
		v.fail(err)
		return
	}
	title := "Shop"
	if q != "" {
		title = "Search: " + q
	}
	v.page(http.StatusOK, "catalogue", title, catalogueData{Query: q, Products: pg.Products, Next: pg.NextPageToken, Paged: tok != ""})
}

func (s *Storefront) productPage(v *visit) {
	v.optionalUser()
	var env struct {
		Product product `json:"product"`
	}
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/product/" + url.PathEscape(v.r.PathValue("id"))}, &env); err != nil {
		v.fail(err)
		return
	}
	v.page(http.StatusOK, "product", env.Product.Name, env.Product)
}

// cartLine is a cart item with its product as it is now.
type cartLine struct {
	Item    cartItem
	Product product
	// Gone says the product no longer exists; Short that it has fewer units
	// than the line wants.
	Gone, Short bool
}

type cartData struct {
	Lines []cartLine
	Total int64
	// Ready says the cart can be checked out: not empty, nothing gone.
	Ready bool
}

// loadCart reads the user's cart and the products in it.
func (s *Storefront) loadCart(v *visit) (cartData, error) {
	var c cart
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/users/me/cart", token: v.sess.Access}, &c); err != nil {
		return cartData{}, err
	}
	d := cartData{Ready: len(c.Items) > 0}
	for _, it := range c.Items {
		line := cartLine{Item: it}
		var env struct {
			Product product `json:"product"`
		}
		err := s.api.do(v.r, call{method: http.MethodGet, path: "/product/" + url.PathEscape(it.ProductID)}, &env)
		switch {
		case statusOf(err) == http.StatusNotFound:
			line.Gone, d.Ready = true, false
		case err != nil:
			return cartData{}, err
		default:
			line.Product = env.Product
			line.Short = env.Product.Stock < int64(it.Quantity)
			d.Total += env.Product.Price * int64(it.Quantity)
		}
		d.Lines = append(d.Lines, line)
	}
	return d, nil
}

func (s *Storefront) cartPage(v *visit) {
	d, err := s.loadCart(v)
	if err != nil {
		v.fail(err)
		return
	}
	v.page(http.StatusOK, "cart", "Your cart", d)
}

// setItem sets a cart line's quantity through the API; a refusal the
// shopper can act on (a full cart, a bad quantity) is a message on the
// next page rather than an error page.
func (s *Storefront) setItem(v *visit, productID string, qty int, done string) {
	if productID == "" {
		v.flash("Choose a product first.")
		v.redirect(localPath(refererPath(v.r)))
		return
	}
	var err error
	if qty <= 0 {
		err = s.api.do(v.r, call{method: http.MethodDelete, path: "/users/me/cart/items/" + url.PathEscape(productID), token: v.sess.Access}, nil)
	} else {
		err = s.api.do(v.r, call{method: http.MethodPut, path: "/users/me/cart/items/" + url.PathEscape(productID), token: v.sess.Access,
			body: map[string]int{"quantity": qty}}, nil)
	}
	back := localPath(v.r.PostFormValue("next"))
	if v.r.PostFormValue("next") == "" {
		back = localPath(refererPath(v.r))
	}
	switch st := statusOf(err); {
	case err == nil:
		v.flash(done)
	case st == http.StatusBadRequest || st == http.StatusConflict:
		v.flash(err.(*apiError).Message)
	default:
		v.fail(err)
		return
	}
	v.redirect(back)
}

func (s *Storefront) cartAdd(v *visit) {
	id := v.r.PostFormValue("productId")
	n, err := formInt(v, "quantity")
	if err != nil || n < 1 {
		v.flash("Choose a quantity of at least 1.")
		v.redirect(localPath(refererPath(v.r)))
		return
	}
	var c cart
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/users/me/cart", token: v.sess.Access}, &c); err != nil {
		v.fail(err)
		return
	}
	for _, it := range c.Items {
		if it.ProductID == id {
			n += it.Quantity
		}
	}
	name := v.r.PostFormValue("name")
	if name == "" {
		name = "The product"
	}
	s.setItem(v, id, min(n, maxQuantity), fmt.Sprintf("%s is in your cart (%d).", name, min(n, maxQuantity)))
}

func (s *Storefront) cartSet(v *visit) {
	n, err := formInt(v, "quantity")
	if err != nil || n < 0 {
		v.flash("Choose a quantity of 0 or more.")
		v.redirect("/cart")
		return
	}
	s.setItem(v, v.r.PostFormValue("productId"), min(n, maxQuantity), "Your cart is updated.")
}

func (s *Storefront) cartRemove(v *visit) {
	s.setItem(v, v.r.PostFormValue("productId"), 0, "Removed from your cart.")
}

// checkoutData is the checkout form: the cart as it was when the form was
// made, which the form sends back, and the form's idempotency key.
type checkoutData struct {
	Cart  cartData
	Key   string
	Items string // the lines, as sent back: JSON [{productId, quantity}]
	Form  checkoutForm
	Error string
}

// checkoutForm holds the fields the form keeps when it is shown again.
type checkoutForm struct {
	Name, Street, City, PostalCode, Country, Method, PayerName string
}

func (s *Storefront) checkoutForm(v *visit) {
	d, err := s.loadCart(v)
	if err != nil {
		v.fail(err)
		return
	}
	if !d.Ready {
		v.flash("Your cart has nothing to check out yet, or a product in it is gone.")
		v.redirect("/cart")
		return
	}
	v.page(http.StatusOK, "checkout", "Checkout", s.newCheckout(d, checkoutForm{Name: v.user.Name, PayerName: v.user.Name, Method: "CreditCard"}, ""))
}

// newCheckout fills a checkout form for cart d, with a fresh key.
func (s *Storefront) newCheckout(d cartData, f checkoutForm, msg string) checkoutData {
	items := make([]cartItem, 0, len(d.Lines))
	for _, l := range d.Lines {
		items = append(items, l.Item)
	}
	b, _ := json.Marshal(items)
	return checkoutData{Cart: d, Key: rand.Text(), Items: string(b), Form: f, Error: msg}
}

// checkout places the order the form describes. The order's lines and amount
// are those the form was made with, and its Idempotency-Key is the form's:
// the same form sent twice (a double click, a reload, the back button) is
// one order, which both answers show.
func (s *Storefront) checkout(v *visit) {
	f := v.r.PostForm
	form := checkoutForm{Name: f.Get("name"), Street: f.Get("street"), City: f.Get("city"), PostalCode: f.Get("postalCode"),
		Country: f.Get("country"), Method: f.Get("paymentMethod"), PayerName: f.Get("paymentName")}
	var items []cartItem
	key := f.Get("idempotencyKey")
	amount, err := strconv.ParseInt(f.Get("amount"), 10, 64)
	if json.Unmarshal([]byte(f.Get("items")), &items) != nil || len(items) == 0 || key == "" || len(key) > 64 || err != nil {
		v.page(http.StatusBadRequest, "error", "Bad form", errorPage{Title: "This checkout form is damaged",
			Message: "Open the checkout again from your cart.", Links: []link{{"/cart", "Back to the cart"}}})
		return
	}
	pay := map[string]any{"paymentMethod": form.Method, "paymentName": form.PayerName, "amount": amount}
	if form.Method != "Kakao" {
		pay["paymentMethod"] = "CreditCard"
		pay["cardNumber"] = f.Get("cardNumber")
		pay["expiryMonth"] = f.Get("expiryMonth")
		pay["expiryYear"] = f.Get("expiryYear")
		if b := f.Get("birthOrRegistration"); b != "" {
			pay["birthOrRegistration"] = b
		}
		if p := f.Get("passwordTwoDigits"); p != "" {
			pay["passwordTwoDigits"] = p
		}
	}
	body := map[string]any{
		"items":   items,
		"address": address{Name: form.Name, Street: form.Street, City: form.City, PostalCode: form.PostalCode, Country: form.Country},
		"payment": pay,
	}
	var o order
	err = s.api.do(v.r, call{method: http.MethodPost, path: "/order", token: v.sess.Access, body: body,
		header: map[string]string{"Idempotency-Key": key}}, &o)
	if statusOf(err) == http.StatusBadRequest {
		d, lerr := s.loadCart(v)
		if lerr != nil {
			v.fail(lerr)
			return
		}
		v.page(http.StatusBadRequest, "checkout", "Checkout", s.newCheckout(d, form, err.(*apiError).Message))
		return
	}
	if err != nil {
		v.fail(err)
		return
	}
	for _, it := range items { // what was ordered leaves the cart
		if err := s.api.do(v.r, call{method: http.MethodDelete, path: "/users/me/cart/items/" + url.PathEscape(it.ProductID), token: v.sess.Access}, nil); err != nil {
			v.s.logger.WarnContext(v.r.Context(), "storefront: an ordered item stays in the cart", "order", o.ID, "err", err)
			break
		}
	}
	v.flash("Thank you! Your order is placed.")
	v.redirect("/orders/" + url.PathEscape(o.ID))
}

type ordersData struct {
	Orders []order
	Next   string
	Paged  bool
}

func (s *Storefront) ordersPage(v *visit) {
	tok := v.r.URL.Query().Get("page")
	var pg orderPage
	if err := s.api.do(v.r, call{method: http.MethodGet, path: query("/order", "pageSize", strconv.Itoa(ordersSize), "pageToken", tok), token: v.sess.Access}, &pg); err != nil {
		v.fail(err)
		return
	}
	v.page(http.StatusOK, "orders", "Your orders", ordersData{Orders: pg.Orders, Next: pg.NextPageToken, Paged: tok != ""})
}

type orderData struct {
	Order        order
	Notification *notification
}

// loadOrder reads the caller's order and its notification, if sent.
func (s *Storefront) loadOrder(v *visit) (orderData, error) {
	id := v.r.PathValue("id")
	var d orderData
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/order/" + url.PathEscape(id), token: v.sess.Access}, &d.Order); err != nil {
		return d, err
	}
	var n notification
	switch err := s.api.do(v.r, call{method: http.MethodGet, path: query("/notification", "orderId", id), token: v.sess.Access}, &n); {
	case err == nil:
		d.Notification = &n
	case statusOf(err) != http.StatusNotFound:
		return d, err
	}
	return d, nil
}

func (s *Storefront) orderPage(v *visit) {
	d, err := s.loadOrder(v)
	if err != nil {
		v.fail(err)
		return
	}
	v.page(http.StatusOK, "order", "Order "+d.Order.ID, d)
}

// orderLive is what the order page's script polls: the order's status and
// notification, as JSON.
func (s *Storefront) orderLive(v *visit) {
	d, err := s.loadOrder(v)
	if err != nil {
		st := statusOf(err)
		if st == 0 {
			st = http.StatusInternalServerError
		}
		v.save()
		http.Error(v.w, http.StatusText(st), st)
		return
	}
	live := map[string]any{
		"status":        d.Order.Status,
		"statusText":    statusText(d.Order.Status),
		"statusClass":   statusClass(d.Order.Status),
		"final":         finalStatus(d.Order.Status),
		"failureReason": d.Order.FailureReason,
		"paymentStatus": d.Order.Payment.PaymentStatus,
	}
	if n := d.Notification; n != nil {
		live["notification"] = notificationText(*n)
	}
	v.save()
	v.w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(v.w).Encode(live)
}

// notificationText says what became of an order's notification.
func notificationText(n notification) string {
	if n.SentAt != nil {
		return fmt.Sprintf("“%s” sent to %s at %s.", n.Subject, n.To, n.SentAt.Local().Format("15:04:05"))
	}
	return fmt.Sprintf("“%s” to %s: %s.", n.Subject, n.To, strings.ToLower(n.Status))
}
