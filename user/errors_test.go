package user

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// saidOnce fails the test if a ": "-separated part of msg comes twice, as
// in "invalid argument: invalid argument: ...".
func saidOnce(t *testing.T, what, msg string) {
	t.Helper()
	if msg == "" {
		t.Errorf("%s: empty message", what)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(msg, ": ") {
		if seen[part] {
			t.Errorf("%s: %q says %q twice", what, msg, part)
		}
		seen[part] = true
	}
}

// TestErrorMessagesSaidOnce checks that the HTTP and gRPC error messages of
// every business error state each part once.
func TestErrorMessagesSaidOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{LoginRatePerIP: 4})
	ctx := context.Background()
	if r := env.do(t, "POST", "/auth/register", basic("taken@example.com", "pw"), `{}`); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
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
		saidOnce(t, c.method+" "+c.path+" "+e.Error.Code, e.Error.Message)
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
		saidOnce(t, name, status.Convert(err).Message())
	}
}
