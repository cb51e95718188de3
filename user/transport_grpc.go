package user

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// GRPCAccess is who may call each method of AuthService and UserService
// (svcauth; any other method is refused): AuthService is the end users'
// (registration, login, their tokens); GetUserInfo, any user's personal
// data, is the order service's.
var GRPCAccess = svcauth.Policy{
	userv1.AuthService_RegisterUser_FullMethodName:     svcauth.EndUsers,
	userv1.AuthService_LoginUser_FullMethodName:        svcauth.EndUsers,
	userv1.AuthService_RefreshToken_FullMethodName:     svcauth.EndUsers,
	userv1.AuthService_Logout_FullMethodName:           svcauth.EndUsers,
	userv1.AuthService_ParseBearerToken_FullMethodName: svcauth.EndUsers,
	userv1.UserService_GetUserInfo_FullMethodName:      svcauth.Callers(config.Order),
}

// GRPCServer serves AuthService and UserService (kitshop.user.v1) from a Set.
//
// Errors: every encoder returns the response's Failer error as its own error,
// so go-kit hands business failures back exactly like decode and endpoint
// errors, and each method converts whatever came back with errorTable
// (codes, RetryInfo of a refused login; Internal "internal error" for an
// infrastructure failure, whose cause only the server's log sees).
type GRPCServer struct {
	userv1.UnimplementedAuthServiceServer
	userv1.UnimplementedUserServiceServer

	registerUser     grpctransport.Handler
	loginUser        grpctransport.Handler
	parseBearerToken grpctransport.Handler
	refreshToken     grpctransport.Handler
	logout           grpctransport.Handler
	getUserInfo      grpctransport.Handler
}

// Compile-time checks that GRPCServer serves both services.
var (
	_ userv1.AuthServiceServer = (*GRPCServer)(nil)
	_ userv1.UserServiceServer = (*GRPCServer)(nil)
)

// NewGRPCServer returns the gRPC binding of set. Register it with
// userv1.RegisterAuthServiceServer and userv1.RegisterUserServiceServer
// (Component.RegisterGRPC does both).
func NewGRPCServer(set Set) *GRPCServer {
	clientAddr := grpctransport.ServerBefore(grpcClientAddr)
	return &GRPCServer{
		registerUser:     grpctransport.NewServer(set.RegisterUserEndpoint, decodeGRPCRegisterUserRequest, encodeGRPCRegisterUserResponse),
		loginUser:        grpctransport.NewServer(set.LoginUserEndpoint, decodeGRPCLoginUserRequest, encodeGRPCLoginUserResponse, clientAddr),
		parseBearerToken: grpctransport.NewServer(set.ParseBearerTokenEndpoint, decodeGRPCParseBearerTokenRequest, encodeGRPCParseBearerTokenResponse),
		refreshToken:     grpctransport.NewServer(set.RefreshTokenEndpoint, decodeGRPCRefreshTokenRequest, encodeGRPCRefreshTokenResponse),
		logout:           grpctransport.NewServer(set.LogoutEndpoint, decodeGRPCLogoutRequest, encodeGRPCLogoutResponse),
		getUserInfo:      grpctransport.NewServer(set.GetUserInfoEndpoint, decodeGRPCGetUserInfoRequest, encodeGRPCGetUserInfoResponse),
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
