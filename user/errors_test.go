package user

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable/errtabletest"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// TestErrorMessagesSaidOnce checks that the HTTP and gRPC error messages of
// every business error state each part once.
func TestErrorMessagesSaidOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{LoginRatePerIP: 4})
	ctx := context.Background()
	r := env.do(t, "POST", "/auth/register", basic("taken@example.com", "pw"), `{}`)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	sessionless, err := env.signer.IssuePair(decode[userJSON](t, r).ID, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	// Logged in over gRPC, whose peer has a login budget of its own: the
	// HTTP logins below reach the limit as they did.
	login, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("taken@example.com", "pw")})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + login.GetAccessToken()
	for _, c := range []struct{ method, path, authorization, body string }{
		{"POST", "/auth/register", basic("not-an-address", "pw"), `{}`},
		{"POST", "/auth/register", "", `{}`},
		{"POST", "/auth/register", basic("taken@example.com", "pw"), `{}`},
		{"POST", "/auth/register", basic("a@example.com", "pw"), `{"age":-1}`},
		{"POST", "/auth/login", basic("taken@example.com", "wrong"), ""},
		{"POST", "/auth/refresh", "", `{"refreshToken":""}`},
		{"POST", "/auth/refresh", "", `{"refreshToken":"garbage"}`},
		{"GET", "/users/me", "", ""},
		{"GET", "/users/me", "Bearer garbage", ""},
		{"GET", "/users/me", "Bearer " + sessionless.AccessToken, ""},
		{"POST", "/auth/logout", "", `{"refreshToken":"garbage"}`},
		{"POST", "/auth/refresh", "", `{"refreshToken":"` + sessionless.RefreshToken + `"}`},
		{"PUT", "/users/me/cart/items/sample-1", auth, `{"quantity":0}`},
		{"PUT", "/users/me/cart/items/a.b", auth, `{"quantity":1}`},
		{"GET", "/users/me/cart", "Bearer " + sessionless.AccessToken, ""},
		{"POST", "/auth/login", basic("taken@example.com", "wrong"), ""},
		{"POST", "/auth/login", basic("taken@example.com", "wrong"), ""}, // the fifth: rate-limited
	} {
		r := env.do(t, c.method, c.path, c.authorization, c.body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(r.body, &e); err != nil || r.status < 400 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
		errtabletest.SaidOnce(t, c.method+" "+c.path+" "+e.Error.Code, e.Error.Message)
	}

	calls := map[string]func() error{
		"RegisterUser invalid": func() error {
			_, err := env.auth.RegisterUser(ctx, &userv1.RegisterUserRequest{Token: basic("x", "pw")})
			return err
		},
		"RegisterUser taken": func() error {
			_, err := env.auth.RegisterUser(ctx, &userv1.RegisterUserRequest{Token: basic("taken@example.com", "pw")})
			return err
		},
		"LoginUser wrong": func() error {
			_, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("taken@example.com", "bad")})
			return err
		},
		"ParseBearerToken garbage": func() error {
			_, err := env.auth.ParseBearerToken(ctx, &userv1.ParseBearerTokenRequest{Token: "garbage"})
			return err
		},
		"RefreshToken garbage": func() error {
			_, err := env.auth.RefreshToken(ctx, &userv1.RefreshTokenRequest{RefreshToken: "garbage"})
			return err
		},
		"Logout garbage": func() error {
			_, err := env.auth.Logout(ctx, &userv1.LogoutRequest{RefreshToken: "garbage"})
			return err
		},
		"RefreshToken without a session": func() error {
			_, err := env.auth.RefreshToken(ctx, &userv1.RefreshTokenRequest{RefreshToken: sessionless.RefreshToken})
			return err
		},
		"GetUserInfo unknown": func() error {
			_, err := env.users.GetUserInfo(ctx, &userv1.GetUserInfoRequest{UserId: "nope-9"})
			return err
		},
		"GetUserInfo empty": func() error {
			_, err := env.users.GetUserInfo(ctx, &userv1.GetUserInfoRequest{})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Fatalf("%s succeeded", name)
		}
		errtabletest.SaidOnce(t, name, status.Convert(err).Message())
	}
}

// failingService fails every call with err.
type failingService struct{ err error }

func (f failingService) RegisterUser(context.Context, Credentials, Profile) (User, error) {
	return User{}, f.err
}
func (f failingService) LoginUser(context.Context, Credentials) (token.Pair, error) {
	return token.Pair{}, f.err
}
func (f failingService) ParseBearerToken(context.Context, string) (token.Claims, error) {
	return token.Claims{}, f.err
}
func (f failingService) RefreshToken(context.Context, string) (token.Pair, error) {
	return token.Pair{}, f.err
}
func (f failingService) Logout(context.Context, string) error              { return f.err }
func (f failingService) CheckSession(context.Context, token.Claims) error  { return f.err }
func (f failingService) GetUserInfo(context.Context, string) (User, error) { return User{}, f.err }
func (f failingService) GetCart(context.Context, string) (Cart, error)     { return Cart{}, f.err }
func (f failingService) SetCartItem(context.Context, string, string, int64) (Cart, error) {
	return Cart{}, f.err
}
func (f failingService) RemoveCartItem(context.Context, string, string) (Cart, error) {
	return Cart{}, f.err
}
func (f failingService) ClearCart(context.Context, string) error    { return f.err }
func (f failingService) KeySet(context.Context) (token.JWKS, error) { return token.JWKS{}, f.err }

// activeFailingService is a failingService whose sessions are all active,
// so that an authenticated call reaches the failing method behind the
// session check.
type activeFailingService struct{ failingService }

