package order

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/sony/gobreaker"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// IdempotencyKeyHeader carries the idempotency key of POST /order.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader is set to "true" on the answer of a repeated POST /order.
const ReplayedHeader = "Idempotent-Replayed"

// NewHTTPHandler returns the public HTTP routes of the order service, in the
// original gateway's JSON shape, each requiring "Authorization: Bearer
// <access token>":
//
//	POST /order        {productIds, items, address, payment} (+ Idempotency-Key) → 201 order (200 on a replay)
//	GET  /order        ?pageSize=&pageToken= → 200 {orders, nextPageToken}
//	GET  /order/{id}   → 200 order (another user's: 404)
//	POST /order/{id}/delivered  admin; no body → 200 order, now DeliveryDone
//	                   (from DeliveryStarted; repeating it is harmless; any
//	                   other status: 409; a user's token: 403)
//	GET  /order/status/{status}  admin; ?pageSize=&pageToken= → 200 {orders,
//	                   nextPageToken}: the orders now in status ("Pending",
//	                   ...; another: 400), newest first by the time they
//	                   entered it
//	GET  /order/work   admin → 200 {entries[{orderId, kind, sideEffects,
//	                   status?, dueAt, attempts, owner?, leaseUntil?,
//	                   lastError?, trace?}], total}: the background work,
//	                   soonest due first, at most MaxWorkListed entries
//	GET  /order/breakers  admin → 200 {breakers[{dependency, method, state,
//	                   retryAfterSeconds}]}: the circuit breakers of the
//	                   service's clients, state "closed", "half-open" or
//	                   "open", sorted by dependency, then method
//
// The admin routes answer 401 without a token and 403 permission_denied to
// a user's. A literal segment wins over {id} in the ServeMux (the more
// specific pattern), and no order id is "work" or "breakers": ids are hex
// (identify).
//
// An order is {id, customer{userId,email,name}, products[{productId,name,
// price,quantity}], deliveryAddress{name,street,city,postalCode,country},
// status, payment{paymentId,paymentMethod,paymentName,amount,paymentStatus,
// maskedCardNumber}, total, failureReason, createdAt, updatedAt}, statuses
// spelled "Pending", "PaymentProcessed", ... Errors are
// {"error":{"code","message"}} (httpserver.EncodeError) with the status of
// the service's error table (errors.go): every encoder returns the
// response's Failer error, which go-kit hands to the error encoder like
// decode and endpoint errors.
// Health and metrics routes are added by httpserver.New.
func NewHTTPHandler(set Set) http.Handler {
	opts := []httptransport.ServerOption{
		httptransport.ServerErrorEncoder(encodeHTTPError),
		httptransport.ServerBefore(token.HTTPToContext),
	}
	mux := http.NewServeMux()
	mux.Handle("POST /order", httptransport.NewServer(
		set.CreateOrderEndpoint, decodeHTTPCreateOrderRequest, encodeHTTPCreateOrderResponse, opts...))
	mux.Handle("GET /order", httptransport.NewServer(
		set.ListOrdersEndpoint, decodeHTTPListOrdersRequest, encodeHTTPListOrdersResponse, opts...))
	mux.Handle("GET /order/{id}", httptransport.NewServer(
		set.GetOrderEndpoint, decodeHTTPGetOrderRequest, encodeHTTPOrderResponse, opts...))
	mux.Handle("POST /order/{id}/delivered", httptransport.NewServer(
		set.AdminDeliveryDoneEndpoint, decodeHTTPDeliveryDoneRequest, encodeHTTPOrderResponse, opts...))
	mux.Handle("GET /order/status/{status}", httptransport.NewServer(
		set.AdminListOrdersByStatusEndpoint, decodeHTTPListOrdersByStatusRequest, encodeHTTPListOrdersByStatusResponse, opts...))
	mux.Handle("GET /order/work", httptransport.NewServer(
		set.AdminPendingWorkEndpoint, decodeHTTPPendingWorkRequest, encodeHTTPPendingWorkResponse, opts...))
	mux.Handle("GET /order/breakers", httptransport.NewServer(
		set.AdminBreakersEndpoint, decodeHTTPBreakersRequest, encodeHTTPBreakersResponse, opts...))
	return mux
}

// encodeHTTPError is the ErrorEncoder of every route: the service's error
// table (errorTable.HTTPError) gives an error its status, code and headers
// (WWW-Authenticate for the token's errors, Retry-After for an unavailable
// dependency: the time its breaker stays open, rounded up to whole seconds,
// at least one). Other errors pass to httpserver.EncodeError as they are:
// its own *RequestError (bad JSON: 400, body too large: 413), a deadline
// 504, else 500.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	httpserver.EncodeError(ctx, errorTable.HTTPError(err), w)
}

// createOrderBody is the body of POST /order: CreateOrder without meta.
type createOrderBody struct {
	ProductIDs []string    `json:"productIds"`
	Items      []itemJSON  `json:"items"`
	Address    addressJSON `json:"address"`
	Payment    paymentJSON `json:"payment"`
}

type itemJSON struct {
	ProductID string `json:"productId"`
	Quantity  int64  `json:"quantity"`
}

