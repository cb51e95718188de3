package servetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/token"
	"google.golang.org/grpc"
)

// DownJWKS is a -jwks-url nothing answers (port 1 on loopback refuses
// connections): a command started with it serves while its verifier has no
// keys.
const DownJWKS = "-jwks-url=http://127.0.0.1:1/.well-known/jwks.json"

// AccessToken returns a well-formed access token of subject sub with role,
// signed by a key of its own: a verifier without keys can neither trust nor
// refuse it (token.ErrKeysUnavailable).
func AccessToken(t *testing.T, sub string, role token.Role) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := token.NewSigner(key, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.IssuePair(sub, role, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

// Call makes an HTTP request to the command, with a bearer token unless tok
// is empty, and returns the answer with its body closed.
func Call(t *testing.T, method, httpAddr, path, tok, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+httpAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

// ServiceKey creates a shared service key in a temporary directory and
// returns the flag that gives it to a command (-service-key-file) and the
// dial option that makes a connection call as service caller with it.
func ServiceKey(t *testing.T, caller string) (flag string, dial grpc.DialOption) {
	t.Helper()
	path := filepath.Join(t.TempDir(), config.DefaultServiceKeyName)
	key, err := svcauth.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := svcauth.NewCredentials(key, caller, svcauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return "-" + config.FlagServiceKeyFile + "=" + path, creds.DialOption()
}
