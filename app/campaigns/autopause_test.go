package campaigns_test

import (
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/campaigns"
)

// Auto-pause: more than 5 % hard bounces among the first 1,000 recipients
// handed to delivery, or complaints above 0.3 % of those handed (at least
// 1,000 counted), pause the campaign with the reason; bounces after the
// first 1,000 don't count; resuming is the merchant accepting it, and the
// campaign then goes to the end.
func TestAutoPause(t *testing.T) {
	se := newSendEnv(t, 2500)
	c := se.campaign(campaigns.Draft{})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	batch := func() campaigns.BatchResult {
		t.Helper()
		r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID) < 1200 {
		if r := batch(); r.Stopped != "" || r.Finished {
			t.Fatalf("stopped early: %+v", r)
		}
	}
	// mark sets the status of n ledger rows of recipients in a position
	// range (as SendGrid's bounce and spamreport events do).
	mark := func(status, bounce string, from, to, n int) {
		t.Helper()
		se.exec(`UPDATE email_messages SET status = $1, bounce_type = $2 WHERE id IN (
			SELECT message_id FROM campaign_recipients WHERE campaign_id = $3 AND position BETWEEN $4 AND $5
			AND message_id IS NOT NULL ORDER BY position LIMIT $6)`, status, bounce, c.ID, from, to, n)
	}
	firstK := se.count(`SELECT position FROM campaign_recipients WHERE campaign_id = $1 AND message_id IS NOT NULL
		ORDER BY position OFFSET 999 LIMIT 1`, c.ID)
	// 50 hard bounces in the sample, 30 after it, soft ones anywhere: on.
	mark("bounced", "hard", 1, firstK, 50)
	mark("bounced", "hard", firstK+1, firstK+200, 30)
	se.exec(`UPDATE email_messages SET status = 'bounced', bounce_type = 'soft' WHERE id IN (
		SELECT message_id FROM campaign_recipients WHERE campaign_id = $1 AND position BETWEEN 700 AND 900 AND message_id IS NOT NULL)
		AND status <> 'bounced'`, c.ID)
	if r := batch(); r.Stopped != "" {
		t.Fatalf("paused with 50 hard bounces in the first 1,000: %+v", r)
	}
	// The 51st in the sample: paused, with the reason, nothing reserved.
	before := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID)
	se.exec(`UPDATE email_messages SET status = 'bounced', bounce_type = 'hard' WHERE id = (
		SELECT r.message_id FROM campaign_recipients r JOIN email_messages m ON m.id = r.message_id
		WHERE r.campaign_id = $1 AND r.position <= $2 AND m.status = 'queued' ORDER BY r.position LIMIT 1)`, c.ID, firstK)
	if r := batch(); r.Stopped != campaigns.StatusPaused || r.Reserved != 0 {
		t.Fatalf("51 hard bounces in the first 1,000: %+v", r)
	}
	got, err := se.store.Get(se.ctx, 1, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaigns.StatusPaused || !strings.Contains(got.PausedReason, "51 of the first 1000 recipients hard-bounced") {
		t.Fatalf("after auto-pause: %s %q", got.Status, got.PausedReason)
	}
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID); n != before {
		t.Fatalf("the pausing batch reserved %d", n-before)
	}
	// The merchant resumes: the campaign goes to the end.
	if _, err := se.sending.Resume(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.drain(c.ID, 2)
	if s := se.status(c.ID); s != campaigns.StatusSent {
		t.Fatalf("after resuming: %s", s)
	}
	se.checkOnce(c.ID)

	// Complaints: 3 in 1,000 handed is the limit, the 4th pauses.
	c2 := se.campaign(campaigns.Draft{Name: "Second"})
	c = c2
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	for se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID) < 500 {
		batch()
	}
	mark("complained", "", 1, 400, 3)
	if r := batch(); r.Stopped != "" {
		t.Fatalf("paused with 3 complaints: %+v", r)
	}
	mark("complained", "", 401, 500, 1)
	if r := batch(); r.Stopped != campaigns.StatusPaused {
		t.Fatalf("4 complaints in 600 handed: %+v", r)
	}
	got, _ = se.store.Get(se.ctx, 1, c.ID)
	if !strings.Contains(got.PausedReason, "4 recipients marked it as spam") {
		t.Fatalf("reason: %q", got.PausedReason)
	}
}
