package providers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cartwheel/cartwheel/app/email"
)

// SMTP sends through an SMTP server (SMTP_URL smtp://user:pass@host:587 with
// STARTTLS when the server offers it, or smtps://… for implicit TLS) with
// PLAIN authentication when the URL has credentials.
type SMTP struct {
	host, addr string
	implicit   bool
	user, pass string
	// TLSConfig overrides the TLS settings (tests).
	TLSConfig *tls.Config
	// HelloName is the EHLO name (default "localhost").
	HelloName string
	Timeout   time.Duration

	// idle holds open, authenticated connections between messages: a
	// campaign's thousands of messages reuse a few connections instead of
	// a TCP, TLS and AUTH handshake each.
	idle chan *smtpConn
	// slots bounds the connections open at once (smtpMaxConns): the
	// deliver jobs of every campaign share them, and a server limits
	// connections per client.
	slots chan struct{}
}

// Connection reuse.
const (
	// smtpIdleConns is how many open connections wait between messages.
	smtpIdleConns = 16
	// smtpMaxConns is how many connections are open at once, at most:
	// as many as may wait idle, so each one is reused.
	smtpMaxConns = smtpIdleConns
	// smtpParallel is how many messages one deliver batch hands over at
	// once (Concurrency); several batches run side by side and share the
	// smtpMaxConns connections.
	smtpParallel = 8
	// smtpIdleFor is how long an idle connection is kept: servers drop
	// idle clients after a few minutes (RFC 5321 asks for 5).
	smtpIdleFor = time.Minute
	// smtpMessagesPerConn: servers limit messages per connection (often
	// 100); a connection is closed after this many.
	smtpMessagesPerConn = 100
)

// smtpConn is one open connection.
type smtpConn struct {
	net  net.Conn
	c    *smtp.Client
	sent int
	idle time.Time
}

// NewSMTP parses SMTP_URL.
func NewSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("providers: SMTP_URL %q is not smtp://user:pass@host:port", raw)
	}
	s := &SMTP{host: u.Hostname(), implicit: u.Scheme == "smtps", HelloName: "localhost", Timeout: time.Minute,
		idle: make(chan *smtpConn, smtpIdleConns), slots: make(chan struct{}, smtpMaxConns)}
	port := u.Port()
	if port == "" {
		port = "587"
		if s.implicit {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

// Name implements email.Provider.
func (s *SMTP) Name() string { return "smtp" }

// Concurrency implements email.Concurrent: a batch may send this many
// messages at once, each on its own pooled connection.
func (s *SMTP) Concurrency() int { return smtpParallel }

func (s *SMTP) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		return s.TLSConfig
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// classify maps an SMTP failure before DATA was accepted to the provider
// contract: 4xx replies are temporary, 5xx permanent.
func (s *SMTP) classify(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 400 && te.Code < 500 {
			return &RetryableError{Provider: "smtp", Status: te.Code, Msg: stage + ": " + te.Msg}
		}
		return fmt.Errorf("smtp: %s refused (%d): %s", stage, te.Code, te.Msg)
	}
	// A connection problem before the message body was sent: nothing was
	// accepted.
	return &RetryableError{Provider: "smtp", Msg: stage + ": " + err.Error()}
}

// Send implements email.Provider. It reuses an idle connection when one
// answers RSET, else opens one; a connection that saw any error is closed,
// never reused.
func (s *SMTP) Send(ctx context.Context, m email.Message) (email.Result, error) {
	msgID := MessageID(m)
	raw, err := BuildMIME(m, msgID, time.Now())
	if err != nil {
		return email.Result{}, err
	}
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return email.Result{}, &RetryableError{Provider: "smtp", Msg: "waiting for a connection: " + ctx.Err().Error()}
		}
		defer func() { <-s.slots }()
	}
	sc, reused, err := s.conn(ctx)
	if err != nil {
		return email.Result{}, err
	}
	deadline := time.Now().Add(s.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	sc.net.SetDeadline(deadline)
	res, err := s.transact(sc.c, m, msgID, raw)
	if errors.Is(err, errConnGone) && reused {
		// The server closed the connection while it waited (MAIL FROM
		// got no answer: nothing of this message was sent): once more on
		// a new one.
		sc.c.Close()
		if sc, err = s.dial(ctx); err != nil {
			return email.Result{}, err
		}
		sc.net.SetDeadline(deadline)
		res, err = s.transact(sc.c, m, msgID, raw)
	}
	if err != nil {
		sc.c.Close()
		var gone *connGoneError
		if errors.As(err, &gone) {
			err = gone.err
		}
		return res, err
	}
	sc.sent++
	s.release(sc)
	return res, nil
}

// transact sends one message on an open connection.
func (s *SMTP) transact(c *smtp.Client, m email.Message, msgID string, raw []byte) (email.Result, error) {
	if err := c.Mail(m.From.Email); err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			return email.Result{}, &connGoneError{s.classify("MAIL FROM", err)}
		}
		return email.Result{}, s.classify("MAIL FROM", err)
	}
	if err := c.Rcpt(m.To.Email); err != nil {
		return email.Result{}, s.classify("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return email.Result{}, s.classify("DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		return email.Result{}, fmt.Errorf("smtp: %w: writing message: %v", ErrOutcomeUnknown, err)
	}
	if err := w.Close(); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return email.Result{}, s.classify("end of DATA", err)
		}
		return email.Result{}, fmt.Errorf("smtp: %w: %v", ErrOutcomeUnknown, err)
	}
	return email.Result{ProviderID: msgID}, nil
}

