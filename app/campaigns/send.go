package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Defaults of Sending.
const (
	DefaultBatchSize = 500
	DefaultChains    = 2
)

// Reasons a recipient is skipped by the batch itself (the snapshot's
// "holdout" aside); everything else — consent, suppression, the frequency
// window and cap — is checked by the sender right before each email goes,
// and shows as the ledger row's skip reason.
const (
	SkipNoEmail         = "no_email"         // the profile lost its address after the snapshot
	SkipCustomerDeleted = "customer_deleted" // the profile was deleted after the snapshot
	SkipCancelled       = "cancelled"        // the campaign was cancelled before this recipient's turn
)

// Sending carries campaigns out: the lifecycle (Start, Pause, Resume,
// Cancel, StartDue), the batch job (SendBatch) and the progress figures.
type Sending struct {
	Store *Store
	// Jobs enqueues batch and delivery jobs in the caller's transaction
	// (the River client, set once it is built; see QueueWith).
	Jobs jobs.Inserter
	// Limiter holds each shop's sending rate across every worker process
	// (nil: no rate limit).
	Limiter *ratelimit.Limiter
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// BatchSize is the most recipients one batch hands to delivery
	// (default DefaultBatchSize; the shop's rate may make it smaller).
	BatchSize int
	// Chains is how many batch jobs a start or resume enqueues: each
	// re-enqueues itself while recipients remain. Batches of one campaign
	// take turns on its row lock; more than one chain means a chain whose
	// process died doesn't stall the campaign until its job is rescued.
	Chains int
	// BackgroundOver is the audience size from which Start leaves the
	// snapshot to a job instead of the caller (default
	// DefaultBackgroundOver).
	BackgroundOver int
}

// QueueWith sets the job inserter (the River client is built after every
// worker is registered).
func (s *Sending) QueueWith(j jobs.Inserter) { s.Jobs = j }

func (s *Sending) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sending) batchSize() int {
	if s.BatchSize > 0 {
		return s.BatchSize
	}
	return DefaultBatchSize
}

func (s *Sending) chains() int {
	if s.Chains > 0 {
		return s.Chains
	}
	return DefaultChains
}

// enqueue inserts n batch jobs for the campaign in tx.
func (s *Sending) enqueue(ctx context.Context, tx *sqlx.Tx, shopID, campaignID int64, n int) error {
	if s.Jobs == nil {
		return errors.New("campaigns: no job queue wired")
	}
	for i := 0; i < n; i++ {
		if _, err := s.Jobs.InsertTx(ctx, tx.Tx, SendArgs{ShopID: shopID, CampaignID: campaignID}, nil); err != nil {
			return fmt.Errorf("campaigns: enqueue batch of %d: %w", campaignID, err)
		}
	}
	return nil
}

// BatchResult says what one SendBatch did and what the job does next.
type BatchResult struct {
	Reserved int // ledger rows reserved and queued for delivery
	Skipped  int // recipients skipped by the batch (no address, deleted)
	// Stopped is the status that stopped the batch (paused, cancelled,
	// sent, …): nothing was done.
	Stopped string
	// Finished: this batch found nothing left and marked the campaign sent.
	Finished bool
	// Wait > 0: the shop's sending rate is used up; try again after it.
	Wait time.Duration
	// Until is set when nothing more can go before then: today's daily
	// limit is used up (the rest carries over to the start of the shop's
	// next day), the next recipients' local time comes then, or the A/B
	// test's winner is picked then.
	Until time.Time
	// Continued: the batch enqueued its successor.
	Continued bool
	// Winner is the A/B variant this batch picked as the winner ("" when
	// it picked none).
	Winner string
}

// shopSending is what a batch reads about its shop.
type shopSending struct {
	Rate       int        `db:"send_rate_per_second"`
	DailyLimit int        `db:"daily_send_limit"`
	Warmup     *time.Time `db:"warmup_started_on"`
}

// claimed is one recipient a batch took.
type claimed struct {
	CustomerID int64  `db:"customer_id"`
	Position   int    `db:"position"`
	Due        string `db:"due"`
	Status     string `db:"status"`
	Variant    string `db:"variant"`
	Email      string `db:"email"`
	Deleted    bool   `db:"deleted"`
}

// claimSQL reads the recipients after the campaign's send checkpoint
// (send_due, send_position) that are due by $6, in (due, position) order:
// an index range on (campaign, due_at, position) however far the campaign
// has got. The caller holds the campaign's row lock, so no other batch
// reads the same range; the holdout (skipped by the snapshot) is passed
// over. Times travel as text so that ±infinity round-trip.
const claimSQL = `
SELECT r.customer_id, r.position, r.due_at::text AS due, r.status, r.variant, COALESCE(btrim(c.email), '') AS email,
	(c.id IS NULL OR c.deleted_at IS NOT NULL) AS deleted
FROM campaign_recipients r
LEFT JOIN customers c ON c.shop_id = r.shop_id AND c.id = r.customer_id
WHERE r.campaign_id = $1 AND r.shop_id = $2 AND (r.due_at, r.position) > ($3::timestamptz, $4::integer)
  AND r.due_at <= $6
ORDER BY r.due_at, r.position
LIMIT $5`

