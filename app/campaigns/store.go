package campaigns

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/segments"
)

// ErrNotFound is returned for a campaign that doesn't exist in the shop.
var ErrNotFound = errors.New("campaigns: not found")

// StatusError refuses a change the campaign's status doesn't allow.
type StatusError struct{ Action, Status string }

func (e StatusError) Error() string {
	return fmt.Sprintf("campaigns: a %s campaign can't be %s", e.Status, e.Action)
}

// Store keeps campaigns and their audience snapshots.
type Store struct {
	DB *sqlx.DB
	// Segments refreshes the audience's segments before a snapshot (nil:
	// a segments.Store on DB).
	Segments *segments.Store
	// Sales reads each A/B variant's attributed sales (app/reports): the
	// A/B results show them and a winner by revenue is picked on them
	// (nil: results without sales; a winner by revenue fails).
	Sales VariantSales
}

// NewStore returns a store on d.
func NewStore(d *sqlx.DB) *Store { return &Store{DB: d, Segments: segments.NewStore(d)} }

type campaignRow struct {
	ID               int64         `db:"id"`
	ShopID           int64         `db:"shop_id"`
	Name             string        `db:"name"`
	Status           string        `db:"status"`
	TemplateID       sql.NullInt64 `db:"template_id"`
	Subject          string        `db:"subject"`
	Preheader        string        `db:"preheader"`
	SenderName       string        `db:"sender_name"`
	UTMCampaign      string        `db:"utm_campaign"`
	Include          pq.Int64Array `db:"include_segments"`
	Exclude          pq.Int64Array `db:"exclude_segments"`
	SendMode         string        `db:"send_mode"`
	SendAt           *time.Time    `db:"send_at"`
	PastZones        string        `db:"past_zones"`
	MostEngagedFirst bool          `db:"most_engaged_first"`
	AB               []byte        `db:"ab"`
	Seed             int64         `db:"seed"`
	AudienceSize     sql.NullInt64 `db:"audience_size"`
	SnapshotAt       *time.Time    `db:"snapshot_at"`
	PausedReason     string        `db:"paused_reason"`
	CreatedAt        time.Time     `db:"created_at"`
	UpdatedAt        time.Time     `db:"updated_at"`
	StartedAt        *time.Time    `db:"started_at"`
	FinishedAt       *time.Time    `db:"finished_at"`
	StartsAt         *time.Time    `db:"starts_at"`
	ABDecideAt       *time.Time    `db:"ab_decide_at"`
	ABDecidedAt      *time.Time    `db:"ab_decided_at"`
	ABWinner         string        `db:"ab_winner"`
	ABResults        []byte        `db:"ab_results"`
}

const campaignCols = `id, shop_id, name, status, template_id, subject, preheader, sender_name, utm_campaign,
	include_segments, exclude_segments, send_mode, send_at, past_zones, most_engaged_first, ab, seed,
	audience_size, snapshot_at, paused_reason, created_at, updated_at, started_at, finished_at,
	starts_at, ab_decide_at, ab_decided_at, ab_winner, ab_results`

func (r campaignRow) campaign() (Campaign, error) {
	var ab AB
	if err := json.Unmarshal(r.AB, &ab); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: campaign %d: ab: %w", r.ID, err)
	}
	if ab.Variants == nil {
		ab.Variants = []Variant{}
	}
	if ab.WinnerBy == "" {
		ab.WinnerBy = WinnerByClicks
	}
	c := Campaign{ID: r.ID, ShopID: r.ShopID, Status: r.Status, Seed: r.Seed,
		Draft: Draft{Name: r.Name, TemplateID: r.TemplateID.Int64, Subject: r.Subject, Preheader: r.Preheader,
			SenderName: r.SenderName, UTMCampaign: r.UTMCampaign,
			Audience: Audience{Include: nonNil(r.Include), Exclude: nonNil(r.Exclude), MostEngagedFirst: r.MostEngagedFirst},
			Schedule: Schedule{Mode: r.SendMode, SendAt: r.SendAt, PastZones: r.PastZones}, AB: ab},
		AudienceSize: int(r.AudienceSize.Int64), SnapshotAt: r.SnapshotAt, PausedReason: r.PausedReason,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		StartsAt: r.StartsAt, ABDecideAt: r.ABDecideAt, ABDecidedAt: r.ABDecidedAt, ABWinner: r.ABWinner}
	if len(r.ABResults) > 0 {
		if err := json.Unmarshal(r.ABResults, &c.ABResults); err != nil {
			return Campaign{}, fmt.Errorf("campaigns: campaign %d: ab results: %w", r.ID, err)
		}
	}
	if c.Schedule.SendAt != nil {
		t := c.Schedule.SendAt.UTC()
		c.Schedule.SendAt = &t
	}
	return c, nil
}

