package user

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// TestObservedOutcomes checks the per-method series of the endpoints and
// their outcome labels, and that the "ok" series exist before any call.
func TestObservedOutcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	key := newTestKey(t)
	signer := newTestSigner(t, key)
	svc, err := NewService(newFakeStore(), signer, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(svc, signer.Verifier(), nil, reg)
	for _, m := range []string{methodRegisterUser, methodLoginUser, methodParseBearerToken,
		methodRefreshToken, methodLogout, methodGetUserInfo, methodGetMe, methodKeySet} {
		if !hasSeries(t, reg, m, "ok") {
			t.Errorf("no initial ok series for %s", m)
		}
	}
	ctx := context.Background()
	register := func(email string) {
		_, _ = set.RegisterUserEndpoint(ctx, RegisterUserRequest{Credentials: Credentials{Email: email, Password: "pw"}})
	}
	register("m@example.com")
	register("m@example.com")
	register("bad")
	_, _ = set.GetUserInfoEndpoint(ctx, GetUserInfoRequest{UserID: "unknown"})
	_, _ = set.ParseBearerTokenEndpoint(ctx, ParseBearerTokenRequest{Token: "garbage"})
	_, _ = set.ParseBearerTokenEndpoint(ctx, ParseBearerTokenRequest{Token: expiredPair(t, key, "x").AccessToken})
	_, _ = set.GetMeEndpoint(ctx, GetMeRequest{})
	for _, c := range []struct {
		method, outcome string
		want            float64
	}{
		{"RegisterUser", "ok", 1},
		{"RegisterUser", "already_exists", 1},
		{"RegisterUser", "invalid_argument", 1},
		{"GetUserInfo", "not_found", 1},
		{"ParseBearerToken", "invalid_token", 1},
		{"ParseBearerToken", "token_expired", 1},
		{"GetMe", "invalid_token", 1},
	} {
		if got := counterValue(t, reg, c.method, c.outcome); got != c.want {
			t.Errorf("%s/%s = %v, want %v", c.method, c.outcome, got, c.want)
		}
	}
	// A second set on the same registry reuses the collectors.
	NewSet(svc, signer.Verifier(), nil, reg)
}

func hasSeries(t *testing.T, reg *prometheus.Registry, method, outcome string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kitshop_user_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsAre(m, method, outcome) {
				return true
			}
		}
	}
	return false
}
