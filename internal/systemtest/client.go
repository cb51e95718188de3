package systemtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/product"
)

// The client side of a System: its public HTTP routes, called on each
// service's own HTTP server as a client would. Methods that scenarios call from
// several goroutines return errors; those that fail the test say so.

// Response is an HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrorCode returns the code of an error answer ({"error":{"code",...}}), or "".
func (r Response) ErrorCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// RetryAfter returns the Retry-After header in seconds, and false when it is
// missing or not a whole number.
func (r Response) RetryAfter() (int, bool) {
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	return n, err == nil
}

// String shows the status and the body, for failure messages.
func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// Do sends a request to service's HTTP server with the JSON body (nil for
// none) and the headers, and decodes a 2xx JSON answer into out (if not nil).
func (s *System) Do(ctx context.Context, service, method, path string, headers map[string]string, body, out any) (Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL(service)+path, rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return r, fmt.Errorf("%s %s: decoding %s: %w", method, path, raw, err)
		}
	}
	return r, nil
}

// Bearer returns the Authorization header of an access token.
func Bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// Password is the password of every user SignUp makes.
const Password = "correct horse battery"

// SignUp registers email with the user service and logs it in, and returns
// its access token. It fails the test if either step does.
func (s *System) SignUp(t testing.TB, email string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+Password))}
	r, err := s.Do(ctx, User, "POST", "/auth/register", basic, map[string]any{"name": "Kim", "age": 30, "profile": "buyer"}, nil)
	if err != nil || r.Status != http.StatusCreated {
		t.Fatalf("systemtest: register %s: %v %v", email, r, err)
	}
	var tokens struct{ AccessToken string }
	r, err = s.Do(ctx, User, "POST", "/auth/login", basic, nil, &tokens)
	if err != nil || r.Status != http.StatusOK || tokens.AccessToken == "" {
		t.Fatalf("systemtest: login %s: %v %v", email, r, err)
	}
	return tokens.AccessToken
}

// OrderView is an order as GET /order/{id} shows it.
type OrderView struct {
	ID       string
	Status   order.Status
	Total    int64
	Customer struct{ UserID, Email string }
	Products []struct {
		ProductID string
		Quantity  int64
	}
	Payment struct {
		PaymentID     string
		PaymentStatus order.PaymentStatus
		Amount        int64
	}
	FailureReason string
}

// Paid reports whether the order has been paid: PaymentProcessed or later.
func (o OrderView) Paid() bool {
	switch o.Status {
	case order.StatusPaymentProcessed, order.StatusDeliveryStarted, order.StatusDeliveryDone:
		return true
	}
	return false
}

// Failed reports whether the order ended without payment.
func (o OrderView) Failed() bool {
	return o.Status == order.StatusPaymentFailed || o.Status == order.StatusPaymentCancelled
}

// Cards of the payment simulator (payment.Simulator).
const (
	CardApproved = payment.TestCardApproved
	CardDeclined = payment.TestCardInsufficientFunds
	// CardHang is approved, but the first answer for an order is lost: the
	// charge hangs until the caller's deadline and a retry gets the approval.
	CardHang = payment.TestCardHang
)

// OrderRequest is a POST /order.
type OrderRequest struct {
	// ProductIDs are the products bought, one unit per occurrence.
	ProductIDs []string
	// Card is the card number; empty means CardApproved.
	Card string
	// Amount is the amount paid; zero means the total at the sample prices.
	Amount int64
	// Key is the Idempotency-Key header; empty sends none.
	Key string
}

// body returns the JSON body of r.
func (r OrderRequest) body() (map[string]any, error) {
	card, amount, err := r.cardAndAmount()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"productIds": r.ProductIDs,
		"address":    map[string]any{"name": "Kim", "street": "1 Sejong-daero", "city": "Seoul", "postalCode": "04524", "country": "KR"},
		"payment": map[string]any{"paymentMethod": "CreditCard", "paymentName": "Kim", "cardNumber": card,
			"expiryYear": strconv.Itoa(time.Now().Year() + 2), "expiryMonth": "12", "birthOrRegistration": "870314",
			"passwordTwoDigits": "12", "amount": amount},
	}, nil
}

// cardAndAmount returns the card of r and the amount it pays.
func (r OrderRequest) cardAndAmount() (string, int64, error) {
	card := r.Card
	if card == "" {
		card = CardApproved
	}
	amount := r.Amount
	if amount == 0 {
		prices := make(map[string]int64)
		for _, p := range product.SampleProducts(0) {
			prices[p.ID] = p.Price
		}
		for _, id := range r.ProductIDs {
			price, ok := prices[id]
			if !ok {
				return "", 0, fmt.Errorf("systemtest: %s is not a sample product: give the amount", id)
			}
			amount += price
		}
	}
	return card, amount, nil
}

