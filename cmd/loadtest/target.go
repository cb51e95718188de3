package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// maxResponseBytes bounds what is read of a response body.
const maxResponseBytes = 1 << 20

// api is the target's HTTP API: the routes the original gateway has, plus GET /product.
type api struct {
	base   string // without a trailing slash
	client *http.Client
}

func newAPI(base string, conns int, timeout time.Duration) *api {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.DisableCompression = true
	return &api{base: trimSlash(base), client: &http.Client{Transport: t, Timeout: timeout}}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// close releases the idle connections.
func (a *api) close() { a.client.CloseIdleConnections() }

// apiError is a response other than the one expected, or a failure to get one.
type apiError struct {
	status int    // HTTP status; 0 when no response came
	code   string // the body's error.code, if any
	msg    string
	cause  error // transport failure, when status is 0
	// retryAfter is the Retry-After of the answer; negative when absent.
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.status == 0 {
		return "transport: " + e.msg
	}
	if e.code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.msg)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.msg)
}

func (e *apiError) Unwrap() error { return e.cause }

// class is the error's class in the summary: the HTTP status and error code, or the kind of transport
// failure. It has few distinct values, so counting by it stays small.
func (e *apiError) class() string {
	switch {
	case e.status == 0 && errors.Is(e.cause, context.DeadlineExceeded):
		return "transport timeout"
	case e.status == 0:
		return "transport error"
	case e.code != "":
		return "http " + strconv.Itoa(e.status) + " " + e.code
	default:
		return "http " + strconv.Itoa(e.status)
	}
}

// anySuccess is call's want for a request whose success kitshop and the original answer with different 2xx
// statuses (the original's POST /auth/login answers 201, kitshop's 200): any 2xx is then a success.
const anySuccess = 0

// call sends one request and decodes a response with status want (anySuccess: any 2xx) into out (if not
// nil). Any other status is an *apiError carrying the body's error code.
func (a *api) call(ctx context.Context, method, path string, header http.Header, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return &apiError{msg: err.Error(), cause: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &apiError{msg: "reading the response: " + err.Error(), cause: err}
	}
	if want == anySuccess && resp.StatusCode/100 != 2 || want != anySuccess && resp.StatusCode != want {
		e := &apiError{status: resp.StatusCode, msg: string(b), retryAfter: -1}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			e.retryAfter = time.Duration(secs) * time.Second
		}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			e.code, e.msg = eb.Error.Code, eb.Error.Message
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &apiError{status: resp.StatusCode, msg: "undecodable answer: " + err.Error()}
	}
	return nil
}

func basic(email, password string) http.Header {
	req := http.Request{Header: http.Header{}}
	req.SetBasicAuth(email, password)
	return req.Header
}

