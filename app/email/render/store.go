package render

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// ErrNotFound is returned for a template that doesn't exist in the shop.
var ErrNotFound = errors.New("render: template not found")

// Store keeps a shop's templates (email_templates). Every query filters
// by the shop id the caller took from the verified session.
type Store struct{ db *sqlx.DB }

// NewStore returns a Store.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// Saved is a stored template.
type Saved struct {
	ID         int64
	StarterKey string
	Template   Template
	UpdatedAt  time.Time
}

// Save validates and stores t: a new row when id is 0, else an update of
// that row of the shop. An invalid template is refused with FieldErrors
// and nothing is written.
func (s *Store) Save(ctx context.Context, shopID, id int64, starterKey string, t Template) (int64, error) {
	if errs := Validate(t); errs != nil {
		return 0, errs
	}
	doc, err := json.Marshal(t)
	if err != nil {
		return 0, fmt.Errorf("render: save template: %w", err)
	}
	if len(doc) > MaxDocBytes {
		return 0, fmt.Errorf("%w: the template is %d KB; the limit is %d KB", ErrTooLarge, len(doc)>>10, MaxDocBytes>>10)
	}
	if id == 0 {
		err = s.db.GetContext(ctx, &id, `INSERT INTO email_templates (shop_id, name, locale, starter_key, doc)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, shopID, t.Name, t.Locale, starterKey, doc)
	} else {
		err = s.db.GetContext(ctx, &id, `UPDATE email_templates SET name = $3, locale = $4, doc = $5, updated_at = now()
			WHERE shop_id = $1 AND id = $2 RETURNING id`, shopID, id, t.Name, t.Locale, doc)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("render: save template: %w", err)
	}
	return id, nil
}

// Get loads one template of the shop.
func (s *Store) Get(ctx context.Context, shopID, id int64) (Saved, error) {
	var row struct {
		ID         int64     `db:"id"`
		StarterKey string    `db:"starter_key"`
		Doc        []byte    `db:"doc"`
		UpdatedAt  time.Time `db:"updated_at"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT id, starter_key, doc, updated_at FROM email_templates WHERE shop_id = $1 AND id = $2`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Saved{}, ErrNotFound
	}
	if err != nil {
		return Saved{}, fmt.Errorf("render: get template: %w", err)
	}
	t, err := Parse(row.Doc)
	if err != nil {
		return Saved{}, err
	}
	return Saved{ID: row.ID, StarterKey: row.StarterKey, Template: t, UpdatedAt: row.UpdatedAt}, nil
}

// FromStarter stores a copy of a starter template for the shop.
func (s *Store) FromStarter(ctx context.Context, shopID int64, key, locale string) (int64, error) {
	t, ok := Starter(key, locale)
	if !ok {
		return 0, fmt.Errorf("%w: no starter %q in %q", ErrNotFound, key, locale)
	}
	return s.Save(ctx, shopID, 0, key, t)
}

// Summary is one row of the shop's template list.
type Summary struct {
	ID         int64     `db:"id"`
	Name       string    `db:"name"`
	Locale     string    `db:"locale"`
	StarterKey string    `db:"starter_key"`
	UpdatedAt  time.Time `db:"updated_at"`
}

// List returns the shop's templates, most recently edited first (at most limit).
func (s *Store) List(ctx context.Context, shopID int64, limit int) ([]Summary, error) {
	if limit <= 0 || limit > 500 {
		limit = 200
	}
	var out []Summary
	err := s.db.SelectContext(ctx, &out, `SELECT id, name, locale, starter_key, updated_at FROM email_templates
		WHERE shop_id = $1 ORDER BY updated_at DESC, id DESC LIMIT $2`, shopID, limit)
	if err != nil {
		return nil, fmt.Errorf("render: list templates: %w", err)
	}
	return out, nil
}
