// Command user runs the kitshop user service: gRPC (kitshop.user.v1
// AuthService and UserService, health, reflection) on 127.0.0.1:50051 and HTTP (the
// /auth and /users routes, the JWKS, /healthz, /readyz, /metrics) on 127.0.0.1:8081,
// with the embedded document store in -data-dir unless -mongo-uri is set.
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/user"
)

// keyFileName is the signing key kept in the data directory when no
// -jwt-key-file is given.
const keyFileName = "jwt-ed25519.pem"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "user service:", err)
		os.Exit(1)
	}
}

// flags are the user service's own settings.
type flags struct {
	keyFile     string
	adminEmails string
	bcryptCost  int
	tokens      token.Options

	loginPerEmail  int
	loginPerIP     int
	trustedProxies string
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(config.User, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	cfg.Register(fs, config.User, config.UserGRPCPort, config.UserHTTPPort)
	var f flags
	fs.StringVar(&f.keyFile, "jwt-key-file", "", "PEM PKCS#8 Ed25519 private key that signs tokens; empty: "+keyFileName+" in -data-dir, generated on first start")
	fs.StringVar(&f.adminEmails, "admin-emails", "", "comma-separated e-mail addresses whose users get the admin role")
	fs.IntVar(&f.bcryptCost, "bcrypt-cost", bcrypt.DefaultCost, "bcrypt work factor of new password hashes")
	fs.IntVar(&f.loginPerEmail, "login-rate-per-email", user.DefaultLoginRatePerEmail, "failed logins allowed per minute for one e-mail address from one client address, also the burst; other addresses are not slowed (negative: no limit)")
	fs.IntVar(&f.loginPerIP, "login-rate-per-ip", user.DefaultLoginRatePerIP, "logins allowed per minute from one client address, also the burst (negative: no limit)")
	fs.StringVar(&f.trustedProxies, "login-trusted-proxies", "", "comma-separated IPs or CIDRs of proxies (e.g. cmd/edge) whose X-Forwarded-For names the client for -login-rate-per-ip; empty: X-Forwarded-For is never read")
	fs.DurationVar(&f.tokens.AccessTTL, "access-ttl", token.DefaultAccessTTL, "lifetime of access tokens")
	fs.DurationVar(&f.tokens.RefreshTTL, "refresh-ttl", token.DefaultRefreshTTL, "lifetime of refresh tokens")
	fs.StringVar(&f.tokens.Issuer, "jwt-issuer", token.DefaultIssuer, "\"iss\" claim of issued tokens")
	fs.StringVar(&f.tokens.Audience, "jwt-audience", token.DefaultAudience, "\"aud\" claim of issued tokens")
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	proxies, err := user.ParseTrustedProxies(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("invalid -login-trusted-proxies (%s): %w", config.EnvVar("login-trusted-proxies"), err)
	}
	opts := user.Options{AdminEmails: strings.Split(f.adminEmails, ","), BcryptCost: f.bcryptCost,
		LoginRatePerEmail: f.loginPerEmail, LoginRatePerIP: f.loginPerIP, TrustedProxies: proxies}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("invalid -admin-emails (%s) or -bcrypt-cost (%s): %w",
			config.EnvVar("admin-emails"), config.EnvVar("bcrypt-cost"), err)
	}
	logger, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	creds, err := tlsconfig.Load(cfg.TLS, logger)
	if err != nil {
		return err
	}

	key, err := loadKey(f.keyFile, cfg.DataDir)
	if err != nil {
		return err
	}
	signer, err := token.NewSigner(key, f.tokens)
	if err != nil {
		return fmt.Errorf("invalid token settings (-access-ttl, -refresh-ttl): %w", err)
	}

	store, err := embedded.Open(ctx, embedded.Config{URI: cfg.MongoURI, DataDir: cfg.DataDir}, logger)
	if err != nil {
		return err
	}
	fail := func(err error) error { return errors.Join(err, store.Close(ctx)) }
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	g.Cleanup("store", store.Close)

	reg := serve.NewRegistry()
	svcReg := serve.Registerer(reg, config.User)
	comp, err := user.Build(ctx, user.Deps{
		DB:         store.Database(config.User),
		Logger:     logger,
		Registerer: svcReg,
		Signer:     signer,
		Options:    opts,
	})
	if err != nil {
		return fail(err)
	}

	// The key every service shares, made on first start (svcauth).
	guard, _, err := svcauth.Load(cfg.Auth.KeyPath(cfg.ServiceKeyDir()), config.User, user.GRPCAccess)
	if err != nil {
		return fail(err)
	}
	srv, err := serve.Listen(g, config.User, cfg.GRPCAddr, serve.Options{
		Logger: logger, Registerer: svcReg, Gatherer: reg, Ready: store.Ping, MaxBodyBytes: cfg.MaxBodyBytes,
		GRPCOptions: creds.ServerOptions(), Guard: guard, Reflection: cfg.Auth.Reflection,
	})
	if err != nil {
		return fail(err)
	}
	httpAddr, err := srv.Serve(comp.RegisterGRPC, comp.HTTPHandler, comp.Background, cfg.HTTPAddr)
	if err != nil {
		return fail(err)
	}
	logger.Info("user service started", slog.String("grpc", srv.GRPCAddr()), slog.String("http", httpAddr),
		slog.Bool("mtls", creds.Enabled()), slog.String("jwt_kid", signer.KeyID()))
	return g.Run(ctx)
}

// loadKey reads the signing key from file, or loads or creates the one kept in
// dataDir when file is empty.
func loadKey(file, dataDir string) (ed25519.PrivateKey, error) {
	if file != "" {
		k, err := token.LoadPrivateKey(file)
		if err != nil {
			return nil, fmt.Errorf("invalid -jwt-key-file (%s): %w", config.EnvVar("jwt-key-file"), err)
		}
		return k, nil
	}
	if strings.TrimSpace(dataDir) == "" {
		return nil, fmt.Errorf("-jwt-key-file (%s) or -data-dir (%s) is required to keep the signing key",
			config.EnvVar("jwt-key-file"), config.EnvVar("data-dir"))
	}
	k, err := token.LoadOrCreateKey(filepath.Join(dataDir, keyFileName))
	if err != nil {
		return nil, fmt.Errorf("signing key in -data-dir: %w", err)
	}
	return k, nil
}
