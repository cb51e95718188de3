package user

import (
	"context"
	"log/slog"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/observe"
	"github.com/kitshop/kitshop/internal/token"
)

// Set collects the endpoints of the user service; transports serve them.
type Set struct {
	RegisterUserEndpoint     endpoint.Endpoint
	LoginUserEndpoint        endpoint.Endpoint
	ParseBearerTokenEndpoint endpoint.Endpoint
	RefreshTokenEndpoint     endpoint.Endpoint
	LogoutEndpoint           endpoint.Endpoint
	GetUserInfoEndpoint      endpoint.Endpoint
	// GetMeEndpoint returns the caller's own user; it requires a bearer access
	// token in the context (token.HTTPToContext or token.GRPCToContext)
	// whose session is active.
	GetMeEndpoint  endpoint.Endpoint
	KeySetEndpoint endpoint.Endpoint
	// The cart endpoints act on the cart of the caller, the subject of the
	// bearer access token in the context, whose session must be active (as
	// for GetMeEndpoint).
	GetCartEndpoint        endpoint.Endpoint
	SetCartItemEndpoint    endpoint.Endpoint
	RemoveCartItemEndpoint endpoint.Endpoint
	ClearCartEndpoint      endpoint.Endpoint
}

// Method names, the "method" label of the metrics and the logs.
const (
	methodRegisterUser     = "RegisterUser"
	methodLoginUser        = "LoginUser"
	methodParseBearerToken = "ParseBearerToken"
	methodRefreshToken     = "RefreshToken"
	methodLogout           = "Logout"
	methodGetUserInfo      = "GetUserInfo"
	methodGetMe            = "GetMe"
	methodKeySet           = "KeySet"
	methodGetCart          = "GetCart"
	methodSetCartItem      = "SetCartItem"
	methodRemoveCartItem   = "RemoveCartItem"
	methodClearCart        = "ClearCart"
)

// NewSet returns the endpoints of svc, each observed (internal/observe):
// one log line per call on logger (nil: discarded) and the call metrics
// kitshop_user_requests_total and kitshop_user_request_duration_seconds
// {method,outcome} on reg (nil: not registered; collectors reg holds
// already are reused), with the outcome errorTable gives. Registrations,
// logins, refreshes, logouts and changes of carts are logged at Info, reads
// (token checks, users, the key set, which the other services make on every
// call, and carts) at Debug, and infrastructure failures at Error. A line never holds a
// password, a token or an e-mail address. verifier checks the access tokens
// of the authenticated endpoints, and svc their sessions (activeSession),
// inside the observation, so refused tokens are counted.
func NewSet(svc Service, verifier *token.Verifier, logger *slog.Logger, reg prometheus.Registerer) Set {
	obs := observe.New("user", errorTable, logger, reg)
	auth := func(e endpoint.Endpoint) endpoint.Endpoint {
		return token.Authenticate(verifier)(activeSession(svc)(e))
	}
	return Set{
		RegisterUserEndpoint:     obs.Endpoint(methodRegisterUser, slog.LevelInfo, MakeRegisterUserEndpoint(svc)),
		LoginUserEndpoint:        obs.Endpoint(methodLoginUser, slog.LevelInfo, MakeLoginUserEndpoint(svc)),
		ParseBearerTokenEndpoint: obs.Endpoint(methodParseBearerToken, slog.LevelDebug, MakeParseBearerTokenEndpoint(svc)),
		RefreshTokenEndpoint:     obs.Endpoint(methodRefreshToken, slog.LevelInfo, MakeRefreshTokenEndpoint(svc)),
		LogoutEndpoint:           obs.Endpoint(methodLogout, slog.LevelInfo, MakeLogoutEndpoint(svc)),
		GetUserInfoEndpoint:      obs.Endpoint(methodGetUserInfo, slog.LevelDebug, MakeGetUserInfoEndpoint(svc)),
		GetMeEndpoint:            obs.Endpoint(methodGetMe, slog.LevelDebug, auth(MakeGetMeEndpoint(svc))),
		KeySetEndpoint:           obs.Endpoint(methodKeySet, slog.LevelDebug, MakeKeySetEndpoint(svc)),
		GetCartEndpoint:          obs.Endpoint(methodGetCart, slog.LevelDebug, auth(MakeGetCartEndpoint(svc))),
		SetCartItemEndpoint:      obs.Endpoint(methodSetCartItem, slog.LevelInfo, auth(MakeSetCartItemEndpoint(svc))),
		RemoveCartItemEndpoint:   obs.Endpoint(methodRemoveCartItem, slog.LevelInfo, auth(MakeRemoveCartItemEndpoint(svc))),
		ClearCartEndpoint:        obs.Endpoint(methodClearCart, slog.LevelInfo, auth(MakeClearCartEndpoint(svc))),
	}
}

