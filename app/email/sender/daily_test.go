package sender_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
)

// The daily limit is re-checked when campaign emails go: with a limit of 4
// and 2 marketing emails already sent today, one of the batch's campaign
// emails goes (a flow email sent in the same batch takes the other place),
// the rest stay queued and the batch asks to come back when the shop's
// next day starts. Flow emails are counted, never held.
func TestDeliverHoldsCampaignEmailsOverTheDailyLimit(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	de.db.MustExec(`UPDATE shops SET daily_send_limit = 4, iana_timezone = 'Asia/Tokyo' WHERE id = $1`, de.shop)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Now().In(tokyo)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, tokyo)
	// Two sent today, one yesterday (doesn't count), one transactional
	// (doesn't count).
	for i, at := range []time.Time{now, now, midnight.Add(-time.Second), now} {
		de.db.MustExec(`INSERT INTO email_messages (shop_id, to_email, kind, dedupe_key, marketing, status, sent_at)
			VALUES ($1, 'x@example.com', 'flow', $2, $3, 'sent', $4)`, de.shop, fmt.Sprintf("old:%d", i), i < 3, at)
	}
	var ids []int64
	flowCust := emailtest.Customer(t, de.db, de.shop, "flow@example.com", "subscribed")
	ids = append(ids, de.reserveFlow(t, de.db, flowCust, "flow@example.com", 1, nil))
	for i := 0; i < 4; i++ {
		to := fmt.Sprintf("c%d@example.com", i)
		c := emailtest.Customer(t, de.db, de.shop, to, "subscribed")
		id, _, err := ledger.Reserve(ctx, de.db, ledger.Reservation{ShopID: de.shop, CustomerID: c, To: to, Kind: ledger.KindCampaign,
			Marketing: true, Source: ledger.Source{CampaignID: 9, TemplateID: de.tpl}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	res, err := de.s.Deliver(ctx, de.shop, ids)
	wait := providers.RetryAfter(err)
	tomorrow := midnight.AddDate(0, 0, 1)
	if wait <= 0 || time.Now().Add(wait).Before(tomorrow.Add(-time.Minute)) || time.Now().Add(wait).After(tomorrow.Add(time.Minute)) {
		t.Fatalf("over the limit: wait %v (%v), want until %v", wait, err, tomorrow)
	}
	if len(res) != 2 || res[0].Outcome != "sent" || res[1].Outcome != "sent" {
		t.Fatalf("results %+v", res)
	}
	var queued int
	if err := de.db.Get(&queued, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND campaign_id = 9 AND status = 'queued'`, de.shop); err != nil {
		t.Fatal(err)
	}
	if queued != 3 || de.prov.calls.Load() != 2 {
		t.Fatalf("%d campaign emails still queued (want 3), %d provider calls (want 2)", queued, de.prov.calls.Load())
	}
	// The retry holds them too, while it is still today.
	if _, err := de.s.Deliver(ctx, de.shop, ids); providers.RetryAfter(err) <= 0 || de.prov.calls.Load() != 2 {
		t.Fatalf("retry on the same day: %v, %d calls", err, de.prov.calls.Load())
	}
	// A shop without a limit sends them.
	de.db.MustExec(`UPDATE shops SET daily_send_limit = 0 WHERE id = $1`, de.shop)
	if _, err := de.s.Deliver(ctx, de.shop, ids); err != nil || de.prov.calls.Load() != 5 {
		t.Fatalf("without a limit: %v, %d calls", err, de.prov.calls.Load())
	}
}

// A warm-up's allowance holds at send time too: on its first day (250),
// with 248 marketing emails already sent today, two of four campaign
// emails go and the rest wait for the next day.
func TestDeliverHoldsCampaignEmailsOverTheWarmup(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	de.db.MustExec(`UPDATE shops SET daily_send_limit = 0, iana_timezone = 'Asia/Tokyo',
		warmup_started_on = (now() AT TIME ZONE 'Asia/Tokyo')::date WHERE id = $1`, de.shop)
	de.db.MustExec(`INSERT INTO email_messages (shop_id, to_email, kind, dedupe_key, marketing, status, sent_at)
		SELECT $1, 'x@example.com', 'flow', 'old:' || g, true, 'sent', now() FROM generate_series(1, 248) g`, de.shop)
	var ids []int64
	for i := 0; i < 4; i++ {
		to := fmt.Sprintf("w%d@example.com", i)
		c := emailtest.Customer(t, de.db, de.shop, to, "subscribed")
		id, _, err := ledger.Reserve(ctx, de.db, ledger.Reservation{ShopID: de.shop, CustomerID: c, To: to, Kind: ledger.KindCampaign,
			Marketing: true, Source: ledger.Source{CampaignID: 9, TemplateID: de.tpl}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_, err := de.s.Deliver(ctx, de.shop, ids)
	if providers.RetryAfter(err) <= 0 || de.prov.calls.Load() != 2 {
		t.Fatalf("over the warm-up's allowance: %v, %d provider calls (want 2)", err, de.prov.calls.Load())
	}
}