// PlaceOrder sends POST /order to the order service with token. The order is
// decoded from a 2xx answer; an error means no answer came (e.g. the order
// service died), and is no failure of the test by itself.
func (s *System) PlaceOrder(ctx context.Context, token string, req OrderRequest) (Response, OrderView, error) {
	body, err := req.body()
	if err != nil {
		return Response{}, OrderView{}, err
	}
	h := Bearer(token)
	if req.Key != "" {
		h[order.IdempotencyKeyHeader] = req.Key
	}
	var o OrderView
	r, err := s.Do(ctx, Order, "POST", "/order", h, body, &o)
	return r, o, err
}

// PlaceOrderUntilAccepted places orders, a new one each time (req(i) is the
// i-th, from 0), until one is accepted (201), for at most timeout, and
// returns it with the number of orders that were refused first. It is how a
// scenario waits for a service it restarted to be usable again: the refused
// orders are the price of the wait, settled like any other.
func (s *System) PlaceOrderUntilAccepted(t testing.TB, token string, timeout time.Duration, req func(i int) OrderRequest) (OrderView, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	var o OrderView
	refused := 0
	Eventually(t, timeout, "an order accepted", func() (bool, string) {
		r, got, err := s.PlaceOrder(ctx, token, req(refused))
		if err == nil && r.Status == http.StatusCreated {
			o = got
			return true, ""
		}
		refused++
		return false, fmt.Sprintf("%d refused, the last: %v %v", refused, r, err)
	})
	return o, refused
}

// GetOrder returns one of token's user's orders (GET /order/{id}).
func (s *System) GetOrder(ctx context.Context, token, id string) (OrderView, error) {
	var o OrderView
	r, err := s.Do(ctx, Order, "GET", "/order/"+id, Bearer(token), nil, &o)
	if err == nil && r.Status != http.StatusOK {
		err = fmt.Errorf("GET /order/%s: %v", id, r)
	}
	return o, err
}

// ListOrders returns every order of token's user, newest first (GET /order,
// all pages).
func (s *System) ListOrders(ctx context.Context, token string) ([]OrderView, error) {
	return s.orderPages(ctx, token, "/order")
}

// ListOrdersByStatus returns every order now in status, newest first by the
// time it entered it, as an admin (adminToken: SignUp of AdminEmail) sees
// them (GET /order/status/{status}, all pages).
func (s *System) ListOrdersByStatus(ctx context.Context, adminToken, status string) ([]OrderView, error) {
	return s.orderPages(ctx, adminToken, "/order/status/"+url.PathEscape(status))
}

// orderPages returns the orders of every page of the order listing at path.
func (s *System) orderPages(ctx context.Context, token, path string) ([]OrderView, error) {
	var all []OrderView
	next := ""
	for {
		var page struct {
			Orders        []OrderView
			NextPageToken string
		}
		query := "?pageSize=100"
		if next != "" {
			query += "&pageToken=" + next
		}
		r, err := s.Do(ctx, Order, "GET", path+query, Bearer(token), nil, &page)
		if err != nil {
			return nil, err
		}
		if r.Status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %v", path, r)
		}
		all = append(all, page.Orders...)
		if next = page.NextPageToken; next == "" {
			return all, nil
		}
	}
}

// Stock returns a product's stock (GET /product/{id}).
func (s *System) Stock(ctx context.Context, productID string) (int64, error) {
	var out struct{ Product struct{ Stock int64 } }
	r, err := s.Do(ctx, Product, "GET", "/product/"+productID, nil, nil, &out)
	if err == nil && r.Status != http.StatusOK {
		err = fmt.Errorf("GET /product/%s: %v", productID, r)
	}
	return out.Product.Stock, err
}

// PaymentView is a payment as GET /payment/{orderId} shows it.
type PaymentView struct {
	ID            string
	OrderID       string
	PaymentStatus payment.Status
	Amount        int64
}

// GetPayment returns an order's payment as the payment service reports it to
// an admin (adminToken: SignUp of AdminEmail); found is false on 404.
func (s *System) GetPayment(ctx context.Context, adminToken, orderID string) (p PaymentView, found bool, err error) {
	r, err := s.Do(ctx, Payment, "GET", "/payment/"+orderID, Bearer(adminToken), nil, &p)
	switch {
	case err != nil:
		return PaymentView{}, false, err
	case r.Status == http.StatusNotFound:
		return PaymentView{}, false, nil
	case r.Status != http.StatusOK:
		return PaymentView{}, false, fmt.Errorf("GET /payment/%s: %v", orderID, r)
	}
	return p, true, nil
}