// nextSQL is the first recipient after a checkpoint: whether it is due by
// $5, waits for the A/B winner (infinity), or else when it is due.
const nextSQL = `
SELECT r.due_at <= $5 AS due_now, r.due_at = 'infinity' AS for_winner,
	CASE WHEN isfinite(r.due_at) THEN r.due_at END AS at
FROM campaign_recipients r
WHERE r.campaign_id = $1 AND r.shop_id = $2 AND (r.due_at, r.position) > ($3::timestamptz, $4::integer)
ORDER BY r.due_at, r.position
LIMIT 1`

// rateRule is the shop's sending rate as a token bucket holding one
// second's worth, so a batch is at most one second of sending.
func rateRule(perSecond int) ratelimit.Rule {
	return ratelimit.Rule{Name: "campaign_send", Rate: float64(perSecond), Burst: perSecond,
		Message: "The shop's sending rate is used up."}
}

// SendBatch hands the campaign's next recipients to delivery, in one
// transaction: it re-reads the campaign's status (a paused or cancelled
// campaign stops here), takes the recipients after the send checkpoint
// in send order, reserves their ledger rows (the campaign's or their
// variant's subject, preheader, sender name and template), marks them sent
// with their message id, moves the checkpoint past them, queues the
// delivery jobs and, while recipients remain, its own successor. The batch
// is as large as the shop's sending rate and today's remaining daily limit
// allow; when either is used up nothing is claimed and BatchResult says
// when to come back. The batch that takes the last recipients marks the
// campaign sent.
func (s *Sending) SendBatch(ctx context.Context, shopID, campaignID int64) (BatchResult, error) {
	var res BatchResult
	now := s.now()
	var st shopSending
	if err := s.Store.DB.GetContext(ctx, &st, `SELECT send_rate_per_second, daily_send_limit, warmup_started_on FROM shops WHERE id = $1`, shopID); errors.Is(err, sql.ErrNoRows) {
		return res, ErrNotFound
	} else if err != nil {
		return res, fmt.Errorf("campaigns: batch of %d: shop: %w", campaignID, err)
	}
	n := min(s.batchSize(), max(st.Rate, 1))
	// Tokens first, outside the transaction: waiting for them must not
	// hold the campaign's row lock (it would hold up a pause).
	if s.Limiter != nil {
		d, err := s.Limiter.AllowN(ctx, rateRule(max(st.Rate, 1)), strconv.FormatInt(shopID, 10), n)
		if err != nil {
			return res, fmt.Errorf("campaigns: batch of %d: %w", campaignID, err)
		}
		if !d.Allowed {
			res.Wait = max(d.RetryAfter, 10*time.Millisecond)
			return res, nil
		}
	}

	tx, err := s.Store.DB.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("campaigns: batch of %d: %w", campaignID, err)
	}
	defer tx.Rollback()
	// The campaign's row lock makes batches of one campaign take turns
	// (each takes milliseconds; the deliveries they queue run in
	// parallel on every process), and makes Pause and Cancel wait for the
	// batch under way: every batch after them reads the new status, so
	// nothing is handed to delivery once a pause has returned.
	var r struct {
		campaignRow
		SendPosition    int    `db:"send_position"`
		SendDue         string `db:"send_due"`
		TroubleAccepted bool   `db:"trouble_accepted"`
	}
	err = tx.GetContext(ctx, &r, `SELECT `+campaignCols+`, send_position, send_due::text AS send_due, trouble_accepted FROM campaigns
		WHERE shop_id = $1 AND id = $2 FOR UPDATE`, shopID, campaignID)
	if errors.Is(err, sql.ErrNoRows) {
		return res, ErrNotFound
	}
	if err != nil {
		return res, fmt.Errorf("campaigns: batch of %d: %w", campaignID, err)
	}
	c, err := r.campaign()
	if err != nil {
		return res, err
	}
	if c.Status != StatusSending {
		res.Stopped = c.Status
		return res, nil
	}
	why := ""
	if !r.TroubleAccepted {
		if why, err = trouble(ctx, tx, shopID, campaignID, r.SendPosition); err != nil {
			return res, err
		}
	}
	if why != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'paused', paused_reason = $3, auto_paused = true, updated_at = now()
			WHERE shop_id = $1 AND id = $2`, shopID, campaignID, why); err != nil {
			return res, fmt.Errorf("campaigns: auto-pause %d: %w", campaignID, err)
		}
		if err := tx.Commit(); err != nil {
			return res, fmt.Errorf("campaigns: auto-pause %d: %w", campaignID, err)
		}
		res.Stopped = StatusPaused
		return res, nil
	}

	// The A/B test has run its time: pick the winner first, so the rest
	// due now can go in this very batch (with local-time sending, test
	// recipients in later zones may still be waiting for their turn).
	undecided := c.HasTest() && c.ABWinner == "" && c.ABDecideAt != nil
	if undecided && !c.ABDecideAt.After(now) {
		if res.Winner, err = decide(ctx, tx, s.Store.Sales, c, "", now); err != nil {
			return res, err
		}
		c.ABWinner, undecided = res.Winner, false
	}

	if st.DailyLimit > 0 || st.Warmup != nil {
		left, until, err := dailyRemaining(ctx, tx, shopID, shops.Settings{DailySendLimit: st.DailyLimit, WarmupStartedOn: st.Warmup}, now)
		if err != nil {
			return res, err
		}
		if left <= 0 {
			res.Until = until
			if res.Winner != "" { // keep the pick made above
				if err := tx.Commit(); err != nil {
					return res, fmt.Errorf("campaigns: batch of %d: %w", campaignID, err)
				}
			}
			return res, nil
		}
		n = min(n, left)
	}

	var rows []claimed
	if err := tx.SelectContext(ctx, &rows, claimSQL, campaignID, shopID, r.SendDue, r.SendPosition, n, now); err != nil {
		return res, fmt.Errorf("campaigns: batch of %d: claim: %w", campaignID, err)
	}
	if err := s.reserve(ctx, tx, c, rows, &res); err != nil {
		return res, err
	}
	due, pos := r.SendDue, r.SendPosition
	if len(rows) > 0 {
		due, pos = rows[len(rows)-1].Due, rows[len(rows)-1].Position
	}
	var next struct {
		DueNow    bool       `db:"due_now"`
		ForWinner bool       `db:"for_winner"`
		At        *time.Time `db:"at"`
	}
	more := true
	switch err := tx.GetContext(ctx, &next, nextSQL, campaignID, shopID, due, pos, now); {
	case errors.Is(err, sql.ErrNoRows):
		more = false
	case err != nil:
		return res, fmt.Errorf("campaigns: batch of %d: next: %w", campaignID, err)
	case next.DueNow:
	case next.ForWinner && undecided:
		res.Until = *c.ABDecideAt
	case next.At != nil:
		res.Until = *next.At // local time: the next zone's turn
		if undecided && c.ABDecideAt.Before(res.Until) {
			res.Until = *c.ABDecideAt // the winner's pick comes first
		}
	default:
		return res, fmt.Errorf("campaigns: batch of %d: the rest wait for an A/B winner with no time to pick it", campaignID)
	}
	// The checkpoint moves here, in the transaction that records the
	// ledger rows and queues their delivery: listmonk's moves when a batch
	// is fetched, so a crash after it skips recipients.
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET send_due = $6::timestamptz, send_position = $3,
			status = CASE WHEN $4 THEN status ELSE 'sent' END,
			finished_at = CASE WHEN $4 THEN finished_at ELSE $5 END,
			updated_at = CASE WHEN $4 THEN updated_at ELSE now() END
		WHERE shop_id = $1 AND id = $2`, shopID, campaignID, pos, more, now, due); err != nil {
		return res, fmt.Errorf("campaigns: batch of %d: checkpoint: %w", campaignID, err)
	}
	if more && res.Until.IsZero() {
		if err := s.enqueue(ctx, tx, shopID, campaignID, 1); err != nil {
			return res, err
		}
		res.Continued = true
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("campaigns: batch of %d: %w", campaignID, err)
	}
	res.Finished = !more
	return res, nil
}

