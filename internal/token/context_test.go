package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestAuthenticateAndRequireRole(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewSigner(key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := signer.IssuePair("u1", RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := signer.IssuePair("a1", RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	echo := func(ctx context.Context, _ any) (any, error) {
		c, ok := FromContext(ctx)
		if !ok {
			return nil, errors.New("no claims in context")
		}
		return c.Subject, nil
	}
	authed := Authenticate(signer.Verifier())(echo)
	adminOnly := Authenticate(signer.Verifier())(RequireRole(RoleAdmin)(echo))

	httpCtx := func(h string) context.Context {
		r := httptest.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return HTTPToContext(context.Background(), r)
	}
	grpcCtx := func(h string) context.Context {
		return GRPCToContext(context.Background(), metadata.Pairs("authorization", h))
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		ep      func(context.Context, any) (any, error)
		wantSub string
		wantErr error
	}{
		{"http user", httpCtx("Bearer " + user.AccessToken), authed, "u1", nil},
		{"grpc user", grpcCtx("Bearer " + user.AccessToken), authed, "u1", nil},
		{"no header", httpCtx(""), authed, "", ErrMissingToken},
		{"no context at all", context.Background(), authed, "", ErrMissingToken},
		{"basic scheme", httpCtx("Basic dTpw"), authed, "", ErrMissingToken},
		{"refresh as access", httpCtx("Bearer " + user.RefreshToken), authed, "", ErrInvalidToken},
		{"garbage", grpcCtx("Bearer x.y.z"), authed, "", ErrInvalidToken},
		{"admin route, user token", httpCtx("Bearer " + user.AccessToken), adminOnly, "", ErrForbidden},
		{"admin route, admin token", grpcCtx("Bearer " + admin.AccessToken), adminOnly, "a1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ep(tc.ctx, nil)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && got != tc.wantSub {
				t.Fatalf("subject = %v, want %q", got, tc.wantSub)
			}
		})
	}
}
