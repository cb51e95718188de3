package product

import (
	"context"
	"log/slog"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/observe"
	"github.com/kitshop/kitshop/internal/token"
)

// Set collects the endpoints of the product service; transports serve them.
type Set struct {
	CreateSamplesEndpoint   endpoint.Endpoint
	GetProductsInfoEndpoint endpoint.Endpoint
	ListProductsEndpoint    endpoint.Endpoint
	GetProductEndpoint      endpoint.Endpoint
	// CreateProductEndpoint and AdjustStockEndpoint require an admin's bearer
	// access token in the context (token.HTTPToContext, token.GRPCToContext).
	CreateProductEndpoint endpoint.Endpoint
	AdjustStockEndpoint   endpoint.Endpoint
	ReserveStockEndpoint  endpoint.Endpoint
	ReleaseStockEndpoint  endpoint.Endpoint
}

// Method names, the "method" label of the metrics and the logs.
const (
	methodCreateSamples   = "CreateSamples"
	methodGetProductsInfo = "GetProductsInfo"
	methodListProducts    = "ListProducts"
	methodGetProduct      = "GetProduct"
	methodCreateProduct   = "CreateProduct"
	methodAdjustStock     = "AdjustStock"
	methodReserveStock    = "ReserveStock"
	methodReleaseStock    = "ReleaseStock"
)

// NewSet returns the endpoints of svc, each observed (internal/observe):
// one log line per call on logger (nil: discarded) and the call metrics
// kitshop_product_requests_total and
// kitshop_product_request_duration_seconds {method,outcome} on reg (nil: not
// registered; collectors reg holds already are reused), with the outcome
// errorTable gives. Catalogue changes (samples, creation, stock adjustments)
// are logged at Info; reads and reservations, which every order makes, at
// Debug; infrastructure failures at Error. The admin endpoints are behind
// AdminOnly with verifier, inside the observation, so refused calls are
// counted.
func NewSet(svc Service, verifier *token.Verifier, logger *slog.Logger, reg prometheus.Registerer) Set {
	obs := observe.New("product", errorTable, logger, reg)
	admin := AdminOnly(verifier)
	return Set{
		CreateSamplesEndpoint:   obs.Endpoint(methodCreateSamples, slog.LevelInfo, MakeCreateSamplesEndpoint(svc)),
		GetProductsInfoEndpoint: obs.Endpoint(methodGetProductsInfo, slog.LevelDebug, MakeGetProductsInfoEndpoint(svc)),
		ListProductsEndpoint:    obs.Endpoint(methodListProducts, slog.LevelDebug, MakeListProductsEndpoint(svc)),
		GetProductEndpoint:      obs.Endpoint(methodGetProduct, slog.LevelDebug, MakeGetProductEndpoint(svc)),
		CreateProductEndpoint:   obs.Endpoint(methodCreateProduct, slog.LevelInfo, admin(MakeCreateProductEndpoint(svc))),
		AdjustStockEndpoint:     obs.Endpoint(methodAdjustStock, slog.LevelInfo, admin(MakeAdjustStockEndpoint(svc))),
		ReserveStockEndpoint:    obs.Endpoint(methodReserveStock, slog.LevelDebug, MakeReserveStockEndpoint(svc)),
		ReleaseStockEndpoint:    obs.Endpoint(methodReleaseStock, slog.LevelDebug, MakeReleaseStockEndpoint(svc)),
	}
}

// AdminOnly is the endpoint middleware of admin calls: token.Authenticate
// with verifier, then token.RequireRole(token.RoleAdmin). Failures are the
// endpoint's error: token.ErrMissingToken / token.ErrInvalidToken (401),
// token.ErrForbidden (403), and token.ErrKeysUnavailable (503 / Unavailable)
// for a well-formed token while verifier's keys are still being fetched.
func AdminOnly(verifier *token.Verifier) endpoint.Middleware {
	authenticate, requireAdmin := token.Authenticate(verifier), token.RequireRole(token.RoleAdmin)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return authenticate(requireAdmin(next))
	}
}

// CreateSamplesRequest is the input of CreateSamples.
type CreateSamplesRequest struct{}

// CreateSamplesResponse is the output of CreateSamples.
type CreateSamplesResponse struct {
	Created int
	Err     error
}

// Failed implements endpoint.Failer.
func (r CreateSamplesResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: how many samples were created.
func (r CreateSamplesResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Int("created", r.Created)}
}

// MakeCreateSamplesEndpoint returns the CreateSamples endpoint of s.
func MakeCreateSamplesEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		n, err := s.CreateSamples(ctx)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return CreateSamplesResponse{Created: n, Err: business}, nil
	}
}

// GetProductsInfoRequest is the input of GetProductsInfo.
type GetProductsInfoRequest struct {
	ProductIDs []string
}

// LogAttrs implements observe.Loggable: how many ids were asked for.
func (r GetProductsInfoRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Int("ids", len(r.ProductIDs))}
}