// register signs a user up (POST /auth/register); an e-mail already taken is not an error, so that a run
// with the same -run-id logs its users in again.
func (a *api) register(ctx context.Context, email, password, name string) error {
	body := map[string]any{"name": name, "age": 30, "profile": "load test"}
	err := a.call(ctx, http.MethodPost, "/auth/register", basic(email, password), body, anySuccess, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusConflict {
		return nil
	}
	return err
}

// login returns an access token (POST /auth/login).
func (a *api) login(ctx context.Context, email, password string) (string, error) {
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := a.call(ctx, http.MethodPost, "/auth/login", basic(email, password), nil, anySuccess, &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", errors.New("login answered without an accessToken")
	}
	return out.AccessToken, nil
}

// createSamples calls POST /product/sample.
func (a *api) createSamples(ctx context.Context) error {
	return a.call(ctx, http.MethodPost, "/product/sample", nil, nil, anySuccess, nil)
}

// listProducts reads the whole catalogue, page by page (GET /product).
func (a *api) listProducts(ctx context.Context) ([]product, error) {
	var all []product
	token := ""
	for {
		q := url.Values{"pageSize": {"100"}}
		if token != "" {
			q.Set("pageToken", token)
		}
		var page struct {
			Products      []product `json:"products"`
			NextPageToken string    `json:"nextPageToken"`
		}
		if err := a.call(ctx, http.MethodGet, "/product?"+q.Encode(), nil, nil, http.StatusOK, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Products...)
		if page.NextPageToken == "" || len(page.Products) == 0 {
			return all, nil
		}
		token = page.NextPageToken
	}
}

// browse reads the catalogue's first page at the target's page size (GET /product) and, with more, the
// page after it, if any: a shopper's look at the shop.
func (a *api) browse(ctx context.Context, more bool) error {
	var page struct {
		NextPageToken string `json:"nextPageToken"`
	}
	if err := a.call(ctx, http.MethodGet, "/product", nil, nil, http.StatusOK, &page); err != nil {
		return err
	}
	if !more || page.NextPageToken == "" {
		return nil
	}
	q := url.Values{"pageToken": {page.NextPageToken}}
	return a.call(ctx, http.MethodGet, "/product?"+q.Encode(), nil, nil, http.StatusOK, nil)
}

// getProduct reads one product (GET /product/{id}).
func (a *api) getProduct(ctx context.Context, id string) error {
	return a.call(ctx, http.MethodGet, "/product/"+url.PathEscape(id), nil, nil, http.StatusOK, nil)
}

// listOrders reads the first page of the orders of the user whose access token is token (GET /order).
func (a *api) listOrders(ctx context.Context, token string) error {
	h := http.Header{"Authorization": {"Bearer " + token}}
	return a.call(ctx, http.MethodGet, "/order", h, nil, http.StatusOK, nil)
}

// The body of POST /order, as the original gateway takes it.
type (
	orderBody struct {
		ProductIDs []string    `json:"productIds"`
		Address    addressBody `json:"address"`
		Payment    paymentBody `json:"payment"`
	}
	addressBody struct {
		Name       string `json:"name"`
		Street     string `json:"street"`
		City       string `json:"city"`
		PostalCode string `json:"postalCode"`
		Country    string `json:"country"`
	}
	paymentBody struct {
		PaymentMethod       string `json:"paymentMethod"`
		PaymentName         string `json:"paymentName"`
		CardNumber          string `json:"cardNumber,omitempty"`
		ExpiryYear          string `json:"expiryYear,omitempty"`
		ExpiryMonth         string `json:"expiryMonth,omitempty"`
		BirthOrRegistration string `json:"birthOrRegistration,omitempty"`
		PasswordTwoDigits   string `json:"passwordTwoDigits,omitempty"`
		Amount              int64  `json:"amount"`
	}
)

// orderPlacer places one order and returns the created order's id; an error's class goes into the summary.
type orderPlacer interface {
	place(ctx context.Context, o order) (id string, err error)
}

// classed is an error with a summary class.
type classed interface{ class() string }

// errorClass returns the summary class of an error from an orderPlacer.
func errorClass(err error) string {
	var c classed
	if errors.As(err, &c) {
		return c.class()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// outcomeError is a created order that did not come out as expected.
type outcomeError struct{ what string }

func (e *outcomeError) Error() string { return e.what }
func (e *outcomeError) class() string { return e.what }

// httpPlacer places orders with POST /order.
type httpPlacer struct{ api *api }

func (p httpPlacer) place(ctx context.Context, o order) (string, error) {
	body := orderBody{
		ProductIDs: o.productIDs,
		Address:    addressBody{Name: o.user.name, Street: "1 Sejong-daero", City: "Seoul", PostalCode: "04524", Country: "KR"},
		Payment:    paymentBody{PaymentMethod: "Kakao", PaymentName: o.user.name, Amount: o.amount},
	}
	if o.card {
		body.Payment = paymentBody{
			PaymentMethod: "CreditCard", PaymentName: o.user.name, CardNumber: testCard,
			ExpiryYear: "2030", ExpiryMonth: "12", BirthOrRegistration: "900101", PasswordTwoDigits: "12",
			Amount: o.amount,
		}
	}
	h := http.Header{"Authorization": {"Bearer " + o.user.token}, "Idempotency-Key": {o.key}}
	var out struct {
		ID      string `json:"id"`
		MongoID string `json:"_id"` // the original's orders
		Status  string `json:"status"`
	}
	err := p.api.call(ctx, http.MethodPost, "/order", h, body, http.StatusCreated, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusOK {
		return "", &outcomeError{"http 200 replayed"}
	}
	if err != nil {
		return "", err
	}
	id := out.ID
	if id == "" {
		id = out.MongoID
	}
	if out.Status != "PaymentProcessed" && out.Status != "DeliveryStarted" {
		return id, &outcomeError{"created " + out.Status}
	}
	return id, nil
}

// testCard is a card the simulated card network approves.
const testCard = "4242 4242 4242 4242"

// grpcPlacer places orders with OrderService.CreateOrder.
type grpcPlacer struct {
	client  orderv1.OrderServiceClient
	timeout time.Duration
}

func dialGRPC(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// grpcError is a failed CreateOrder.
type grpcError struct{ st *status.Status }

func (e *grpcError) Error() string { return "gRPC " + e.st.Code().String() + ": " + e.st.Message() }
func (e *grpcError) class() string { return "grpc " + e.st.Code().String() }

func (p grpcPlacer) place(ctx context.Context, o order) (string, error) {
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.user.token), p.timeout)
	defer cancel()
	pay := &orderv1.PaymentDetails{
		PaymentMethod: paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO, PaymentName: o.user.name, Amount: o.amount,
	}
	if o.card {
		pay = &orderv1.PaymentDetails{
			PaymentMethod: paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD, PaymentName: o.user.name,
			CardNumber: testCard, ExpiryYear: "2030", ExpiryMonth: "12", BirthOrRegistration: "900101",
			PasswordTwoDigits: "12", Amount: o.amount,
		}
	}
	resp, err := p.client.CreateOrder(ctx, &orderv1.CreateOrderRequest{
		ProductIds:     o.productIDs,
		Address:        &orderv1.Address{Name: o.user.name, Street: "1 Sejong-daero", City: "Seoul", PostalCode: "04524", Country: "KR"},
		Payment:        pay,
		IdempotencyKey: o.key,
	})
	if err != nil {
		st, ok := status.FromError(err)
		if !ok {
			st = status.New(codes.Unknown, err.Error())
		}
		return "", &grpcError{st}
	}
	id := resp.GetOrder().GetId()
	switch {
	case resp.GetReplayed():
		return "", &outcomeError{"grpc replayed"}
	case resp.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PAYMENT_PROCESSED &&
		resp.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_DELIVERY_STARTED:
		return id, &outcomeError{"created " + resp.GetOrder().GetStatus().String()}
	}
	return id, nil
}
