package product

import (
	"context"

	"github.com/go-kit/kit/endpoint"
	grpctransport "github.com/go-kit/kit/transport/grpc"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
)

// GRPCAccess is who may call each ProductService method (svcauth; any
// other method is refused): the order service reserves, releases and prices
// stock; the catalog reads are public, and CreateProduct and AdjustStock are
// an admin's, whose JWT the endpoints check; CreateSamples (no JWT check) is
// an operator's.
var GRPCAccess = svcauth.Policy{
	productv1.ProductService_GetProductsInfo_FullMethodName: svcauth.Callers(config.Order),
	productv1.ProductService_ReserveStock_FullMethodName:    svcauth.Callers(config.Order),
	productv1.ProductService_ReleaseStock_FullMethodName:    svcauth.Callers(config.Order),
	productv1.ProductService_ListProducts_FullMethodName:    svcauth.EndUsers,
	productv1.ProductService_GetProduct_FullMethodName:      svcauth.EndUsers,
	productv1.ProductService_CreateProduct_FullMethodName:   svcauth.EndUsers,
	productv1.ProductService_AdjustStock_FullMethodName:     svcauth.EndUsers,
	productv1.ProductService_CreateSamples_FullMethodName:   svcauth.Callers(svcauth.Operator),
}

// GRPCServer serves ProductService (kitshop.product.v1) from a Set.
//
// Errors: every encoder returns the response's Failer error as its own error,
// so go-kit hands business failures back exactly like endpoint errors (the
// admin check's), and each method converts whatever came back with
// errorTable (codes and details; Internal "internal error" for an
// infrastructure failure, whose cause only the server's log sees).
type GRPCServer struct {
	productv1.UnimplementedProductServiceServer

	createSamples   grpctransport.Handler
	getProductsInfo grpctransport.Handler
	listProducts    grpctransport.Handler
	getProduct      grpctransport.Handler
	createProduct   grpctransport.Handler
	adjustStock     grpctransport.Handler
	reserveStock    grpctransport.Handler
	releaseStock    grpctransport.Handler
}

// Compile-time check that GRPCServer serves ProductService.
var _ productv1.ProductServiceServer = (*GRPCServer)(nil)

// NewGRPCServer returns the gRPC binding of set; register it with
// productv1.RegisterProductServiceServer (Component.RegisterGRPC does).
func NewGRPCServer(set Set) *GRPCServer {
	opts := []grpctransport.ServerOption{
		grpctransport.ServerBefore(token.GRPCToContext),
	}
	return &GRPCServer{
		createSamples:   grpctransport.NewServer(set.CreateSamplesEndpoint, decodeGRPCCreateSamplesRequest, encodeGRPCCreateSamplesResponse, opts...),
		getProductsInfo: grpctransport.NewServer(set.GetProductsInfoEndpoint, decodeGRPCGetProductsInfoRequest, encodeGRPCGetProductsInfoResponse, opts...),
		listProducts:    grpctransport.NewServer(set.ListProductsEndpoint, decodeGRPCListProductsRequest, encodeGRPCListProductsResponse, opts...),
		getProduct:      grpctransport.NewServer(set.GetProductEndpoint, decodeGRPCGetProductRequest, encodeGRPCGetProductResponse, opts...),
		createProduct:   grpctransport.NewServer(set.CreateProductEndpoint, decodeGRPCCreateProductRequest, encodeGRPCCreateProductResponse, opts...),
		adjustStock:     grpctransport.NewServer(set.AdjustStockEndpoint, decodeGRPCAdjustStockRequest, encodeGRPCAdjustStockResponse, opts...),
		reserveStock:    grpctransport.NewServer(set.ReserveStockEndpoint, decodeGRPCReserveStockRequest, encodeGRPCReserveStockResponse, opts...),
		releaseStock:    grpctransport.NewServer(set.ReleaseStockEndpoint, decodeGRPCReleaseStockRequest, encodeGRPCReleaseStockResponse, opts...),
	}
}

// serve runs h and converts its outcome.
func serve[Resp any](ctx context.Context, h grpctransport.Handler, req any) (Resp, error) {
	_, resp, err := h.ServeGRPC(ctx, req)
	if err != nil {
		var zero Resp
		return zero, errorTable.GRPCStatus(err)
	}
	return resp.(Resp), nil
}

// CreateSamples implements productv1.ProductServiceServer.
func (s *GRPCServer) CreateSamples(ctx context.Context, req *productv1.CreateSamplesRequest) (*productv1.CreateSamplesResponse, error) {
	return serve[*productv1.CreateSamplesResponse](ctx, s.createSamples, req)
}

// GetProductsInfo implements productv1.ProductServiceServer.
func (s *GRPCServer) GetProductsInfo(ctx context.Context, req *productv1.GetProductsInfoRequest) (*productv1.GetProductsInfoResponse, error) {
	return serve[*productv1.GetProductsInfoResponse](ctx, s.getProductsInfo, req)
}

// ListProducts implements productv1.ProductServiceServer.
func (s *GRPCServer) ListProducts(ctx context.Context, req *productv1.ListProductsRequest) (*productv1.ListProductsResponse, error) {
	return serve[*productv1.ListProductsResponse](ctx, s.listProducts, req)
}