// reserve writes the claimed recipients' ledger rows and marks them, and
// queues the deliveries, in tx.
func (s *Sending) reserve(ctx context.Context, tx *sqlx.Tx, c Campaign, rows []claimed, res *BatchResult) error {
	variants := map[string]Variant{}
	for _, v := range c.AB.Variants {
		variants[v.Key] = v
	}
	var rs []ledger.Reservation
	var sentIDs []int64
	var skipIDs []int64
	var skipWhy []string
	for _, r := range rows {
		switch {
		case r.Status != "pending":
			continue // the holdout: skipped by the snapshot
		case r.Deleted:
			skipIDs, skipWhy = append(skipIDs, r.CustomerID), append(skipWhy, SkipCustomerDeleted)
			continue
		case r.Email == "":
			skipIDs, skipWhy = append(skipIDs, r.CustomerID), append(skipWhy, SkipNoEmail)
			continue
		}
		// The rest (variant '') get the A/B winner's content (they are
		// due only once it is picked); a variant's empty fields fall back
		// to the campaign's.
		subject, pre, from, tpl := c.Subject, c.Preheader, c.SenderName, c.TemplateID
		key := r.Variant
		if key == VariantRest {
			key = c.ABWinner
		}
		if v, ok := variants[key]; ok {
			subject, pre, from = or(v.Subject, subject), or(v.Preheader, pre), or(v.SenderName, from)
			if v.TemplateID != 0 {
				tpl = v.TemplateID
			}
		}
		cx := ledger.Context{}
		for k, v := range map[string]string{ledger.ContextSubject: subject, ledger.ContextPreheader: pre, ledger.ContextSenderName: from} {
			if v != "" {
				cx[k] = v
			}
		}
		variant := r.Variant
		if _, ok := variants[variant]; !ok {
			variant = ""
		}
		rs = append(rs, ledger.Reservation{ShopID: c.ShopID, CustomerID: r.CustomerID, To: r.Email, Kind: ledger.KindCampaign,
			Subject: subject, Marketing: true, Context: cx,
			Source: ledger.Source{CampaignID: c.ID, CampaignVariant: variant, TemplateID: tpl}})
		sentIDs = append(sentIDs, r.CustomerID)
	}
	ids, existed, err := ledger.ReserveMany(ctx, tx, rs)
	if err != nil {
		return fmt.Errorf("campaigns: batch of %d: %w", c.ID, err)
	}
	// "customer_id = ANY" as well as the join: without it the planner
	// scanned every recipient of the campaign for each batch.
	if len(sentIDs) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_recipients r SET status = 'sent', message_id = u.mid
			FROM unnest($3::bigint[], $4::bigint[]) AS u(cid, mid)
			WHERE r.campaign_id = $1 AND r.shop_id = $2 AND r.customer_id = u.cid AND r.customer_id = ANY($3)`,
			c.ID, c.ShopID, pq.Array(sentIDs), pq.Array(ids)); err != nil {
			return fmt.Errorf("campaigns: batch of %d: mark sent: %w", c.ID, err)
		}
	}
	if len(skipIDs) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_recipients r SET status = 'skipped', reason = u.why
			FROM unnest($3::bigint[], $4::text[]) AS u(cid, why)
			WHERE r.campaign_id = $1 AND r.shop_id = $2 AND r.customer_id = u.cid AND r.customer_id = ANY($3)`,
			c.ID, c.ShopID, pq.Array(skipIDs), pq.Array(skipWhy)); err != nil {
			return fmt.Errorf("campaigns: batch of %d: mark skipped: %w", c.ID, err)
		}
	}
	var fresh []int64
	for i, id := range ids {
		// A row that existed was reserved by someone else before (not by
		// this campaign's batches: the recipient was still after the
		// checkpoint); whoever reserved it queued its delivery.
		if !existed[i] {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) > 0 {
		if s.Jobs == nil {
			return errors.New("campaigns: no job queue wired")
		}
		if err := sender.EnqueueDeliver(ctx, tx.Tx, s.Jobs, c.ShopID, fresh...); err != nil {
			return fmt.Errorf("campaigns: batch of %d: %w", c.ID, err)
		}
	}
	res.Reserved, res.Skipped = len(fresh), len(skipIDs)
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dailyRemaining is how many marketing emails the shop may still hand to
// delivery today (its timezone), and when its next day starts. It holds a
// per-shop lock until tx ends, so two batches (of one campaign or of two)
// can't both take the last of the day: the second counts the first's
// reserved rows. Reserved and not yet sent rows count, or batches would run
// ahead of the deliveries and past the limit.
func dailyRemaining(ctx context.Context, tx *sqlx.Tx, shopID int64, st shops.Settings, now time.Time) (int, time.Time, error) {
	loc, err := segments.Location(ctx, tx, shopID)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("campaigns: %w", err)
	}
	local := now.In(loc)
	start := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	next := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, loc)
	limit := st.DailyLimitOn(now, loc)
	if limit == 0 {
		return math.MaxInt32, next, nil // the warm-up is over and there is no daily limit
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('cartwheel:campaign-daily:' || $1::text, 0))`, shopID); err != nil {
		return 0, time.Time{}, fmt.Errorf("campaigns: daily limit lock: %w", err)
	}
	var used int
	if err := tx.GetContext(ctx, &used, `SELECT
		(SELECT count(*) FROM email_messages WHERE shop_id = $1 AND marketing AND sent_at IS NOT NULL AND sent_at >= $2)
		+ (SELECT count(*) FROM email_messages WHERE shop_id = $1 AND marketing AND status IN ('queued', 'sending'))`,
		shopID, start); err != nil {
		return 0, time.Time{}, fmt.Errorf("campaigns: daily limit: %w", err)
	}
	return limit - used, next, nil
}
