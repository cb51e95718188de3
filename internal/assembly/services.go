package assembly

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/mail"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/token"
	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

// Specs returns the five services, in the order of config.ServiceNames:
// the user service first, whose verifier the others may need.
func Specs() []Spec {
	return []Spec{
		{Name: config.User, Policy: user.GRPCAccess, New: func() Settings { return new(User) }},
		{Name: config.Product, Policy: product.GRPCAccess, Verifies: true, New: func() Settings { return new(Product) }},
		{Name: config.Order, Policy: order.GRPCAccess, Verifies: true, New: func() Settings { return new(Order) },
			Peers: []string{config.User, config.Product, config.Payment, config.Notification}},
		{Name: config.Payment, Policy: payment.GRPCAccess, Verifies: true, New: func() Settings { return new(Payment) }},
		{Name: config.Notification, Policy: notification.GRPCAccess, Verifies: true, New: func() Settings { return new(Notification) }},
	}
}

// User is the user service's settings.
type User struct {
	// KeyFile is the signing key (-jwt-key-file); empty: SigningKeyFile in
	// Env.DataDir, generated on first start.
	KeyFile string
	// AdminEmails is the comma-separated list of -admin-emails.
	AdminEmails string
	// TrustedProxies is the comma-separated list of -login-trusted-proxies.
	TrustedProxies string
	// Options hold -bcrypt-cost and the login rates; AdminEmails and
	// TrustedProxies are filled from the fields above by Build.
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

// loadKey loads the key that the flag flagName names (file, with load), or
// else loads or creates (create) the one named defaultName in dataDir; what
// names the key in errors.
func loadKey[K any](flagName, file, dataDir, defaultName, what string, load, create func(string) (K, error)) (K, error) {
	if file != "" {
		k, err := load(file)
		if err != nil {
			return k, fmt.Errorf("invalid -%s (%s): %w", flagName, config.EnvVar(flagName), err)
		}
		return k, nil
	}
	var zero K
	if strings.TrimSpace(dataDir) == "" {
		return zero, fmt.Errorf("-%s (%s) or -data-dir (%s) is required to keep the %s",
			flagName, config.EnvVar(flagName), config.EnvVar("data-dir"), what)
	}
	k, err := create(filepath.Join(dataDir, defaultName))
	if err != nil {
		return zero, fmt.Errorf("%s in -data-dir: %w", what, err)
	}
	return k, nil
}

// Product is the product service's settings.
type Product struct {
	Options product.Options
}

// RegisterFlags defines -sample-stock and -reservation-lease.
func (p *Product) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&p.Options.SampleStock, "sample-stock", product.DefaultSampleStock, "stock of each sample product (made on cmd/shop's first start, or by POST /product/sample)")
	fs.DurationVar(&p.Options.Lease, "reservation-lease", product.DefaultLease, "how long a reservation call may work on an order before another instance may take over")
}

// Validate checks that the sample stock is not negative; Build checks the
// rest (product.Build).
func (p *Product) Validate() error {
	if p.Options.SampleStock < 0 {
		return fmt.Errorf("invalid -sample-stock (%s): %d must not be negative", config.EnvVar("sample-stock"), p.Options.SampleStock)
	}
	return nil
}

// Prepare has nothing to load: the product service is its own Builder.
func (p *Product) Prepare(string) (Builder, error) { return p, nil }

// Build assembles the product service and, with env.Samples, creates the
// sample products.
func (p *Product) Build(ctx context.Context, env Env) (*Part, error) {
	c, err := product.Build(ctx, product.Deps{DB: env.Store.Database(config.Product), Logger: env.Logger,
		Registerer: env.Registerer, Verifier: env.Verifier, Options: p.Options})
	if err != nil {
		return nil, fmt.Errorf("invalid settings (-sample-stock, -reservation-lease): %w", err)
	}
	if env.Samples {
		created, err := c.Service.CreateSamples(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating the sample products: %w", err)
		}
		if created > 0 {
			env.Logger.Info("sample products created", slog.Int("count", created))
		}
	}
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background}, nil
}

// Order is the order service's settings.
type Order struct {
	Client  grpcclient.Config
	Cache   order.CacheOptions
	Options order.Options
}