type addressJSON struct {
	Name       string `json:"name"`
	Street     string `json:"street"`
	City       string `json:"city"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// paymentJSON is the payment of POST /order; it is never echoed back.
type paymentJSON struct {
	PaymentMethod       string `json:"paymentMethod"`
	PaymentName         string `json:"paymentName"`
	CardNumber          string `json:"cardNumber"`
	ExpiryYear          string `json:"expiryYear"`
	ExpiryMonth         string `json:"expiryMonth"`
	BirthOrRegistration string `json:"birthOrRegistration"`
	PasswordTwoDigits   string `json:"passwordTwoDigits"`
	Amount              int64  `json:"amount"`
}

func decodeHTTPCreateOrderRequest(_ context.Context, r *http.Request) (any, error) {
	var body createOrderBody
	if err := httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	items := make([]Item, len(body.Items))
	for i, it := range body.Items {
		items[i] = Item(it)
	}
	p := body.Payment
	return CreateOrderRequest{Order: NewOrder{
		ProductIDs: body.ProductIDs,
		Items:      items,
		Address:    Address(body.Address),
		Payment: PaymentDetails{
			Method:              PaymentMethod(p.PaymentMethod),
			Name:                p.PaymentName,
			CardNumber:          p.CardNumber,
			ExpiryYear:          p.ExpiryYear,
			ExpiryMonth:         p.ExpiryMonth,
			BirthOrRegistration: p.BirthOrRegistration,
			PasswordTwoDigits:   p.PasswordTwoDigits,
			Amount:              p.Amount,
		},
		IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
	}}, nil
}

func encodeHTTPCreateOrderResponse(_ context.Context, w http.ResponseWriter, response any) error {
	resp := response.(CreateOrderResponse)
	if resp.Err != nil {
		return resp.Err
	}
	status := http.StatusCreated
	if resp.Replayed {
		status = http.StatusOK
		w.Header().Set(ReplayedHeader, "true")
	}
	return writeJSON(w, status, toOrderJSON(resp.Order))
}

func decodeHTTPGetOrderRequest(_ context.Context, r *http.Request) (any, error) {
	return GetOrderRequest{OrderID: r.PathValue("id")}, nil
}

func decodeHTTPDeliveryDoneRequest(_ context.Context, r *http.Request) (any, error) {
	return DeliveryDoneRequest{OrderID: r.PathValue("id")}, nil
}

func encodeHTTPOrderResponse(_ context.Context, w http.ResponseWriter, response any) error {
	resp := response.(OrderResponse)
	if resp.Err != nil {
		return resp.Err
	}
	return writeJSON(w, http.StatusOK, toOrderJSON(resp.Order))
}

func decodeHTTPListOrdersRequest(_ context.Context, r *http.Request) (any, error) {
	size, token, err := pageQuery(r)
	return ListOrdersRequest{PageSize: size, PageToken: token}, err
}

func decodeHTTPListOrdersByStatusRequest(_ context.Context, r *http.Request) (any, error) {
	size, token, err := pageQuery(r)
	return ListOrdersByStatusRequest{Status: Status(r.PathValue("status")), PageSize: size, PageToken: token}, err
}

// pageQuery reads ?pageSize=&pageToken= (pageSize absent: 0).
func pageQuery(r *http.Request) (size int, token string, err error) {
	q := r.URL.Query()
	if s := q.Get("pageSize"); s != "" {
		if size, err = strconv.Atoi(s); err != nil {
			return 0, "", &httpserver.RequestError{Status: http.StatusBadRequest, Msg: "pageSize must be a whole number", Err: err}
		}
	}
	return size, q.Get("pageToken"), nil
}

// ordersPageJSON is the answer of GET /order and GET /order/status/{status}.
type ordersPageJSON struct {
	Orders        []orderJSON `json:"orders"`
	NextPageToken string      `json:"nextPageToken,omitempty"`
}

func encodeHTTPListOrdersResponse(_ context.Context, w http.ResponseWriter, response any) error {
	resp := response.(ListOrdersResponse)
	if resp.Err != nil {
		return resp.Err
	}
	return writePage(w, resp.Page)
}

func encodeHTTPListOrdersByStatusResponse(_ context.Context, w http.ResponseWriter, response any) error {
	resp := response.(ListOrdersByStatusResponse)
	if resp.Err != nil {
		return resp.Err
	}
	return writePage(w, resp.Page)
}

// writePage writes p as an ordersPageJSON.
func writePage(w http.ResponseWriter, p Page) error {
	out := ordersPageJSON{Orders: make([]orderJSON, len(p.Orders)), NextPageToken: p.NextPageToken}
	for i, o := range p.Orders {
		out.Orders[i] = toOrderJSON(o)
	}
	return writeJSON(w, http.StatusOK, out)
}

func decodeHTTPPendingWorkRequest(context.Context, *http.Request) (any, error) {
	return PendingWorkRequest{}, nil
}

// workListJSON is the answer of GET /order/work.
type workListJSON struct {
	Entries []workEntryJSON `json:"entries"`
	Total   int             `json:"total"`
}

// workEntryJSON is a WorkItem: its fields are named after order_work's
// (work_store.go), the side effects after the order's outbox fields
// ("notify", "releaseStock", "refund").
type workEntryJSON struct {
	OrderID     string     `json:"orderId"`
	Kind        WorkKind   `json:"kind"`
	SideEffects []string   `json:"sideEffects"`
	Status      Status     `json:"status,omitempty"`
	DueAt       time.Time  `json:"dueAt"`
	Attempts    int        `json:"attempts"`
	Owner       string     `json:"owner,omitempty"`
	LeaseUntil  *time.Time `json:"leaseUntil,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	Trace       string     `json:"trace,omitempty"`
}

