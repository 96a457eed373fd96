package providers_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/providers"
)

// smtpServer is a tiny in-process SMTP server: EHLO with AUTH PLAIN, MAIL,
// RCPT, DATA, QUIT. rcptReply overrides the RCPT answer (e.g. "450 …").
type smtpServer struct {
	ln        net.Listener
	rcptReply string
	// dropAfterData: the server closes the connection after accepting a
	// message (as one that times clients out would, between messages).
	dropAfterData bool

	mu    sync.Mutex
	conns int      // connections accepted
	auth  []string // decoded PLAIN credentials
	from  []string
	rcpt  []string
	data  []string
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	r := bufio.NewReader(c)
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-test")
			say("250-8BITMIME")
			say("250 AUTH PLAIN")
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line[len("AUTH PLAIN"):]))
			s.mu.Lock()
			s.auth = append(s.auth, string(raw))
			s.mu.Unlock()
			say("235 2.7.0 Authentication successful")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			s.mu.Lock()
			s.from = append(s.from, line[len("MAIL FROM:"):])
			s.mu.Unlock()
			say("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			if s.rcptReply != "" {
				say(s.rcptReply)
				continue
			}
			s.mu.Lock()
			s.rcpt = append(s.rcpt, line[len("RCPT TO:"):])
			s.mu.Unlock()
			say("250 OK")
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.data = append(s.data, b.String())
			s.mu.Unlock()
			say("250 OK queued as 1")
			if s.dropAfterData {
				return
			}
		case cmd == "QUIT":
			say("221 bye")
			return
		case cmd == "RSET", cmd == "NOOP":
			say("250 OK")
		default:
			say("502 unknown")
		}
	}
}

func TestSMTPSendsMultipartWithHeaders(t *testing.T) {
	srv := newSMTPServer(t)
	p, err := providers.NewSMTP("smtp://user%40demo:s3cret@" + srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Send(context.Background(), sample())
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.auth) != 1 || srv.auth[0] != "\x00user@demo\x00s3cret" {
		t.Errorf("AUTH PLAIN %q", srv.auth)
	}
	if len(srv.from) != 1 || !strings.HasPrefix(srv.from[0], "<hello@demo.example>") || len(srv.rcpt) != 1 || srv.rcpt[0] != "<ada@example.com>" {
		t.Errorf("envelope from %q rcpt %q", srv.from, srv.rcpt)
	}
	if len(srv.data) != 1 {
		t.Fatalf("%d messages", len(srv.data))
	}
	msg, err := mail.ReadMessage(strings.NewReader(srv.data[0]))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(h.Get("Subject"))
	checks := map[string]string{
		"From":                   `"Demo Store" <hello@demo.example>`,
		"To":                     `"Ada Lovelace" <ada@example.com>`,
		"Reply-To":               "help@demo.example",
		"Message-Id":             res.ProviderID,
		"Mime-Version":           "1.0",
		"List-Unsubscribe":       "<https://app.test/u/tok>",
		"List-Unsubscribe-Post":  "List-Unsubscribe=One-Click",
		"X-Cartwheel-Message-Id": "42",
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if subj != "Your cart misses you ✨" {
		t.Errorf("Subject %q", subj)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part encoding %q", part.Header.Get("Content-Transfer-Encoding"))
		}
		b, _ := io.ReadAll(quotedprintable.NewReader(part))
		types = append(types, part.Header.Get("Content-Type"))
		bodies = append(bodies, string(b))
	}
	if strings.Join(types, "|") != "text/plain; charset=utf-8|text/html; charset=utf-8" {
		t.Errorf("parts %v", types)
	}
	if len(bodies) == 2 && (bodies[0] != sample().Text || bodies[1] != sample().HTML) {
		t.Errorf("bodies %q", bodies)
	}
}

func TestSMTPReplyCodes(t *testing.T) {
	srv := newSMTPServer(t)
	p, _ := providers.NewSMTP("smtp://" + srv.ln.Addr().String())
	srv.rcptReply = "450 4.2.1 mailbox busy"
	if _, err := p.Send(context.Background(), sample()); !errors.Is(err, email.ErrRetryable) {
		t.Errorf("450: %v, want retryable", err)
	}
	srv.rcptReply = "550 5.1.1 no such user"
	if _, err := p.Send(context.Background(), sample()); err == nil || errors.Is(err, email.ErrRetryable) {
		t.Errorf("550: %v, want permanent", err)
	}
}

func TestSMTPURL(t *testing.T) {
	for _, bad := range []string{"", "http://x", "smtp://"} {
		if _, err := providers.NewSMTP(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Messages reuse open connections: one at a time they share one (MAIL
// after RSET, one AUTH); 8 senders at once open at most 8; a connection
// the server dropped meanwhile is replaced, the message still goes.
func TestSMTPReusesConnections(t *testing.T) {
	srv := newSMTPServer(t)
	p, err := providers.NewSMTP("smtp://user:pw@" + srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		m := sample()
		m.To.Email = fmt.Sprintf("c%d@example.com", i)
		if _, err := p.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	srv.mu.Lock()
	conns, auths, msgs := srv.conns, len(srv.auth), len(srv.data)
	srv.mu.Unlock()
	if conns != 1 || auths != 1 || msgs != 20 {
		t.Fatalf("20 messages one after another: %d connections, %d AUTHs, %d messages", conns, auths, msgs)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				m := sample()
				m.To.Email = fmt.Sprintf("w%d-%d@example.com", w, i)
				if _, err := p.Send(ctx, m); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	srv.mu.Lock()
	conns, msgs = srv.conns, len(srv.data)
	srv.mu.Unlock()
	if conns > 1+8 || msgs != 100 {
		t.Fatalf("8 senders at once: %d connections in all, %d messages", conns, msgs)
	}

	// The server now drops every connection after a message: once the
	// (at most 9) live idle connections are used, each send finds its idle
	// connection dead, opens another, and delivers.
	srv.mu.Lock()
	srv.dropAfterData = true
	before := srv.conns
	srv.mu.Unlock()
	for i := 0; i < 20; i++ {
		if _, err := p.Send(ctx, sample()); err != nil {
			t.Fatalf("send %d after the server dropped the connection: %v", i, err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.data) != 120 || srv.conns-before < 20-9 {
		t.Fatalf("after drops: %d messages, %d new connections", len(srv.data), srv.conns-before)
	}
}