func nonNil(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// prepare normalises and validates a draft and checks that the templates
// and segments it names exist in the shop.
func prepare(ctx context.Context, q sqlx.QueryerContext, shopID int64, d Draft) (Draft, []byte, error) {
	d = d.Normalize()
	if errs := d.Check(); errs != nil {
		return d, nil, errs
	}
	refs, err := LoadRefs(ctx, q, shopID, d)
	if err != nil {
		return d, nil, err
	}
	errs := FieldErrors{}
	refs.check(d, errs)
	if len(errs) > 0 {
		return d, nil, errs
	}
	ab, err := json.Marshal(d.AB)
	if err != nil {
		return d, nil, fmt.Errorf("campaigns: encode ab: %w", err)
	}
	return d, ab, nil
}

// LoadRefs finds which of the templates and segments d names exist in the shop.
func LoadRefs(ctx context.Context, q sqlx.QueryerContext, shopID int64, d Draft) (Refs, error) {
	var tpl []int64
	if d.TemplateID != 0 {
		tpl = append(tpl, d.TemplateID)
	}
	for _, v := range d.AB.Variants {
		if v.TemplateID != 0 {
			tpl = append(tpl, v.TemplateID)
		}
	}
	seg := append(append([]int64{}, d.Audience.Include...), d.Audience.Exclude...)
	set := func(query string, ids []int64) (map[int64]bool, error) {
		out := map[int64]bool{}
		if len(ids) == 0 {
			return out, nil
		}
		var found []int64
		if err := sqlx.SelectContext(ctx, q, &found, query, shopID, pq.Array(ids)); err != nil {
			return nil, fmt.Errorf("campaigns: refs: %w", err)
		}
		for _, id := range found {
			out[id] = true
		}
		return out, nil
	}
	var r Refs
	var err error
	if r.Templates, err = set(`SELECT id FROM email_templates WHERE shop_id = $1 AND id = ANY($2)`, tpl); err != nil {
		return Refs{}, err
	}
	if r.Segments, err = set(`SELECT id FROM segments WHERE shop_id = $1 AND id = ANY($2)`, seg); err != nil {
		return Refs{}, err
	}
	return r, nil
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// Create stores a new draft. Invalid input returns FieldErrors.
func (s *Store) Create(ctx context.Context, shopID int64, d Draft) (Campaign, error) {
	d, ab, err := prepare(ctx, s.DB, shopID, d)
	if err != nil {
		return Campaign{}, err
	}
	var r campaignRow
	err = s.DB.GetContext(ctx, &r, `INSERT INTO campaigns (shop_id, name, template_id, subject, preheader, sender_name,
			utm_campaign, include_segments, exclude_segments, send_mode, send_at, past_zones, most_engaged_first, ab)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		RETURNING `+campaignCols, shopID, d.Name, nullID(d.TemplateID), d.Subject, d.Preheader, d.SenderName,
		d.UTMCampaign, pq.Array(d.Audience.Include), pq.Array(d.Audience.Exclude), d.Schedule.Mode, d.Schedule.SendAt,
		d.Schedule.PastZones, d.Audience.MostEngagedFirst, ab)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: create: %w", err)
	}
	return r.campaign()
}

// Get loads one campaign of the shop.
func (s *Store) Get(ctx context.Context, shopID, id int64) (Campaign, error) {
	return get(ctx, s.DB, shopID, id, false)
}

func get(ctx context.Context, q sqlx.QueryerContext, shopID, id int64, forUpdate bool) (Campaign, error) {
	query := `SELECT ` + campaignCols + ` FROM campaigns WHERE shop_id = $1 AND id = $2`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var r campaignRow
	err := sqlx.GetContext(ctx, q, &r, query, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, ErrNotFound
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: get %d: %w", id, err)
	}
	return r.campaign()
}

// Page is one page of the list; Next is the cursor of the following page (0: last page).
type Page struct {
	Campaigns []Campaign
	Next      int64
}

// List returns the shop's campaigns, newest first: those with an id below
// after (0: from the start) whose name contains q.
func (s *Store) List(ctx context.Context, shopID, after int64, q string, limit int) (Page, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var rows []campaignRow
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.TrimSpace(q)) + "%"
	err := s.DB.SelectContext(ctx, &rows, `SELECT `+campaignCols+` FROM campaigns
		WHERE shop_id = $1 AND ($2 = 0 OR id < $2) AND name ILIKE $3
		ORDER BY id DESC LIMIT $4`, shopID, after, pattern, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("campaigns: list: %w", err)
	}
	var p Page
	if len(rows) > limit {
		rows = rows[:limit]
		p.Next = rows[limit-1].ID
	}
	for _, r := range rows {
		c, err := r.campaign()
		if err != nil {
			return Page{}, err
		}
		p.Campaigns = append(p.Campaigns, c)
	}
	return p, nil
}