// activeSession is an endpoint middleware, inside token.Authenticate, that
// lets through only the access tokens whose session is active
// (Service.CheckSession); others fail with ErrSessionEnded.
func activeSession(s Service) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			c, ok := token.FromContext(ctx)
			if !ok {
				return nil, token.ErrMissingToken
			}
			if err := s.CheckSession(ctx, c); err != nil {
				return nil, err
			}
			return next(ctx, request)
		}
	}
}

// userIDAttrs is the user_id log attribute, or none for an empty id.
func userIDAttrs(id string) []slog.Attr {
	if id == "" {
		return nil
	}
	return []slog.Attr{slog.String("user_id", id)}
}

// RegisterUserRequest is the input of RegisterUser.
type RegisterUserRequest struct {
	Credentials Credentials
	Profile     Profile
}

// RegisterUserResponse is the output of RegisterUser.
type RegisterUserResponse struct {
	User User
	Err  error
}

// Failed implements endpoint.Failer.
func (r RegisterUserResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the new user's id.
func (r RegisterUserResponse) LogAttrs() []slog.Attr { return userIDAttrs(r.User.ID) }

// MakeRegisterUserEndpoint returns the RegisterUser endpoint of s.
func MakeRegisterUserEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(RegisterUserRequest)
		u, err := s.RegisterUser(ctx, req.Credentials, req.Profile)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return RegisterUserResponse{User: u, Err: business}, nil
	}
}

// LoginUserRequest is the input of LoginUser.
type LoginUserRequest struct {
	Credentials Credentials
}

// TokenPairResponse is the output of LoginUser and RefreshToken.
type TokenPairResponse struct {
	Pair token.Pair
	Err  error
}

// Failed implements endpoint.Failer.
func (r TokenPairResponse) Failed() error { return r.Err }

// MakeLoginUserEndpoint returns the LoginUser endpoint of s.
func MakeLoginUserEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(LoginUserRequest)
		p, err := s.LoginUser(ctx, req.Credentials)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return TokenPairResponse{Pair: p, Err: business}, nil
	}
}

// ParseBearerTokenRequest is the input of ParseBearerToken: a bare access
// token (the transports strip "Bearer ").
type ParseBearerTokenRequest struct {
	Token string
}

// ParseBearerTokenResponse is the output of ParseBearerToken.
type ParseBearerTokenResponse struct {
	Claims token.Claims
	Err    error
}

// Failed implements endpoint.Failer.
func (r ParseBearerTokenResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the token's user id.
func (r ParseBearerTokenResponse) LogAttrs() []slog.Attr { return userIDAttrs(r.Claims.Subject) }

// MakeParseBearerTokenEndpoint returns the ParseBearerToken endpoint of s.
func MakeParseBearerTokenEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ParseBearerTokenRequest)
		c, err := s.ParseBearerToken(ctx, req.Token)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return ParseBearerTokenResponse{Claims: c, Err: business}, nil
	}
}

// RefreshTokenRequest is the input of RefreshToken.
type RefreshTokenRequest struct {
	RefreshToken string
}

// MakeRefreshTokenEndpoint returns the RefreshToken endpoint of s; its
// response is a TokenPairResponse.
func MakeRefreshTokenEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(RefreshTokenRequest)
		p, err := s.RefreshToken(ctx, req.RefreshToken)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return TokenPairResponse{Pair: p, Err: business}, nil
	}
}

// LogoutRequest is the input of Logout.
type LogoutRequest struct {
	RefreshToken string
}

// LogoutResponse is the output of Logout.
type LogoutResponse struct {
	Err error
}

// Failed implements endpoint.Failer.
func (r LogoutResponse) Failed() error { return r.Err }

// MakeLogoutEndpoint returns the Logout endpoint of s.
func MakeLogoutEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(LogoutRequest)
		business, infra := errorTable.Split(s.Logout(ctx, req.RefreshToken))
		if infra != nil {
			return nil, infra
		}
		return LogoutResponse{Err: business}, nil
	}
}

// GetUserInfoRequest is the input of GetUserInfo.
type GetUserInfoRequest struct {
	UserID string
}

// UserResponse is the output of GetUserInfo and GetMe.
type UserResponse struct {
	User User
	Err  error
}

// Failed implements endpoint.Failer.
func (r UserResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the user's id.
func (r UserResponse) LogAttrs() []slog.Attr { return userIDAttrs(r.User.ID) }

// MakeGetUserInfoEndpoint returns the GetUserInfo endpoint of s.
func MakeGetUserInfoEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(GetUserInfoRequest)
		u, err := s.GetUserInfo(ctx, req.UserID)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return UserResponse{User: u, Err: business}, nil
	}
}

