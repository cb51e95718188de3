package user

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/token"
)

// JWKSCacheControl is the Cache-Control of the key set: verifiers may keep it
// for five minutes.
const JWKSCacheControl = "public, max-age=300"

// NewHTTPHandler returns the public HTTP routes of the user service, in the
// original gateway's JSON shape:
//
//	POST /auth/register          Basic email:password, {name, age, profile} → 201 user
//	POST /auth/login             Basic email:password → 200 {accessToken, refreshToken, expiresIn, tokenType}
//	                             (rate-limited: 429 with Retry-After; see LoginRateLimitMiddleware)
//	POST /auth/refresh           {refreshToken} → 200 a new pair of the same session
//	POST /auth/logout            {refreshToken} → 204, its session ended (also when it had ended)
//	GET  /users/me               Bearer access token of an active session → 200 user
//	GET  /.well-known/jwks.json  the public keys that verify our tokens
//
// and the caller's cart, with the same Bearer access token:
//
//	GET    /users/me/cart                        → 200 cart
//	PUT    /users/me/cart/items/{productId}      {quantity} (1..99) → 200 cart (409 cart_full for a 51st product)
//	DELETE /users/me/cart/items/{productId}      → 200 cart (also when the product was not in it)
//	DELETE /users/me/cart                        → 204
//
// A user is {id, email, name, age, profile, role}; a cart {items:
// [{productId, quantity}], updatedAt}, items in the order first added,
// updatedAt (RFC 3339) left out of an empty cart. Errors are
// {"error":{"code","message"}} (httpserver.EncodeError) with the status
// errorTable gives: a token of an ended session is 401 session_ended on
// /auth/refresh and every Bearer route. A login's client address, which the
// login rate limit counts, is the connection's peer, or for a peer in
// trustedProxies (e.g. cmd/edge) the client its X-Forwarded-For names
// (clientAddress); without trustedProxies X-Forwarded-For, which any client
// can write, is never read. Health and metrics routes are added by
// httpserver.New.
func NewHTTPHandler(set Set, trustedProxies ...netip.Prefix) http.Handler {
	opts := []httptransport.ServerOption{
		httptransport.ServerErrorEncoder(encodeHTTPError),
	}
	bearer := append(opts[:len(opts):len(opts)], httptransport.ServerBefore(token.HTTPToContext))
	mux := http.NewServeMux()
	mux.Handle("POST /auth/register", httptransport.NewServer(
		set.RegisterUserEndpoint, decodeHTTPRegisterUserRequest, encodeHTTPRegisterUserResponse, opts...))
	mux.Handle("POST /auth/login", httptransport.NewServer(
		set.LoginUserEndpoint, decodeHTTPLoginUserRequest, encodeHTTPTokenPairResponse,
		append(opts, httptransport.ServerBefore(httpClientAddr(trustedProxies)))...))
	mux.Handle("POST /auth/refresh", httptransport.NewServer(
		set.RefreshTokenEndpoint, decodeHTTPRefreshTokenRequest, encodeHTTPTokenPairResponse, opts...))
	mux.Handle("POST /auth/logout", httptransport.NewServer(
		set.LogoutEndpoint, decodeHTTPLogoutRequest, encodeHTTPLogoutResponse, opts...))
	mux.Handle("GET /users/me", httptransport.NewServer(
		set.GetMeEndpoint, decodeHTTPGetMeRequest, encodeHTTPUserResponse, bearer...))
	mux.Handle("GET /users/me/cart", httptransport.NewServer(
		set.GetCartEndpoint, decodeHTTPGetCartRequest, encodeHTTPCartResponse, bearer...))
	mux.Handle("PUT /users/me/cart/items/{productId}", httptransport.NewServer(
		set.SetCartItemEndpoint, decodeHTTPSetCartItemRequest, encodeHTTPCartResponse, bearer...))
	mux.Handle("DELETE /users/me/cart/items/{productId}", httptransport.NewServer(
		set.RemoveCartItemEndpoint, decodeHTTPRemoveCartItemRequest, encodeHTTPCartResponse, bearer...))
	mux.Handle("DELETE /users/me/cart", httptransport.NewServer(
		set.ClearCartEndpoint, decodeHTTPClearCartRequest, encodeHTTPClearCartResponse, bearer...))
	mux.Handle("GET /.well-known/jwks.json", httptransport.NewServer(
		set.KeySetEndpoint, decodeHTTPKeySetRequest, encodeHTTPKeySetResponse, opts...))
	return mux
}

