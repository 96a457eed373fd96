package campaigns

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Auto-pause: a campaign whose first deliveries bounce or draw complaints
// is paused before it hurts the shop's sending reputation further, with
// the reason shown to the merchant (who can resume it).
const (
	// BounceSample is how many of the first recipients handed to delivery
	// the hard-bounce rate is read over.
	BounceSample = 1000
	// MaxHardBounceRate: more hard bounces than this share of the sample
	// pauses the campaign (5 % of the first 1,000: the 51st pauses it,
	// as soon as it is known, since the count can only grow).
	MaxHardBounceRate = 0.05
	// MaxComplaintRate: more complaints than this share of the recipients
	// handed so far (at least BounceSample counted, so three complaints
	// in the first hundred don't pause a large campaign) pauses it.
	MaxComplaintRate = 0.003
)

// trouble is why the campaign must pause now ("" if it may go on), read
// in the batch's transaction under the campaign's row lock; handed is how
// many recipients the checkpoint has passed.
func trouble(ctx context.Context, tx *sqlx.Tx, shopID, campaignID int64, handed int) (string, error) {
	var t struct {
		Hard       int `db:"hard"`
		Complained int `db:"complained"`
	}
	// Hard bounces count among the recipients up to the BounceSample-th
	// one handed to delivery (send order); complaints among all.
	err := tx.GetContext(ctx, &t, `
		WITH sample_end AS (
			SELECT COALESCE((SELECT position FROM campaign_recipients
				WHERE campaign_id = $2 AND message_id IS NOT NULL ORDER BY position OFFSET $3 - 1 LIMIT 1), 2147483647) AS position
		)
		SELECT count(*) FILTER (WHERE m.status = 'bounced' AND m.bounce_type = 'hard'
		                          AND r.position <= (SELECT position FROM sample_end)) AS hard,
		       count(*) FILTER (WHERE m.status = 'complained') AS complained
		FROM email_messages m
		JOIN campaign_recipients r ON r.campaign_id = m.campaign_id AND r.customer_id = m.customer_id
		WHERE m.shop_id = $1 AND m.campaign_id = $2 AND m.status IN ('bounced', 'complained')`,
		shopID, campaignID, BounceSample)
	if err != nil {
		return "", fmt.Errorf("campaigns: bounces and complaints of %d: %w", campaignID, err)
	}
	if float64(t.Hard) > MaxHardBounceRate*BounceSample {
		return fmt.Sprintf("%d of the first %d recipients hard-bounced (more than %g %%). Check where this list came from before you resume.",
			t.Hard, BounceSample, MaxHardBounceRate*100), nil
	}
	if float64(t.Complained) > MaxComplaintRate*float64(max(handed, BounceSample)) {
		return fmt.Sprintf("%d recipients marked it as spam (more than %g %% of the %d sent so far). Review the content and the audience before you resume.",
			t.Complained, MaxComplaintRate*100, handed), nil
	}
	return "", nil
}
