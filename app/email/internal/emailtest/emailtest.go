// Package emailtest builds shops and customers for the email packages' tests.
package emailtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
)

var seq atomic.Int64

// Shop inserts an installed shop with a sender address and returns its id.
func Shop(t testing.TB, db *sqlx.DB) int64 {
	t.Helper()
	var id int64
	err := db.GetContext(context.Background(), &id, `
		INSERT INTO shops (domain, installed_at, access_token_enc, sender_name, sender_email, reply_to)
		VALUES ($1, now(), '\x00'::bytea, 'Demo Store', 'hello@demo.example', 'help@demo.example') RETURNING id`,
		fmt.Sprintf("shop-%d.myshopify.com", seq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Customer inserts a profile with the given email consent.
func Customer(t testing.TB, db *sqlx.DB, shopID int64, email, consent string) int64 {
	t.Helper()
	var id int64
	err := db.GetContext(context.Background(), &id, `
		INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, $2, $3) RETURNING id`, shopID, email, consent)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