// encodeHTTPError is the ErrorEncoder of every route: errorTable gives the
// status, code and headers (WWW-Authenticate, Retry-After); errors it does
// not list pass to httpserver.EncodeError as they are: its own
// *RequestError (bad JSON: 400, body too large: 413), a deadline (504), else
// 500.
func encodeHTTPError(ctx context.Context, err error, w http.ResponseWriter) {
	httpserver.EncodeError(ctx, errorTable.HTTPError(err), w)
}

// httpClientAddr returns a go-kit ServerBefore that puts the client's
// address in the context (withClientAddr), for the login rate limit: the
// request's connection (r.RemoteAddr), or when that is one of trusted, the
// client its X-Forwarded-For names (clientAddress).
func httpClientAddr(trusted []netip.Prefix) httptransport.RequestFunc {
	return func(ctx context.Context, r *http.Request) context.Context {
		return withClientAddr(ctx, clientAddress(r.RemoteAddr, strings.Join(r.Header.Values("X-Forwarded-For"), ","), trusted))
	}
}

// clientAddress returns the client's address of a request from peer with
// the X-Forwarded-For forwardedFor ("" for none): the peer, or when the peer
// is in trusted, the right-most address of forwardedFor that is not (the
// left-most if all are). Entries left of that one are the client's own
// claims and never read.
func clientAddress(peer, forwardedFor string, trusted []netip.Prefix) string {
	if forwardedFor == "" || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(forwardedFor, ",")
	for i := len(hops) - 1; i > 0; i-- {
		if hop := strings.TrimSpace(hops[i]); !isTrusted(hop, trusted) {
			return hop
		}
	}
	return strings.TrimSpace(hops[0])
}

// isTrusted reports whether the address ("host:port" or "host") is in one of
// the trusted prefixes.
func isTrusted(addr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ip, ok := parseIP(addr)
	if !ok {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseIP returns the IP of an address ("host:port" or "host"), IPv4-mapped
// IPv6 as IPv4, without a zone.
func parseIP(addr string) (netip.Addr, bool) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

type clientAddrKey struct{}

// withClientAddr returns ctx carrying the client's network address ("host:port"
// or "host"; "" for none) as the login rate limit counts it (clientKey).
func withClientAddr(ctx context.Context, addr string) context.Context {
	if addr == "" {
		return ctx
	}
	return context.WithValue(ctx, clientAddrKey{}, clientKey(addr))
}

// clientAddrFrom returns the client address withClientAddr put in ctx, as
// its clientKey, or "".
func clientAddrFrom(ctx context.Context) string {
	key, _ := ctx.Value(clientAddrKey{}).(string)
	return key
}

// clientKey returns the rate limit key of a network address ("host:port" or
// "host"): an IPv4 address as it is, an IPv6 address as its /64 (what one
// subscriber is usually given), anything else (e.g. a Unix socket) as it is.
func clientKey(addr string) string {
	ip, ok := parseIP(addr)
	if !ok {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			return h
		}
		return addr
	}
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes or bare
// IP addresses ("10.0.0.0/8, 192.0.2.7") for Options.TrustedProxies; an empty
// list is none.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if ip, err := netip.ParseAddr(item); err == nil {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("user: trusted proxy %q is neither an IP address nor a CIDR prefix", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// userJSON is a user in the original gateway's shape.
type userJSON struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Age     int32  `json:"age"`
	Profile string `json:"profile"`
	Role    string `json:"role"`
}

func toUserJSON(u User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Age: u.Age, Profile: u.Profile, Role: string(u.Role)}
}

// tokenPairJSON is a login or refresh answer (RFC 6749 §5.1, lowerCamelCase).
type tokenPairJSON struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"` // seconds
	TokenType    string `json:"tokenType"`
}

// registerBody is the body of POST /auth/register.
type registerBody struct {
	Name    string `json:"name"`
	Age     int32  `json:"age"`
	Profile string `json:"profile"`
}