func (activeFailingService) CheckSession(context.Context, token.Claims) error { return nil }

// TestInfrastructureErrors checks that a failure of the service's store is
// Internal / 500 without its text reaching the client, and a deadline is
// DeadlineExceeded / 504.
func TestInfrastructureErrors(t *testing.T) {
	t.Parallel()
	signer := newTestSigner(t, newTestKey(t))
	pair, err := signer.IssuePair("someone", token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		err        error
		code       codes.Code
		status     int
		httpCode   string
		leaksCause bool
	}{
		{errors.New("mongo: connection refused to secret-host"), codes.Internal, 500, "internal", false},
		{context.DeadlineExceeded, codes.DeadlineExceeded, 504, "deadline_exceeded", true},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			t.Parallel()
			set := NewSet(failingService{err: tt.err}, signer.Verifier(), nil, nil)
			logs := &syncBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, nil))
			srv := NewGRPCServer(set)
			conn := serveGRPC(t, logger, func(r grpc.ServiceRegistrar) {
				userv1.RegisterAuthServiceServer(r, srv)
				userv1.RegisterUserServiceServer(r, srv)
			})
			ctx := context.Background()
			_, err := userv1.NewUserServiceClient(conn).GetUserInfo(ctx, &userv1.GetUserInfoRequest{UserId: "x"})
			st, _ := status.FromError(err)
			if st.Code() != tt.code {
				t.Errorf("GetUserInfo code = %v (%v), want %v", st.Code(), err, tt.code)
			}
			_, err = userv1.NewAuthServiceClient(conn).LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("a@example.com", "pw")})
			if st, _ := status.FromError(err); st.Code() != tt.code {
				t.Errorf("LoginUser code = %v, want %v", st.Code(), tt.code)
			}
			if !tt.leaksCause {
				if strings.Contains(st.Message(), "secret-host") {
					t.Errorf("gRPC message leaks the cause: %q", st.Message())
				}
				if !strings.Contains(logs.String(), "secret-host") {
					t.Errorf("the cause was not logged: %s", logs)
				}
			}

			hs := httptest.NewServer(httpserver.New(NewHTTPHandler(set), httpserver.Options{Logger: logger}))
			defer hs.Close()
			env := &testEnv{url: hs.URL}
			for _, req := range []struct{ method, path, authorization, body string }{
				{"POST", "/auth/register", basic("a@example.com", "pw"), `{}`},
				{"POST", "/auth/login", basic("a@example.com", "pw"), ""},
				{"POST", "/auth/refresh", "", `{"refreshToken":"x"}`},
				{"POST", "/auth/logout", "", `{"refreshToken":"x"}`},
				{"GET", "/users/me", "Bearer " + pair.AccessToken, ""},
				{"GET", "/users/me/cart", "Bearer " + pair.AccessToken, ""}, // the session check fails
				{"GET", "/.well-known/jwks.json", "", ""},
			} {
				r := env.do(t, req.method, req.path, req.authorization, req.body)
				if r.status != tt.status || r.errorCode(t) != tt.httpCode {
					t.Errorf("%s %s: %d %s, want %d %s", req.method, req.path, r.status, r.body, tt.status, tt.httpCode)
				}
				if strings.Contains(string(r.body), "secret-host") {
					t.Errorf("%s %s leaks the cause: %s", req.method, req.path, r.body)
				}
			}

			// Past an active session's check, the cart's own failures.
			active := NewSet(activeFailingService{failingService{err: tt.err}}, signer.Verifier(), nil, nil)
			carts := userv1.NewCartServiceClient(serveGRPC(t, logger, func(r grpc.ServiceRegistrar) {
				userv1.RegisterCartServiceServer(r, NewGRPCServer(active))
			}))
			bearer := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+pair.AccessToken)
			for name, call := range map[string]func() error{
				"GetCart": func() error { _, err := carts.GetCart(bearer, &userv1.GetCartRequest{}); return err },
				"SetCartItem": func() error {
					_, err := carts.SetCartItem(bearer, &userv1.SetCartItemRequest{ProductId: "p", Quantity: 1})
					return err
				},
				"RemoveCartItem": func() error {
					_, err := carts.RemoveCartItem(bearer, &userv1.RemoveCartItemRequest{ProductId: "p"})
					return err
				},
				"ClearCart": func() error { _, err := carts.ClearCart(bearer, &userv1.ClearCartRequest{}); return err },
			} {
				st, _ := status.FromError(call())
				if st.Code() != tt.code || (!tt.leaksCause && strings.Contains(st.Message(), "secret-host")) {
					t.Errorf("%s: %v %q, want %v without the cause", name, st.Code(), st.Message(), tt.code)
				}
			}
			hs2 := httptest.NewServer(httpserver.New(NewHTTPHandler(active), httpserver.Options{Logger: logger}))
			defer hs2.Close()
			env = &testEnv{url: hs2.URL}
			for _, req := range []struct{ method, path, body string }{
				{"GET", "/users/me/cart", ""},
				{"PUT", "/users/me/cart/items/p", `{"quantity":1}`},
				{"DELETE", "/users/me/cart/items/p", ""},
				{"DELETE", "/users/me/cart", ""},
			} {
				r := env.do(t, req.method, req.path, "Bearer "+pair.AccessToken, req.body)
				if r.status != tt.status || r.errorCode(t) != tt.httpCode || strings.Contains(string(r.body), "secret-host") {
					t.Errorf("%s %s: %d %s, want %d %s without the cause", req.method, req.path, r.status, r.body, tt.status, tt.httpCode)
				}
			}
		})
	}
}
