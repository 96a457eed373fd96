package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/server"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/web"
)

const (
	apiKey    = "test-api-key"
	apiSecret = "test-api-secret"
)

// harness is the whole app on a real database, talking to the fake Admin
// API, served over real HTTP on loopback.
type harness struct {
	t      testing.TB
	db     *sqlx.DB
	app    *server.App
	srv    *httptest.Server
	fake   *shopifytest.Server
	client *http.Client // does not follow redirects
}

type harnessOpts struct {
	dev     bool
	workers bool
	// noIngestLimits turns the per-IP limit off for load from one loopback
	// address (benchmarks only).
	noIngestLimits bool
	// visitorRefill, when set, replaces the per-visitor refill rate
	// (requests per second; the burst stays the default 30).
	visitorRefill float64
	// env adds or overrides environment variables.
	env map[string]string
	// now replaces the app's clock (server.Options.Now).
	now func() time.Time
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	d := dbtest.New(t)
	fake := shopifytest.NewServer(t, apiKey, apiSecret)
	env := map[string]string{
		"DATABASE_URL":         "postgres://unused/for-tests",
		"APP_URL":              "https://cartwheel.test",
		"SHOPIFY_API_KEY":      apiKey,
		"SHOPIFY_API_SECRET":   apiSecret,
		"SHOPIFY_SCOPES":       "read_customers,write_customers",
		"SHOPIFY_API_BASE_URL": fake.URL,
		"ENCRYPTION_KEY":       base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"MAIL_PROVIDER":        "outbox",
	}
	env["SENDGRID_WEBHOOK_PUBLIC_KEY"] = sendgridTestKey.public // email_public_test.go
	if o.dev {
		env["APP_ENV"] = "dev"
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	opts := server.Options{JobPollInterval: 20 * time.Millisecond, Now: o.now}
	if o.noIngestLimits {
		opts.IngestLimits = web.IngestLimits{DisableForBenchmarkOnly: true}
	}
	if o.visitorRefill > 0 {
		opts.IngestLimits = web.IngestLimits{PerVisitor: o.visitorRefill, VisitorBurst: 30}
	}
	app, err := server.New(cfg, d, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: d, app: app, fake: fake,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	h.srv = httptest.NewServer(app.Handler)
	t.Cleanup(h.srv.Close)
	if o.workers {
		h.startWorkers()
	}
	return h
}

func (h *harness) startWorkers() {
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.app.StartWorkers(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		stopCtx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		h.app.StopWorkers(stopCtx)
		cancel()
	})
}

// install puts a shop in the installed state the way an install does, and
// tells the fake about it.
func (h *harness) install(domain string) shops.Shop {
	h.t.Helper()
	h.fake.AddShop(shopify.ShopInfo{Name: "Shop " + domain, Email: "owner@" + domain, MyshopifyDomain: domain,
		IanaTimezone: "Europe/Paris", CurrencyCode: "EUR", PlanName: "Basic"})
	var sh shops.Shop
	err := db.InTx(context.Background(), h.db, func(tx *sqlx.Tx) error {
		var err error
		sh, err = h.app.Shops.Install(context.Background(), tx, domain, "shpat_"+domain, "read_customers", time.Now().Add(-time.Hour))
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return sh
}

func (h *harness) token(shop string) string {
	h.t.Helper()
	tok, err := shopify.MintSessionToken(shop, apiKey, apiSecret, "42", time.Now(), time.Minute)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// do sends a request; headers are pairs of name, value.
func (h *harness) do(method, path string, body io.Reader, headers ...string) (*http.Response, string) {
	h.t.Helper()
	return h.sendTo(h.srv.URL, method, path, body, headers...)
}

// sendTo is do against the server at base (another instance, say).
func (h *harness) sendTo(base, method, path string, body io.Reader, headers ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (h *harness) get(path string, headers ...string) (*http.Response, string) {
	return h.do(http.MethodGet, path, nil, headers...)
}

func (h *harness) postForm(path string, form url.Values, headers ...string) (*http.Response, string) {
	return h.do(http.MethodPost, path, strings.NewReader(form.Encode()),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.Get(&n, query, args...); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes. The deadline
// only stops a broken test from hanging: it is generous because parallel
// tests on a busy machine may wait a long time for a job to be picked up.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

// fixture reads one of go-shopify's fixtures and unwraps its envelope
// ({"shop": {...}} → {...}).
func fixture(t testing.TB, name, envelope string) []byte {
	t.Helper()
	dir := filepath.Join(goModCache(t), "github.com", "bold-commerce", "go-shopify", "v4@v4.7.0", "fixtures")
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("go-shopify fixture %s: %v", name, err)
	}
	if envelope == "" {
		return raw
	}
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		t.Fatal(err)
	}
	return wrapped[envelope]
}

func goModCache(t testing.TB) string {
	if v := os.Getenv("GOMODCACHE"); v != "" {
		return v
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.Join(strings.Split(gp, string(os.PathListSeparator))[0], "pkg", "mod")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "pkg", "mod")
}

// percentile reads the p-th quantile (0–1) from latencies sorted ascending.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}