// RegisterFlags defines the order service's flags: its clients' resilience
// and caches, the recovery bound, admission and the outbox.
func (o *Order) RegisterFlags(fs *flag.FlagSet) {
	o.Client.RegisterFlags(fs)
	o.Cache.RegisterFlags(fs)
	o.Options.RegisterFlags(fs)
	fs.IntVar(&o.Options.DispatchConcurrency, "dispatch-concurrency", order.DefaultDispatchConcurrency, "orders whose side effects the dispatcher runs at once")
	fs.DurationVar(&o.Options.OutboxBackoff, "outbox-backoff", order.DefaultOutboxBackoff, "first wait before retrying a failed side effect (doubles up to -outbox-backoff-max)")
	fs.DurationVar(&o.Options.OutboxBackoffMax, "outbox-backoff-max", order.DefaultOutboxBackoffMax, "longest wait between retries of a failed side effect")
}

// Validate checks every order flag.
func (o *Order) Validate() error {
	var errs []error
	bad := config.FlagErrors(&errs)
	o.Options.CheckFlags(bad)
	for name, d := range map[string]time.Duration{"outbox-backoff": o.Options.OutboxBackoff, "outbox-backoff-max": o.Options.OutboxBackoffMax} {
		if d <= 0 {
			bad(name, "%s: must be positive", d)
		}
	}
	if o.Options.DispatchConcurrency < 1 {
		bad("dispatch-concurrency", "%d: must be at least 1", o.Options.DispatchConcurrency)
	}
	return errors.Join(append(errs, o.Client.Validate())...)
}

// Prepare has nothing to load: the order service is its own Builder.
func (o *Order) Prepare(string) (Builder, error) { return o, nil }

// Build opens the order service's query client and its clients of the
// other services, and assembles it; Drain runs as the stop begins.
func (o *Order) Build(ctx context.Context, env Env) (*Part, error) {
	// Listings and start-up scans read through a client of their own, so
	// that they never hold up the writes (order.Deps.QueryDB).
	queries, err := env.Store.Reader(ctx, env.Logger)
	if err != nil {
		return nil, err
	}
	env.Group.Cleanup("order-store-queries", queries.Close)
	dial, err := credentials(config.Order, env)
	if err != nil {
		return nil, err
	}
	deps, conns, err := order.Dial(order.Addrs{User: env.Peers[config.User], Product: env.Peers[config.Product],
		Payment: env.Peers[config.Payment], Notification: env.Peers[config.Notification]},
		o.Client, o.Cache, env.Registerer, env.Logger, dial...)
	if err != nil {
		return nil, err
	}
	env.Group.Cleanup("order-clients", func(context.Context) error { return conns.Close() })
	c, err := order.Build(ctx, order.Deps{DB: env.Store.Database(config.Order), QueryDB: queries.Database(config.Order),
		Logger: env.Logger, Registerer: env.Registerer, Verifier: env.Verifier, Dependencies: deps, Options: o.Options})
	if err != nil {
		return nil, err
	}
	env.Group.Stopping(c.Orders.Drain) // no new orders while those in flight finish
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background}, nil
}

// Payment is the payment service's settings.
type Payment struct {
	// CardKeyFile is -card-key-file; empty: CardKeyFile in Env.DataDir.
	CardKeyFile      string
	ProcessorLatency time.Duration
	ProcessorTimeout time.Duration
	Recovery         payment.Recovery
	// Processor is the card network; nil: a payment.Simulator with
	// ProcessorLatency.
	Processor payment.Processor
}

// RegisterFlags defines the payment service's flags.
func (p *Payment) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&p.CardKeyFile, "card-key-file", "", "hex HMAC key that fingerprints card numbers (share it between replicas); empty: "+CardKeyFile+" in -data-dir, generated on first start")
	fs.DurationVar(&p.ProcessorLatency, "processor-latency", 0, "latency of the simulated card processor (1s reproduces the original system)")
	fs.DurationVar(&p.ProcessorTimeout, "processor-timeout", payment.DefaultProcessorTimeout, "time limit of each call to the card processor")
	p.Recovery.RegisterFlags(fs)
}

// Validate checks the processor's latency and timeout and the recovery.
func (p *Payment) Validate() error {
	var errs []error
	bad := config.FlagErrors(&errs)
	if p.ProcessorLatency < 0 {
		bad("processor-latency", "%s is negative", p.ProcessorLatency)
	}
	if p.ProcessorTimeout <= 0 {
		bad("processor-timeout", "%s must be positive", p.ProcessorTimeout)
	}
	p.Recovery.CheckFlags(bad)
	return errors.Join(errs...)
}