func decodeHTTPRegisterUserRequest(_ context.Context, r *http.Request) (any, error) {
	creds, err := parseBasicAuth(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	var body registerBody
	if err = httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return RegisterUserRequest{
		Credentials: creds,
		Profile:     Profile{Name: body.Name, Age: body.Age, Profile: body.Profile},
	}, nil
}

func decodeHTTPLoginUserRequest(_ context.Context, r *http.Request) (any, error) {
	creds, err := parseBasicAuth(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	return LoginUserRequest{Credentials: creds}, nil
}

// refreshBody is the body of POST /auth/refresh and POST /auth/logout.
type refreshBody struct {
	RefreshToken string `json:"refreshToken"`
}

func decodeHTTPRefreshTokenRequest(_ context.Context, r *http.Request) (any, error) {
	var body refreshBody
	if err := httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return RefreshTokenRequest{RefreshToken: body.RefreshToken}, nil
}

func decodeHTTPLogoutRequest(_ context.Context, r *http.Request) (any, error) {
	var body refreshBody
	if err := httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return LogoutRequest{RefreshToken: body.RefreshToken}, nil
}

func decodeHTTPGetMeRequest(context.Context, *http.Request) (any, error) {
	return GetMeRequest{}, nil
}

// cartJSON is a cart; UpdatedAt is nil for an empty cart.
type cartJSON struct {
	Items     []cartItemJSON `json:"items"`
	UpdatedAt *time.Time     `json:"updatedAt,omitempty"`
}

type cartItemJSON struct {
	ProductID string `json:"productId"`
	Quantity  int32  `json:"quantity"`
}

func toCartJSON(c Cart) cartJSON {
	out := cartJSON{Items: make([]cartItemJSON, len(c.Items))}
	for i, it := range c.Items {
		out.Items[i] = cartItemJSON{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	if !c.UpdatedAt.IsZero() {
		out.UpdatedAt = &c.UpdatedAt
	}
	return out
}

// cartItemBody is the body of PUT /users/me/cart/items/{productId}.
type cartItemBody struct {
	Quantity int64 `json:"quantity"`
}

func decodeHTTPGetCartRequest(context.Context, *http.Request) (any, error) {
	return GetCartRequest{}, nil
}

func decodeHTTPSetCartItemRequest(_ context.Context, r *http.Request) (any, error) {
	var body cartItemBody
	if err := httpserver.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return SetCartItemRequest{ProductID: r.PathValue("productId"), Quantity: body.Quantity}, nil
}

func decodeHTTPRemoveCartItemRequest(_ context.Context, r *http.Request) (any, error) {
	return RemoveCartItemRequest{ProductID: r.PathValue("productId")}, nil
}

func decodeHTTPClearCartRequest(context.Context, *http.Request) (any, error) {
	return ClearCartRequest{}, nil
}

func decodeHTTPKeySetRequest(context.Context, *http.Request) (any, error) {
	return KeySetRequest{}, nil
}

// failed writes the response's business error, if any, and reports whether
// it did.
func failed(ctx context.Context, w http.ResponseWriter, response any) bool {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		encodeHTTPError(ctx, f.Failed(), w)
		return true
	}
	return false
}

func encodeHTTPRegisterUserResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	return writeJSON(w, http.StatusCreated, toUserJSON(response.(RegisterUserResponse).User))
}

func encodeHTTPTokenPairResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	p := response.(TokenPairResponse).Pair
	// Tokens must not be cached (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, tokenPairJSON{
		AccessToken:  p.AccessToken,
		RefreshToken: p.RefreshToken,
		ExpiresIn:    int64(p.ExpiresIn.Seconds()),
		TokenType:    tokenType,
	})
}

func encodeHTTPLogoutResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func encodeHTTPUserResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, toUserJSON(response.(UserResponse).User))
}

func encodeHTTPCartResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, toCartJSON(response.(CartResponse).Cart))
}

func encodeHTTPClearCartResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func encodeHTTPKeySetResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if failed(ctx, w, response) {
		return nil
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", JWKSCacheControl)
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(response.(KeySetResponse).Keys)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