// ProductsResponse is the output of GetProductsInfo.
type ProductsResponse struct {
	Products []Product
	Err      error
}

// Failed implements endpoint.Failer.
func (r ProductsResponse) Failed() error { return r.Err }

// MakeGetProductsInfoEndpoint returns the GetProductsInfo endpoint of s.
func MakeGetProductsInfoEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetProductsInfoRequest)
		ps, err := s.GetProductsInfo(ctx, req.ProductIDs)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ProductsResponse{Products: ps, Err: business}, nil
	}
}

// ListProductsRequest is the input of ListProducts. Query is its q: words to
// search the catalogue for, or none.
type ListProductsRequest struct {
	Query     string
	PageSize  int
	PageToken string
}

// ListProductsResponse is the output of ListProducts.
type ListProductsResponse struct {
	Page Page
	Err  error
}

// Failed implements endpoint.Failer.
func (r ListProductsResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: how many products the page holds.
func (r ListProductsResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Int("products", len(r.Page.Products))}
}

// MakeListProductsEndpoint returns the ListProducts endpoint of s.
func MakeListProductsEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ListProductsRequest)
		p, err := s.ListProducts(ctx, req.Query, req.PageSize, req.PageToken)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ListProductsResponse{Page: p, Err: business}, nil
	}
}

// GetProductRequest is the input of GetProduct.
type GetProductRequest struct {
	ProductID string
}

// ProductResponse is the output of GetProduct, CreateProduct and AdjustStock.
type ProductResponse struct {
	Product Product
	Err     error
}

// Failed implements endpoint.Failer.
func (r ProductResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the product's id and stock, when
// the call yielded one (a failure's message names the product).
func (r ProductResponse) LogAttrs() []slog.Attr {
	if r.Product.ID == "" {
		return nil
	}
	return []slog.Attr{slog.String("product", r.Product.ID), slog.Int64("stock", r.Product.Stock)}
}

// MakeGetProductEndpoint returns the GetProduct endpoint of s.
func MakeGetProductEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetProductRequest)
		p, err := s.GetProduct(ctx, req.ProductID)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ProductResponse{Product: p, Err: business}, nil
	}
}

// CreateProductRequest is the input of CreateProduct.
type CreateProductRequest struct {
	Product NewProduct
}

// MakeCreateProductEndpoint returns the CreateProduct endpoint of s, without
// the admin check NewSet puts around it.
func MakeCreateProductEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(CreateProductRequest)
		p, err := s.CreateProduct(ctx, req.Product)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ProductResponse{Product: p, Err: business}, nil
	}
}

// AdjustStockRequest is the input of AdjustStock.
type AdjustStockRequest struct {
	ProductID string
	Delta     int64
}

// LogAttrs implements observe.Loggable: the change asked for.
func (r AdjustStockRequest) LogAttrs() []slog.Attr { return []slog.Attr{slog.Int64("delta", r.Delta)} }

// MakeAdjustStockEndpoint returns the AdjustStock endpoint of s, without the
// admin check NewSet puts around it.
func MakeAdjustStockEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(AdjustStockRequest)
		p, err := s.AdjustStock(ctx, req.ProductID, req.Delta)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ProductResponse{Product: p, Err: business}, nil
	}
}

// ReserveStockRequest is the input of ReserveStock.
type ReserveStockRequest struct {
	OrderID string
	Items   []Item
}

// LogAttrs implements observe.Loggable: the order and how many items.
func (r ReserveStockRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order", r.OrderID), slog.Int("items", len(r.Items))}
}

// ReserveStockResponse is the output of ReserveStock.
type ReserveStockResponse struct {
	Result ReserveResult
	Err    error
}

// Failed implements endpoint.Failer.
func (r ReserveStockResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: whether the call repeated an
// earlier reservation.
func (r ReserveStockResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Bool("replayed", r.Result.Replayed)}
}

// MakeReserveStockEndpoint returns the ReserveStock endpoint of s.
func MakeReserveStockEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ReserveStockRequest)
		res, err := s.ReserveStock(ctx, req.OrderID, req.Items)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ReserveStockResponse{Result: res, Err: business}, nil
	}
}

// ReleaseStockRequest is the input of ReleaseStock.
type ReleaseStockRequest struct {
	OrderID string
}

// LogAttrs implements observe.Loggable: the order.
func (r ReleaseStockRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("order", r.OrderID)}
}

// ReleaseStockResponse is the output of ReleaseStock.
type ReleaseStockResponse struct {
	Released bool
	Err      error
}

// Failed implements endpoint.Failer.
func (r ReleaseStockResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: whether this call returned stock.
func (r ReleaseStockResponse) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.Bool("released", r.Released)}
}

// MakeReleaseStockEndpoint returns the ReleaseStock endpoint of s.
func MakeReleaseStockEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ReleaseStockRequest)
		released, err := s.ReleaseStock(ctx, req.OrderID)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ReleaseStockResponse{Released: released, Err: business}, nil
	}
}
