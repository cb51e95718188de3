package notification

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a minimal SMTP server on loopback recording what it gets.
type smtpServer struct {
	addr       string
	offerAuth  bool
	rejectRcpt bool
	silent     bool // accepts connections and never answers

	mu   sync.Mutex
	mail []receivedMail
	auth []string // decoded AUTH PLAIN responses
}

type receivedMail struct {
	from string
	to   []string
	data []byte
}

func startSMTPServer(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				if s.silent {
					_, _ = io.Copy(io.Discard, conn) // until the client hangs up
					return
				}
				s.serve(textproto.NewConn(conn))
			}()
		}
	}()
	return s
}

func (s *smtpServer) serve(c *textproto.Conn) {
	reply := func(line string) bool { return c.PrintfLine("%s", line) == nil }
	if !reply("220 test ESMTP") {
		return
	}
	var cur receivedMail
	for {
		line, err := c.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if s.offerAuth {
				reply("250-test")
				reply("250 AUTH PLAIN")
			} else {
				reply("250 test")
			}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			dec, err := base64.StdEncoding.DecodeString(resp)
			if mech != "PLAIN" || err != nil {
				reply("504 unsupported")
				continue
			}
			s.mu.Lock()
			s.auth = append(s.auth, string(dec))
			s.mu.Unlock()
			reply("235 accepted")
		case "MAIL":
			cur = receivedMail{from: strings.TrimSuffix(strings.TrimPrefix(arg, "FROM:<"), ">")}
			reply("250 ok")
		case "RCPT":
			if s.rejectRcpt {
				reply("550 no such user")
				continue
			}
			cur.to = append(cur.to, strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">"))
			reply("250 ok")
		case "DATA":
			reply("354 go ahead")
			data, err := c.ReadDotBytes()
			if err != nil {
				return
			}
			cur.data = data
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		case "RSET", "NOOP":
			reply("250 ok")
		default:
			reply("502 not implemented")
		}
	}
}

func (s *smtpServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mail...)
}

func newTestSMTPSender(t *testing.T, cfg SMTPConfig) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPSenderMessage(t *testing.T) {
	t.Parallel()
	srv := startSMTPServer(t, &smtpServer{})
	sender := newTestSMTPSender(t, SMTPConfig{Addr: srv.addr})
	m := Message{
		From:    "kitshop <no-reply@kitshop.example>",
		To:      testTo,
		Subject: "Payment received for order Ö-1",
		Content: "Hello,\n\nWe have received the payment for your order Ö-1.\n" + strings.Repeat("long line ", 20) + "\n.\nend\n",
		OrderID: "Ö-1",
	}
	ctx := context.Background()
	if err := sender.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	other := m
	other.OrderID = "order-2"
	if err := sender.Send(ctx, other); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 3 {
		t.Fatalf("server received %d messages, want 3", len(got))
	}
	if got[0].from != "no-reply@kitshop.example" || len(got[0].to) != 1 || got[0].to[0] != testTo {
		t.Errorf("envelope from %q to %v", got[0].from, got[0].to)
	}

	msg, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Name != "kitshop" || from.Address != "no-reply@kitshop.example" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	if to, err := mail.ParseAddress(h.Get("To")); err != nil || to.Address != testTo {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q decodes to %q (%v), want %q", h.Get("Subject"), subject, err, m.Subject)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date = %q: %v", h.Get("Date"), err)
	}
	for k, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	id := h.Get("Message-ID")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@kitshop.example>") {
		t.Errorf("Message-ID = %q", id)
	}
	second, _ := mail.ReadMessage(bytes.NewReader(got[1].data))
	third, _ := mail.ReadMessage(bytes.NewReader(got[2].data))
	if second.Header.Get("Message-ID") != id {
		t.Errorf("a repeat for the same order has Message-ID %q, want %q", second.Header.Get("Message-ID"), id)
	}
	if third.Header.Get("Message-ID") == id {
		t.Error("another order has the same Message-ID")
	}

	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != m.Content {
		t.Errorf("body = %q, want %q", got, m.Content)
	}
	for _, line := range strings.Split(string(got[0].data), "\n") { // ReadDotBytes made CRLF "\n"
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
	}
}

func TestSMTPSenderAuth(t *testing.T) {
	t.Parallel()
	srv := startSMTPServer(t, &smtpServer{offerAuth: true})
	sender := newTestSMTPSender(t, SMTPConfig{Addr: srv.addr, Username: "shop", Password: "s3cret", HelloName: "kitshop.test"})
	if err := sender.Send(context.Background(), Message{From: DefaultFrom, To: testTo, Subject: "s", Content: "c", OrderID: "o"}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.auth) != 1 || srv.auth[0] != "\x00shop\x00s3cret" {
		t.Errorf("AUTH PLAIN responses = %q", srv.auth)
	}
}

func TestSMTPSenderErrors(t *testing.T) {
	t.Parallel()
	msg := Message{From: DefaultFrom, To: testTo, Subject: "s", Content: "c", OrderID: "o"}

	noAuth := startSMTPServer(t, &smtpServer{})
	sender := newTestSMTPSender(t, SMTPConfig{Addr: noAuth.addr, Username: "shop", Password: "pw"})
	if err := sender.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("relay without AUTH: err = %v", err)
	}

	rejecting := startSMTPServer(t, &smtpServer{rejectRcpt: true})
	sender = newTestSMTPSender(t, SMTPConfig{Addr: rejecting.addr})
	if err := sender.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "RCPT") {
		t.Errorf("rejected recipient: err = %v", err)
	}
	if n := len(rejecting.received()); n != 0 {
		t.Errorf("%d messages accepted", n)
	}

	silent := startSMTPServer(t, &smtpServer{silent: true})
	sender = newTestSMTPSender(t, SMTPConfig{Addr: silent.addr})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sender.Send(ctx, msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent relay: err = %v, want context.DeadlineExceeded", err)
	}

	// A closed port: the dial fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	sender = newTestSMTPSender(t, SMTPConfig{Addr: closed})
	if err := sender.Send(context.Background(), msg); err == nil {
		t.Error("closed port: no error")
	}
}

func TestNewSMTPSenderValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []SMTPConfig{{}, {Addr: "smtp.example.com"}, {Addr: ":25"}, {Addr: "smtp.example.com:25", Password: "pw"}} {
		if _, err := NewSMTPSender(cfg); err == nil {
			t.Errorf("NewSMTPSender(%+v) accepted", cfg)
		}
	}
}

func TestLogSender(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := NewLogSender(slog.New(slog.NewJSONHandler(&buf, nil)))
	if err := s.Send(context.Background(), Message{From: DefaultFrom, To: testTo, Subject: "subj", Content: "body", OrderID: testOrder}); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(&buf).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"order_id":"order-1"`, `"to":"ann@example.com"`, `"subject":"subj"`, `"content":"body"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %s lacks %s", line, want)
		}
	}
}