// errConnGone: the connection failed before the server answered MAIL FROM
// (it was closed while idle); nothing of the message was sent.
var errConnGone = errors.New("smtp: connection gone before MAIL FROM")

type connGoneError struct{ err error }

func (e *connGoneError) Error() string        { return e.err.Error() }
func (e *connGoneError) Unwrap() []error      { return []error{errConnGone, e.err} }
func (e *connGoneError) Is(target error) bool { return target == errConnGone }

// smtpFresh: a connection used this recently is reused without an RSET
// first (a round trip per message); if the server closed it meanwhile,
// MAIL FROM fails before anything was sent and Send retries on a new one.
const smtpFresh = 2 * time.Second

// conn returns an idle connection that still answers, or a new one;
// reused says it was idle.
func (s *SMTP) conn(ctx context.Context) (*smtpConn, bool, error) {
	for {
		select {
		case sc := <-s.idle:
			idle := time.Since(sc.idle)
			if idle > smtpIdleFor {
				sc.c.Close()
				continue
			}
			if idle > smtpFresh {
				sc.net.SetDeadline(time.Now().Add(10 * time.Second))
				if err := sc.c.Reset(); err != nil {
					sc.c.Close() // the server dropped it: try the next
					continue
				}
			}
			return sc, true, nil
		default:
			sc, err := s.dial(ctx)
			return sc, false, err
		}
	}
}

// release keeps a connection for the next message, or closes it politely.
func (s *SMTP) release(sc *smtpConn) {
	if sc.sent < smtpMessagesPerConn && s.idle != nil {
		sc.idle = time.Now()
		select {
		case s.idle <- sc:
			return
		default:
		}
	}
	_ = sc.c.Quit()
}

// dial opens, greets, secures and authenticates a connection.
func (s *SMTP) dial(ctx context.Context) (*smtpConn, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	var err error
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, &RetryableError{Provider: "smtp", Msg: err.Error()}
	}
	conn.SetDeadline(time.Now().Add(s.Timeout))
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return nil, s.classify("greeting", err)
	}
	fail := func(stage string, err error) (*smtpConn, error) {
		c.Close()
		return nil, s.classify(stage, err)
	}
	if err := c.Hello(s.HelloName); err != nil {
		return fail("EHLO", err)
	}
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fail("STARTTLS", err)
			}
		}
	}
	if s.user != "" {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fail("AUTH", err)
		}
	}
	return &smtpConn{net: conn, c: c}, nil
}

// MessageID returns a Message-ID for m, in the sender's domain.
func MessageID(m email.Message) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	domain := "cartwheel.local"
	if i := strings.LastIndexByte(m.From.Email, '@'); i >= 0 && i < len(m.From.Email)-1 {
		domain = m.From.Email[i+1:]
	}
	return fmt.Sprintf("<cw.%d.%d.%s@%s>", m.ShopID, m.ID, hex.EncodeToString(b), domain)
}

func addr(a email.Address) string {
	return (&mail.Address{Name: a.Name, Address: a.Email}).String()
}

// BuildMIME renders m as an RFC 5322 message: multipart/alternative with
// quoted-printable text/plain and text/html parts (or a single part when
// only one is present), encoded headers, and m.Headers (List-Unsubscribe, …).
func BuildMIME(m email.Message, msgID string, now time.Time) ([]byte, error) {
	if m.From.Email == "" || m.To.Email == "" {
		return nil, errors.New("smtp: from and to are required")
	}
	var buf bytes.Buffer
	h := func(k, v string) {
		// Header values must not smuggle extra lines.
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		fmt.Fprintf(&buf, "%s: %s\r\n", k, v)
	}
	h("From", addr(m.From))
	h("To", addr(m.To))
	if m.ReplyTo != "" {
		h("Reply-To", m.ReplyTo)
	}
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", now.UTC().Format(time.RFC1123Z))
	h("Message-ID", msgID)
	h("MIME-Version", "1.0")
	h("X-Cartwheel-Message-Id", strconv.FormatInt(m.ID, 10))
	if len(m.Categories) > 0 {
		h("X-Cartwheel-Categories", strings.Join(m.Categories, ", "))
	}
	keys := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h(textproto.CanonicalMIMEHeaderKey(k), m.Headers[k])
	}
	part := func(w *bytes.Buffer, body string) error {
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\r\n", "\n"))); err != nil {
			return err
		}
		return qp.Close()
	}
	switch {
	case m.HTML != "" && m.Text != "":
		mw := multipart.NewWriter(&buf)
		h("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
		buf.WriteString("\r\n")
		for _, p := range []struct{ ct, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
			pw, err := mw.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {p.ct},
				"Content-Transfer-Encoding": {"quoted-printable"},
			})
			if err != nil {
				return nil, err
			}
			var pb bytes.Buffer
			if err := part(&pb, p.body); err != nil {
				return nil, err
			}
			if _, err := pw.Write(pb.Bytes()); err != nil {
				return nil, err
			}
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
	default:
		ct, body := "text/plain; charset=utf-8", m.Text
		if m.HTML != "" {
			ct, body = "text/html; charset=utf-8", m.HTML
		}
		h("Content-Type", ct)
		h("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := part(&buf, body); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
