package storefront

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// apiBase is the origin of the storefront's requests to the public API. The
// requests never leave the process (InProcess), so the host only fills the
// URL.
const apiBase = "http://kitshop.api"

// maxAPIBody bounds an API response the storefront reads.
const maxAPIBody = 4 << 20

// InProcess returns a transport that serves every request with h in the
// calling goroutine, as if h had received it over the network: the
// storefront's way to use the public API without a network hop.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := &recorder{header: make(http.Header)}
	t.h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{
		Status:        strconv.Itoa(rec.status) + " " + http.StatusText(rec.status),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(&rec.body),
		ContentLength: int64(rec.body.Len()),
		Request:       r,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// apiError is an error answer of the public API: its status, the code and
// message of its body ({"error":{"code","message"}}) and its Retry-After.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("API answered %d %s: %s", e.Status, e.Code, e.Message)
}

// statusOf returns the HTTP status of err when it is an answer of the API,
// else 0.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// api is the storefront's client of the public API.
type api struct{ client *http.Client }

// call is one API request: its method, path (with query), bearer token,
// JSON body and extra headers.
type call struct {
	method, path string
	token        string
	basic        string // "email:password" for Basic authorization, instead of token
	body         any
	header       map[string]string
}

// do sends c on behalf of the browser's request from (whose context and
// client address it carries, so that the API's rate limits and traces see the
// browser) and decodes a 2xx JSON answer into out (which may be nil). Any
// other answer is an *apiError.
func (a *api) do(from *http.Request, c call, out any) error {
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(from.Context(), c.method, apiBase+c.path, body)
	if err != nil {
		return err
	}
	req.RemoteAddr = from.RemoteAddr
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.basic != "":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.basic)))
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", c.method, c.path, err)
	}
	return nil
}

// answerError turns a non-2xx answer into an *apiError.
func answerError(resp *http.Response, body []byte) *apiError {
	e := &apiError{Status: resp.StatusCode, Code: "error", Message: http.StatusText(resp.StatusCode)}
	var wire struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Error.Code != "" {
		e.Code, e.Message = wire.Error.Code, wire.Error.Message
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// The API's shapes the storefront reads (internal/edge/openapi.json).
type (
	tokenPair struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		ExpiresIn    int64  `json:"expiresIn"`
	}
	apiUser struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
		Role  string `json:"role"`
	}
	product struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Price       int64  `json:"price"`
		Stock       int64  `json:"stock"`
	}
	productPage struct {
		Products      []product `json:"products"`
		NextPageToken string    `json:"nextPageToken"`
	}
	cartItem struct {
		ProductID string `json:"productId"`
		Quantity  int    `json:"quantity"`
	}
	cart struct {
		Items []cartItem `json:"items"`
	}
	orderLine struct {
		ProductID string `json:"productId"`
		Name      string `json:"name"`
		Price     int64  `json:"price"`
		Quantity  int    `json:"quantity"`
	}
	address struct {
		Name       string `json:"name"`
		Street     string `json:"street"`
		City       string `json:"city"`
		PostalCode string `json:"postalCode"`
		Country    string `json:"country"`
	}
	orderPayment struct {
		PaymentID        string `json:"paymentId"`
		PaymentMethod    string `json:"paymentMethod"`
		PaymentName      string `json:"paymentName"`
		Amount           int64  `json:"amount"`
		PaymentStatus    string `json:"paymentStatus"`
		MaskedCardNumber string `json:"maskedCardNumber"`
	}
	order struct {
		ID       string `json:"id"`
		Customer struct {
			UserID string `json:"userId"`
			Email  string `json:"email"`
			Name   string `json:"name"`
		} `json:"customer"`
		Products        []orderLine  `json:"products"`
		DeliveryAddress address      `json:"deliveryAddress"`
		Status          string       `json:"status"`
		Payment         orderPayment `json:"payment"`
		Total           int64        `json:"total"`
		FailureReason   string       `json:"failureReason"`
		CreatedAt       time.Time    `json:"createdAt"`
		UpdatedAt       time.Time    `json:"updatedAt"`
	}
	orderPage struct {
		Orders        []order `json:"orders"`
		NextPageToken string  `json:"nextPageToken"`
	}
	notification struct {
		Subject string     `json:"subject"`
		To      string     `json:"to"`
		Status  string     `json:"status"`
		SentAt  *time.Time `json:"sentAt"`
	}
	payment struct {
		PaymentStatus    string    `json:"paymentStatus"`
		PaymentMethod    string    `json:"paymentMethod"`
		Amount           int64     `json:"amount"`
		MaskedCardNumber string    `json:"maskedCardNumber"`
		Reason           string    `json:"reason"`
		UpdatedAt        time.Time `json:"updatedAt"`
	}
)

// query builds a path with its query string, leaving out empty values.
func query(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
