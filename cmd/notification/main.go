// Command notification runs the kitshop notification service: gRPC
// (kitshop.notification.v1 NotificationService, health, reflection) on 127.0.0.1:50055
// and HTTP (GET /notification, /healthz, /readyz, /metrics) on 127.0.0.1:8085, with the
// embedded document store in -data-dir unless -mongo-uri is set. It calls no
// other service: it sends e-mails through -smtp-addr (or logs them when it is
// empty) and verifies access tokens with the user service's public key
// (-jwt-public-key-file, or -jwks-url, fetched in the background with retries
// while the servers already serve; GET /notification answers 503 until then).
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
	"github.com/kitshop/kitshop/internal/serve"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/notification"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}

// flags are the notification service's own settings.
type flags struct {
	verifier token.VerifierConfig
	smtp     notification.SMTPConfig
	service  notification.Options
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(config.Notification, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Service
	cfg.Register(fs, config.Notification, config.NotificationGRPCPort, config.NotificationHTTPPort)
	var f flags
	f.verifier.RegisterFlags(fs)
	fs.StringVar(&f.smtp.Addr, "smtp-addr", "", "SMTP relay host:port; empty logs each e-mail instead of sending it")
	fs.StringVar(&f.service.From, "smtp-from", notification.DefaultFrom, "sender address of the e-mails")
	fs.StringVar(&f.smtp.Username, "smtp-username", "", "SMTP AUTH PLAIN user name (sent only over STARTTLS or to localhost); empty: no authentication")
	fs.StringVar(&f.smtp.Password, "smtp-password", "", "SMTP AUTH PLAIN password (prefer the environment variable: the command line is visible to other users)")
	fs.DurationVar(&f.service.SendTimeout, "send-timeout", notification.DefaultSendTimeout, "longest wait for one e-mail to be sent")
	fs.DurationVar(&f.service.SendLatency, "send-latency", 0, "simulated delay before each send (1s reproduces the original)")
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := errors.Join(cfg.Validate(), f.validate()); err != nil {
		return err
	}
	logger, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	creds, err := tlsconfig.Load(cfg.TLS, logger)
	if err != nil {
		return err
	}

	// The user service may start after this one: its keys are fetched in
	// the background (fetchKeys), and the servers serve meanwhile.
	verifier, fetchKeys, err := f.verifier.NewVerifier(logger)
	if err != nil {
		return err
	}
	var sender notification.Sender // nil: Build logs the e-mails
	if f.smtp.Addr != "" {
		if sender, err = notification.NewSMTPSender(f.smtp); err != nil {
			return fmt.Errorf("invalid -smtp-addr (%s): %w", config.EnvVar("smtp-addr"), err)
		}
	}
	store, err := embedded.Open(ctx, embedded.Config{URI: cfg.MongoURI, DataDir: cfg.DataDir}, logger)
	if err != nil {
		return err
	}
	fail := func(err error) error { return errors.Join(err, store.Close(ctx)) }
	g := rungroup.New(logger, cfg.ShutdownTimeout)
	if fetchKeys != nil {
		g.Background("jwks", fetchKeys)
	}
	g.Cleanup("store", store.Close)

	reg := serve.NewRegistry()
	svcReg := serve.Registerer(reg, config.Notification)
	comp, err := notification.Build(ctx, notification.Deps{
		DB:         store.Database(config.Notification),
		Logger:     logger,
		Registerer: svcReg,
		Verifier:   verifier,
		Sender:     sender,
		Options:    f.service,
	})
	if err != nil {
		return fail(err)
	}

	// The key every service shares, made on first start (svcauth).
	guard, _, err := svcauth.Load(cfg.Auth.KeyPath(cfg.ServiceKeyDir()), config.Notification, notification.GRPCAccess)
	if err != nil {
		return fail(err)
	}
	srv, err := serve.Listen(g, config.Notification, cfg.GRPCAddr, serve.Options{
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
	logger.Info("notification service started", slog.String("grpc", srv.GRPCAddr()), slog.String("http", httpAddr),
		slog.Bool("mtls", creds.Enabled()), slog.Bool("smtp", f.smtp.Addr != ""))
	return g.Run(ctx)
}

// validate checks the service's own flags, naming each bad one.
func (f *flags) validate() error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s (%s): %s", flagName, config.EnvVar(flagName), fmt.Sprintf(format, args...)))
	}
	errs = append(errs, f.verifier.Validate())
	if _, err := mail.ParseAddress(f.service.From); err != nil {
		bad("smtp-from", "%q is not an e-mail address: %v", f.service.From, err)
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad(name, "%s: must be positive", d)
		}
	}
	positive("send-timeout", f.service.SendTimeout)
	if f.service.SendLatency < 0 {
		bad("send-latency", "%s: must not be negative", f.service.SendLatency)
	} else if f.service.SendLatency >= f.service.SendTimeout {
		bad("send-latency", "%s: must be shorter than -send-timeout (%s), or every send times out", f.service.SendLatency, f.service.SendTimeout)
	}
	return errors.Join(errs...)
}
