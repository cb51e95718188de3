package assembly

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/user"
)

// User is the user service's settings.
type User struct {
	// KeyFile is the signing key (-jwt-key-file); empty: SigningKeyFile in
	// Prepare's dataDir, generated on first start.
	KeyFile string
	// AdminEmails is the comma-separated list of -admin-emails.
	AdminEmails string
	// TrustedProxies is the comma-separated list of -login-trusted-proxies.
	TrustedProxies string
	// Options hold -bcrypt-cost and the login rates; AdminEmails and
	// TrustedProxies are filled from the fields above by Prepare.
	Options user.Options
	// Tokens are the lifetimes and claims of issued tokens.
	Tokens token.Options
}

// RegisterFlags defines the user service's flags.
func (u *User) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&u.KeyFile, "jwt-key-file", "", "PEM PKCS#8 Ed25519 private key that signs tokens; empty: "+SigningKeyFile+" in -data-dir, generated on first start")
	fs.StringVar(&u.AdminEmails, "admin-emails", "", "comma-separated e-mail addresses whose users get the admin role")
	fs.IntVar(&u.Options.BcryptCost, "bcrypt-cost", bcrypt.DefaultCost, "bcrypt work factor of new password hashes")
	fs.IntVar(&u.Options.LoginRatePerEmail, "login-rate-per-email", user.DefaultLoginRatePerEmail, "failed logins allowed per minute for one e-mail address from one client address, also the burst; other addresses are not slowed (negative: no limit)")
	fs.IntVar(&u.Options.LoginRatePerIP, "login-rate-per-ip", user.DefaultLoginRatePerIP, "logins allowed per minute from one client address, also the burst (negative: no limit)")
	fs.StringVar(&u.TrustedProxies, "login-trusted-proxies", "", "comma-separated IPs or CIDRs of proxies (e.g. cmd/edge) whose X-Forwarded-For names the client for -login-rate-per-ip; empty: X-Forwarded-For is never read")
	fs.DurationVar(&u.Tokens.AccessTTL, "access-ttl", token.DefaultAccessTTL, "lifetime of access tokens")
	fs.DurationVar(&u.Tokens.RefreshTTL, "refresh-ttl", token.DefaultRefreshTTL, "lifetime of refresh tokens")
	fs.StringVar(&u.Tokens.Issuer, "jwt-issuer", token.DefaultIssuer, "\"iss\" claim of issued tokens")
	fs.StringVar(&u.Tokens.Audience, "jwt-audience", token.DefaultAudience, "\"aud\" claim of issued tokens")
}

// options returns Options with the lists parsed.
func (u *User) options() (user.Options, error) {
	opts := u.Options
	proxies, err := user.ParseTrustedProxies(u.TrustedProxies)
	if err != nil {
		return opts, fmt.Errorf("invalid -login-trusted-proxies (%s): %w", config.EnvVar("login-trusted-proxies"), err)
	}
	opts.AdminEmails, opts.TrustedProxies = strings.Split(u.AdminEmails, ","), proxies
	if err := opts.Validate(); err != nil {
		return opts, fmt.Errorf("invalid -admin-emails (%s) or -bcrypt-cost (%s): %w",
			config.EnvVar("admin-emails"), config.EnvVar("bcrypt-cost"), err)
	}
	return opts, nil
}

// Validate checks the proxies, the admin e-mails and the bcrypt cost.
func (u *User) Validate() error {
	_, err := u.options()
	return err
}

// Prepare loads (or creates) the signing key.
func (u *User) Prepare(dataDir string) (Builder, error) {
	opts, err := u.options()
	if err != nil {
		return nil, err
	}
	key, err := loadKey("jwt-key-file", u.KeyFile, dataDir, SigningKeyFile, "signing key", token.LoadPrivateKey, token.LoadOrCreateKey)
	if err != nil {
		return nil, err
	}
	signer, err := token.NewSigner(key, u.Tokens)
	if err != nil {
		return nil, fmt.Errorf("invalid token settings (-access-ttl, -refresh-ttl): %w", err)
	}
	return userBuilder{opts: opts, signer: signer}, nil
}

// userBuilder is the user service prepared: its options and signer.
type userBuilder struct {
	opts   user.Options
	signer *token.Signer
}

// Build assembles the user service.
func (u userBuilder) Build(ctx context.Context, env Env) (*Part, error) {
	c, err := user.Build(ctx, user.Deps{DB: env.Store.Database(config.User), Logger: env.Logger,
		Registerer: env.Registerer, Signer: u.signer, Options: u.opts})
	if err != nil {
		return nil, err
	}
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background,
		Verifier: u.signer.Verifier(), Attrs: []slog.Attr{slog.String("jwt_kid", u.signer.KeyID())}}, nil
}