// GetProduct implements productv1.ProductServiceServer.
func (s *GRPCServer) GetProduct(ctx context.Context, req *productv1.GetProductRequest) (*productv1.GetProductResponse, error) {
	return serve[*productv1.GetProductResponse](ctx, s.getProduct, req)
}

// CreateProduct implements productv1.ProductServiceServer.
func (s *GRPCServer) CreateProduct(ctx context.Context, req *productv1.CreateProductRequest) (*productv1.CreateProductResponse, error) {
	return serve[*productv1.CreateProductResponse](ctx, s.createProduct, req)
}

// AdjustStock implements productv1.ProductServiceServer.
func (s *GRPCServer) AdjustStock(ctx context.Context, req *productv1.AdjustStockRequest) (*productv1.AdjustStockResponse, error) {
	return serve[*productv1.AdjustStockResponse](ctx, s.adjustStock, req)
}

// ReserveStock implements productv1.ProductServiceServer.
func (s *GRPCServer) ReserveStock(ctx context.Context, req *productv1.ReserveStockRequest) (*productv1.ReserveStockResponse, error) {
	return serve[*productv1.ReserveStockResponse](ctx, s.reserveStock, req)
}

// ReleaseStock implements productv1.ProductServiceServer.
func (s *GRPCServer) ReleaseStock(ctx context.Context, req *productv1.ReleaseStockRequest) (*productv1.ReleaseStockResponse, error) {
	return serve[*productv1.ReleaseStockResponse](ctx, s.releaseStock, req)
}

// failure returns the response's business error, if any.
func failure(response any) error {
	if f, ok := response.(endpoint.Failer); ok {
		return f.Failed()
	}
	return nil
}

func toProductPB(p Product) *productv1.Product {
	return &productv1.Product{Id: p.ID, Name: p.Name, Description: p.Description, Price: p.Price, Stock: p.Stock}
}

func toProductsPB(ps []Product) []*productv1.Product {
	out := make([]*productv1.Product, len(ps))
	for i, p := range ps {
		out[i] = toProductPB(p)
	}
	return out
}

func toItemsPB(items []Item) []*productv1.StockItem {
	out := make([]*productv1.StockItem, len(items))
	for i, it := range items {
		out[i] = &productv1.StockItem{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	return out
}

func decodeGRPCCreateSamplesRequest(context.Context, any) (any, error) {
	return CreateSamplesRequest{}, nil
}

func encodeGRPCCreateSamplesResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	// At most five: fits int32.
	return &productv1.CreateSamplesResponse{Success: true, Created: int32(response.(CreateSamplesResponse).Created)}, nil
}

func decodeGRPCGetProductsInfoRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*productv1.GetProductsInfoRequest)
	return GetProductsInfoRequest{ProductIDs: req.GetProductIds()}, nil
}

func encodeGRPCGetProductsInfoResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	return &productv1.GetProductsInfoResponse{Products: toProductsPB(response.(ProductsResponse).Products)}, nil
}

func decodeGRPCListProductsRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*productv1.ListProductsRequest)
	return ListProductsRequest{Query: req.GetQuery(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}, nil
}

func encodeGRPCListProductsResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	p := response.(ListProductsResponse).Page
	return &productv1.ListProductsResponse{Products: toProductsPB(p.Products), NextPageToken: p.NextPageToken}, nil
}

func decodeGRPCGetProductRequest(_ context.Context, grpcReq any) (any, error) {
	return GetProductRequest{ProductID: grpcReq.(*productv1.GetProductRequest).GetProductId()}, nil
}

func encodeGRPCGetProductResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	return &productv1.GetProductResponse{Product: toProductPB(response.(ProductResponse).Product)}, nil
}

func decodeGRPCCreateProductRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*productv1.CreateProductRequest)
	return CreateProductRequest{Product: NewProduct{
		Name: req.GetName(), Description: req.GetDescription(), Price: req.GetPrice(), Stock: req.GetStock(),
	}}, nil
}

func encodeGRPCCreateProductResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	return &productv1.CreateProductResponse{Product: toProductPB(response.(ProductResponse).Product)}, nil
}

func decodeGRPCAdjustStockRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*productv1.AdjustStockRequest)
	return AdjustStockRequest{ProductID: req.GetProductId(), Delta: req.GetDelta()}, nil
}

func encodeGRPCAdjustStockResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	return &productv1.AdjustStockResponse{Product: toProductPB(response.(ProductResponse).Product)}, nil
}

func decodeGRPCReserveStockRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*productv1.ReserveStockRequest)
	items := make([]Item, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = Item{ProductID: it.GetProductId(), Quantity: it.GetQuantity()}
	}
	return ReserveStockRequest{OrderID: req.GetOrderId(), Items: items}, nil
}

func encodeGRPCReserveStockResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	r := response.(ReserveStockResponse).Result
	return &productv1.ReserveStockResponse{OrderId: r.OrderID, Items: toItemsPB(r.Items), Replayed: r.Replayed}, nil
}

func decodeGRPCReleaseStockRequest(_ context.Context, grpcReq any) (any, error) {
	return ReleaseStockRequest{OrderID: grpcReq.(*productv1.ReleaseStockRequest).GetOrderId()}, nil
}

func encodeGRPCReleaseStockResponse(_ context.Context, response any) (any, error) {
	if err := failure(response); err != nil {
		return nil, err
	}
	return &productv1.ReleaseStockResponse{Released: response.(ReleaseStockResponse).Released}, nil
}
