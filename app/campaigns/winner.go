package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/segments"
)

// VariantResult is how one A/B variant did among the test recipients.
// Opens and clicks are unique per email, machine activity (Apple Mail's
// privacy prefetch, link scanners) left out; a click counts as an open
// too, since images may be blocked.
type VariantResult struct {
	Key     string `json:"key"`
	Sent    int    `json:"sent"`    // handed to the provider
	Opened  int    `json:"opened"`  // emails opened
	Clicked int    `json:"clicked"` // emails with a click
	// Sales: what the orders attributed to the variant's emails paid, two
	// decimals ("" when no sales reader is wired).
	Sales string `json:"sales,omitempty"`
	// Rate is the winning metric: Clicked or Opened per email sent, or for
	// revenue attributed sales per email sent.
	Rate float64 `json:"rate"`
}

// VariantSales reads what the orders attributed to each of a campaign's
// A/B variants paid (app/reports keeps those figures; campaigns only
// reads them, through q so that a decision reads them in its transaction).
type VariantSales interface {
	CampaignVariantSales(ctx context.Context, q sqlx.QueryerContext, shopID, campaignID int64) (map[string]decimal.Decimal, error)
}

// variantResultsSQL counts each variant's sent, opened and clicked emails.
// The ledger's (shop, campaign, variant) index finds the test's emails;
// each email's events are one probe of the (message, kind) index.
const variantResultsSQL = `
SELECT m.campaign_variant AS key,
	count(*) AS sent,
	count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_events e
		WHERE e.message_id = m.id AND e.kind IN ('open', 'click') AND NOT e.machine)) AS opened,
	count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_events e
		WHERE e.message_id = m.id AND e.kind = 'click' AND NOT e.machine)) AS clicked
FROM email_messages m
WHERE m.shop_id = $1 AND m.campaign_id = $2 AND m.campaign_variant = ANY($3) AND m.sent_at IS NOT NULL
GROUP BY m.campaign_variant`

// variantResults reads the test's figures, one per variant in the
// campaign's order (a variant nobody got yet has zeros).
func variantResults(ctx context.Context, q sqlx.QueryerContext, sales VariantSales, c Campaign) ([]VariantResult, error) {
	keys := make([]string, len(c.AB.Variants))
	for i, v := range c.AB.Variants {
		keys[i] = v.Key
	}
	var rows []VariantResult
	if err := sqlx.SelectContext(ctx, q, &rows, variantResultsSQL, c.ShopID, c.ID, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("campaigns: A/B results of %d: %w", c.ID, err)
	}
	by := map[string]VariantResult{}
	for _, r := range rows {
		by[r.Key] = r
	}
	var paid map[string]decimal.Decimal
	if sales != nil {
		var err error
		if paid, err = sales.CampaignVariantSales(ctx, q, c.ShopID, c.ID); err != nil {
			return nil, fmt.Errorf("campaigns: A/B sales of %d: %w", c.ID, err)
		}
	} else if c.AB.WinnerBy == WinnerByRevenue {
		return nil, fmt.Errorf("campaigns: A/B results of %d: no sales reader wired for a winner by revenue", c.ID)
	}
	out := make([]VariantResult, len(keys))
	for i, k := range keys {
		r := by[k]
		r.Key = k
		if paid != nil {
			r.Sales = paid[k].StringFixed(2)
		}
		if r.Sent > 0 {
			switch c.AB.WinnerBy {
			case WinnerByOpens:
				r.Rate = float64(r.Opened) / float64(r.Sent)
			case WinnerByRevenue:
				r.Rate = paid[k].InexactFloat64() / float64(r.Sent)
			default:
				r.Rate = float64(r.Clicked) / float64(r.Sent)
			}
		}
		out[i] = r
	}
	return out, nil
}

// best is the winning variant: the highest rate; on a tie the one sent to
// more people, then the earlier letter (so a test nobody reacted to goes
// to A, the campaign's first version).
func best(rs []VariantResult) string {
	if len(rs) == 0 {
		return ""
	}
	s := append([]VariantResult(nil), rs...)
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Rate != s[j].Rate {
			return s[i].Rate > s[j].Rate
		}
		if s[i].Sent != s[j].Sent {
			return s[i].Sent > s[j].Sent
		}
		return s[i].Key < s[j].Key
	})
	return s[0].Key
}

// ABResults reads a campaign's A/B figures as they stand now (the stored
// ones once the winner is picked: those are what it was picked on).
func (s *Store) ABResults(ctx context.Context, c Campaign) ([]VariantResult, error) {
	if !c.HasTest() {
		return nil, nil
	}
	if c.ABWinner != "" {
		return c.ABResults, nil
	}
	return variantResults(ctx, s.DB, s.Sales, c)
}

