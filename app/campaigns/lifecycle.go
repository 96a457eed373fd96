package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/segments"
)

// Lifecycle of a campaign:
//
//	draft ──Start──▶ scheduled ──(send_at, StartDue)──▶ sending ──(nothing pending)──▶ sent
//	  │                  │                                 │ ▲
//	  └──Start (now)─────┼────────────────────────────────▶│ │Resume
//	                     └──Pause──▶ paused ◀──Pause───────┘ │
//	                                   └─────────────────────┘
//	scheduled, sending, paused ──Cancel──▶ cancelled
//
// Every change is one UPDATE … WHERE status IN (…): of two clicks, or two
// workers, exactly one wins; the other gets a StatusError.

// The first and last timezones (UTC+14 and UTC−12): local-time sending
// starts when the chosen time comes in the first, and is too late once it
// has passed in the last.
var (
	firstZone = time.FixedZone("UTC+14", 14*3600)
	lastZone  = time.FixedZone("UTC-12", -12*3600)
)

// wallIn is the campaign's chosen wall-clock time (send_at read in the
// shop's timezone loc) as an instant in zone z.
func wallIn(sendAt time.Time, loc, z *time.Location) time.Time {
	w := sendAt.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, z)
}

// startsAt is when a campaign with a time starts: its send time, or for
// local-time sending the moment that time comes in the first timezone.
func (s *Sending) startsAt(ctx context.Context, c Campaign) (time.Time, error) {
	if c.Schedule.Mode != SendLocal {
		return *c.Schedule.SendAt, nil
	}
	loc, err := segments.Location(ctx, s.Store.DB, c.ShopID)
	if err != nil {
		return time.Time{}, fmt.Errorf("campaigns: %w", err)
	}
	return wallIn(*c.Schedule.SendAt, loc, firstZone), nil
}

// Start sends a ready draft now, or schedules it when it is set to go at a
// time still ahead (the periodic StartDue job starts it then). A paused
// campaign is resumed. Sending now refreshes the audience's segments and
// snapshots the audience, then sets the campaign sending and enqueues its
// batch jobs in one transaction. What is missing returns FieldErrors; a
// status that doesn't allow it, a StatusError.
func (s *Sending) Start(ctx context.Context, shopID, id int64, now time.Time) (Campaign, error) {
	c, err := s.Store.Get(ctx, shopID, id)
	if err != nil {
		return Campaign{}, err
	}
	switch c.Status {
	case StatusDraft:
	case StatusPaused:
		return s.Resume(ctx, shopID, id, now)
	default:
		return Campaign{}, StatusError{Action: "started", Status: c.Status}
	}
	refs, err := LoadRefs(ctx, s.Store.DB, shopID, c.Draft)
	if err != nil {
		return Campaign{}, err
	}
	if errs := c.Ready(now, refs); errs != nil {
		return Campaign{}, errs
	}
	if c.Schedule.Mode == SendLocal {
		loc, err := segments.Location(ctx, s.Store.DB, shopID)
		if err != nil {
			return Campaign{}, fmt.Errorf("campaigns: start %d: %w", id, err)
		}
		if !wallIn(*c.Schedule.SendAt, loc, lastZone).After(now) {
			return Campaign{}, FieldErrors{"send_at": "That time has passed in every timezone. Choose a time in the future."}
		}
	}
	if errs, err := s.checkContent(ctx, c); err != nil || errs != nil {
		if err != nil {
			return Campaign{}, err
		}
		return Campaign{}, errs
	}
	if c.Schedule.Mode != SendNow {
		at, err := s.startsAt(ctx, c)
		if err != nil {
			return Campaign{}, err
		}
		if at.After(now) {
			return s.transition(ctx, shopID, id, "scheduled", `status = 'scheduled', starts_at = $4`, []string{StatusDraft}, at)
		}
	}
	big, err := s.largeAudience(ctx, c)
	if err != nil {
		return Campaign{}, err
	}
	if big {
		return s.startInBackground(ctx, c, now)
	}
	return s.begin(ctx, shopID, id, now, []string{StatusDraft}, "started")
}

// DefaultBackgroundOver is the audience size (members of the included
// segments) from which Start hands the refresh and snapshot to a job.
const DefaultBackgroundOver = 20000