// GetMeRequest is the input of GetMe: the caller is who the verified token
// in the context says.
type GetMeRequest struct{}

// MakeGetMeEndpoint returns the endpoint reading the caller's own user. It
// must sit inside token.Authenticate, which puts the claims in the context,
// and activeSession.
func MakeGetMeEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		c, ok := token.FromContext(ctx)
		if !ok {
			return nil, token.ErrMissingToken
		}
		u, err := s.GetUserInfo(ctx, c.Subject)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return UserResponse{User: u, Err: business}, nil
	}
}

// KeySetRequest is the input of KeySet.
type KeySetRequest struct{}

// KeySetResponse is the output of KeySet.
type KeySetResponse struct {
	Keys token.JWKS
	Err  error
}

// Failed implements endpoint.Failer.
func (r KeySetResponse) Failed() error { return r.Err }

// MakeKeySetEndpoint returns the KeySet endpoint of s.
func MakeKeySetEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		keys, err := s.KeySet(ctx)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return KeySetResponse{Keys: keys, Err: business}, nil
	}
}

// GetCartRequest is the input of GetCart: the caller's cart.
type GetCartRequest struct{}

// SetCartItemRequest is the input of SetCartItem.
type SetCartItemRequest struct {
	ProductID string
	Quantity  int64
}

// LogAttrs implements observe.Loggable: the product and the quantity.
func (r SetCartItemRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("product", r.ProductID), slog.Int64("quantity", r.Quantity)}
}

// RemoveCartItemRequest is the input of RemoveCartItem.
type RemoveCartItemRequest struct {
	ProductID string
}

// LogAttrs implements observe.Loggable: the product.
func (r RemoveCartItemRequest) LogAttrs() []slog.Attr {
	return []slog.Attr{slog.String("product", r.ProductID)}
}

// ClearCartRequest is the input of ClearCart: the caller's cart.
type ClearCartRequest struct{}

// CartResponse is the output of GetCart, SetCartItem, RemoveCartItem and
// ClearCart (whose Cart is empty).
type CartResponse struct {
	UserID string
	Cart   Cart
	Err    error
}

// Failed implements endpoint.Failer.
func (r CartResponse) Failed() error { return r.Err }

// LogAttrs implements observe.Loggable: the user's id and how many products
// the cart holds.
func (r CartResponse) LogAttrs() []slog.Attr {
	return append(userIDAttrs(r.UserID), slog.Int("items", len(r.Cart.Items)))
}

// makeCartEndpoint returns an endpoint that applies do to the caller's cart.
// It must sit inside token.Authenticate and activeSession.
func makeCartEndpoint(do func(ctx context.Context, userID string, request any) (Cart, error)) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		c, ok := token.FromContext(ctx)
		if !ok {
			return nil, token.ErrMissingToken
		}
		cart, err := do(ctx, c.Subject, request)
		business, infra := errorTable.Split(err)
		if infra != nil {
			return nil, infra
		}
		return CartResponse{UserID: c.Subject, Cart: cart, Err: business}, nil
	}
}

// MakeGetCartEndpoint returns the GetCart endpoint of s.
func MakeGetCartEndpoint(s Service) endpoint.Endpoint {
	return makeCartEndpoint(func(ctx context.Context, userID string, _ any) (Cart, error) {
		return s.GetCart(ctx, userID)
	})
}

// MakeSetCartItemEndpoint returns the SetCartItem endpoint of s.
func MakeSetCartItemEndpoint(s Service) endpoint.Endpoint {
	return makeCartEndpoint(func(ctx context.Context, userID string, request any) (Cart, error) {
		req := request.(SetCartItemRequest)
		return s.SetCartItem(ctx, userID, req.ProductID, req.Quantity)
	})
}

// MakeRemoveCartItemEndpoint returns the RemoveCartItem endpoint of s.
func MakeRemoveCartItemEndpoint(s Service) endpoint.Endpoint {
	return makeCartEndpoint(func(ctx context.Context, userID string, request any) (Cart, error) {
		return s.RemoveCartItem(ctx, userID, request.(RemoveCartItemRequest).ProductID)
	})
}

// MakeClearCartEndpoint returns the ClearCart endpoint of s.
func MakeClearCartEndpoint(s Service) endpoint.Endpoint {
	return makeCartEndpoint(func(ctx context.Context, userID string, _ any) (Cart, error) {
		return Cart{Items: []CartItem{}}, s.ClearCart(ctx, userID)
	})
}