// Prepare loads (or creates) the card key.
func (p *Payment) Prepare(dataDir string) (Builder, error) {
	key, err := loadKey("card-key-file", p.CardKeyFile, dataDir, CardKeyFile, "card key", payment.LoadOrCreateCardKey, payment.LoadOrCreateCardKey)
	if err != nil {
		return nil, err
	}
	return paymentBuilder{Payment: p, cardKey: key}, nil
}

// paymentBuilder is the payment service prepared: its settings and card
// key.
type paymentBuilder struct {
	*Payment
	cardKey []byte
}

// Build assembles the payment service.
func (p paymentBuilder) Build(ctx context.Context, env Env) (*Part, error) {
	processor := p.Processor
	if processor == nil {
		processor = payment.NewSimulator(payment.SimulatorOptions{Latency: p.ProcessorLatency})
	}
	c, err := payment.Build(ctx, payment.Deps{DB: env.Store.Database(config.Payment), Logger: env.Logger,
		Registerer: env.Registerer, Verifier: env.Verifier, Processor: processor, CardKey: p.cardKey,
		ProcessorTimeout: p.ProcessorTimeout, Recovery: p.Recovery})
	if err != nil {
		return nil, err
	}
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background,
		Attrs: []slog.Attr{slog.Duration("processor_latency", p.ProcessorLatency)}}, nil
}

// Notification is the notification service's settings.
type Notification struct {
	SMTP    notification.SMTPConfig
	Options notification.Options
	// Sender sends the e-mails; nil: through SMTP.Addr, or logged when it
	// is empty.
	Sender notification.Sender
}

// RegisterFlags defines the notification service's flags.
func (n *Notification) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&n.SMTP.Addr, "smtp-addr", "", "SMTP relay host:port; empty logs each e-mail instead of sending it")
	fs.StringVar(&n.Options.From, "smtp-from", notification.DefaultFrom, "sender address of the e-mails")
	fs.StringVar(&n.SMTP.Username, "smtp-username", "", "SMTP AUTH PLAIN user name (sent only over STARTTLS or to localhost); empty: no authentication")
	fs.StringVar(&n.SMTP.Password, "smtp-password", "", "SMTP AUTH PLAIN password (prefer the environment variable: the command line is visible to other users)")
	fs.DurationVar(&n.Options.SendTimeout, "send-timeout", notification.DefaultSendTimeout, "longest wait for one e-mail to be sent")
	fs.DurationVar(&n.Options.SendLatency, "send-latency", 0, "simulated delay before each send (1s reproduces the original)")
}

// Validate checks the sender address, the send timeout and latency.
func (n *Notification) Validate() error {
	var errs []error
	bad := config.FlagErrors(&errs)
	if _, err := mail.ParseAddress(n.Options.From); err != nil {
		bad("smtp-from", "%q is not an e-mail address: %v", n.Options.From, err)
	}
	if n.Options.SendTimeout <= 0 {
		bad("send-timeout", "%s: must be positive", n.Options.SendTimeout)
	}
	if n.Options.SendLatency < 0 {
		bad("send-latency", "%s: must not be negative", n.Options.SendLatency)
	} else if n.Options.SendLatency >= n.Options.SendTimeout {
		bad("send-latency", "%s: must be shorter than -send-timeout (%s), or every send times out", n.Options.SendLatency, n.Options.SendTimeout)
	}
	return errors.Join(errs...)
}

// Prepare makes the SMTP client, unless Sender is set or -smtp-addr empty.
func (n *Notification) Prepare(string) (Builder, error) {
	b := notificationBuilder{Notification: n, sender: n.Sender} // nil: notification.Build logs the e-mails
	if b.sender == nil && n.SMTP.Addr != "" {
		s, err := notification.NewSMTPSender(n.SMTP)
		if err != nil {
			return nil, fmt.Errorf("invalid -smtp-addr (%s): %w", config.EnvVar("smtp-addr"), err)
		}
		b.sender = s
	}
	return b, nil
}

// notificationBuilder is the notification service prepared: its settings
// and sender.
type notificationBuilder struct {
	*Notification
	sender notification.Sender
}

// Build assembles the notification service.
func (n notificationBuilder) Build(ctx context.Context, env Env) (*Part, error) {
	c, err := notification.Build(ctx, notification.Deps{DB: env.Store.Database(config.Notification), Logger: env.Logger,
		Registerer: env.Registerer, Verifier: env.Verifier, Sender: n.sender, Options: n.Options})
	if err != nil {
		return nil, err
	}
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background,
		Attrs: []slog.Attr{slog.Bool("smtp", n.SMTP.Addr != "")}}, nil
}
