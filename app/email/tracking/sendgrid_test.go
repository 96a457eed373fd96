package tracking_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/tracking"
)

// sgKey is a P-256 key pair made the way SendGrid makes the Signed Event
// Webhook's: the public half is what SendGrid shows (base64 of the DER
// SubjectPublicKeyInfo).
type sgKey struct {
	priv   *ecdsa.PrivateKey
	public string
}

func newSGKey(t testing.TB) sgKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return sgKey{priv: priv, public: base64.StdEncoding.EncodeToString(der)}
}

// sign signs like SendGrid: ECDSA over SHA-256(timestamp ‖ body), ASN.1 DER, base64.
func (k sgKey) sign(t testing.TB, ts string, body []byte) string {
	t.Helper()
	h := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestSendGridSignature(t *testing.T) {
	k := newSGKey(t)
	v, err := tracking.NewSendGridVerifier(k.public)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`[{"email":"example@test.com","event":"delivered","sg_event_id":"x"}]`)
	ts := strconv.FormatInt(now.Unix(), 10)
	if err := v.Verify(body, k.sign(t, ts, body), ts, now); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	forger := newSGKey(t)
	if err := v.Verify(body, forger.sign(t, ts, body), ts, now); !errors.Is(err, tracking.ErrBadSignature) {
		t.Errorf("forged: %v", err)
	}
	if err := v.Verify(append([]byte(" "), body...), k.sign(t, ts, body), ts, now); !errors.Is(err, tracking.ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if err := v.Verify(body, k.sign(t, ts, body), strconv.FormatInt(now.Unix()+1, 10), now); !errors.Is(err, tracking.ErrBadSignature) {
		t.Errorf("timestamp swapped: %v", err)
	}
	old := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	if err := v.Verify(body, k.sign(t, old, body), old, now); !errors.Is(err, tracking.ErrStale) {
		t.Errorf("replayed old batch: %v", err)
	}
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	if err := v.Verify(body, k.sign(t, future, body), future, now); !errors.Is(err, tracking.ErrStale) {
		t.Errorf("future timestamp: %v", err)
	}
	for _, c := range [][2]string{{"", ts}, {k.sign(t, ts, body), ""}, {"not base64!", ts}, {base64.StdEncoding.EncodeToString([]byte("junk")), ts}} {
		if err := v.Verify(body, c[0], c[1], now); err == nil {
			t.Errorf("accepted signature %q ts %q", c[0], c[1])
		}
	}
	var nilV *tracking.SendGridVerifier
	if err := nilV.Verify(body, k.sign(t, ts, body), ts, now); err == nil {
		t.Error("unconfigured verifier accepted a batch")
	}
	for _, bad := range []string{"", "bm90IGEga2V5", base64.StdEncoding.EncodeToString(x509MarshalRSA(t))} {
		if _, err := tracking.NewSendGridVerifier(bad); err == nil {
			t.Errorf("public key %q accepted", bad)
		}
	}
}

func x509MarshalRSA(t *testing.T) []byte {
	// An Ed25519 key: valid PKIX, not ECDSA.
	der, _ := base64.StdEncoding.DecodeString("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")
	return der
}

var sgSeq atomic.Int64

// docEvent returns SendGrid's documented example of the event (and bounce
// type), addressed to one of our messages: a unique sg_event_id and our
// custom args added, as SendGrid sends them back (top-level fields).
func docEvent(t testing.TB, event, typ string, to string, shop, msg int64) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/sendgrid_events.json")
	if err != nil {
		t.Fatal(err)
	}
	var all []map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e["event"] == event && (typ == "" || e["type"] == typ) {
			e["sg_event_id"] = fmt.Sprintf("ev-%d-%d", time.Now().UnixNano(), sgSeq.Add(1))
			e["email"] = to
			e["timestamp"] = time.Now().Unix()
			e["cw_message_id"] = strconv.FormatInt(msg, 10)
			e["cw_shop_id"] = strconv.FormatInt(shop, 10)
			return e
		}
	}
	t.Fatalf("no documented example for %s %s", event, typ)
	return nil
}

