// Package user is the kitshop user service: it registers accounts, checks
// passwords, and issues and verifies the JSON Web Tokens every other service
// trusts, and keeps each user's cart. It is one go-kit service in the addsvc
// shape: service.go (this file, the business rules of accounts, sessions and
// tokens), cart.go (the cart's), errors.go (its errors and their table),
// ratelimit.go (the login rate limits), endpoints.go (observed with
// internal/observe: logs and metrics), transport_grpc.go, transport_http.go,
// store.go and store_cart.go (MongoDB) and wire.go (assembly shared by
// cmd/user and cmd/shop).
//
// It keeps the original course system's contract (RegisterUser and LoginUser
// take a raw "Basic base64(email:password)" header, GetUserInfo reads a user by
// id) and fixes its flaws: passwords are bcrypt hashes, tokens are short-lived
// Ed25519 JWTs with a refresh token (internal/token), each login is a session
// that logging out ends (Session: from then on the user service refuses its
// tokens; the other services, which verify tokens without asking it, until
// they expire), logins are rate-limited per e-mail and per client address
// (LoginRateLimitMiddleware), and every client mistake is a 4xx /
// non-Internal gRPC code, never a 500.
package user

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/token"
)

// Limits on what a client may register. Passwords are limited by bcrypt, which
// looks at 72 bytes only: a longer password is refused rather than silently cut.
const (
	MaxEmailLen    = 254  // bytes, RFC 5321's limit on a forward path
	MaxPasswordLen = 72   // bytes, bcrypt's limit
	MaxNameLen     = 100  // characters
	MaxProfileLen  = 1000 // characters
	MaxAge         = 150
	MaxUserIDLen   = 128 // bytes; our ids are 36-byte UUIDs
)

// User is a user's public profile, what GetUserInfo returns.
type User struct {
	ID      string
	Email   string // normalized: trimmed, lower-case
	Name    string
	Age     int32
	Profile string
	Role    token.Role
}

// Account is a User with what only the service and its store see.
type Account struct {
	User
	PasswordHash []byte // bcrypt
	CreatedAt    time.Time
}

// Credentials are what a Basic authorization header carries.
type Credentials struct {
	Email    string
	Password string
}

// Session is one login. Every token issued for it, at the login and at each
// refresh, carries its ID (token.Claims.SessionID); once it is gone (logged
// out), the user service refuses them all.
type Session struct {
	ID        string // random, 130 bits (crypto/rand.Text)
	UserID    string
	CreatedAt time.Time
	// ExpiresAt is the expiry of the session's newest refresh token: a
	// session is of no use after it.
	ExpiresAt time.Time
}

// Profile is what a client gives about itself at registration.
type Profile struct {
	Name    string
	Age     int32
	Profile string
}

// Store keeps accounts, sessions and carts. Implementations must make e-mail
// uniqueness atomic: of two concurrent Creates with one e-mail, exactly one
// succeeds.
type Store interface {
	// Create stores a new account; ErrEmailTaken if its e-mail is taken.
	Create(ctx context.Context, a Account) error
	// ByID returns the account with the user id, or ErrNotFound.
	ByID(ctx context.Context, id string) (Account, error)
	// ByEmail returns the account with the normalized e-mail, or ErrNotFound.
	ByEmail(ctx context.Context, email string) (Account, error)
	// SetRole changes the role of the user; ErrNotFound if there is none.
	SetRole(ctx context.Context, id string, role token.Role) error

	// CreateSession stores a new session.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with the id, or ErrSessionEnded.
	Session(ctx context.Context, id string) (Session, error)
	// ExtendSession sets the ExpiresAt of the session with the id;
	// ErrSessionEnded if there is none.
	ExtendSession(ctx context.Context, id string, expiresAt time.Time) error
	// DeleteSession deletes the session with the id, if there is one.
	DeleteSession(ctx context.Context, id string) error

	CartStore
}

