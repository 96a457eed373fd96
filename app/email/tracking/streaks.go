package tracking

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/db"
)

// softEventSQL is the condition softBounce counts: a deferral, or a bounce
// SendGrid typed "blocked".
const softEventSQL = `(ev.kind = 'deferred' OR (ev.kind = 'bounce' AND ev.detail LIKE 'blocked%'))`

// streaksSQL computes the soft-bounce streak of each (lower-case) address of
// $2 from the stored events, as ProcessEvents counts it one event at a
// time: the messages to the address whose first soft bounce has a higher id
// than the address's last delivery.
const streaksSQL = `
WITH ev AS (
	SELECT lower(m.to_email) AS email, ev.id, ev.message_id, ev.kind = 'delivered' AS delivered
	FROM email_messages m JOIN email_events ev ON ev.message_id = m.id
	WHERE m.shop_id = $1 AND lower(m.to_email) = ANY($2::text[])
	  AND (ev.kind = 'delivered' OR ` + softEventSQL + `)
),
last_delivery AS (SELECT email, max(id) AS id FROM ev WHERE delivered GROUP BY email),
first_soft AS (SELECT email, message_id, min(id) AS id FROM ev WHERE NOT delivered GROUP BY email, message_id)
SELECT a.email, count(fs.message_id) FILTER (WHERE fs.id > COALESCE(ld.id, 0)) AS streak
FROM unnest($2::text[]) AS a(email)
LEFT JOIN last_delivery ld ON ld.email = a.email
LEFT JOIN first_soft fs ON fs.email = a.email
GROUP BY a.email`

// streakCandidatesSQL lists the addresses whose streak may have moved
// since $2 (a delivery or soft bounce of one of their messages), and
// those with a streak running.
const streakCandidatesSQL = `
SELECT DISTINCT lower(m.to_email) FROM email_events ev JOIN email_messages m ON m.id = ev.message_id
WHERE ev.shop_id = $1 AND ev.occurred_at >= $2 AND (ev.kind = 'delivered' OR ` + softEventSQL + `)
UNION
SELECT email FROM email_soft_bounces WHERE shop_id = $1 AND streak > 0
ORDER BY 1`

type streak struct {
	Email  string `db:"email"`
	Streak int    `db:"streak"`
}

// RepairStreaks is the consistency sweep's check of the soft-bounce
// streaks: it recomputes the streak of every address with a delivery or
// soft bounce since `since` (or a streak running), and rewrites those that
// differ, suppressing an address whose corrected streak reaches
// SoftBounceLimit. It returns how many streaks it corrected. Addresses
// found are re-checked under their streak locks, so a batch processed
// meanwhile is neither overwritten nor taken for drift.
func (s *Service) RepairStreaks(ctx context.Context, shopID int64, since time.Time) (int64, error) {
	var cands []string
	if err := s.DB.SelectContext(ctx, &cands, streakCandidatesSQL, shopID, since); err != nil {
		return 0, fmt.Errorf("tracking: streak candidates: %w", err)
	}
	var repaired int64
	for len(cands) > 0 {
		n := min(len(cands), 1000)
		batch := cands[:n]
		cands = cands[n:]
		wrong, err := s.wrongStreaks(ctx, s.DB, shopID, batch)
		if err != nil {
			return repaired, err
		}
		if len(wrong) == 0 {
			continue
		}
		addrs := make([]string, len(wrong))
		for i, w := range wrong {
			addrs[i] = w.Email
		}
		err = db.InTx(ctx, s.DB, func(tx *sqlx.Tx) error {
			if err := lockStreaks(ctx, tx, shopID, addrs); err != nil {
				return err
			}
			wrong, err := s.wrongStreaks(ctx, tx, shopID, addrs)
			if err != nil {
				return err
			}
			for _, w := range wrong {
				if _, err := tx.ExecContext(ctx, `UPDATE email_soft_bounces SET streak = $3, updated_at = now()
					WHERE shop_id = $1 AND email = $2`, shopID, w.Email, w.Streak); err != nil {
					return fmt.Errorf("tracking: repair streak: %w", err)
				}
				if w.Streak >= SoftBounceLimit {
					if err := s.suppress(ctx, tx, shopID, w.Email, ReasonSoftBounces, "bounce"); err != nil {
						return err
					}
				}
			}
			repaired += int64(len(wrong))
			return nil
		})
		if err != nil {
			return repaired, err
		}
	}
	return repaired, nil
}

// wrongStreaks returns the addresses whose stored streak (none counts as
// 0) differs from streaksSQL, with the right value.
func (s *Service) wrongStreaks(ctx context.Context, q sqlx.QueryerContext, shopID int64, addrs []string) ([]streak, error) {
	var out []streak
	err := sqlx.SelectContext(ctx, q, &out, `SELECT x.email, x.streak FROM (`+streaksSQL+`) x
		LEFT JOIN email_soft_bounces b ON b.shop_id = $1 AND b.email = x.email
		WHERE x.streak <> COALESCE(b.streak, 0) ORDER BY x.email`, shopID, pq.Array(addrs))
	if err != nil {
		return nil, fmt.Errorf("tracking: recompute streaks: %w", err)
	}
	return out, nil
}