func batch(t testing.TB, events ...map[string]any) []byte {
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProcessEventsOnceAndIgnoresForeign(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	other := e.shop("b.myshopify.com")
	c := e.customer(shop, "ada@example.com", "subscribed")
	msg := e.message(shop, c, "ada@example.com")
	otherMsg := e.message(other, e.customer(other, "bob@example.com", "subscribed"), "bob@example.com")

	var all []map[string]any
	for _, ev := range []string{"processed", "delivered", "open", "click", "group_resubscribe"} {
		all = append(all, docEvent(t, ev, "", "ada@example.com", shop, msg))
	}
	unknown := docEvent(t, "delivered", "", "ada@example.com", shop, msg)
	unknown["event"] = "teleported"
	foreign := docEvent(t, "spamreport", "", "bob@example.com", shop, otherMsg) // claims shop a for shop b's message
	stray := docEvent(t, "delivered", "", "ada@example.com", shop, msg)
	delete(stray, "cw_message_id")
	body := batch(t, append(all, unknown, foreign, stray)...)

	sum, err := e.svc.ProcessEvents(ctx, body)
	if err != nil {
		t.Fatal(err)
	}
	want := tracking.EventSummary{Received: 8, Processed: 5, Unknown: 1, OtherShop: 1, Unmatched: 1}
	if sum != want {
		t.Fatalf("summary = %+v, want %+v", sum, want)
	}
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND source = 'sendgrid'`, msg); n != 5 {
		t.Errorf("%d events stored, want 5", n)
	}
	if e.str(`SELECT status FROM email_messages WHERE id = $1`, msg) != "clicked" {
		t.Errorf("status %s", e.str(`SELECT status FROM email_messages WHERE id = $1`, msg))
	}
	if e.count(`SELECT count(*) FROM email_events WHERE message_id = $1`, otherMsg) != 0 ||
		e.count(`SELECT count(*) FROM suppressions`) != 0 || e.str(`SELECT email_consent FROM customers WHERE shop_id = $1`, other) != "subscribed" {
		t.Error("another shop's message was touched")
	}
	// Replay: nothing new.
	sum, err = e.svc.ProcessEvents(ctx, body)
	if err != nil || sum.Processed != 0 || sum.Duplicates != 5 {
		t.Fatalf("replay = %+v, %v", sum, err)
	}
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1`, msg); n != 5 {
		t.Errorf("%d events after replay", n)
	}
	if _, err := e.svc.ProcessEvents(ctx, []byte(`{"event":"delivered"}`)); !errors.Is(err, tracking.ErrBadPayload) {
		t.Errorf("object payload: %v", err)
	}
}

func TestSuppressionRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	process := func(evs ...map[string]any) {
		t.Helper()
		if _, err := e.svc.ProcessEvents(ctx, batch(t, evs...)); err != nil {
			t.Fatal(err)
		}
	}
	reason := func(addr string) string {
		var r string
		e.db.Get(&r, `SELECT reason FROM suppressions WHERE shop_id = $1 AND email = $2`, shop, addr)
		return r
	}

	t.Run("hard bounce", func(t *testing.T) {
		m := e.message(shop, e.customer(shop, "hard@example.com", "subscribed"), "hard@example.com")
		process(docEvent(t, "bounce", "bounce", "hard@example.com", shop, m))
		if reason("hard@example.com") != tracking.ReasonHardBounce {
			t.Errorf("reason %q", reason("hard@example.com"))
		}
		if e.str(`SELECT status || '/' || bounce_type FROM email_messages WHERE id = $1`, m) != "bounced/hard" {
			t.Error("ledger not bounced/hard")
		}
	})

	t.Run("seven soft bounces, a delivery resets", func(t *testing.T) {
		const addr = "soft@example.com"
		c := e.customer(shop, addr, "subscribed")
		soft := func(n int) {
			for i := range n {
				m := e.message(shop, c, addr)
				if i%2 == 0 {
					process(docEvent(t, "bounce", "blocked", addr, shop, m))
				} else { // SendGrid retries a deferred message: one soft bounce per message
					process(docEvent(t, "deferred", "", addr, shop, m), docEvent(t, "deferred", "", addr, shop, m))
				}
			}
		}
		soft(6)
		if reason(addr) != "" {
			t.Fatal("suppressed after 6 soft bounces")
		}
		m := e.message(shop, c, addr)
		process(docEvent(t, "delivered", "", addr, shop, m))
		soft(6)
		if reason(addr) != "" {
			t.Fatal("delivery did not reset the streak")
		}
		soft(1)
		if reason(addr) != tracking.ReasonSoftBounces {
			t.Fatalf("not suppressed after 7 consecutive soft bounces: %q", reason(addr))
		}
	})

	t.Run("spam report", func(t *testing.T) {
		c := e.customer(shop, "spam@example.com", "subscribed")
		m := e.message(shop, c, "spam@example.com")
		before := e.jobs.pushes()
		process(docEvent(t, "spamreport", "", "spam@example.com", shop, m))
		if reason("spam@example.com") != tracking.ReasonComplaint || e.str(`SELECT email_consent FROM customers WHERE id = $1`, c) != "unsubscribed" {
			t.Error("spam report: not suppressed and unsubscribed")
		}
		if e.jobs.pushes() != before+1 {
			t.Error("consent push not queued")
		}
		if e.str(`SELECT status FROM email_messages WHERE id = $1`, m) != "complained" {
			t.Error("ledger not complained")
		}
	})

	t.Run("dropped", func(t *testing.T) {
		m := e.message(shop, 0, "gone@example.com")
		process(docEvent(t, "dropped", "", "gone@example.com", shop, m))
		if reason("gone@example.com") != tracking.ReasonDropped {
			t.Error("dropped Bounced Address not suppressed")
		}
		ev := docEvent(t, "dropped", "", "invalid@example", shop, e.message(shop, 0, "invalid@example"))
		ev["reason"] = "Invalid SMTPAPI header"
		process(ev)
		if reason("invalid@example") != tracking.ReasonDropped {
			t.Error("dropped Invalid not suppressed")
		}
		ev = docEvent(t, "dropped", "", "unsub@example.com", shop, e.message(shop, 0, "unsub@example.com"))
		ev["reason"] = "Unsubscribed Address"
		process(ev)
		if reason("unsub@example.com") != "" {
			t.Error("dropped for another reason suppressed")
		}
	})

	t.Run("unsubscribe events", func(t *testing.T) {
		c := e.customer(shop, "leave@example.com", "subscribed")
		process(docEvent(t, "group_unsubscribe", "", "leave@example.com", shop, e.message(shop, c, "leave@example.com")))
		if e.str(`SELECT email_consent FROM customers WHERE id = $1`, c) != "unsubscribed" {
			t.Error("group_unsubscribe did not unsubscribe")
		}
	})
}

// SendGrid posts batches in parallel and reports a deferred message again
// on each retry: however the batches interleave, one message adds one to
// its address's streak.
func TestConcurrentSoftBouncesCountEachMessageOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	const addr = "busy@example.com"
	c := e.customer(shop, addr, "subscribed")
	for round := range 3 {
		msgs := []int64{e.message(shop, c, addr), e.message(shop, c, addr)}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		release := make(chan struct{})
		for i := range 16 {
			ev := docEvent(t, "deferred", "", addr, shop, msgs[i%2])
			if i%5 == 4 {
				ev = docEvent(t, "bounce", "blocked", addr, shop, msgs[i%2])
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-release
				_, err := e.svc.ProcessEvents(ctx, batch(t, ev))
				errs <- err
			}()
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if n := e.count(`SELECT streak FROM email_soft_bounces WHERE shop_id = $1 AND email = $2`, shop, addr); n != 2*(round+1) {
			t.Fatalf("round %d: streak %d after two more soft-bounced messages, want %d", round, n, 2*(round+1))
		}
	}
}