// Service is the user service.
type Service interface {
	// RegisterUser creates an account for creds with profile p and returns it.
	RegisterUser(ctx context.Context, creds Credentials, p Profile) (User, error)
	// LoginUser checks creds, starts a new session and issues a token pair
	// of it.
	LoginUser(ctx context.Context, creds Credentials) (token.Pair, error)
	// ParseBearerToken verifies an access token (without its "Bearer "
	// prefix) and that its session is active.
	ParseBearerToken(ctx context.Context, accessToken string) (token.Claims, error)
	// RefreshToken trades a valid refresh token for a new pair of the same
	// session, with the user's current role; ErrSessionEnded if the session
	// has ended.
	RefreshToken(ctx context.Context, refreshToken string) (token.Pair, error)
	// Logout ends the session of a valid refresh token. Ending a session
	// that has ended already is no error.
	Logout(ctx context.Context, refreshToken string) error
	// CheckSession returns ErrSessionEnded unless the session of c, the
	// verified claims of a token, is active.
	CheckSession(ctx context.Context, c token.Claims) error
	// GetUserInfo returns the user with the id.
	GetUserInfo(ctx context.Context, userID string) (User, error)
	// KeySet returns the public keys that verify the tokens issued here.
	KeySet(ctx context.Context) (token.JWKS, error)

	// GetCart returns the user's cart; a user who has none has an empty
	// one.
	GetCart(ctx context.Context, userID string) (Cart, error)
	// SetCartItem sets the quantity (1..MaxCartQuantity) of a product in
	// the user's cart, adding the product last if it is not there, and
	// returns the cart; ErrCartFull if the cart has MaxCartItems other
	// products. The product id must look like one (MaxProductIDLen); whether
	// the product exists is not checked (an order checks it).
	SetCartItem(ctx context.Context, userID, productID string, quantity int64) (Cart, error)
	// RemoveCartItem removes a product from the user's cart, if it is
	// there, and returns the cart.
	RemoveCartItem(ctx context.Context, userID, productID string) (Cart, error)
	// ClearCart empties the user's cart.
	ClearCart(ctx context.Context, userID string) error
}

// Options configure NewService and the login rate limits Build puts in front
// of it (LoginRateLimitMiddleware). Zero fields take the defaults.
type Options struct {
	// AdminEmails get the admin role; every other user has the user role. The
	// list is authoritative: a user's role is brought in line with it at
	// registration, login and refresh, so adding an e-mail promotes its user at
	// the next login and removing one demotes. Entries are normalized; empty
	// ones are skipped.
	AdminEmails []string
	// BcryptCost is the bcrypt work factor; default bcrypt.DefaultCost. Tests
	// use bcrypt.MinCost.
	BcryptCost int
	// LoginRatePerEmail is how many failed logins an e-mail address may have
	// per minute from one client address, which is also the burst; once they
	// are spent, a login for the e-mail from that client address is refused
	// with ErrRateLimited before its password is checked, while logins from
	// other addresses are not: failures never lock the owner out. Unknown
	// e-mails are counted like known ones. Default DefaultLoginRatePerEmail;
	// negative: no limit.
	LoginRatePerEmail int
	// LoginRatePerIP is how many logins, successful or not, one client
	// address may attempt per minute, which is also the burst. The address
	// is the connection's peer (an IPv6 address counts as its /64): behind
	// a proxy, every client shares the proxy's budget unless the proxy is
	// in TrustedProxies. Default DefaultLoginRatePerIP; negative: no limit.
	LoginRatePerIP int
	// TrustedProxies are the proxies (e.g. cmd/edge) whose X-Forwarded-For
	// header names the client for LoginRatePerIP: for an HTTP login whose
	// peer is in one of them, the client is the right-most address of
	// X-Forwarded-For that is not. Empty (the default): X-Forwarded-For,
	// which any client can write, is never read. Build hands them to
	// NewHTTPHandler, which finds the client's address.
	TrustedProxies []netip.Prefix
	// Now is the clock of the login rate limits; default time.Now.
	Now func() time.Time
}

// Defaults of the login rate limits.
const (
	DefaultLoginRatePerEmail = 5  // failed logins per minute and (e-mail address, client address)
	DefaultLoginRatePerIP    = 20 // logins per minute and client address
)

