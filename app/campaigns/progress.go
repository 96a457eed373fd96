package campaigns

import (
	"context"
	"fmt"
	"time"
)

// Progress is where a campaign's send stands, for the admin's progress bar.
type Progress struct {
	Status string
	Total  int // recipients in the snapshot (the holdout included)
	// Pending have not been handed to delivery yet. Of those, DueLater
	// wait for their time (local-time sending; the first of them is due at
	// NextDue) and ForWinner for the A/B test's winner.
	Pending, DueLater, ForWinner int
	NextDue                      *time.Time
	// Reserved have a ledger row (handed to delivery); of those Queued are
	// not sent yet (queued or being sent), Sent were accepted by the
	// provider (and may since be delivered, opened, …), Failed will not go.
	Reserved, Queued, Sent, Failed int
	// Skipped counts by reason: the snapshot's holdout, the batch's
	// (no_email, customer_deleted, cancelled) and the sender's at send time
	// (suppressed, not_consented, frequency_window, …).
	Skipped map[string]int
	// PerMinute is how many were sent in the last minute.
	PerMinute int
	// ETA is the time left at that rate (0 when done, paused, cancelled,
	// or nothing was sent in the last minute).
	ETA time.Duration
}

// Progress reads the campaign's figures: its recipients by status and
// reason, its ledger rows by status and skip reason, and what went out in
// the minute before now.
func (s *Sending) Progress(ctx context.Context, shopID, id int64, now time.Time) (Progress, error) {
	c, err := s.Store.Get(ctx, shopID, id)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Status: c.Status, Skipped: map[string]int{}}
	var recips []struct {
		Status    string     `db:"status"`
		Reason    string     `db:"reason"`
		N         int        `db:"n"`
		Later     int        `db:"later"`
		ForWinner int        `db:"for_winner"`
		Next      *time.Time `db:"next"`
	}
	if err := s.Store.DB.SelectContext(ctx, &recips, `SELECT status, reason, count(*) AS n,
			count(*) FILTER (WHERE due_at > $3 AND isfinite(due_at)) AS later,
			count(*) FILTER (WHERE due_at = 'infinity') AS for_winner,
			min(due_at) FILTER (WHERE due_at > $3 AND isfinite(due_at)) AS next
		FROM campaign_recipients
		WHERE campaign_id = $2 AND shop_id = $1 GROUP BY status, reason`, shopID, id, now); err != nil {
		return p, fmt.Errorf("campaigns: progress of %d: %w", id, err)
	}
	for _, r := range recips {
		p.Total += r.N
		switch r.Status {
		case "pending":
			p.Pending += r.N
			p.DueLater += r.Later
			p.ForWinner += r.ForWinner
			if r.Next != nil && (p.NextDue == nil || r.Next.Before(*p.NextDue)) {
				p.NextDue = r.Next
			}
		case "skipped":
			p.Skipped[r.Reason] += r.N
		}
	}
	var msgs []struct {
		Status string `db:"status"`
		Reason string `db:"skip_reason"`
		N      int    `db:"n"`
		Recent int    `db:"recent"`
	}
	if err := s.Store.DB.SelectContext(ctx, &msgs, `SELECT status, skip_reason, count(*) AS n,
			count(*) FILTER (WHERE sent_at > $3) AS recent
		FROM email_messages WHERE shop_id = $1 AND campaign_id = $2 GROUP BY status, skip_reason`,
		shopID, id, now.Add(-time.Minute)); err != nil {
		return p, fmt.Errorf("campaigns: progress of %d: ledger: %w", id, err)
	}
	for _, m := range msgs {
		p.Reserved += m.N
		p.PerMinute += m.Recent
		switch m.Status {
		case "queued", "sending":
			p.Queued += m.N
		case "skipped":
			p.Skipped[m.Reason] += m.N
		case "failed":
			p.Failed += m.N
		default:
			p.Sent += m.N
		}
	}
	// A sent campaign may still have deliveries queued: its ETA is theirs.
	if left := p.Pending + p.Queued; left > 0 && p.PerMinute > 0 && (c.Status == StatusSending || c.Status == StatusSent) {
		p.ETA = time.Duration(float64(left) / float64(p.PerMinute) * float64(time.Minute))
	}
	return p, nil
}
