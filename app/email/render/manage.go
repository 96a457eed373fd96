package render

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// User is a flow or campaign that sends a template.
type User struct {
	Kind string `db:"kind"` // "flow" | "campaign"
	ID   int64  `db:"id"`
	Name string `db:"name"`
}

// InUseError refuses to delete a template that flows or campaigns send.
type InUseError struct{ Users []User }

func (e *InUseError) Error() string {
	names := make([]string, len(e.Users))
	for i, u := range e.Users {
		names[i] = u.Kind + " " + fmt.Sprintf("%q", u.Name)
	}
	return "render: the template is used by " + strings.Join(names, ", ")
}

// usersQuery finds what sends template $2 of shop $1: a flow whose draft or
// live version has a step with that template (steps nest in branches, hence
// the recursive path), and a campaign that may still send (not sent or
// cancelled: those keep their report from the ledger) with it as its
// template or an A/B variant's.
const usersQuery = `
SELECT 'flow' AS kind, f.id, f.name FROM flows f
WHERE f.shop_id = $1 AND (
    jsonb_path_exists(f.draft, '$.**.template_id ? (@ == $id)', jsonb_build_object('id', $2::bigint))
    OR EXISTS (SELECT 1 FROM flow_versions v WHERE v.shop_id = $1 AND v.flow_id = f.id AND v.version = f.live_version
        AND jsonb_path_exists(v.definition, '$.**.template_id ? (@ == $id)', jsonb_build_object('id', $2::bigint))))
UNION ALL
SELECT 'campaign', c.id, c.name FROM campaigns c
WHERE c.shop_id = $1 AND c.status NOT IN ('sent', 'cancelled') AND (
    c.template_id = $2
    OR jsonb_path_exists(c.ab, '$.variants[*].template_id ? (@ == $id)', jsonb_build_object('id', $2::bigint)))
ORDER BY 1 DESC, 3, 2`

// Users lists the flows and campaigns that send the shop's template id.
func (s *Store) Users(ctx context.Context, shopID, id int64) ([]User, error) {
	return users(ctx, s.db, shopID, id)
}

func users(ctx context.Context, q sqlx.QueryerContext, shopID, id int64) ([]User, error) {
	var out []User
	if err := sqlx.SelectContext(ctx, q, &out, usersQuery, shopID, id); err != nil {
		return nil, fmt.Errorf("render: template users: %w", err)
	}
	return out, nil
}

// Delete removes the shop's template unless a flow or campaign sends it
// (*InUseError naming them). The template row is locked first so two
// deletes, or a delete and a rename, don't interleave.
func (s *Store) Delete(ctx context.Context, shopID, id int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("render: delete template: %w", err)
	}
	defer tx.Rollback()
	var found int64
	err = tx.GetContext(ctx, &found, `SELECT id FROM email_templates WHERE shop_id = $1 AND id = $2 FOR UPDATE`, shopID, id)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return fmt.Errorf("render: delete template: %w", err)
	}
	us, err := users(ctx, tx, shopID, id)
	if err != nil {
		return err
	}
	if len(us) > 0 {
		return &InUseError{Users: us}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM email_templates WHERE shop_id = $1 AND id = $2`, shopID, id); err != nil {
		return fmt.Errorf("render: delete template: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("render: delete template: %w", err)
	}
	return nil
}

// Rename gives the shop's template a new name (validated like a save).
func (s *Store) Rename(ctx context.Context, shopID, id int64, name string) error {
	t, err := s.Get(ctx, shopID, id)
	if err != nil {
		return err
	}
	t.Template.Name = strings.TrimSpace(name)
	if errs := Validate(t.Template); errs["name"] != "" {
		return FieldErrors{"name": errs["name"]}
	}
	_, err = s.Save(ctx, shopID, id, t.StarterKey, t.Template)
	return err
}

// Duplicate stores a copy of the shop's template, named "… (copy)".
func (s *Store) Duplicate(ctx context.Context, shopID, id int64) (int64, error) {
	t, err := s.Get(ctx, shopID, id)
	if err != nil {
		return 0, err
	}
	const suffix = " (copy)"
	name := t.Template.Name
	for len(name)+len(suffix) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	t.Template.Name = name + suffix
	return s.Save(ctx, shopID, 0, t.StarterKey, t.Template)
}
