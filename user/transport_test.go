package user

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes (log output).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a user service built by Build on its own embedded-store
// database, served over bufconn gRPC and an httptest server.
type testEnv struct {
	key    ed25519.PrivateKey
	signer *token.Signer
	reg    *prometheus.Registry
	logs   *syncBuffer
	auth   userv1.AuthServiceClient
	users  userv1.UserServiceClient
	carts  userv1.CartServiceClient
	url    string
}

func newTestEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	key := newTestKey(t)
	env := &testEnv{key: key, signer: newTestSigner(t, key), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.BcryptCost = bcrypt.MinCost
	comp, err := Build(context.Background(), Deps{
		DB:         newTestDB(t),
		Logger:     logger,
		Registerer: env.reg,
		Signer:     env.signer,
		Options:    opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := serveGRPC(t, logger, comp.RegisterGRPC)
	env.auth = userv1.NewAuthServiceClient(conn)
	env.users = userv1.NewUserServiceClient(conn)
	env.carts = userv1.NewCartServiceClient(conn)
	srv := httptest.NewServer(httpserver.New(comp.HTTPHandler, httpserver.Options{Logger: logger}))
	t.Cleanup(srv.Close)
	env.url = srv.URL
	return env
}

// serveGRPC serves the services register registers on a grpcserver.Server
// over bufconn and returns a client connection to it.
func serveGRPC(t *testing.T, logger *slog.Logger, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpcserver.New(grpcserver.Options{Logger: logger})
	register(srv)
	srv.Ready()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func basic(email, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
}

// httpResult is a decoded HTTP answer.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the "code" of a JSON error envelope.
func (r httpResult) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Error.Message == "" {
		t.Errorf("error body %s has no message", r.body)
	}
	return e.Error.Code
}

func (env *testEnv) do(t *testing.T, method, path, authorization, body string) httpResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func decode[T any](t *testing.T, r httpResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// TestFlow goes register → login → GetUserInfo → ParseBearerToken → refresh
// → /users/me over both transports, checks the JWKS against a login token,
// and that nothing secret reached the logs.
func TestFlow(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{AdminEmails: []string{"root@example.com"}})
	ctx := context.Background()
	const password = "correct horse:battery"

	// Register over HTTP: 201 with the user.
	r := env.do(t, "POST", "/auth/register", basic("Kim@Example.com", password), `{"name":"김민수","age":29,"profile":"hi"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	u := decode[map[string]any](t, r)
	id, _ := u["id"].(string)
	want := map[string]any{"id": id, "email": "kim@example.com", "name": "김민수", "age": float64(29), "profile": "hi", "role": "user"}
	if id == "" || !equalJSON(u, want) {
		t.Errorf("register body = %v, want %v", u, want)
	}

	// Register over gRPC, an admin.
	reg, err := env.auth.RegisterUser(ctx, &userv1.RegisterUserRequest{Token: basic("root@example.com", "pw"), Name: "Root", Age: 50})
	if err != nil {
		t.Fatal(err)
	}
	if reg.GetRole() != userv1.Role_ROLE_ADMIN || reg.GetEmail() != "root@example.com" || reg.GetAge() != 50 {
		t.Errorf("gRPC register = %v", reg)
	}

	// Login over gRPC.
	login, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("kim@example.com", password)})
	if err != nil {
		t.Fatal(err)
	}
	if login.GetExpiresIn() != 900 || login.GetTokenType() != "Bearer" || login.GetAccessToken() == "" || login.GetRefreshToken() == "" {
		t.Errorf("gRPC login = %v", login)
	}

	// GetUserInfo by the id.
	info, err := env.users.GetUserInfo(ctx, &userv1.GetUserInfoRequest{UserId: id})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetId() != id || info.GetEmail() != "kim@example.com" || info.GetName() != "김민수" ||
		info.GetAge() != 29 || info.GetProfile() != "hi" || info.GetRole() != userv1.Role_ROLE_USER {
		t.Errorf("GetUserInfo = %v", info)
	}

	// ParseBearerToken, with and without the scheme.
	for _, tok := range []string{"Bearer " + login.GetAccessToken(), login.GetAccessToken(), "bearer  " + login.GetAccessToken()} {
		parsed, err := env.auth.ParseBearerToken(ctx, &userv1.ParseBearerTokenRequest{Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		if parsed.GetSub() != id || parsed.GetRole() != userv1.Role_ROLE_USER || parsed.GetExpiresAt() == 0 {
			t.Errorf("ParseBearerToken = %v", parsed)
		}
	}

	// Refresh over gRPC, then /users/me with the new access token.
	refreshed, err := env.auth.RefreshToken(ctx, &userv1.RefreshTokenRequest{RefreshToken: login.GetRefreshToken()})
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.GetAccessToken() == "" || refreshed.GetExpiresIn() != 900 || refreshed.GetTokenType() != "Bearer" {
		t.Errorf("gRPC refresh = %v", refreshed)
	}
	r = env.do(t, "GET", "/users/me", "Bearer "+refreshed.GetAccessToken(), "")
	if r.status != http.StatusOK {
		t.Fatalf("/users/me: %d %s", r.status, r.body)
	}
	if me := decode[map[string]any](t, r); !equalJSON(me, want) {
		t.Errorf("/users/me = %v, want %v", me, want)
	}

	// Login and refresh over HTTP.
	r = env.do(t, "POST", "/auth/login", basic("KIM@example.com ", password), "")
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login Cache-Control = %q, want no-store", cc)
	}
	pair := decode[tokenPairJSON](t, r)
	if pair.AccessToken == "" || pair.RefreshToken == "" || pair.ExpiresIn != 900 || pair.TokenType != "Bearer" {
		t.Errorf("login body = %s", r.body)
	}
	r = env.do(t, "POST", "/auth/refresh", "", `{"refreshToken":"`+pair.RefreshToken+`"}`)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if p := decode[tokenPairJSON](t, r); p.AccessToken == "" || p.RefreshToken == "" {
		t.Errorf("refresh body = %s", r.body)
	}

	// The JWKS verifies a token issued by login.
	r = env.do(t, "GET", "/.well-known/jwks.json", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("jwks Content-Type = %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != JWKSCacheControl {
		t.Errorf("jwks Cache-Control = %q, want %q", cc, JWKSCacheControl)
	}
	keys, err := token.ParseJWKS(r.body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(keys, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.VerifyAccess(pair.AccessToken)
	if err != nil || c.Subject != id {
		t.Errorf("JWKS verifier: claims %+v, err %v", c, err)
	}
	if strings.Contains(string(r.body), `"d"`) {
		t.Errorf("JWKS carries private material: %s", r.body)
	}

	// Secrets never reach the logs; the calls do.
	logs := env.logs.String()
	for _, secret := range []string{
		password, base64.StdEncoding.EncodeToString([]byte("kim@example.com:" + password)),
		login.GetAccessToken(), login.GetRefreshToken(), pair.AccessToken, pair.RefreshToken, refreshed.GetAccessToken(),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret (%.12s...)", secret)
		}
	}
	for _, method := range []string{"RegisterUser", "LoginUser", "GetUserInfo", "ParseBearerToken", "RefreshToken", "KeySet"} {
		if !strings.Contains(logs, "method="+method) {
			t.Errorf("no log line for %s", method)
		}
	}
	if got := counterValue(t, env.reg, "LoginUser", "ok"); got != 2 {
		t.Errorf("LoginUser ok count = %v, want 2", got)
	}
}

// equalJSON compares two decoded JSON objects.
func equalJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// counterValue returns kitshop_user_requests_total{method,outcome} in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, method, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kitshop_user_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsAre(m, method, outcome) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelsAre(m *dto.Metric, method, outcome string) bool {
	var gotMethod, gotOutcome string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "method":
			gotMethod = l.GetValue()
		case "outcome":
			gotOutcome = l.GetValue()
		}
	}
	return gotMethod == method && gotOutcome == outcome
}

// TestGRPCErrors checks every error path of the gRPC transport: its code and
// that the message says what is wrong.
func TestGRPCErrors(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{})
	ctx := context.Background()
	u, err := env.auth.RegisterUser(ctx, &userv1.RegisterUserRequest{Token: basic("taken@example.com", "pw"), Name: "T"})
	if err != nil {
		t.Fatal(err)
	}
	login, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: basic("taken@example.com", "pw")})
	if err != nil {
		t.Fatal(err)
	}
	expired := expiredPair(t, env.key, u.GetId())
	sessionless, err := env.signer.IssuePair(u.GetId(), token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}

	register := func(tok, name string, age int32, profile string) func() error {
		return func() error {
			_, err := env.auth.RegisterUser(ctx, &userv1.RegisterUserRequest{Token: tok, Name: name, Age: age, Profile: profile})
			return err
		}
	}
	loginCall := func(tok string) func() error {
		return func() error {
			_, err := env.auth.LoginUser(ctx, &userv1.LoginUserRequest{Token: tok})
			return err
		}
	}
	parse := func(tok string) func() error {
		return func() error {
			_, err := env.auth.ParseBearerToken(ctx, &userv1.ParseBearerTokenRequest{Token: tok})
			return err
		}
	}
	refresh := func(tok string) func() error {
		return func() error {
			_, err := env.auth.RefreshToken(ctx, &userv1.RefreshTokenRequest{RefreshToken: tok})
			return err
		}
	}
	logout := func(tok string) func() error {
		return func() error {
			_, err := env.auth.Logout(ctx, &userv1.LogoutRequest{RefreshToken: tok})
			return err
		}
	}
	getUser := func(id string) func() error {
		return func() error {
			_, err := env.users.GetUserInfo(ctx, &userv1.GetUserInfoRequest{UserId: id})
			return err
		}
	}

	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"register: no credentials", register("", "N", 1, ""), codes.InvalidArgument, "credentials are required"},
		{"register: bearer scheme", register("Bearer abc", "N", 1, ""), codes.InvalidArgument, "Basic scheme"},
		{"register: bad base64", register("Basic %%%", "N", 1, ""), codes.InvalidArgument, "not valid base64"},
		{"register: no colon", register("Basic "+base64.StdEncoding.EncodeToString([]byte("a@example.com")), "N", 1, ""), codes.InvalidArgument, `"email:password"`},
		{"register: bad e-mail", register(basic("not-an-email", "pw"), "N", 1, ""), codes.InvalidArgument, "not a valid e-mail address"},
		{"register: empty password", register(basic("new@example.com", ""), "N", 1, ""), codes.InvalidArgument, "password is required"},
		{"register: password too long", register(basic("new@example.com", strings.Repeat("p", 73)), "N", 1, ""), codes.InvalidArgument, "longer than 72 bytes"},
		{"register: negative age", register(basic("new@example.com", "pw"), "N", -3, ""), codes.InvalidArgument, "age must not be negative"},
		{"register: name too long", register(basic("new@example.com", "pw"), strings.Repeat("n", 101), 1, ""), codes.InvalidArgument, "name is longer"},
		{"register: profile too long", register(basic("new@example.com", "pw"), "N", 1, strings.Repeat("p", 1001)), codes.InvalidArgument, "profile is longer"},
		{"register: e-mail taken", register(basic(" TAKEN@example.com", "other"), "N", 1, ""), codes.AlreadyExists, "already registered"},
		{"login: wrong password", loginCall(basic("taken@example.com", "wrong")), codes.Unauthenticated, "invalid e-mail or password"},
		{"login: unknown e-mail", loginCall(basic("ghost@example.com", "pw")), codes.Unauthenticated, "invalid e-mail or password"},
		{"login: malformed", loginCall("Basic"), codes.InvalidArgument, "Basic credentials are missing"},
		{"login: bad base64", loginCall("Basic ###"), codes.InvalidArgument, "not valid base64"},
		{"login: no credentials", loginCall(""), codes.InvalidArgument, "credentials are required"},
		{"login: bad e-mail", loginCall(basic("ghost", "pw")), codes.InvalidArgument, "not a valid e-mail address"},
		{"login: empty password", loginCall(basic("taken@example.com", "")), codes.InvalidArgument, "password is required"},
		{"parse: empty", parse(""), codes.Unauthenticated, "missing"},
		{"parse: garbage", parse("Bearer not.a.jwt"), codes.Unauthenticated, "invalid token"},
		{"parse: Basic scheme", parse(basic("a@b.c", "x")), codes.Unauthenticated, "not Bearer"},
		{"parse: refresh token", parse(login.GetRefreshToken()), codes.Unauthenticated, "wrong kind"},
		{"parse: expired", parse("Bearer " + expired.AccessToken), codes.Unauthenticated, "expired"},
		{"parse: no session", parse("Bearer " + sessionless.AccessToken), codes.Unauthenticated, "session has ended"},
		{"refresh: empty", refresh(""), codes.InvalidArgument, "refresh token is required"},
		{"refresh: garbage", refresh("x.y.z"), codes.Unauthenticated, "invalid token"},
		{"refresh: access token", refresh(login.GetAccessToken()), codes.Unauthenticated, "wrong kind"},
		{"refresh: expired", refresh(expired.RefreshToken), codes.Unauthenticated, "expired"},
		{"refresh: no session", refresh(sessionless.RefreshToken), codes.Unauthenticated, "session has ended"},
		{"logout: empty", logout(""), codes.InvalidArgument, "refresh token is required"},
		{"logout: garbage", logout("x.y.z"), codes.Unauthenticated, "invalid token"},
		{"logout: access token", logout(login.GetAccessToken()), codes.Unauthenticated, "wrong kind"},
		{"logout: expired", logout(expired.RefreshToken), codes.Unauthenticated, "expired"},
		{"get user: empty id", getUser(""), codes.InvalidArgument, "user id is required"},
		{"get user: unknown", getUser("0190b7a4-0000-7000-8000-000000000000"), codes.NotFound, "user not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st, _ := status.FromError(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.code)
			}
			if !strings.Contains(st.Message(), tt.msg) {
				t.Errorf("message %q does not contain %q", st.Message(), tt.msg)
			}
		})
	}

	// Unknown e-mail and wrong password cannot be told apart.
	errWrong, errUnknown := loginCall(basic("taken@example.com", "wrong"))(), loginCall(basic("ghost@example.com", "pw"))()
	if errWrong.Error() != errUnknown.Error() {
		t.Errorf("wrong password: %v; unknown e-mail: %v", errWrong, errUnknown)
	}
	if got := counterValue(t, env.reg, "LoginUser", "invalid_credentials"); got != 4 {
		t.Errorf("LoginUser invalid_credentials count = %v, want 4", got)
	}
}

// TestHTTPErrors checks every error path of the HTTP transport: status, error
// code and, for tokens, the WWW-Authenticate challenge.
func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{})
	if r := env.do(t, "POST", "/auth/register", basic("taken@example.com", "pw"), `{"name":"T","age":1,"profile":""}`); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	pair := decode[tokenPairJSON](t, env.do(t, "POST", "/auth/login", basic("taken@example.com", "pw"), ""))
	c, err := env.signer.Verifier().VerifyAccess(pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	expired := expiredPair(t, env.key, c.Subject)
	sessionless, err := env.signer.IssuePair(c.Subject, token.RoleUser, "")
	if err != nil {
		t.Fatal(err)
	}
	okBody := `{"name":"N","age":20,"profile":"p"}`
	newUser := basic("new@example.com", "pw")

	tests := []struct {
		name          string
		method, path  string
		authorization string
		body          string
		status        int
		code          string
		challenge     bool // WWW-Authenticate expected
	}{
		{"register: no credentials", "POST", "/auth/register", "", okBody, 400, "invalid_argument", false},
		{"register: bearer scheme", "POST", "/auth/register", "Bearer x", okBody, 400, "invalid_argument", false},
		{"register: bad base64", "POST", "/auth/register", "Basic ***", okBody, 400, "invalid_argument", false},
		{"register: bad e-mail", "POST", "/auth/register", basic("nope", "pw"), okBody, 400, "invalid_argument", false},
		{"register: empty password", "POST", "/auth/register", basic("new@example.com", ""), okBody, 400, "invalid_argument", false},
		{"register: password too long", "POST", "/auth/register", basic("new@example.com", strings.Repeat("p", 73)), okBody, 400, "invalid_argument", false},
		{"register: bad JSON", "POST", "/auth/register", newUser, `{"name":`, 400, "invalid_argument", false},
		{"register: unknown field", "POST", "/auth/register", newUser, `{"name":"N","nick":"x"}`, 400, "invalid_argument", false},
		{"register: age not a number", "POST", "/auth/register", newUser, `{"age":"old"}`, 400, "invalid_argument", false},
		{"register: age fraction", "POST", "/auth/register", newUser, `{"age":1.5}`, 400, "invalid_argument", false},
		{"register: age out of range", "POST", "/auth/register", newUser, `{"age":99999999999}`, 400, "invalid_argument", false},
		{"register: negative age", "POST", "/auth/register", newUser, `{"age":-1}`, 400, "invalid_argument", false},
		{"register: name too long", "POST", "/auth/register", newUser, `{"name":"` + strings.Repeat("n", 101) + `"}`, 400, "invalid_argument", false},
		{"register: profile too long", "POST", "/auth/register", newUser, `{"profile":"` + strings.Repeat("p", 1001) + `"}`, 400, "invalid_argument", false},
		{"register: empty body", "POST", "/auth/register", newUser, "", 400, "invalid_argument", false},
		{"register: e-mail taken", "POST", "/auth/register", basic("Taken@Example.com", "x"), okBody, 409, "already_exists", false},
		{"login: wrong password", "POST", "/auth/login", basic("taken@example.com", "wrong"), "", 401, "invalid_credentials", false},
		{"login: unknown e-mail", "POST", "/auth/login", basic("ghost@example.com", "pw"), "", 401, "invalid_credentials", false},
		{"login: no credentials", "POST", "/auth/login", "", "", 400, "invalid_argument", false},
		{"login: malformed", "POST", "/auth/login", "Basic", "", 400, "invalid_argument", false},
		{"login: bad e-mail", "POST", "/auth/login", basic("ghost", "pw"), "", 400, "invalid_argument", false},
		{"refresh: bad JSON", "POST", "/auth/refresh", "", `{`, 400, "invalid_argument", false},
		{"refresh: wrong type", "POST", "/auth/refresh", "", `{"refreshToken":1}`, 400, "invalid_argument", false},
		{"refresh: empty", "POST", "/auth/refresh", "", `{}`, 400, "invalid_argument", false},
		{"refresh: garbage", "POST", "/auth/refresh", "", `{"refreshToken":"x.y.z"}`, 401, "invalid_token", true},
		{"refresh: access token", "POST", "/auth/refresh", "", `{"refreshToken":"` + pair.AccessToken + `"}`, 401, "invalid_token", true},
		{"refresh: expired", "POST", "/auth/refresh", "", `{"refreshToken":"` + expired.RefreshToken + `"}`, 401, "token_expired", true},
		{"refresh: no session", "POST", "/auth/refresh", "", `{"refreshToken":"` + sessionless.RefreshToken + `"}`, 401, "session_ended", true},
		{"logout: bad JSON", "POST", "/auth/logout", "", `{`, 400, "invalid_argument", false},
		{"logout: no body", "POST", "/auth/logout", "", "", 400, "invalid_argument", false},
		{"logout: unknown field", "POST", "/auth/logout", "", `{"token":"x"}`, 400, "invalid_argument", false},
		{"logout: wrong type", "POST", "/auth/logout", "", `{"refreshToken":true}`, 400, "invalid_argument", false},
		{"logout: empty", "POST", "/auth/logout", "", `{"refreshToken":""}`, 400, "invalid_argument", false},
		{"logout: garbage", "POST", "/auth/logout", "", `{"refreshToken":"x.y.z"}`, 401, "invalid_token", true},
		{"logout: access token", "POST", "/auth/logout", "", `{"refreshToken":"` + pair.AccessToken + `"}`, 401, "invalid_token", true},
		{"logout: expired", "POST", "/auth/logout", "", `{"refreshToken":"` + expired.RefreshToken + `"}`, 401, "token_expired", true},
		{"logout: wrong method", "GET", "/auth/logout", "", "", 405, "", false},
		{"me: no token", "GET", "/users/me", "", "", 401, "unauthenticated", true},
		{"me: Basic", "GET", "/users/me", basic("taken@example.com", "pw"), "", 401, "unauthenticated", true},
		{"me: garbage", "GET", "/users/me", "Bearer garbage", "", 401, "invalid_token", true},
		{"me: refresh token", "GET", "/users/me", "Bearer " + pair.RefreshToken, "", 401, "invalid_token", true},
		{"me: expired", "GET", "/users/me", "Bearer " + expired.AccessToken, "", 401, "token_expired", true},
		{"me: no session", "GET", "/users/me", "Bearer " + sessionless.AccessToken, "", 401, "session_ended", true},
		{"me: wrong method", "POST", "/users/me", "Bearer " + pair.AccessToken, "", 405, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(t, tt.method, tt.path, tt.authorization, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d (%s), want %d", r.status, r.body, tt.status)
			}
			if tt.code != "" {
				if got := r.errorCode(t); got != tt.code {
					t.Errorf("code = %q (%s), want %q", got, r.body, tt.code)
				}
			}
			if got := r.header.Get("WWW-Authenticate"); (got != "") != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want one: %v", got, tt.challenge)
			}
		})
	}

	// Unknown e-mail and wrong password cannot be told apart.
	a := env.do(t, "POST", "/auth/login", basic("taken@example.com", "wrong"), "")
	b := env.do(t, "POST", "/auth/login", basic("ghost@example.com", "pw"), "")
	if !bytes.Equal(a.body, b.body) {
		t.Errorf("wrong password: %s; unknown e-mail: %s", a.body, b.body)
	}
}

// TestLogout: over HTTP, a logout ends its session at once: the old refresh
// token is refused by /auth/refresh and the old access token by /users/me
// (401 session_ended), while another login of the same user keeps working;
// logging out again is 204. Over gRPC, Logout ends the session the same way.
func TestLogout(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, Options{})
	ctx := context.Background()
	if r := env.do(t, "POST", "/auth/register", basic("lee@example.com", "pw"), `{}`); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	login := func() tokenPairJSON {
		t.Helper()
		r := env.do(t, "POST", "/auth/login", basic("lee@example.com", "pw"), "")
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return decode[tokenPairJSON](t, r)
	}
	first, second := login(), login()
	logoutBody := `{"refreshToken":"` + first.RefreshToken + `"}`
	for i := range 2 {
		r := env.do(t, "POST", "/auth/logout", "", logoutBody)
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("logout #%d: %d %q, want 204 without a body", i+1, r.status, r.body)
		}
	}
	for _, c := range []struct{ name, method, path, authorization, body string }{
		{"refresh with the old refresh token", "POST", "/auth/refresh", "", logoutBody},
		{"/users/me with the old access token", "GET", "/users/me", "Bearer " + first.AccessToken, ""},
	} {
		r := env.do(t, c.method, c.path, c.authorization, c.body)
		if r.status != http.StatusUnauthorized || r.errorCode(t) != "session_ended" {
			t.Errorf("%s: %d %s, want 401 session_ended", c.name, r.status, r.body)
		}
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate = %q, want an invalid_token challenge", c.name, got)
		}
	}
	if r := env.do(t, "GET", "/users/me", "Bearer "+second.AccessToken, ""); r.status != http.StatusOK {
		t.Errorf("/users/me of the other login: %d %s", r.status, r.body)
	}
	r := env.do(t, "POST", "/auth/refresh", "", `{"refreshToken":"`+second.RefreshToken+`"}`)
	if r.status != http.StatusOK {
		t.Fatalf("refresh of the other login: %d %s", r.status, r.body)
	}
	refreshed := decode[tokenPairJSON](t, r)
	if r := env.do(t, "GET", "/users/me", "Bearer "+refreshed.AccessToken, ""); r.status != http.StatusOK {
		t.Errorf("/users/me after the other login's refresh: %d %s", r.status, r.body)
	}

	// gRPC: the second session, logged out with its first refresh token,
	// refuses the refreshed tokens too.
	if _, err := env.auth.Logout(ctx, &userv1.LogoutRequest{RefreshToken: second.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.auth.Logout(ctx, &userv1.LogoutRequest{RefreshToken: second.RefreshToken}); err != nil {
		t.Errorf("second gRPC logout: %v", err)
	}
	_, err := env.auth.RefreshToken(ctx, &userv1.RefreshTokenRequest{RefreshToken: refreshed.RefreshToken})
	if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "session has ended") {
		t.Errorf("gRPC refresh after logout: %v, want Unauthenticated, session has ended", err)
	}
	if r := env.do(t, "GET", "/users/me", "Bearer "+refreshed.AccessToken, ""); r.status != http.StatusUnauthorized || r.errorCode(t) != "session_ended" {
		t.Errorf("/users/me after the gRPC logout: %d %s, want 401 session_ended", r.status, r.body)
	}
	for _, c := range []struct{ method, outcome string }{{"Logout", "ok"}, {"GetMe", "session_ended"}, {"RefreshToken", "session_ended"}} {
		if counterValue(t, env.reg, c.method, c.outcome) == 0 {
			t.Errorf("no %s call counted with outcome %s", c.method, c.outcome)
		}
	}
}