func encodeHTTPPendingWorkResponse(_ context.Context, w http.ResponseWriter, response any) error {
	resp := response.(PendingWorkResponse)
	if resp.Err != nil {
		return resp.Err
	}
	out := workListJSON{Entries: make([]workEntryJSON, len(resp.Work.Items)), Total: resp.Work.Total}
	for i, it := range resp.Work.Items {
		e := workEntryJSON{OrderID: it.OrderID, Kind: it.Kind, SideEffects: []string{}, Status: it.Status, DueAt: it.Due,
			Attempts: it.Attempts, Owner: it.Owner, LastError: it.LastError, Trace: it.Trace}
		if !it.LeaseUntil.IsZero() {
			e.LeaseUntil = &it.LeaseUntil
		}
		for _, f := range outboxFields(it.SideEffects) {
			e.SideEffects = append(e.SideEffects, f.Key)
		}
		out.Entries[i] = e
	}
	return writeJSON(w, http.StatusOK, out)
}

func decodeHTTPBreakersRequest(context.Context, *http.Request) (any, error) {
	return BreakersRequest{}, nil
}

// breakersJSON is the answer of GET /order/breakers.
type breakersJSON struct {
	Breakers []breakerJSON `json:"breakers"`
}

// breakerJSON is a grpcclient.BreakerState; retryAfterSeconds is how long an
// open breaker stays open, rounded up to whole seconds, at least one (as
// Retry-After is: retryAfter), and 0 for a breaker that is not open.
type breakerJSON struct {
	Dependency        string `json:"dependency"`
	Method            string `json:"method"`
	State             string `json:"state"`
	RetryAfterSeconds int64  `json:"retryAfterSeconds"`
}

func encodeHTTPBreakersResponse(_ context.Context, w http.ResponseWriter, response any) error {
	resp := response.(BreakersResponse)
	out := breakersJSON{Breakers: make([]breakerJSON, len(resp.Breakers))}
	for i, b := range resp.Breakers {
		out.Breakers[i] = breakerJSON{Dependency: b.Dependency, Method: b.Method, State: b.State.String()}
		if b.State == gobreaker.StateOpen {
			out.Breakers[i].RetryAfterSeconds = int64(retryAfter(b.RetryAfter) / time.Second)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// orderJSON is an order in the original gateway's shape, plus total,
// quantities, failureReason and times.
type orderJSON struct {
	ID              string             `json:"id"`
	Customer        customerJSON       `json:"customer"`
	Products        []lineJSON         `json:"products"`
	DeliveryAddress addressJSON        `json:"deliveryAddress"`
	Status          Status             `json:"status"`
	Payment         paymentSummaryJSON `json:"payment"`
	Total           int64              `json:"total"`
	FailureReason   string             `json:"failureReason,omitempty"`
	CreatedAt       time.Time          `json:"createdAt"`
	UpdatedAt       time.Time          `json:"updatedAt"`
}

type customerJSON struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
	Name   string `json:"name"`
}

type lineJSON struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	Quantity  int64  `json:"quantity"`
}

type paymentSummaryJSON struct {
	PaymentID        string        `json:"paymentId,omitempty"`
	PaymentMethod    PaymentMethod `json:"paymentMethod"`
	PaymentName      string        `json:"paymentName"`
	Amount           int64         `json:"amount"`
	PaymentStatus    PaymentStatus `json:"paymentStatus"`
	MaskedCardNumber string        `json:"maskedCardNumber,omitempty"`
}

func toOrderJSON(o Order) orderJSON {
	lines := make([]lineJSON, len(o.Products))
	for i, l := range o.Products {
		lines[i] = lineJSON(l)
	}
	return orderJSON{
		ID:              o.ID,
		Customer:        customerJSON(o.Customer),
		Products:        lines,
		DeliveryAddress: addressJSON(o.Address),
		Status:          o.Status,
		Payment: paymentSummaryJSON{
			PaymentID:        o.Payment.PaymentID,
			PaymentMethod:    o.Payment.Method,
			PaymentName:      o.Payment.Name,
			Amount:           o.Payment.Amount,
			PaymentStatus:    o.Payment.Status,
			MaskedCardNumber: o.Payment.MaskedCardNumber,
		},
		Total:         o.Total,
		FailureReason: o.FailureReason,
		CreatedAt:     o.CreatedAt,
		UpdatedAt:     o.UpdatedAt,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
