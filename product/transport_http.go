package product

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// NewHTTPHandler returns the public HTTP routes of the product service, in
// the original gateway's JSON shape (lowerCamelCase):
//
//	POST /product/sample        → 200 {success, created}
//	GET  /product               ?q=&pageSize=&pageToken= → 200 {products, nextPageToken}
//	GET  /product/{id}          → 200 {product}
//	POST /product               admin; {name, description, price, stock} → 201 {product}
//	POST /product/{id}/stock    admin; {delta} → 200 {product}
//
// GET /product with a q of words lists the products whose name matches them
// (Service.ListProducts). A product is {id, name, description, price, stock};
// price in won. Admin routes take "Authorization: Bearer <access token>".
// Errors are {"error":{"code","message"}} (httpserver.EncodeError) with the
// status errorTable gives: decoders and the admin check fail the request
// directly, and encoders return a response's Failer error, which go-kit hands
// to the same error encoder. Health and metrics routes are added by
// httpserver.New.
func NewHTTPHandler(set Set) http.Handler {
	opts := []httptransport.ServerOption{
		httptransport.ServerErrorEncoder(encodeHTTPError),
		httptransport.ServerBefore(token.HTTPToContext),
	}
	mux := http.NewServeMux()
	mux.Handle("POST /product/sample", httptransport.NewServer(
		set.CreateSamplesEndpoint, decodeHTTPCreateSamplesRequest, encodeHTTPCreateSamplesResponse, opts...))
	mux.Handle("GET /product", httptransport.NewServer(
		set.ListProductsEndpoint, decodeHTTPListProductsRequest, encodeHTTPListProductsResponse, opts...))
	mux.Handle("GET /product/{id}", httptransport.NewServer(
		set.GetProductEndpoint, decodeHTTPGetProductRequest, encodeHTTPProductResponse(http.StatusOK), opts...))
	mux.Handle("POST /product", httptransport.NewServer(
		set.CreateProductEndpoint, decodeHTTPCreateProductRequest, encodeHTTPProductResponse(http.StatusCreated), opts...))
	mux.Handle("POST /product/{id}/stock", httptransport.NewServer(
		set.AdjustStockEndpoint, decodeHTTPAdjustStockRequest, encodeHTTPProductResponse(http.StatusOK), opts...))
	return mux
}

// encodeHTTPError is the ErrorEncoder of every route: errorTable gives the
// status, code and headers (WWW-Authenticate); errors it does not list pass
// to httpserver.EncodeError as they are: its own *httpserver.RequestError
// (bad JSON: 400, body too large: 413), token.ErrKeysUnavailable (503), a
// deadline (504), else 500.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	httpserver.EncodeError(ctx, errorTable.HTTPError(err), w)
}

// productJSON is a product on the wire.
type productJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Price       int64  `json:"price"`
	Stock       int64  `json:"stock"`
}

func toProductJSON(p Product) productJSON {
	return productJSON{ID: p.ID, Name: p.Name, Description: p.Description, Price: p.Price, Stock: p.Stock}
}

// createSamplesJSON is the answer of POST /product/sample.
type createSamplesJSON struct {
	Success bool `json:"success"`
	Created int  `json:"created"`
}

// listJSON is the answer of GET /product; products is never null.
type listJSON struct {
	Products      []productJSON `json:"products"`
	NextPageToken string        `json:"nextPageToken"`
}

// productEnvelopeJSON is the answer of the single-product routes.
type productEnvelopeJSON struct {
	Product productJSON `json:"product"`
}

// createProductBody is the body of POST /product.
type createProductBody struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Price       int64  `json:"price"`
	Stock       int64  `json:"stock"`
}

// adjustStockBody is the body of POST /product/{id}/stock.
type adjustStockBody struct {
	Delta int64 `json:"delta"`
}

// decodeHTTPCreateSamplesRequest ignores any body: the original gateway's
// route takes none.
func decodeHTTPCreateSamplesRequest(context.Context, *http.Request) (any, error) {
	return CreateSamplesRequest{}, nil
}

func decodeHTTPListProductsRequest(_ context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	req := ListProductsRequest{Query: q.Get("q"), PageToken: q.Get("pageToken")}
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, &httpserver.RequestError{
				Status: http.StatusBadRequest,
				Msg:    fmt.Sprintf("query parameter pageSize must be a whole number, got %q", s),
				Err:    err,
			}
		}
		req.PageSize = int(n)
	}
	return req, nil
}

func decodeHTTPGetProductRequest(_ context.Context, r *http.Request) (any, error) {
	return GetProductRequest{ProductID: r.PathValue("id")}, nil
}

func decodeHTTPCreateProductRequest(_ context.Context, r *http.Request) (any, error) {
	var b createProductBody
	if err := httpserver.DecodeJSON(r, &b); err != nil {
		return nil, err
	}
	return CreateProductRequest{Product: NewProduct{Name: b.Name, Description: b.Description, Price: b.Price, Stock: b.Stock}}, nil
}

func decodeHTTPAdjustStockRequest(_ context.Context, r *http.Request) (any, error) {
	var b adjustStockBody
	if err := httpserver.DecodeJSON(r, &b); err != nil {
		return nil, err
	}
	return AdjustStockRequest{ProductID: r.PathValue("id"), Delta: b.Delta}, nil
}

func encodeHTTPCreateSamplesResponse(_ context.Context, w http.ResponseWriter, response any) error {
	if err := failure(response); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, createSamplesJSON{Success: true, Created: response.(CreateSamplesResponse).Created})
}

func encodeHTTPListProductsResponse(_ context.Context, w http.ResponseWriter, response any) error {
	if err := failure(response); err != nil {
		return err
	}
	p := response.(ListProductsResponse).Page
	out := listJSON{Products: make([]productJSON, len(p.Products)), NextPageToken: p.NextPageToken}
	for i, pr := range p.Products {
		out.Products[i] = toProductJSON(pr)
	}
	return writeJSON(w, http.StatusOK, out)
}

// encodeHTTPProductResponse returns the encoder of a ProductResponse with the
// given success status.
func encodeHTTPProductResponse(status int) httptransport.EncodeResponseFunc {
	return func(_ context.Context, w http.ResponseWriter, response any) error {
		if err := failure(response); err != nil {
			return err
		}
		return writeJSON(w, status, productEnvelopeJSON{Product: toProductJSON(response.(ProductResponse).Product)})
	}
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
