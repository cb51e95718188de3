package svcauth

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// clock is an injected clock a test moves by hand.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestCredentialsRefreshBeforeExpiry(t *testing.T) {
	key := newKey(t)
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	creds, err := NewCredentials(key, "order", Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(key.Public().(ed25519.PublicKey), "payment", Options{Now: clk.Now})
	first, err := creds.Token("payment")
	if err != nil {
		t.Fatal(err)
	}
	if who, err := v.verify(first); err != nil || who != "order" {
		t.Fatalf("verify: %q %v", who, err)
	}
	// Until RefreshBefore its expiry the token is reused...
	clk.now = clk.now.Add(TokenLifetime - RefreshBefore - time.Second)
	if again, _ := creds.Token("payment"); again != first {
		t.Fatal("a token with more than RefreshBefore left was replaced")
	}
	other, _ := creds.Token("user")
	if other == first {
		t.Fatal("one token for two audiences")
	}
	// ... then replaced by one the server accepts for a whole lifetime more.
	clk.now = clk.now.Add(time.Second)
	next, err := creds.Token("payment")
	if err != nil || next == first {
		t.Fatalf("no fresh token at RefreshBefore the expiry: %v", err)
	}
	clk.now = clk.now.Add(TokenLifetime - time.Second)
	if _, err := v.verify(next); err != nil {
		t.Fatalf("the refreshed token is refused before its expiry: %v", err)
	}
	if _, err := v.verify(first); err == nil {
		t.Fatal("the first token is still accepted long after its expiry")
	}
}

func TestVerifyLeeway(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	issued := time.Unix(1_800_000_000, 0)
	tok, err := Sign(key, "order", "product", issued, TokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"issued", issued, true},
		{"server clock behind, within leeway", issued.Add(-Leeway + time.Second), true},
		{"server clock behind, past leeway", issued.Add(-Leeway - time.Second), false},
		{"expired, within leeway", issued.Add(TokenLifetime + Leeway - time.Second), true},
		{"expired, past leeway", issued.Add(TokenLifetime + Leeway + time.Second), false},
	} {
		v := newVerifier(pub, "product", Options{Now: func() time.Time { return c.at }})
		_, err := v.verify(tok)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, errInvalidToken) {
			t.Errorf("%s: %v is not errInvalidToken", c.name, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	key := newKey(t)
	now := time.Now()
	v := newVerifier(key.Public().(ed25519.PublicKey), "product", Options{})
	hs256 := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJraXRzaG9wLXNlcnZpY2UiLCJzdWIiOiJvcmRlciIsImF1ZCI6WyJwcm9kdWN0Il19.x"
	unknown, _ := Sign(key, "mallory", "product", now, time.Minute)
	other, _ := Sign(newKey(t), "order", "product", now, time.Minute)
	aud, _ := Sign(key, "order", "payment", now, time.Minute)
	for name, tok := range map[string]string{"HS256": hs256, "unknown service": unknown, "other key": other, "other audience": aud, "garbage": "x.y.z"} {
		if who, err := v.verify(tok); err == nil {
			t.Errorf("%s: accepted as %q", name, who)
		}
	}
}

func TestAudience(t *testing.T) {
	for method, want := range map[string]string{
		"/kitshop.product.v1.ProductService/ReserveStock": "product",
		"/kitshop.user.v1.AuthService/LoginUser":          "user",
		"/grpc.health.v1.Health/Check":                    "",
		"/kitshop.mallory.v1.X/Y":                         "",
	} {
		if got := Audience(method); got != want {
			t.Errorf("Audience(%q) = %q, want %q", method, got, want)
		}
	}
	creds, err := NewCredentials(newKey(t), "order", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{Method: "/grpc.health.v1.Health/Check"})
	if md, err := creds.GetRequestMetadata(ctx); err != nil || len(md) != 0 {
		t.Errorf("health call gets metadata %v, %v", md, err)
	}
	if _, err := NewCredentials(newKey(t), "mallory", Options{}); err == nil {
		t.Error("credentials of an unknown service")
	}
}

func TestCertIdentity(t *testing.T) {
	spiffe := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	for _, c := range []struct {
		name    string
		cert    x509.Certificate
		want    string
		named   bool
		wantErr bool
	}{
		{"URI SAN wins over CN", x509.Certificate{URIs: []*url.URL{spiffe("spiffe://kitshop/order")}, Subject: pkix.Name{CommonName: "payment"}}, "order", true, false},
		{"CN without URI SAN", x509.Certificate{Subject: pkix.Name{CommonName: "order"}}, "order", true, false},
		{"other trust domain ignored", x509.Certificate{URIs: []*url.URL{spiffe("spiffe://other/order")}}, "", false, false},
		{"unknown kitshop name", x509.Certificate{URIs: []*url.URL{spiffe("spiffe://kitshop/mallory")}, Subject: pkix.Name{CommonName: "order"}}, "", false, true},
		{"no identity", x509.Certificate{Subject: pkix.Name{CommonName: "kitshop-shop"}, DNSNames: []string{"order"}}, "", false, false},
	} {
		got, named, err := certIdentity(&c.cert)
		if got != c.want || named != c.named || (err != nil) != c.wantErr {
			t.Errorf("%s: %q %v %v", c.name, got, named, err)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", KeyFileName)
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			keys[i], errs[i] = LoadOrCreateKey(path)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Fatalf("creators %d and 0 got different keys", i)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the key", len(entries))
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !again.Equal(keys[0]) {
		t.Fatalf("reload: %v", err)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "KITSHOP_SERVICE_KEY_FILE") {
		t.Errorf("a damaged key file: %v, want an error naming KITSHOP_SERVICE_KEY_FILE", err)
	}
}

// TestVerifyRemembersBounded: an accepted token is remembered, still
// refused past its expiry, and the memory stays bounded.
func TestVerifyRemembersBounded(t *testing.T) {
	key := newKey(t)
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newVerifier(key.Public().(ed25519.PublicKey), "product", Options{Now: clk.Now})
	for i := range maxAccepted + 10 {
		tok, err := Sign(key, "order", "product", clk.now.Add(-time.Duration(i)*time.Second), TokenLifetime)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.verify(tok); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if len(v.accepted) > maxAccepted {
			t.Fatalf("%d tokens remembered, bound %d", len(v.accepted), maxAccepted)
		}
	}
	tok, _ := Sign(key, "order", "product", clk.now, TokenLifetime)
	if _, err := v.verify(tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.accepted[tok]; !ok {
		t.Fatal("an accepted token is not remembered")
	}
	clk.now = clk.now.Add(TokenLifetime + Leeway + time.Second)
	if _, err := v.verify(tok); err == nil {
		t.Fatal("a remembered token is accepted past its expiry")
	}
}
