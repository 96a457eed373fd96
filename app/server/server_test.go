package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/server"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/signals"
)

func newApp(t *testing.T) *server.App {
	t.Helper()
	return newAppWith(t, server.Options{JobPollInterval: 20 * time.Millisecond})
}

func newAppWith(t *testing.T, o server.Options) *server.App {
	t.Helper()
	d := dbtest.New(t)
	env := map[string]string{
		"DATABASE_URL": "postgres://unused", "APP_URL": "https://cartwheel.test", "SHOPIFY_API_KEY": "k",
		"SHOPIFY_API_SECRET": "s", "SHOPIFY_SCOPES": "read_customers", "MAIL_PROVIDER": "outbox",
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(cfg, d, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// A webhook whose body is still arriving when shutdown starts is received
// and acknowledged; new connections are refused; Serve then returns. The
// test follows the server's state (the request being read, the listener
// closed) rather than waiting fixed times, so a busy machine can't reorder it.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	active := make(chan struct{}, 1)
	closed := make(chan struct{})
	var closeOnce sync.Once
	app := newAppWith(t, server.Options{
		JobPollInterval: 20 * time.Millisecond,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateActive {
				select {
				case active <- struct{}{}:
				default:
				}
			}
		},
		OnShutdown: func() { closeOnce.Do(func() { close(closed) }) },
	})
	d := app.DB
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, ln, true) }()

	body := []byte(`{"shop_id":1,"shop_domain":"late.myshopify.com"}`)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/webhooks", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("X-Shopify-Topic", "shop/redact")
	req.Header.Set("X-Shopify-Shop-Domain", "late.myshopify.com")
	req.Header.Set("X-Shopify-Webhook-Id", "in-flight")
	req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(body, "s"))
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		respc <- resp
	}()
	pw.Write(body[:10])
	wait(t, active, "the server to start reading the webhook")
	cancel() // shutdown begins while the body is half sent
	wait(t, closed, "shutdown to close the listener")
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a new request was accepted after shutdown began")
	}
	pw.Write(body[10:])
	pw.Close()
	resp := <-respc
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("in-flight webhook not acknowledged: %+v", resp)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'in-flight'")
	if n != 1 {
		t.Fatal("the in-flight delivery was not stored")
	}
}

// wait blocks until c yields; the bound only stops a broken server from
// hanging the suite.
func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Missing signal consumer wiring fails server construction, naming the
// handler, rather than silently dropping signals.
func TestNewFailsWithoutASignalHandler(t *testing.T) {
	d := dbtest.New(t)
	env := map[string]string{
		"DATABASE_URL": "postgres://unused", "APP_URL": "https://cartwheel.test", "SHOPIFY_API_KEY": "k",
		"SHOPIFY_API_SECRET": "s", "SHOPIFY_SCOPES": "read_customers", "MAIL_PROVIDER": "outbox",
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.New(cfg, d, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{
		Handlers: &signals.Handlers{Segments: signals.Discard}})
	if err == nil || !strings.Contains(err.Error(), "Flows") {
		t.Fatalf("New without a Flows handler: %v", err)
	}
}
