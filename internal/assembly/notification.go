package assembly

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/mail"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/notification"
)

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
