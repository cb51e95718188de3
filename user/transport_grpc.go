package user

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// GRPCAccess is who may call each method of AuthService, UserService and
// CartService (svcauth; any other method is refused): AuthService is the end
// users' (registration, login, their tokens), and so is CartService (each
// call acts on the cart of its own token's user); GetUserInfo, any user's
// personal data, is the order service's.
var GRPCAccess = svcauth.Policy{
	userv1.AuthService_RegisterUser_FullMethodName:     svcauth.EndUsers,
	userv1.AuthService_LoginUser_FullMethodName:        svcauth.EndUsers,
	userv1.AuthService_RefreshToken_FullMethodName:     svcauth.EndUsers,
	userv1.AuthService_Logout_FullMethodName:           svcauth.EndUsers,
	userv1.AuthService_ParseBearerToken_FullMethodName: svcauth.EndUsers,
	userv1.UserService_GetUserInfo_FullMethodName:      svcauth.Callers(config.Order),
	userv1.CartService_GetCart_FullMethodName:          svcauth.EndUsers,
	userv1.CartService_SetCartItem_FullMethodName:      svcauth.EndUsers,
	userv1.CartService_RemoveCartItem_FullMethodName:   svcauth.EndUsers,
	userv1.CartService_ClearCart_FullMethodName:        svcauth.EndUsers,
}

// GRPCServer serves AuthService, UserService and CartService (kitshop.user.v1)
// from a Set. CartService reads the caller's access token from the
// "authorization" metadata.
//
// Errors: every encoder returns the response's Failer error as its own error,
// so go-kit hands business failures back exactly like decode and endpoint
// errors, and each method converts whatever came back with errorTable
// (codes, RetryInfo of a refused login; Internal "internal error" for an
// infrastructure failure, whose cause only the server's log sees).
type GRPCServer struct {
	userv1.UnimplementedAuthServiceServer
	userv1.UnimplementedUserServiceServer
	userv1.UnimplementedCartServiceServer

	registerUser     grpctransport.Handler
	loginUser        grpctransport.Handler
	parseBearerToken grpctransport.Handler
	refreshToken     grpctransport.Handler
	logout           grpctransport.Handler
	getUserInfo      grpctransport.Handler
	getCart          grpctransport.Handler
	setCartItem      grpctransport.Handler
	removeCartItem   grpctransport.Handler
	clearCart        grpctransport.Handler
}

// Compile-time checks that GRPCServer serves the three services.
var (
	_ userv1.AuthServiceServer = (*GRPCServer)(nil)
	_ userv1.UserServiceServer = (*GRPCServer)(nil)
	_ userv1.CartServiceServer = (*GRPCServer)(nil)
)

// NewGRPCServer returns the gRPC binding of set. Register it with
// userv1.RegisterAuthServiceServer, userv1.RegisterUserServiceServer and
// userv1.RegisterCartServiceServer (Component.RegisterGRPC does all three).
func NewGRPCServer(set Set) *GRPCServer {
	clientAddr := grpctransport.ServerBefore(grpcClientAddr)
	bearer := grpctransport.ServerBefore(token.GRPCToContext)
	return &GRPCServer{
		registerUser:     grpctransport.NewServer(set.RegisterUserEndpoint, decodeGRPCRegisterUserRequest, encodeGRPCRegisterUserResponse),
		loginUser:        grpctransport.NewServer(set.LoginUserEndpoint, decodeGRPCLoginUserRequest, encodeGRPCLoginUserResponse, clientAddr),
		parseBearerToken: grpctransport.NewServer(set.ParseBearerTokenEndpoint, decodeGRPCParseBearerTokenRequest, encodeGRPCParseBearerTokenResponse),
		refreshToken:     grpctransport.NewServer(set.RefreshTokenEndpoint, decodeGRPCRefreshTokenRequest, encodeGRPCRefreshTokenResponse),
		logout:           grpctransport.NewServer(set.LogoutEndpoint, decodeGRPCLogoutRequest, encodeGRPCLogoutResponse),
		getUserInfo:      grpctransport.NewServer(set.GetUserInfoEndpoint, decodeGRPCGetUserInfoRequest, encodeGRPCGetUserInfoResponse),
		getCart:          grpctransport.NewServer(set.GetCartEndpoint, decodeGRPCGetCartRequest, encodeGRPCGetCartResponse, bearer),
		setCartItem:      grpctransport.NewServer(set.SetCartItemEndpoint, decodeGRPCSetCartItemRequest, encodeGRPCSetCartItemResponse, bearer),
		removeCartItem:   grpctransport.NewServer(set.RemoveCartItemEndpoint, decodeGRPCRemoveCartItemRequest, encodeGRPCRemoveCartItemResponse, bearer),
		clearCart:        grpctransport.NewServer(set.ClearCartEndpoint, decodeGRPCClearCartRequest, encodeGRPCClearCartResponse, bearer),
	}
}