// decide picks the winner of c's test — key, or the best so far when
// key is "" — and makes the rest due: at once, or for local-time sending
// at the chosen time in each one's timezone from now on (zones already
// past: the next day, or at once, as the campaign says). The caller holds
// the campaign's row lock in tx.
func decide(ctx context.Context, tx *sqlx.Tx, sales VariantSales, c Campaign, key string, now time.Time) (string, error) {
	results, err := variantResults(ctx, tx, sales, c)
	if err != nil {
		return "", err
	}
	if key == "" {
		key = best(results)
	}
	js, err := json.Marshal(results)
	if err != nil {
		return "", fmt.Errorf("campaigns: A/B results of %d: %w", c.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET ab_winner = $3, ab_decided_at = $4, ab_results = $5, updated_at = now()
		WHERE shop_id = $1 AND id = $2`, c.ShopID, c.ID, key, now, js); err != nil {
		return "", fmt.Errorf("campaigns: pick winner of %d: %w", c.ID, err)
	}
	if c.Schedule.Mode != SendLocal || c.Schedule.SendAt == nil {
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_recipients SET due_at = $3
			WHERE campaign_id = $2 AND shop_id = $1 AND variant = '' AND status = 'pending'`, c.ShopID, c.ID, now); err != nil {
			return "", fmt.Errorf("campaigns: pick winner of %d: the rest: %w", c.ID, err)
		}
		return key, nil
	}
	loc, err := segments.Location(ctx, tx, c.ShopID)
	if err != nil {
		return "", fmt.Errorf("campaigns: pick winner of %d: %w", c.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `WITH zones AS (SELECT name FROM pg_timezone_names)
		UPDATE campaign_recipients r SET due_at = `+localDue("$3", "$4", "$5", "$6")+`
		FROM customers c LEFT JOIN zones z ON z.name = c.timezone
		WHERE r.campaign_id = $2 AND r.shop_id = $1 AND r.variant = '' AND r.status = 'pending'
		  AND c.shop_id = $1 AND c.id = r.customer_id`,
		c.ShopID, c.ID, c.Schedule.SendAt.In(loc).Format(wallLayout), loc.String(), now, c.Schedule.PastZones == PastZonesNow); err != nil {
		return "", fmt.Errorf("campaigns: pick winner of %d: the rest: %w", c.ID, err)
	}
	// A recipient whose profile is gone keeps 'infinity' above: the batch
	// skips such rows, so make them due now.
	if _, err := tx.ExecContext(ctx, `UPDATE campaign_recipients SET due_at = $3
		WHERE campaign_id = $2 AND shop_id = $1 AND variant = '' AND status = 'pending' AND due_at = 'infinity'`,
		c.ShopID, c.ID, now); err != nil {
		return "", fmt.Errorf("campaigns: pick winner of %d: the rest: %w", c.ID, err)
	}
	return key, nil
}

// ErrNoTest: the campaign has no A/B test, or its winner is already picked.
var ErrNoTest = errors.New("campaigns: no A/B test waiting for a winner")

// PickWinner is the merchant picking the A/B test's winner before its time
// (key "" = the best so far). The rest become due as they would have at the
// planned time; a sending campaign gets a batch at once.
func (s *Sending) PickWinner(ctx context.Context, shopID, id int64, key string, now time.Time) (Campaign, error) {
	tx, err := s.Store.DB.BeginTxx(ctx, nil)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: pick winner of %d: %w", id, err)
	}
	defer tx.Rollback()
	c, err := get(ctx, tx, shopID, id, true)
	if err != nil {
		return Campaign{}, err
	}
	if !c.HasTest() || c.ABWinner != "" || c.AB.TestPercent >= 100 {
		return Campaign{}, ErrNoTest
	}
	switch c.Status {
	case StatusSending, StatusPaused:
	default:
		return Campaign{}, StatusError{Action: "given a winner", Status: c.Status}
	}
	if c.SnapshotAt == nil {
		return Campaign{}, StatusError{Action: "given a winner", Status: c.Status}
	}
	if key != "" {
		found := false
		for _, v := range c.AB.Variants {
			found = found || v.Key == key
		}
		if !found {
			return Campaign{}, FieldErrors{"winner": "Choose one of this campaign's versions."}
		}
	}
	if _, err := decide(ctx, tx, s.Store.Sales, c, key, now); err != nil {
		return Campaign{}, err
	}
	if c.Status == StatusSending {
		if err := s.enqueue(ctx, tx, shopID, id, 1); err != nil {
			return Campaign{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: pick winner of %d: %w", id, err)
	}
	return s.Store.Get(ctx, shopID, id)
}
