package sender

import (
	"context"
	"fmt"
	"time"

	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/shops"
)

// dailyBudget is what is left of the shop's daily sending limit
// (daily_send_limit: marketing emails a day in the shop's timezone) for
// the rest of a Deliver batch. Campaign emails are held by it — they wait
// for the next day, they are not skipped (carry-over) — while flow emails
// count toward it but are never held: a flow's timing is its point.
type dailyBudget struct {
	left  int
	until time.Time // the start of the shop's next day
}

// readDailyBudget (nil: no limit today) counts the shop's marketing emails sent today and those
// being sent right now. Rows reserved and still queued don't count: they
// are the ones asking. The campaign batch already kept its reservations
// within the limit; this catches what went out meanwhile (flows, another
// campaign), once per batch. Concurrent batches of one shop can each pass
// it and overshoot by at most the messages they have in flight.
func (s *Sender) readDailyBudget(ctx context.Context, shopID int64, st shops.Settings, now time.Time) (*dailyBudget, error) {
	loc, err := time.LoadLocation(st.EffectiveTimezone())
	if err != nil || st.EffectiveTimezone() == "" {
		loc = time.UTC
	}
	limit := st.DailyLimitOn(now, loc) // the warm-up's allowance when lower
	if limit <= 0 {
		return nil, nil
	}
	local := now.In(loc)
	start := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	var used int
	if err := s.d.DB.GetContext(ctx, &used, `SELECT
		(SELECT count(*) FROM email_messages WHERE shop_id = $1 AND marketing AND sent_at IS NOT NULL AND sent_at >= $2)
		+ (SELECT count(*) FROM email_messages WHERE shop_id = $1 AND marketing AND status = 'sending')`, shopID, start); err != nil {
		return nil, fmt.Errorf("sender: daily limit: %w", err)
	}
	return &dailyBudget{left: limit - used,
		until: time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, loc)}, nil
}

// heldUntilTomorrow is the error that ends a batch whose campaign emails
// are over the daily limit: retryable, after the shop's day turns, so the
// deliver job snoozes and the rows stay queued.
func heldUntilTomorrow(b *dailyBudget, now time.Time) error {
	return &providers.RetryableError{Provider: "cartwheel", RetryAfter: max(b.until.Sub(now), time.Second),
		Msg: "the shop's daily sending limit is reached; campaign emails wait for the next day"}
}
