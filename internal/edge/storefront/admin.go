package storefront

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// orderStatuses are the order statuses, in the order the console lists them.
var orderStatuses = []string{"Pending", "PaymentProcessed", "DeliveryStarted", "DeliveryDone", "PaymentFailed", "PaymentCancelled"}

// The admin APIs' shapes (GET /order/breakers, GET /order/work).
type (
	breakerState struct {
		Dependency        string `json:"dependency"`
		Method            string `json:"method"`
		State             string `json:"state"`
		RetryAfterSeconds int    `json:"retryAfterSeconds"`
	}
	workEntry struct {
		OrderID     string    `json:"orderId"`
		Kind        string    `json:"kind"`
		SideEffects []string  `json:"sideEffects"`
		Status      string    `json:"status"`
		DueAt       time.Time `json:"dueAt"`
		Attempts    int       `json:"attempts"`
		LastError   string    `json:"lastError"`
		Owner       string    `json:"owner"`
	}
)

type adminHomeData struct {
	Breakers []breakerState
	Work     []workEntry
	Total    int
}

func (s *Storefront) adminHome(v *visit) {
	var d adminHomeData
	var b struct {
		Breakers []breakerState `json:"breakers"`
	}
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/order/breakers", token: v.sess.Access}, &b); err != nil {
		v.fail(err)
		return
	}
	var w struct {
		Entries []workEntry `json:"entries"`
		Total   int         `json:"total"`
	}
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/order/work", token: v.sess.Access}, &w); err != nil {
		v.fail(err)
		return
	}
	d.Breakers, d.Work, d.Total = b.Breakers, w.Entries, w.Total
	v.page(http.StatusOK, "admin", "Admin", d)
}

func (s *Storefront) adminProducts(v *visit) {
	tok := v.r.URL.Query().Get("page")
	var pg productPage
	if err := s.api.do(v.r, call{method: http.MethodGet, path: query("/product", "pageSize", "20", "pageToken", tok)}, &pg); err != nil {
		v.fail(err)
		return
	}
	v.page(http.StatusOK, "admin_products", "Admin: products", catalogueData{Products: pg.Products, Next: pg.NextPageToken, Paged: tok != ""})
}

// adminCreateProduct adds a product (POST /product).
func (s *Storefront) adminCreateProduct(v *visit) {
	f := v.r.PostForm
	price, perr := strconv.ParseInt(strings.TrimSpace(f.Get("price")), 10, 64)
	stock, serr := strconv.ParseInt(strings.TrimSpace(f.Get("stock")), 10, 64)
	if perr != nil || serr != nil {
		v.flash("Price and stock must be whole numbers.")
		v.redirect("/admin/products")
		return
	}
	var env struct {
		Product product `json:"product"`
	}
	err := s.api.do(v.r, call{method: http.MethodPost, path: "/product", token: v.sess.Access,
		body: map[string]any{"name": f.Get("name"), "description": f.Get("description"), "price": price, "stock": stock}}, &env)
	switch statusOf(err) {
	case 0:
		if err != nil {
			v.fail(err)
			return
		}
		v.flash(fmt.Sprintf("%s is in the catalogue.", env.Product.Name))
	case http.StatusBadRequest, http.StatusConflict:
		v.flash(err.(*apiError).Message)
	default:
		v.fail(err)
		return
	}
	v.redirect("/admin/products")
}

// adminSetStock brings a product's stock to the form's figure with the
// stock API, which adjusts by a delta: the delta is taken from the stock as
// read just before.
func (s *Storefront) adminSetStock(v *visit) {
	id := v.r.PathValue("id")
	want, err := formInt(v, "stock")
	if err != nil || want < 0 {
		v.flash("Stock must be a whole number of 0 or more.")
		v.redirect(localPath(refererPath(v.r)))
		return
	}
	var env struct {
		Product product `json:"product"`
	}
	if err := s.api.do(v.r, call{method: http.MethodGet, path: "/product/" + url.PathEscape(id)}, &env); err != nil {
		v.fail(err)
		return
	}
	if delta := int64(want) - env.Product.Stock; delta != 0 {
		if err := s.api.do(v.r, call{method: http.MethodPost, path: "/product/" + url.PathEscape(id) + "/stock", token: v.sess.Access,
			body: map[string]int64{"delta": delta}}, &env); err != nil {
			v.fail(err)
			return
		}
	}
	v.flash(fmt.Sprintf("%s: %d in stock.", env.Product.Name, env.Product.Stock))
	v.redirect(localPath(refererPath(v.r)))
}

// adminOrder is an order with its payment as the payment service has it.
type adminOrder struct {
	Order   order
	Payment *payment
}

type adminOrdersData struct {
	Status   string
	Statuses []string
	Orders   []adminOrder
	Next     string
	Paged    bool
}

func (s *Storefront) adminOrders(v *visit) {
	status := v.r.URL.Query().Get("status")
	if status == "" {
		status = "DeliveryStarted"
	}
	tok := v.r.URL.Query().Get("page")
	var pg orderPage
	if err := s.api.do(v.r, call{method: http.MethodGet, path: query("/order/status/"+url.PathEscape(status), "pageSize", "20", "pageToken", tok), token: v.sess.Access}, &pg); err != nil {
		v.fail(err)
		return
	}
	d := adminOrdersData{Status: status, Statuses: orderStatuses, Next: pg.NextPageToken, Paged: tok != ""}
	for _, o := range pg.Orders {
		row := adminOrder{Order: o}
		var p payment
		switch err := s.api.do(v.r, call{method: http.MethodGet, path: "/payment/" + url.PathEscape(o.ID), token: v.sess.Access}, &p); {
		case err == nil:
			row.Payment = &p
		case statusOf(err) != http.StatusNotFound:
			v.fail(err)
			return
		}
		d.Orders = append(d.Orders, row)
	}
	v.page(http.StatusOK, "admin_orders", "Admin: orders", d)
}

// adminDelivered marks an order delivered (POST /order/{id}/delivered).
func (s *Storefront) adminDelivered(v *visit) {
	id := v.r.PathValue("id")
	err := s.api.do(v.r, call{method: http.MethodPost, path: "/order/" + url.PathEscape(id) + "/delivered", token: v.sess.Access}, nil)
	switch statusOf(err) {
	case 0:
		if err != nil {
			v.fail(err)
			return
		}
		v.flash("Order " + id + " is delivered.")
	case http.StatusConflict:
		v.flash(err.(*apiError).Message)
	default:
		v.fail(err)
		return
	}
	v.redirect(localPath(refererPath(v.r)))
}
