package db_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"errors"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

func TestMigrationsRoundTrip(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	var status bytes.Buffer
	if err := db.MigrateStatus(ctx, d.DB, &status); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(status.String(), "pending") || !strings.Contains(status.String(), "river migrations applied") {
		t.Fatalf("template should be fully migrated:\n%s", status.String())
	}
	// Step every app migration down and back up: each Down must undo its Up.
	for {
		var n int
		if err := d.Get(&n, "SELECT count(*) FROM goose_db_version WHERE version_id > 0 AND is_applied"); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if err := db.MigrateDown(ctx, d.DB); err != nil {
			t.Fatal(err)
		}
	}
	var exists bool
	d.Get(&exists, "SELECT to_regclass('public.shops') IS NOT NULL")
	if exists {
		t.Fatal("shops table survived a full rollback")
	}
	if err := db.MigrateUp(ctx, d.DB); err != nil {
		t.Fatal(err)
	}
	d.Get(&exists, "SELECT to_regclass('public.shops') IS NOT NULL AND to_regclass('public.river_job') IS NOT NULL")
	if !exists {
		t.Fatal("tables missing after migrating up again")
	}
}

func TestEachTestGetsItsOwnDatabase(t *testing.T) {
	a, b := dbtest.New(t), dbtest.New(t)
	if _, err := a.Exec("INSERT INTO shops (domain) VALUES ('isolated.myshopify.com')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Get(&n, "SELECT count(*) FROM shops"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("databases are shared: %d rows leaked", n)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	d := dbtest.New(t)
	err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		tx.MustExec("INSERT INTO shops (domain) VALUES ('half.myshopify.com')")
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("want errBoom, got %v", err)
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM shops")
	if n != 0 {
		t.Fatal("half-written row stayed behind")
	}
}

var errBoom = errors.New("boom")
