package reports

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/db"
)

// Rebuild counts a campaign's messages and events from the raw rows into
// empty rollups, chunk by chunk, with the same counting the signal handler
// does (events of a message in id order). It is for a campaign whose
// signals were never counted (one sent before reports existed, or a
// benchmark's seeded one) and must not run while signals of the campaign
// are being consumed: it starts by deleting what the campaign has.
func Rebuild(ctx context.Context, d *sqlx.DB, shopID, campaignID int64) error {
	if _, err := d.ExecContext(ctx, `
		WITH a AS (DELETE FROM report_daily WHERE shop_id = $1 AND scope = 'campaign' AND scope_id = $2),
		     b AS (DELETE FROM report_breakdowns WHERE shop_id = $1 AND scope = 'campaign' AND scope_id = $2)
		DELETE FROM report_messages WHERE shop_id = $1 AND scope = 'campaign' AND scope_id = $2`, shopID, campaignID); err != nil {
		return fmt.Errorf("reports: rebuild %d: %w", campaignID, err)
	}
	loc, err := shopZone(ctx, d, shopID)
	if err != nil {
		return err
	}
	const chunk = 5000
	var after int64
	for {
		var ids []int64
		if err := d.SelectContext(ctx, &ids, `SELECT id FROM email_messages WHERE shop_id = $1 AND campaign_id = $2 AND id > $3
			AND (sent_at IS NOT NULL OR status NOT IN ('queued', 'sending', 'skipped', 'failed')) ORDER BY id LIMIT $4`,
			shopID, campaignID, after, chunk); err != nil {
			return fmt.Errorf("reports: rebuild %d: %w", campaignID, err)
		}
		if len(ids) == 0 {
			return nil
		}
		after = ids[len(ids)-1]
		var evs []struct {
			ID      int64 `db:"id"`
			Message int64 `db:"message_id"`
		}
		if err := d.SelectContext(ctx, &evs, `SELECT id, message_id FROM email_events WHERE message_id = ANY($1) ORDER BY message_id, id`,
			pq.Array(ids)); err != nil {
			return fmt.Errorf("reports: rebuild %d: %w", campaignID, err)
		}
		items := make([]item, 0, len(ids)+len(evs))
		j := 0
		for _, id := range ids {
			items = append(items, item{Message: id, Status: "sent"})
			for ; j < len(evs) && evs[j].Message == id; j++ {
				items = append(items, item{Message: id, Event: evs[j].ID})
			}
		}
		err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
			slot, err := claimSlot(ctx, tx, shopID)
			if err != nil {
				return err
			}
			return count(ctx, tx, shopID, loc, slot, items)
		})
		if err != nil {
			return fmt.Errorf("reports: rebuild %d: %w", campaignID, err)
		}
	}
}