// grpcClientAddr is a go-kit ServerBefore that puts the address of the
// call's peer in the context, for the login rate limit; metadata such as
// x-forwarded-for, which any client can send, is not read.
func grpcClientAddr(ctx context.Context, _ metadata.MD) context.Context {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return withClientAddr(ctx, p.Addr.String())
	}
	return ctx
}

// RegisterUser implements userv1.AuthServiceServer.
func (s *GRPCServer) RegisterUser(ctx context.Context, req *userv1.RegisterUserRequest) (*userv1.RegisterUserResponse, error) {
	_, resp, err := s.registerUser.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.RegisterUserResponse), nil
}

// LoginUser implements userv1.AuthServiceServer.
func (s *GRPCServer) LoginUser(ctx context.Context, req *userv1.LoginUserRequest) (*userv1.LoginUserResponse, error) {
	_, resp, err := s.loginUser.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.LoginUserResponse), nil
}

// ParseBearerToken implements userv1.AuthServiceServer.
func (s *GRPCServer) ParseBearerToken(ctx context.Context, req *userv1.ParseBearerTokenRequest) (*userv1.ParseBearerTokenResponse, error) {
	_, resp, err := s.parseBearerToken.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.ParseBearerTokenResponse), nil
}

// RefreshToken implements userv1.AuthServiceServer.
func (s *GRPCServer) RefreshToken(ctx context.Context, req *userv1.RefreshTokenRequest) (*userv1.RefreshTokenResponse, error) {
	_, resp, err := s.refreshToken.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.RefreshTokenResponse), nil
}

// Logout implements userv1.AuthServiceServer.
func (s *GRPCServer) Logout(ctx context.Context, req *userv1.LogoutRequest) (*userv1.LogoutResponse, error) {
	_, resp, err := s.logout.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.LogoutResponse), nil
}

// GetUserInfo implements userv1.UserServiceServer.
func (s *GRPCServer) GetUserInfo(ctx context.Context, req *userv1.GetUserInfoRequest) (*userv1.GetUserInfoResponse, error) {
	_, resp, err := s.getUserInfo.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.GetUserInfoResponse), nil
}

// GetCart implements userv1.CartServiceServer.
func (s *GRPCServer) GetCart(ctx context.Context, req *userv1.GetCartRequest) (*userv1.GetCartResponse, error) {
	_, resp, err := s.getCart.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.GetCartResponse), nil
}

// SetCartItem implements userv1.CartServiceServer.
func (s *GRPCServer) SetCartItem(ctx context.Context, req *userv1.SetCartItemRequest) (*userv1.SetCartItemResponse, error) {
	_, resp, err := s.setCartItem.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.SetCartItemResponse), nil
}

// RemoveCartItem implements userv1.CartServiceServer.
func (s *GRPCServer) RemoveCartItem(ctx context.Context, req *userv1.RemoveCartItemRequest) (*userv1.RemoveCartItemResponse, error) {
	_, resp, err := s.removeCartItem.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.RemoveCartItemResponse), nil
}

// ClearCart implements userv1.CartServiceServer.
func (s *GRPCServer) ClearCart(ctx context.Context, req *userv1.ClearCartRequest) (*userv1.ClearCartResponse, error) {
	_, resp, err := s.clearCart.ServeGRPC(ctx, req)
	if err != nil {
		return nil, errorTable.GRPCStatus(err)
	}
	return resp.(*userv1.ClearCartResponse), nil
}

func decodeGRPCRegisterUserRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*userv1.RegisterUserRequest)
	creds, err := parseBasicAuth(req.GetToken())
	if err != nil {
		return nil, err
	}
	return RegisterUserRequest{
		Credentials: creds,
		Profile:     Profile{Name: req.GetName(), Age: req.GetAge(), Profile: req.GetProfile()},
	}, nil
}