// Validate reports an admin e-mail that is not a valid address or a bcrypt
// cost out of range.
func (o Options) Validate() error {
	if o.BcryptCost != 0 && (o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost) {
		return fmt.Errorf("user: bcrypt cost %d is outside %d..%d", o.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	for _, e := range o.AdminEmails {
		if strings.TrimSpace(e) == "" {
			continue
		}
		if _, err := normalizeEmail(e); err != nil {
			return fmt.Errorf("user: admin e-mail %q: %w", e, err)
		}
	}
	return nil
}

type service struct {
	store    Store
	signer   *token.Signer
	verifier *token.Verifier
	admins   map[string]bool
	cost     int
	// dummyHash is compared against when a login names an unknown e-mail, so
	// that it costs as much as a wrong password.
	dummyHash []byte
}

// NewService returns the user service keeping accounts in store and signing
// tokens with signer. It fails on an invalid admin e-mail or bcrypt cost.
func NewService(store Store, signer *token.Signer, opts Options) (Service, error) {
	if store == nil || signer == nil {
		return nil, errors.New("user: NewService needs a store and a signer")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cost := opts.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	admins := make(map[string]bool, len(opts.AdminEmails))
	for _, e := range opts.AdminEmails {
		if email, _ := normalizeEmail(e); email != "" {
			admins[email] = true
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("user: make dummy hash: %w", err)
	}
	return &service{
		store:     store,
		signer:    signer,
		verifier:  signer.Verifier(),
		admins:    admins,
		cost:      cost,
		dummyHash: dummy,
	}, nil
}

func (s *service) RegisterUser(ctx context.Context, creds Credentials, p Profile) (User, error) {
	email, err := normalizeEmail(creds.Email)
	if err != nil {
		return User{}, err
	}
	if err = checkPassword(creds.Password); err != nil {
		return User{}, err
	}
	if err = checkProfile(p); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(creds.Password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("user: hash password: %w", err)
	}
	id, err := uuid.NewV7() // time-ordered: new ids land at the end of the _id index
	if err != nil {
		return User{}, fmt.Errorf("user: new id: %w", err)
	}
	a := Account{
		User: User{
			ID:      id.String(),
			Email:   email,
			Name:    p.Name,
			Age:     p.Age,
			Profile: p.Profile,
			Role:    s.roleOf(email),
		},
		PasswordHash: hash,
		CreatedAt:    time.Now().UTC(),
	}
	if err = s.store.Create(ctx, a); err != nil {
		return User{}, err
	}
	return a.User, nil
}

func (s *service) LoginUser(ctx context.Context, creds Credentials) (token.Pair, error) {
	// Malformed input is refused as at registration: that says nothing about
	// which accounts exist.
	email, err := normalizeEmail(creds.Email)
	if err != nil {
		return token.Pair{}, err
	}
	if err = checkPassword(creds.Password); err != nil {
		return token.Pair{}, err
	}
	a, err := s.store.ByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(creds.Password))
		return token.Pair{}, ErrInvalidCredentials
	case err != nil:
		return token.Pair{}, err
	}
	if bcrypt.CompareHashAndPassword(a.PasswordHash, []byte(creds.Password)) != nil {
		return token.Pair{}, ErrInvalidCredentials
	}
	sid := rand.Text()
	p, err := s.issue(ctx, a, sid)
	if err != nil {
		return token.Pair{}, err
	}
	err = s.store.CreateSession(ctx, Session{ID: sid, UserID: a.ID, CreatedAt: time.Now().UTC(), ExpiresAt: p.RefreshExpiresAt})
	if err != nil {
		return token.Pair{}, err
	}
	return p, nil
}

func (s *service) ParseBearerToken(ctx context.Context, accessToken string) (token.Claims, error) {
	c, err := s.verifier.VerifyAccess(accessToken)
	if err != nil {
		return token.Claims{}, err
	}
	if err = s.CheckSession(ctx, c); err != nil {
		return token.Claims{}, err
	}
	return c, nil
}

func (s *service) RefreshToken(ctx context.Context, refreshToken string) (token.Pair, error) {
	c, err := s.verifyRefresh(refreshToken)
	if err != nil {
		return token.Pair{}, err
	}
	if err = s.CheckSession(ctx, c); err != nil {
		return token.Pair{}, err
	}
	a, err := s.store.ByID(ctx, c.Subject)
	switch {
	case errors.Is(err, ErrNotFound):
		return token.Pair{}, fmt.Errorf("%w: its user no longer exists", token.ErrInvalidToken)
	case err != nil:
		return token.Pair{}, err
	}
	p, err := s.issue(ctx, a, c.SessionID)
	if err != nil {
		return token.Pair{}, err
	}
	// A logout since the check above leaves nothing to extend: the new
	// pair is not handed out.
	if err = s.store.ExtendSession(ctx, c.SessionID, p.RefreshExpiresAt); err != nil {
		return token.Pair{}, err
	}
	return p, nil
}

func (s *service) Logout(ctx context.Context, refreshToken string) error {
	c, err := s.verifyRefresh(refreshToken)
	if err != nil {
		return err
	}
	if c.SessionID == "" {
		return nil // a token from before sessions: no session to end
	}
	return s.store.DeleteSession(ctx, c.SessionID)
}

func (s *service) CheckSession(ctx context.Context, c token.Claims) error {
	if c.SessionID == "" {
		return fmt.Errorf("%w: the token names no session", ErrSessionEnded)
	}
	_, err := s.store.Session(ctx, c.SessionID)
	return err
}

// verifyRefresh verifies a refresh token given in a request body.
func (s *service) verifyRefresh(refreshToken string) (token.Claims, error) {
	if refreshToken == "" {
		return token.Claims{}, invalid("refresh token is required")
	}
	return s.verifier.VerifyRefresh(refreshToken)
}

func (s *service) GetUserInfo(ctx context.Context, userID string) (User, error) {
	switch {
	case userID == "":
		return User{}, invalid("user id is required")
	case len(userID) > MaxUserIDLen:
		return User{}, invalid("user id is longer than %d bytes", MaxUserIDLen)
	}
	a, err := s.store.ByID(ctx, userID)
	if err != nil {
		return User{}, err
	}
	return a.User, nil
}

func (s *service) KeySet(context.Context) (token.JWKS, error) {
	return s.signer.JWKS(), nil
}

// issue brings the account's role in line with the admin list, then issues a
// token pair of session sid carrying it.
func (s *service) issue(ctx context.Context, a Account, sid string) (token.Pair, error) {
	role := s.roleOf(a.Email)
	if role != a.Role {
		if err := s.store.SetRole(ctx, a.ID, role); err != nil {
			return token.Pair{}, err
		}
	}
	return s.signer.IssuePair(a.ID, role, sid)
}

// roleOf returns the role the admin list gives a normalized e-mail.
func (s *service) roleOf(email string) token.Role {
	if s.admins[email] {
		return token.RoleAdmin
	}
	return token.RoleUser
}

// normalizeEmail trims and lower-cases an e-mail address and checks that it is
// a plain address (net/mail syntax, no display name) of at most MaxEmailLen
// bytes. Errors wrap ErrInvalidArgument.
func normalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	switch {
	case e == "":
		return "", invalid("e-mail address is required")
	case len(e) > MaxEmailLen:
		return "", invalid("e-mail address is longer than %d bytes", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		// The value is not echoed: it may be a password typed in the wrong field.
		return "", invalid("not a valid e-mail address (want name@domain, without a display name)")
	}
	return e, nil
}

func checkPassword(p string) error {
	switch {
	case p == "":
		return invalid("password is required")
	case len(p) > MaxPasswordLen:
		return invalid("password is longer than %d bytes", MaxPasswordLen)
	}
	return nil
}

func checkProfile(p Profile) error {
	switch {
	case !utf8.ValidString(p.Name):
		return invalid("name is not valid UTF-8")
	case utf8.RuneCountInString(p.Name) > MaxNameLen:
		return invalid("name is longer than %d characters", MaxNameLen)
	case !utf8.ValidString(p.Profile):
		return invalid("profile is not valid UTF-8")
	case utf8.RuneCountInString(p.Profile) > MaxProfileLen:
		return invalid("profile is longer than %d characters", MaxProfileLen)
	case p.Age < 0:
		return invalid("age must not be negative")
	case p.Age > MaxAge:
		return invalid("age must be at most %d", MaxAge)
	}
	return nil
}