// largeAudience says whether the campaign's included segments hold more
// members than a request should refresh and snapshot itself (a million
// takes seconds). An index-only count, capped at the threshold.
func (s *Sending) largeAudience(ctx context.Context, c Campaign) (bool, error) {
	limit := s.BackgroundOver
	if limit <= 0 {
		limit = DefaultBackgroundOver
	}
	return s.Store.AudienceOver(ctx, c.ShopID, c.Audience.Include, limit)
}

// AudienceOver says whether the segments include hold more than limit
// members (with repeats: an estimate that is cheap because it stops
// counting at the limit, on the members index only).
func (s *Store) AudienceOver(ctx context.Context, shopID int64, include []int64, limit int) (bool, error) {
	var n int
	if err := s.DB.GetContext(ctx, &n, `SELECT count(*) FROM (SELECT 1 FROM segment_members
		WHERE shop_id = $1 AND segment_id = ANY($2) LIMIT $3) m`, shopID, pq.Array(nonNil(include)), limit+1); err != nil {
		return false, fmt.Errorf("campaigns: audience size: %w", err)
	}
	return n > limit, nil
}

// startInBackground makes a large campaign scheduled to start now and
// queues the start job with it, in one transaction: the job refreshes
// the segments, snapshots and starts sending as StartDue does for any
// scheduled campaign (the periodic run would pick it up too, later).
func (s *Sending) startInBackground(ctx context.Context, c Campaign, now time.Time) (Campaign, error) {
	if s.Jobs == nil {
		return Campaign{}, errors.New("campaigns: no job queue wired")
	}
	tx, err := s.Store.DB.BeginTxx(ctx, nil)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: start %d: %w", c.ID, err)
	}
	defer tx.Rollback()
	var got int64
	err = tx.GetContext(ctx, &got, `UPDATE campaigns SET status = 'scheduled', starts_at = $3, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'draft' RETURNING id`, c.ShopID, c.ID, now)
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, s.Store.whyNot(ctx, c.ShopID, c.ID, "started")
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: start %d: %w", c.ID, err)
	}
	if _, err := s.Jobs.InsertTx(ctx, tx.Tx, StartDueArgs{}, nil); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: start %d: queue: %w", c.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: start %d: %w", c.ID, err)
	}
	return s.Store.Get(ctx, c.ShopID, c.ID)
}

// begin snapshots the audience (idempotent: a resumed campaign keeps its
// snapshot) and moves the campaign from one of from to sending, enqueueing
// its batch jobs in the same transaction.
func (s *Sending) begin(ctx context.Context, shopID, id int64, now time.Time, from []string, action string) (Campaign, error) {
	if _, err := s.Store.Snapshot(ctx, shopID, id, now); err != nil {
		return Campaign{}, err
	}
	tx, err := s.Store.DB.BeginTxx(ctx, nil)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: %s %d: %w", action, id, err)
	}
	defer tx.Rollback()
	var got int64
	err = tx.GetContext(ctx, &got, `UPDATE campaigns SET status = 'sending', started_at = COALESCE(started_at, $3),
			paused_reason = '', trouble_accepted = trouble_accepted OR auto_paused, auto_paused = false, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = ANY($4) RETURNING id`, shopID, id, now, pq.Array(from))
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, s.Store.whyNot(ctx, shopID, id, action)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: %s %d: %w", action, id, err)
	}
	if err := s.enqueue(ctx, tx, shopID, id, s.chains()); err != nil {
		return Campaign{}, err
	}
	if err := tx.Commit(); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: %s %d: %w", action, id, err)
	}
	return s.Store.Get(ctx, shopID, id)
}

