package db

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/cartwheel/cartwheel/migrations"
)

// MigrateUp applies River's migrations and then the app's, so job inserts in
// the app's own migrations (none yet) could rely on River's tables.
func MigrateUp(ctx context.Context, d *sql.DB) error {
	rm, err := rivermigrate.New(riverdatabasesql.New(d), nil)
	if err != nil {
		return fmt.Errorf("db: river migrator: %w", err)
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("db: migrate river up: %w", err)
	}
	p, err := provider(d)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("db: migrate up: %w", err)
	}
	return nil
}

// MigrateDown rolls back the newest app migration only; River's schema is
// left alone because queued jobs live in it.
func MigrateDown(ctx context.Context, d *sql.DB) error {
	p, err := provider(d)
	if err != nil {
		return err
	}
	if _, err := p.Down(ctx); err != nil {
		return fmt.Errorf("db: migrate down: %w", err)
	}
	return nil
}

// MigrateStatus writes one line per app migration and River's version.
func MigrateStatus(ctx context.Context, d *sql.DB, w io.Writer) error {
	p, err := provider(d)
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("db: migrate status: %w", err)
	}
	for _, s := range st {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "%05d %-40s %s\n", s.Source.Version, s.Source.Path, applied)
	}
	rm, err := rivermigrate.New(riverdatabasesql.New(d), nil)
	if err != nil {
		return fmt.Errorf("db: river migrator: %w", err)
	}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil {
		return fmt.Errorf("db: river status: %w", err)
	}
	fmt.Fprintf(w, "river migrations applied: %d of %d\n", len(existing), len(rm.AllVersions()))
	return nil
}

func provider(d *sql.DB) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, d, migrations.FS)
	if err != nil {
		return nil, fmt.Errorf("db: goose: %w", err)
	}
	return p, nil
}
