package product

import (
	"context"
	"errors"

	"github.com/go-kit/kit/endpoint"

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

// NewSet returns the endpoints of svc; the admin ones are behind AdminOnly
// with verifier.
func NewSet(svc Service, verifier *token.Verifier) Set {
	admin := AdminOnly(verifier)
	return Set{
		CreateSamplesEndpoint:   MakeCreateSamplesEndpoint(svc),
		GetProductsInfoEndpoint: MakeGetProductsInfoEndpoint(svc),
		ListProductsEndpoint:    MakeListProductsEndpoint(svc),
		GetProductEndpoint:      MakeGetProductEndpoint(svc),
		CreateProductEndpoint:   admin(MakeCreateProductEndpoint(svc)),
		AdjustStockEndpoint:     admin(MakeAdjustStockEndpoint(svc)),
		ReserveStockEndpoint:    MakeReserveStockEndpoint(svc),
		ReleaseStockEndpoint:    MakeReleaseStockEndpoint(svc),
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

// businessErrors are the errors that ride in a response (endpoint.Failer);
// anything else is an infrastructure failure, the endpoint's own error.
var businessErrors = []error{
	ErrInvalidArgument,
	ErrNotFound,
	ErrInsufficientStock,
	ErrOrderMismatch,
	ErrReservationReleased,
	ErrReservationBusy,
}

// split sorts err into a business failure, for the response, or an
// infrastructure failure, for the endpoint's error.
func split(err error) (business, infra error) {
	for _, b := range businessErrors {
		if errors.Is(err, b) {
			return err, nil
		}
	}
	return nil, err
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

// MakeCreateSamplesEndpoint returns the CreateSamples endpoint of s.
func MakeCreateSamplesEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		n, err := s.CreateSamples(ctx)
		business, infra := split(err)
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
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return ProductsResponse{Products: ps, Err: business}, nil
	}
}

// ListProductsRequest is the input of ListProducts.
type ListProductsRequest struct {
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

// MakeListProductsEndpoint returns the ListProducts endpoint of s.
func MakeListProductsEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ListProductsRequest)
		p, err := s.ListProducts(ctx, req.PageSize, req.PageToken)
		business, infra := split(err)
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

// MakeGetProductEndpoint returns the GetProduct endpoint of s.
func MakeGetProductEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetProductRequest)
		p, err := s.GetProduct(ctx, req.ProductID)
		business, infra := split(err)
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
		business, infra := split(err)
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

// MakeAdjustStockEndpoint returns the AdjustStock endpoint of s, without the
// admin check NewSet puts around it.
func MakeAdjustStockEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(AdjustStockRequest)
		p, err := s.AdjustStock(ctx, req.ProductID, req.Delta)
		business, infra := split(err)
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

// ReserveStockResponse is the output of ReserveStock.
type ReserveStockResponse struct {
	Result ReserveResult
	Err    error
}

// Failed implements endpoint.Failer.
func (r ReserveStockResponse) Failed() error { return r.Err }

// MakeReserveStockEndpoint returns the ReserveStock endpoint of s.
func MakeReserveStockEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ReserveStockRequest)
		res, err := s.ReserveStock(ctx, req.OrderID, req.Items)
		business, infra := split(err)
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

// ReleaseStockResponse is the output of ReleaseStock.
type ReleaseStockResponse struct {
	Released bool
	Err      error
}

// Failed implements endpoint.Failer.
func (r ReleaseStockResponse) Failed() error { return r.Err }

// MakeReleaseStockEndpoint returns the ReleaseStock endpoint of s.
func MakeReleaseStockEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ReleaseStockRequest)
		released, err := s.ReleaseStock(ctx, req.OrderID)
		business, infra := split(err)
		if infra != nil {
			return nil, infra
		}
		return ReleaseStockResponse{Released: released, Err: business}, nil
	}
}