// Update replaces a draft's editable fields. It is meant for autosave: the
// whole draft is written in one statement, only while the campaign is still
// a draft, so a save racing a send can't change what is being sent.
func (s *Store) Update(ctx context.Context, shopID, id int64, d Draft) (Campaign, error) {
	d, ab, err := prepare(ctx, s.DB, shopID, d)
	if err != nil {
		return Campaign{}, err
	}
	var r campaignRow
	err = s.DB.GetContext(ctx, &r, `UPDATE campaigns SET name = $3, template_id = $4, subject = $5, preheader = $6,
			sender_name = $7, utm_campaign = $8, include_segments = $9, exclude_segments = $10, send_mode = $11,
			send_at = $12, past_zones = $13, most_engaged_first = $14, ab = $15, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'draft' AND snapshot_at IS NULL
		RETURNING `+campaignCols, shopID, id, d.Name, nullID(d.TemplateID), d.Subject, d.Preheader, d.SenderName,
		d.UTMCampaign, pq.Array(d.Audience.Include), pq.Array(d.Audience.Exclude), d.Schedule.Mode, d.Schedule.SendAt,
		d.Schedule.PastZones, d.Audience.MostEngagedFirst, ab)
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, s.whyNot(ctx, shopID, id, "edited")
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: update %d: %w", id, err)
	}
	return r.campaign()
}

// whyNot tells a missing campaign from one whose status refused action.
func (s *Store) whyNot(ctx context.Context, shopID, id int64, action string) error {
	var status string
	err := s.DB.GetContext(ctx, &status, `SELECT status FROM campaigns WHERE shop_id = $1 AND id = $2`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("campaigns: %d: %w", id, err)
	}
	if status == StatusDraft {
		status = "snapshotted" // a draft whose audience is already fixed
	}
	return StatusError{Action: action, Status: status}
}

// copyName is "Copy of <name>", cut to fit.
func copyName(name string) string {
	n := "Copy of " + name
	if utf8.RuneCountInString(n) > MaxNameRunes {
		n = string([]rune(n)[:MaxNameRunes])
	}
	return strings.TrimSpace(n)
}

// Duplicate copies a campaign of any status into a new draft: the content,
// audience, schedule and A/B settings, not its snapshot or lifecycle. The
// copy gets its own seed, so its A/B split is drawn afresh.
func (s *Store) Duplicate(ctx context.Context, shopID, id int64) (Campaign, error) {
	src, err := s.Get(ctx, shopID, id)
	if err != nil {
		return Campaign{}, err
	}
	d := src.Draft
	d.Name = copyName(d.Name)
	// Refer only to what still exists: a deleted segment or template would
	// make the copy unsaveable, and the merchant can pick again.
	refs, err := LoadRefs(ctx, s.DB, shopID, d)
	if err != nil {
		return Campaign{}, err
	}
	keep := func(ids []int64) []int64 {
		var out []int64
		for _, id := range ids {
			if refs.Segments[id] {
				out = append(out, id)
			}
		}
		return out
	}
	d.Audience.Include, d.Audience.Exclude = keep(d.Audience.Include), keep(d.Audience.Exclude)
	if !refs.Templates[d.TemplateID] {
		d.TemplateID = 0
	}
	d.AB.Variants = append([]Variant(nil), d.AB.Variants...)
	for i := range d.AB.Variants {
		if !refs.Templates[d.AB.Variants[i].TemplateID] {
			d.AB.Variants[i].TemplateID = 0
		}
	}
	return s.Create(ctx, shopID, d)
}

// Delete removes a draft. Other campaigns are kept: their recipients and
// report are history (cancel stops one instead).
func (s *Store) Delete(ctx context.Context, shopID, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM campaigns WHERE shop_id = $1 AND id = $2 AND status = 'draft'`, shopID, id)
	if err != nil {
		return fmt.Errorf("campaigns: delete %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.whyNot(ctx, shopID, id, "deleted")
	}
	return nil
}
