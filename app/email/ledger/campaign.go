package ledger

import (
	"context"
	"fmt"
)

// Keys of Context a campaign sets: the subject, preheader and sender name
// of the campaign (or of the recipient's A/B variant), which replace the
// template's own when the message is composed. Empty or absent: the
// template's subject and preheader, the shop's sender name.
const (
	ContextSubject    = "subject"
	ContextPreheader  = "preheader"
	ContextSenderName = "sender_name"
)

// SkipQueuedCampaign marks the campaign's rows still queued (reserved, not
// yet claimed by a worker) skipped with reason, and returns how many. A
// cancelled campaign stops here: rows already claimed are in the provider's
// hands and stay as they are. Run it in the transaction that cancels.
func SkipQueuedCampaign(ctx context.Context, q Querier, shopID, campaignID int64, reason string) (int64, error) {
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages SET status = 'skipped', skip_reason = $3, updated_at = now()
		WHERE shop_id = $1 AND campaign_id = $2 AND status = 'queued'`, shopID, campaignID, reason)
	if err != nil {
		return 0, fmt.Errorf("ledger: skip queued of campaign %d: %w", campaignID, err)
	}
	return res.RowsAffected()
}
