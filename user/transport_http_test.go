package user

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ addr, want string }{
		{"203.0.113.7:41234", "203.0.113.7"},
		{"203.0.113.7", "203.0.113.7"},
		{"[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:22", "fe80::/64"},
		{"bufconn", "bufconn"},
		{"/run/kitshop.sock", "/run/kitshop.sock"},
	} {
		if got := clientKey(tt.addr); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestClientAddrTrustedProxies(t *testing.T) {
	t.Parallel()
	edge, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7 ,2001:db8:ed9e::/48,")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, peer, xff string
		trusted         []netip.Prefix
		want            string
	}{
		{"no proxies trusted: the header is ignored", "203.0.113.7:1", "198.51.100.1", nil, "203.0.113.7:1"},
		{"untrusted peer: the header is ignored", "203.0.113.7:1", "198.51.100.1", edge, "203.0.113.7:1"},
		{"trusted peer without the header", "10.1.2.3:1", "", edge, "10.1.2.3:1"},
		{"trusted peer: the client it names", "10.1.2.3:1", "198.51.100.1", edge, "198.51.100.1"},
		{"the client's own claims on the left are skipped", "10.1.2.3:1", "6.6.6.6, 198.51.100.1", edge, "198.51.100.1"},
		{"a chain of trusted proxies", "10.1.2.3:1", "6.6.6.6, 198.51.100.1, 192.0.2.7, 10.9.9.9", edge, "198.51.100.1"},
		{"only trusted hops: the left-most", "10.1.2.3:1", "10.0.0.1,10.0.0.2", edge, "10.0.0.1"},
		{"a bare trusted IP", "192.0.2.7:443", "198.51.100.1", edge, "198.51.100.1"},
		{"IPv4-mapped trusted peer", "[::ffff:10.1.2.3]:1", "198.51.100.1", edge, "198.51.100.1"},
		{"IPv6 trusted peer", "[2001:db8:ed9e::5]:1", "2001:db8:1::1", edge, "2001:db8:1::1"},
	} {
		if got := clientAddress(tt.peer, tt.xff, tt.trusted); got != tt.want {
			t.Errorf("%s: client %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := clientAddrFrom(t.Context()); got != "" {
		t.Errorf("no address in the context: %q, want none", got)
	}
	if got := clientAddrFrom(withClientAddr(t.Context(), "[2001:db8:1:2::9]:1")); got != "2001:db8:1:2::/64" {
		t.Errorf("the context's address: %q, want the /64", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "edge", "10.0.0.1:80"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) succeeded", bad)
		}
	}
	if p, err := ParseTrustedProxies(" "); err != nil || len(p) != 0 {
		t.Errorf("empty list: %v %v", p, err)
	}
}

// TestLoginRateLimitBehindProxy checks the per-address limit of HTTP logins
// that come through a proxy (the test client, 127.0.0.1): trusted, its
// X-Forwarded-For names the client, each with its own budget; not trusted,
// the header is ignored, so forging it gets no fresh budget.
func TestLoginRateLimitBehindProxy(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// want is the status of the last login, from a new client
		want int
	}{
		{"trusted proxy", loopback, http.StatusUnauthorized},
		{"untrusted proxy", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, Options{Now: newFakeClock().Now, LoginRatePerIP: 2, TrustedProxies: tc.trusted})
			login := func(client string) httpResult {
				req, err := http.NewRequest("POST", env.url+"/auth/login", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", basic("x"+strings.ReplaceAll(client, ".", "")+"@example.com", "pw"))
				req.Header.Set("X-Forwarded-For", "6.6.6.6, "+client)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				return httpResult{status: resp.StatusCode, header: resp.Header}
			}
			for range 2 {
				if r := login("198.51.100.1"); r.status != http.StatusUnauthorized {
					t.Fatalf("within the budget: %d", r.status)
				}
			}
			if r := login("198.51.100.1"); r.status != http.StatusTooManyRequests {
				t.Errorf("third login of the client: %d, want 429", r.status)
			}
			if r := login("198.51.100.2"); r.status != tc.want {
				t.Errorf("another client: %d, want %d", r.status, tc.want)
			}
		})
	}
}