// transition is a guarded status change with no other effect.
func (s *Sending) transition(ctx context.Context, shopID, id int64, action, set string, from []string, args ...any) (Campaign, error) {
	var got int64
	err := s.Store.DB.GetContext(ctx, &got, `UPDATE campaigns SET `+set+`, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = ANY($3) RETURNING id`, append([]any{shopID, id, pq.Array(from)}, args...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, s.Store.whyNot(ctx, shopID, id, action)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: %s %d: %w", action, id, err)
	}
	return s.Store.Get(ctx, shopID, id)
}

// Pause stops a scheduled or sending campaign; reason is shown to the
// merchant ("" when they paused it themselves). Batches under way finish
// first (the UPDATE waits for the batch's row lock); none starts after it.
// Emails already handed to delivery still go.
func (s *Sending) Pause(ctx context.Context, shopID, id int64, reason string) (Campaign, error) {
	return s.transition(ctx, shopID, id, "paused", `status = 'paused', paused_reason = $4`,
		[]string{StatusScheduled, StatusSending}, reason)
}

// Resume continues a paused campaign: sending again from where it stopped
// (the snapshot stays; only pending recipients are sent), or scheduled
// again when it was paused before its time came.
func (s *Sending) Resume(ctx context.Context, shopID, id int64, now time.Time) (Campaign, error) {
	c, err := s.Store.Get(ctx, shopID, id)
	if err != nil {
		return Campaign{}, err
	}
	if c.Status != StatusPaused {
		return Campaign{}, StatusError{Action: "resumed", Status: c.Status}
	}
	if c.SnapshotAt == nil && c.Schedule.Mode != SendNow && c.Schedule.SendAt != nil {
		at, err := s.startsAt(ctx, c)
		if err != nil {
			return Campaign{}, err
		}
		if at.After(now) {
			return s.transition(ctx, shopID, id, "resumed", `status = 'scheduled', paused_reason = '', starts_at = $4`, []string{StatusPaused}, at)
		}
	}
	return s.begin(ctx, shopID, id, now, []string{StatusPaused}, "resumed")
}

// Cancel stops a scheduled, sending or paused campaign for good. What was
// sent stays sent; recipients not yet handed to delivery are skipped
// ("cancelled"), and so are emails reserved but not yet picked up by a
// delivery worker. One transaction: the status, the recipients and the
// ledger rows change together.
func (s *Sending) Cancel(ctx context.Context, shopID, id int64, now time.Time) (Campaign, error) {
	tx, err := s.Store.DB.BeginTxx(ctx, nil)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: cancel %d: %w", id, err)
	}
	defer tx.Rollback()
	var got int64
	err = tx.GetContext(ctx, &got, `UPDATE campaigns SET status = 'cancelled', finished_at = $3, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status IN ('scheduled', 'sending', 'paused') RETURNING id`, shopID, id, now)
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, s.Store.whyNot(ctx, shopID, id, "cancelled")
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: cancel %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaign_recipients SET status = 'skipped', reason = $3
		WHERE campaign_id = $2 AND shop_id = $1 AND status = 'pending'`, shopID, id, SkipCancelled); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: cancel %d: recipients: %w", id, err)
	}
	if _, err := ledger.SkipQueuedCampaign(ctx, tx, shopID, id, "campaign_cancelled"); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: cancel %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: cancel %d: %w", id, err)
	}
	return s.Store.Get(ctx, shopID, id)
}

// StartDue starts every shop's scheduled campaigns whose time has come
// (the periodic job) and returns how many it started. A campaign that
// can't start any more (a segment or template deleted since it was
// scheduled) is paused with the reason, for the merchant to fix, rather
// than retried every minute.
func (s *Sending) StartDue(ctx context.Context, now time.Time) (int, error) {
	var due []struct {
		ShopID int64 `db:"shop_id"`
		ID     int64 `db:"id"`
	}
	if err := s.Store.DB.SelectContext(ctx, &due, `SELECT shop_id, id FROM campaigns
		WHERE status = 'scheduled' AND starts_at <= $1 ORDER BY starts_at, id LIMIT 100`, now); err != nil {
		return 0, fmt.Errorf("campaigns: due campaigns: %w", err)
	}
	started := 0
	for _, d := range due {
		c, err := s.Store.Get(ctx, d.ShopID, d.ID)
		if err != nil {
			return started, err
		}
		refs, err := LoadRefs(ctx, s.Store.DB, d.ShopID, c.Draft)
		if err != nil {
			return started, err
		}
		errs := FieldErrors{}
		refs.check(c.Draft, errs)
		if len(errs) == 0 {
			_, err = s.begin(ctx, d.ShopID, d.ID, now, []string{StatusScheduled}, "started")
		} else {
			err = errs
		}
		var fe FieldErrors
		var se StatusError
		switch {
		case err == nil:
			started++
		case errors.As(err, &se):
			// Paused or cancelled meanwhile: not ours to start.
		case errors.As(err, &fe):
			if _, perr := s.Pause(ctx, d.ShopID, d.ID, "Couldn't start: "+fe.messages()); perr != nil {
				return started, perr
			}
		default:
			return started, err
		}
	}
	return started, nil
}

// messages joins the field errors' messages, for a merchant to read.
func (f FieldErrors) messages() string {
	parts := make([]string, 0, len(f))
	for _, k := range f.fields() {
		parts = append(parts, f[k])
	}
	return strings.Join(parts, " ")
}
