package web_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"image/gif"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/email/tracking"
)

// sendgridTestKey is the harness's Signed Event Webhook key pair, made like
// SendGrid's: P-256, public key as base64 DER (SENDGRID_WEBHOOK_PUBLIC_KEY).
var sendgridTestKey = func() struct {
	priv   *ecdsa.PrivateKey
	public string
} {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		panic(err)
	}
	return struct {
		priv   *ecdsa.PrivateKey
		public string
	}{priv, base64.StdEncoding.EncodeToString(der)}
}()

// sendgridSign signs like SendGrid: ECDSA P-256 over SHA-256(timestamp ‖ body),
// ASN.1 DER, base64.
func sendgridSign(t testing.TB, key *ecdsa.PrivateKey, ts string, body []byte) string {
	t.Helper()
	h := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

type emailFixture struct {
	h        *harness
	shop     int64
	customer int64
	msg      int64
}

func newEmailFixture(t *testing.T) emailFixture {
	h := newHarness(t, harnessOpts{})
	sh := h.install("a.myshopify.com")
	h.db.MustExec(`UPDATE shops SET name = 'Hat Shop' WHERE id = $1`, sh.ID)
	var f emailFixture
	f.h, f.shop = h, sh.ID
	if err := h.db.Get(&f.customer, `INSERT INTO customers (shop_id, shopify_id, email, email_consent) VALUES ($1, 555, 'ada@example.com', 'subscribed') RETURNING id`, sh.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Get(&f.msg, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at)
		VALUES ($1, $2, 'ada@example.com', 'campaign', 'campaign:9:customer:1', $3, true, 'sent', now() - interval '1 hour') RETURNING id`,
		sh.ID, f.customer, pq.Array([]string{"https://hat.example/products/hat", "https://hat.example/sale?x=1"})); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f emailFixture) consent() string {
	var s string
	f.h.db.Get(&s, `SELECT email_consent FROM customers WHERE id = $1`, f.customer)
	return s
}

func TestUnsubscribePageWithoutLogin(t *testing.T) {
	f := newEmailFixture(t)
	h := f.h
	tok := h.app.Tracking.Tokens.UnsubscribeToken(f.msg)

	resp, body := h.get("/u/" + tok)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Hat Shop") || !strings.Contains(body, "a***@example.com") ||
		!strings.Contains(body, `action="/u/`+tok+`"`) || !strings.Contains(body, ">Unsubscribe</button>") || strings.Contains(body, "<script") {
		t.Fatalf("GET page %d:\n%s", resp.StatusCode, body)
	}
	_, body = h.get("/u/"+tok, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
	if !strings.Contains(body, `lang="zh-CN"`) || !strings.Contains(body, "退订") {
		t.Errorf("not localised:\n%s", body)
	}
	if f.consent() != "subscribed" {
		t.Fatal("GET changed consent")
	}

	// Tampered token: 400, nothing changed.
	bad := tok[:3] + map[bool]string{true: "B", false: "A"}[tok[3] == 'A'] + tok[4:]
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, _ := h.do(method, "/u/"+bad, strings.NewReader("List-Unsubscribe=One-Click"), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s tampered: %d", method, resp.StatusCode)
		}
	}
	if f.consent() != "subscribed" || h.count(`SELECT count(*) FROM river_job WHERE kind = 'customers.push_consent'`) != 0 {
		t.Fatal("tampered token changed something")
	}

	// RFC 8058 one-click POST from a mail client.
	resp, body = h.do(http.MethodPost, "/u/"+tok, strings.NewReader("List-Unsubscribe=One-Click"), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Re-subscribe") || !strings.Contains(body, `action="/u/`+tok+`/resubscribe"`) {
		t.Fatalf("one-click %d:\n%s", resp.StatusCode, body)
	}
	if f.consent() != "unsubscribed" {
		t.Fatal("not unsubscribed")
	}
	if n := h.count(`SELECT count(*) FROM river_job WHERE kind = 'customers.push_consent' AND args->>'customer_id' = $1`, strconv.FormatInt(f.customer, 10)); n != 1 {
		t.Errorf("%d consent pushes queued, want 1", n)
	}
	// The page now shows the unsubscribed state with re-subscribe.
	if _, body = h.get("/u/" + tok); !strings.Contains(body, "Re-subscribe") {
		t.Error("page after unsubscribe does not offer re-subscribe")
	}
	resp, body = h.do(http.MethodPost, "/u/"+tok+"/resubscribe", nil)
	if resp.StatusCode != http.StatusOK || f.consent() != "subscribed" || !strings.Contains(body, "Welcome back") {
		t.Fatalf("resubscribe %d consent %s:\n%s", resp.StatusCode, f.consent(), body)
	}
	var src string
	h.db.Get(&src, `SELECT source FROM consent_events WHERE customer_id = $1 ORDER BY id DESC LIMIT 1`, f.customer)
	if src != "resubscribe" {
		t.Errorf("consent source %q", src)
	}
}

func TestClickAndOpenRoutes(t *testing.T) {
	f := newEmailFixture(t)
	h := f.h
	tk := h.app.Tracking.Tokens

	resp, _ := h.get("/t/c/"+tk.ClickToken(f.msg, 1), "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("click: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Host != "hat.example" || loc.Path != "/sale" || loc.Query().Get("x") != "1" || loc.Query().Get("utm_source") != "cartwheel" ||
		loc.Query().Get("utm_medium") != "email" || loc.Query().Get("utm_campaign") != "campaign-9" {
		t.Errorf("Location = %s", loc)
	}
	if resp, _ := h.get("/t/c/" + tk.ClickToken(f.msg, 2)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("link index out of range: %d", resp.StatusCode)
	}
	tok := tk.ClickToken(f.msg, 0)
	if resp, _ := h.get("/t/c/" + tok[:len(tok)-3] + "abc"); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("tampered click: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/t/c/" + tk.OpenToken(f.msg)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("open token on click route: %d", resp.StatusCode)
	}

	resp, body := h.get("/t/o/"+tk.OpenToken(f.msg), "User-Agent", "Mozilla/5.0")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" || len(body) != 43 ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "no-cache") {
		t.Fatalf("open: %d %s %d bytes %q", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), resp.Header.Get("Cache-Control"))
	}
	img, err := gif.Decode(bytes.NewReader([]byte(body)))
	if err != nil || img.Bounds().Dx() != 1 || img.Bounds().Dy() != 1 {
		t.Fatalf("pixel: %v", err)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Error("pixel not transparent")
	}
	if n := h.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'open' AND machine`, f.msg); n != 1 {
		t.Errorf("Apple MPP open not recorded as machine (%d)", n)
	}
	if n := h.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'click' AND link_index = 1 AND NOT machine`, f.msg); n != 1 {
		t.Errorf("click not recorded (%d)", n)
	}
	if resp, _ := h.get("/t/o/not-a-token"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad open token: %d", resp.StatusCode)
	}
}

func TestSendGridEventsRoute(t *testing.T) {
	f := newEmailFixture(t)
	h := f.h
	events := []map[string]any{{
		// SendGrid's documented bounce example, addressed to our message.
		"email": "ada@example.com", "timestamp": time.Now().Unix(), "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
		"event": "bounce", "category": "cat facts", "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
		"sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
		"reason":        "500 unknown recipient", "status": "5.0.0", "type": "bounce",
		"cw_message_id": strconv.FormatInt(f.msg, 10), "cw_shop_id": strconv.FormatInt(f.shop, 10),
	}}
	body, _ := json.Marshal(events)
	post := func(body []byte, sig, ts string) (*http.Response, string) {
		return h.do(http.MethodPost, "/sendgrid/events", bytes.NewReader(body), "Content-Type", "application/json",
			tracking.SignatureHeader, sig, tracking.TimestampHeader, ts)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)

	// Forged (another key), stale, unsigned: 401 and no trace.
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for name, c := range map[string][2]string{
		"forged":   {sendgridSign(t, forger, now, body), now},
		"stale":    {sendgridSign(t, sendgridTestKey.priv, old, body), old},
		"unsigned": {"", ""},
	} {
		if resp, _ := post(body, c[0], c[1]); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	if h.count(`SELECT count(*) FROM email_events`) != 0 || h.count(`SELECT count(*) FROM suppressions`) != 0 {
		t.Fatal("rejected batch left a trace")
	}

	resp, out := post(body, sendgridSign(t, sendgridTestKey.priv, now, body), now)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"processed":1`) {
		t.Fatalf("valid batch: %d %s", resp.StatusCode, out)
	}
	var reason string
	h.db.Get(&reason, `SELECT reason FROM suppressions WHERE shop_id = $1 AND email = 'ada@example.com'`, f.shop)
	if reason != tracking.ReasonHardBounce {
		t.Errorf("suppression reason %q", reason)
	}
	// SendGrid retries the same batch: processed once.
	now2 := strconv.FormatInt(time.Now().Unix(), 10)
	resp, out = post(body, sendgridSign(t, sendgridTestKey.priv, now2, body), now2)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"duplicates":1`) || !strings.Contains(out, `"processed":0`) {
		t.Fatalf("replayed batch: %d %s", resp.StatusCode, out)
	}
	if n := h.count(`SELECT count(*) FROM email_events WHERE sg_event_id IS NOT NULL`); n != 1 {
		t.Errorf("%d events stored", n)
	}
	// Signed but not a JSON array: 400.
	junk := []byte(`{"nope":true}`)
	if resp, _ := post(junk, sendgridSign(t, sendgridTestKey.priv, now2, junk), now2); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("junk: %d", resp.StatusCode)
	}
}

func TestSenderConfirmationRoute(t *testing.T) {
	f := newEmailFixture(t)
	h := f.h
	h.db.MustExec(`UPDATE shops SET sender_email = 'hello@hat.example' WHERE id = $1`, f.shop)
	if err := h.app.Senders.Start(t.Context(), f.shop); err != nil {
		t.Fatal(err)
	}
	// The outbox provider stored the email.
	var subject, text string
	if err := h.db.QueryRow(`SELECT subject, text FROM outbox_messages WHERE shop_id = $1`, f.shop).Scan(&subject, &text); err != nil {
		t.Fatal(err)
	}
	if subject != tracking.SenderSubject {
		t.Errorf("subject %q", subject)
	}
	m := regexp.MustCompile(`https://cartwheel\.test(/email/verify/[A-Za-z0-9_-]+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no link in %q", text)
	}
	if resp, _ := h.get(m[1] + "x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad link: %d", resp.StatusCode)
	}
	if ok, _ := h.app.Senders.Verified(t.Context(), f.shop); ok {
		t.Fatal("verified too early")
	}
	resp, body := h.get(m[1])
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "confirmed") {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body)
	}
	if ok, _ := h.app.Senders.Verified(t.Context(), f.shop); !ok {
		t.Fatal("not verified after confirming")
	}
}
