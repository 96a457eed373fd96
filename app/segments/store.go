package segments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/app/shops"
)

// ErrNotFound: no such segment in this shop.
var ErrNotFound = errors.New("segments: not found")

// Segment is one stored segment.
type Segment struct {
	ID        int64          `db:"id"`
	ShopID    int64          `db:"shop_id"`
	Name      string         `db:"name"`
	RulesJSON []byte         `db:"rules"`
	PresetKey sql.NullString `db:"preset_key"`
	CreatedAt time.Time      `db:"created_at"`
	UpdatedAt time.Time      `db:"updated_at"`

	Rules Rules `db:"-"`
}

// Store reads and writes segments and their membership.
type Store struct {
	DB *sqlx.DB
}

// NewStore returns a store on d.
func NewStore(d *sqlx.DB) *Store { return &Store{DB: d} }

const segmentCols = "id, shop_id, name, rules, preset_key, created_at, updated_at"

type queryer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

func loadSegments(ctx context.Context, q queryer, shopID int64) ([]Segment, error) {
	var segs []Segment
	if err := sqlx.SelectContext(ctx, q, &segs, "SELECT "+segmentCols+" FROM segments WHERE shop_id = $1 ORDER BY id", shopID); err != nil {
		return nil, fmt.Errorf("segments: list: %w", err)
	}
	for i := range segs {
		r, err := Parse(segs[i].RulesJSON)
		if err != nil {
			return nil, fmt.Errorf("segment %d: %w", segs[i].ID, err)
		}
		segs[i].Rules = r
	}
	return segs, nil
}

// List returns the shop's segments, oldest first.
func (s *Store) List(ctx context.Context, shopID int64) ([]Segment, error) {
	return loadSegments(ctx, s.DB, shopID)
}

// Get returns one of the shop's segments.
func (s *Store) Get(ctx context.Context, shopID, id int64) (Segment, error) {
	var seg Segment
	err := s.DB.GetContext(ctx, &seg, "SELECT "+segmentCols+" FROM segments WHERE shop_id = $1 AND id = $2", shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Segment{}, ErrNotFound
	}
	if err != nil {
		return Segment{}, fmt.Errorf("segments: get: %w", err)
	}
	if seg.Rules, err = Parse(seg.RulesJSON); err != nil {
		return Segment{}, err
	}
	return seg, nil
}

// lookupFor resolves "in segment" ids among segs.
func lookupFor(segs []Segment) Lookup {
	m := make(map[int64]Rules, len(segs))
	for _, s := range segs {
		m[s.ID] = s.Rules
	}
	return func(id int64) (Rules, bool) { r, ok := m[id]; return r, ok }
}

// validateName checks a segment name.
func validateName(name string) error {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return Errors{{Path: "name", Message: "Enter a name for the segment."}}
	case input.Problem(n) != "":
		return Errors{{Path: "name", Message: "The name " + input.Problem(n) + "."}}
	case len([]rune(n)) > MaxTextLen:
		return Errors{{Path: "name", Message: fmt.Sprintf("The name can be at most %d characters.", MaxTextLen)}}
	}
	return nil
}

// Create validates and stores a new segment, then computes its membership.
// Validation problems come back as Errors.
func (s *Store) Create(ctx context.Context, shopID int64, name string, r Rules, now time.Time) (Segment, error) {
	return s.create(ctx, shopID, name, r, "", now)
}

func (s *Store) create(ctx context.Context, shopID int64, name string, r Rules, presetKey string, now time.Time) (Segment, error) {
	if err := validateName(name); err != nil {
		return Segment{}, err
	}
	segs, err := loadSegments(ctx, s.DB, shopID)
	if err != nil {
		return Segment{}, err
	}
	if err := Validate(r, 0, lookupFor(segs)); err != nil {
		return Segment{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Segment{}, err
	}
	var id int64
	err = s.DB.GetContext(ctx, &id, `INSERT INTO segments (shop_id, name, rules, rules_version, preset_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $6) RETURNING id`, shopID, strings.TrimSpace(name), b, Version, presetKey, now)
	if err != nil {
		return Segment{}, fmt.Errorf("segments: create: %w", err)
	}
	if err := s.Refresh(ctx, shopID, id, now); err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, shopID, id)
}

// Save replaces a segment's name and rules and recomputes its membership
// (and that of segments that depend on it), even when nothing changed.
func (s *Store) Save(ctx context.Context, shopID, id int64, name string, r Rules, now time.Time) (Segment, error) {
	if err := validateName(name); err != nil {
		return Segment{}, err
	}
	segs, err := loadSegments(ctx, s.DB, shopID)
	if err != nil {
		return Segment{}, err
	}
	found := false
	for _, sg := range segs {
		found = found || sg.ID == id
	}
	if !found {
		return Segment{}, ErrNotFound
	}
	if err := Validate(r, id, lookupFor(segs)); err != nil {
		return Segment{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Segment{}, err
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE segments SET name = $3, rules = $4, rules_version = $5, updated_at = $6
		WHERE shop_id = $1 AND id = $2`, shopID, id, strings.TrimSpace(name), b, Version, now)
	if err != nil {
		return Segment{}, fmt.Errorf("segments: save: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Segment{}, ErrNotFound
	}
	if err := s.Refresh(ctx, shopID, id, now); err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, shopID, id)
}

// Location returns the shop's effective timezone (UTC when unknown).
func Location(ctx context.Context, q sqlx.QueryerContext, shopID int64) (*time.Location, error) {
	var st shops.Settings
	err := sqlx.GetContext(ctx, q, &st, "SELECT timezone, iana_timezone FROM shops WHERE id = $1", shopID)
	if err != nil {
		return nil, fmt.Errorf("segments: shop %d timezone: %w", shopID, err)
	}
	loc, err := time.LoadLocation(st.EffectiveTimezone())
	if err != nil || st.EffectiveTimezone() == "" {
		return time.UTC, nil
	}
	return loc, nil
}