func encodeGRPCRegisterUserResponse(_ context.Context, response any) (any, error) {
	resp := response.(RegisterUserResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	u := resp.User
	return &userv1.RegisterUserResponse{
		Id:      u.ID,
		Email:   u.Email,
		Name:    u.Name,
		Age:     u.Age,
		Profile: u.Profile,
		Role:    roleToProto(u.Role),
	}, nil
}

func decodeGRPCLoginUserRequest(_ context.Context, grpcReq any) (any, error) {
	creds, err := parseBasicAuth(grpcReq.(*userv1.LoginUserRequest).GetToken())
	if err != nil {
		return nil, err
	}
	return LoginUserRequest{Credentials: creds}, nil
}

func encodeGRPCLoginUserResponse(_ context.Context, response any) (any, error) {
	resp := response.(TokenPairResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &userv1.LoginUserResponse{
		AccessToken:  resp.Pair.AccessToken,
		RefreshToken: resp.Pair.RefreshToken,
		ExpiresIn:    int64(resp.Pair.ExpiresIn.Seconds()),
		TokenType:    tokenType,
	}, nil
}

// tokenType is the OAuth 2.0 token type of every access token issued here.
const tokenType = "Bearer"

func decodeGRPCParseBearerTokenRequest(_ context.Context, grpcReq any) (any, error) {
	tok, err := bareToken(grpcReq.(*userv1.ParseBearerTokenRequest).GetToken())
	if err != nil {
		return nil, err
	}
	return ParseBearerTokenRequest{Token: tok}, nil
}

func encodeGRPCParseBearerTokenResponse(_ context.Context, response any) (any, error) {
	resp := response.(ParseBearerTokenResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &userv1.ParseBearerTokenResponse{
		Sub:       resp.Claims.Subject,
		Role:      roleToProto(resp.Claims.Role),
		ExpiresAt: resp.Claims.ExpiresAt.Unix(),
	}, nil
}

func decodeGRPCRefreshTokenRequest(_ context.Context, grpcReq any) (any, error) {
	return RefreshTokenRequest{RefreshToken: grpcReq.(*userv1.RefreshTokenRequest).GetRefreshToken()}, nil
}

func encodeGRPCRefreshTokenResponse(_ context.Context, response any) (any, error) {
	resp := response.(TokenPairResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	return &userv1.RefreshTokenResponse{
		AccessToken:  resp.Pair.AccessToken,
		RefreshToken: resp.Pair.RefreshToken,
		ExpiresIn:    int64(resp.Pair.ExpiresIn.Seconds()),
		TokenType:    tokenType,
	}, nil
}

func decodeGRPCLogoutRequest(_ context.Context, grpcReq any) (any, error) {
	return LogoutRequest{RefreshToken: grpcReq.(*userv1.LogoutRequest).GetRefreshToken()}, nil
}

func encodeGRPCLogoutResponse(_ context.Context, response any) (any, error) {
	if err := response.(LogoutResponse).Err; err != nil {
		return nil, err
	}
	return &userv1.LogoutResponse{}, nil
}

func decodeGRPCGetUserInfoRequest(_ context.Context, grpcReq any) (any, error) {
	return GetUserInfoRequest{UserID: grpcReq.(*userv1.GetUserInfoRequest).GetUserId()}, nil
}

func encodeGRPCGetUserInfoResponse(_ context.Context, response any) (any, error) {
	resp := response.(UserResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	u := resp.User
	return &userv1.GetUserInfoResponse{
		Id:      u.ID,
		Email:   u.Email,
		Name:    u.Name,
		Age:     u.Age,
		Profile: u.Profile,
		Role:    roleToProto(u.Role),
	}, nil
}

// roleToProto maps a role to its enum; an unknown role is ROLE_UNSPECIFIED.
func roleToProto(r token.Role) userv1.Role {
	switch r {
	case token.RoleUser:
		return userv1.Role_ROLE_USER
	case token.RoleAdmin:
		return userv1.Role_ROLE_ADMIN
	default:
		return userv1.Role_ROLE_UNSPECIFIED
	}
}

func decodeGRPCGetCartRequest(context.Context, any) (any, error) { return GetCartRequest{}, nil }

func encodeGRPCGetCartResponse(_ context.Context, response any) (any, error) {
	c, err := cartToProto(response)
	if err != nil {
		return nil, err
	}
	return &userv1.GetCartResponse{Cart: c}, nil
}

func decodeGRPCSetCartItemRequest(_ context.Context, grpcReq any) (any, error) {
	req := grpcReq.(*userv1.SetCartItemRequest)
	return SetCartItemRequest{ProductID: req.GetProductId(), Quantity: int64(req.GetQuantity())}, nil
}

func encodeGRPCSetCartItemResponse(_ context.Context, response any) (any, error) {
	c, err := cartToProto(response)
	if err != nil {
		return nil, err
	}
	return &userv1.SetCartItemResponse{Cart: c}, nil
}

func decodeGRPCRemoveCartItemRequest(_ context.Context, grpcReq any) (any, error) {
	return RemoveCartItemRequest{ProductID: grpcReq.(*userv1.RemoveCartItemRequest).GetProductId()}, nil
}

func encodeGRPCRemoveCartItemResponse(_ context.Context, response any) (any, error) {
	c, err := cartToProto(response)
	if err != nil {
		return nil, err
	}
	return &userv1.RemoveCartItemResponse{Cart: c}, nil
}

func decodeGRPCClearCartRequest(context.Context, any) (any, error) { return ClearCartRequest{}, nil }

func encodeGRPCClearCartResponse(_ context.Context, response any) (any, error) {
	if err := response.(CartResponse).Err; err != nil {
		return nil, err
	}
	return &userv1.ClearCartResponse{}, nil
}

// cartToProto returns the cart of a CartResponse, or its error.
func cartToProto(response any) (*userv1.Cart, error) {
	resp := response.(CartResponse)
	if resp.Err != nil {
		return nil, resp.Err
	}
	c := &userv1.Cart{Items: make([]*userv1.CartItem, len(resp.Cart.Items))}
	for i, it := range resp.Cart.Items {
		c.Items[i] = &userv1.CartItem{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	if !resp.Cart.UpdatedAt.IsZero() {
		c.UpdatedAt = timestamppb.New(resp.Cart.UpdatedAt)
	}
	return c, nil
}
