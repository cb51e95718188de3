package notification

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// LogSender "sends" a message by logging it, one structured line at Info. It
// is the default Sender, for development and tests.
type LogSender struct {
	logger *slog.Logger
}

// NewLogSender returns a LogSender writing to logger (nil discards).
func NewLogSender(logger *slog.Logger) *LogSender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LogSender{logger: logger}
}

// Send implements Sender.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	s.logger.InfoContext(ctx, "notification e-mail (log sender)",
		slog.String("order_id", m.OrderID), slog.String("from", m.From), slog.String("to", m.To),
		slog.String("subject", m.Subject), slog.String("content", m.Content))
	return nil
}

// SMTPConfig configures NewSMTPSender.
type SMTPConfig struct {
	// Addr is the relay's host:port, e.g. "smtp.example.com:587". Required.
	Addr string
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN. net/smtp sends them only over TLS (STARTTLS) or to a relay on
	// localhost.
	Username string
	Password string
	// TLSConfig is used for STARTTLS, which is used whenever the relay
	// offers it. Nil means the system roots with ServerName the Addr host.
	TLSConfig *tls.Config
	// HelloName is the name sent in EHLO; empty means "localhost".
	HelloName string
}

// SMTPSender sends messages through an SMTP relay with the standard library's
// net/smtp (frozen but complete for this: EHLO, STARTTLS, AUTH PLAIN, one
// message): one connection per message, bounded by the context, which the
// dial honours and whose end closes the connection.
type SMTPSender struct {
	addr  string
	host  string
	hello string
	auth  smtp.Auth
	tls   *tls.Config
	now   func() time.Time
}

// NewSMTPSender returns a sender relaying through cfg.Addr.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("notification: SMTP address %q: want host:port", cfg.Addr)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("notification: SMTP password given without a username")
	}
	s := &SMTPSender{addr: cfg.Addr, host: host, hello: cfg.HelloName, tls: cfg.TLSConfig, now: time.Now}
	if s.tls == nil {
		s.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if cfg.Username != "" {
		s.auth = smtp.PlainAuth("", cfg.Username, cfg.Password, host)
	}
	return s, nil
}

// Send implements Sender. A relay's refusal before the message is accepted
// is an error; once the relay has accepted the data, a failing QUIT is not.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("smtp: sender address: %w", err)
	}
	body, err := s.compose(m, from)
	if err != nil {
		return err
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	// Closing the connection when ctx ends (deadline or cancellation)
	// unblocks any read or write in progress, and the error is then ctx's.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp: greeting: %w", s.orContext(ctx, err))
	}
	defer c.Close()
	if err = s.deliver(c, from.Address, m.To, body); err != nil {
		return fmt.Errorf("smtp: %w", s.orContext(ctx, err))
	}
	_ = c.Quit() // the relay has the message; a failing goodbye changes nothing
	return nil
}

// deliver runs the SMTP dialogue up to the accepted message.
func (s *SMTPSender) deliver(c *smtp.Client, from, to string, body []byte) error {
	if s.hello != "" {
		if err := c.Hello(s.hello); err != nil {
			return fmt.Errorf("EHLO: %w", err)
		}
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("AUTH: the relay does not offer authentication")
		}
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err = w.Write(body); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err = w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return nil
}

// orContext prefers the context's error to the I/O error it caused.
func (s *SMTPSender) orContext(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// compose renders m as an RFC 5322 message: UTF-8 plain text in
// quoted-printable, the subject RFC 2047-encoded when needed, and a
// Message-ID derived from the order id, the same for every attempt.
func (s *SMTPSender) compose(m Message, from *mail.Address) ([]byte, error) {
	if strings.ContainsAny(m.To+m.Subject, "\r\n") {
		return nil, errors.New("smtp: header value contains a line break")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("smtp: recipient address: %w", err)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	sum := sha256.Sum256([]byte(m.OrderID))

	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<payment.%s@%s>", hex.EncodeToString(sum[:16]), domain))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err = qp.Write([]byte(m.Content)); err != nil {
		return nil, err
	}
	if err = qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
