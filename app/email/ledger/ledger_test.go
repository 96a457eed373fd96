package ledger_test

import (
	"context"
	"testing"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
)

func TestReserveIsUniquePerShopAndKey(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	other := emailtest.Shop(t, db)
	r := ledger.Reservation{ShopID: shop, To: "a@example.com", Kind: ledger.KindCampaign, DedupeKey: "campaign:1:customer:2", Marketing: true}
	id, existed, err := ledger.Reserve(ctx, db, r)
	if err != nil || existed {
		t.Fatalf("first: %v %v", existed, err)
	}
	id2, existed, err := ledger.Reserve(ctx, db, r)
	if err != nil || !existed || id2 != id {
		t.Fatalf("second: id %d/%d existed %v err %v", id, id2, existed, err)
	}
	r.ShopID = other
	if _, existed, _ := ledger.Reserve(ctx, db, r); existed {
		t.Error("the same key in another shop collided")
	}
	if _, _, err := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, To: "a@example.com", Kind: "newsletter", DedupeKey: "x"}); err == nil {
		t.Error("bad kind accepted")
	}
}

func TestClaimOnlyOnce(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	id, _, _ := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, To: "a@example.com", Kind: ledger.KindTest, DedupeKey: "test:1"})
	if ok, err := ledger.Claim(ctx, db, shop, id, "sendgrid", []string{"https://x.test/a"}); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if ok, _ := ledger.Claim(ctx, db, shop, id, "sendgrid", nil); ok {
		t.Fatal("claimed twice")
	}
	if ok, _ := ledger.MarkSent(ctx, db, shop, id, "abc"); !ok {
		t.Fatal("mark sent")
	}
	m, _ := ledger.Get(ctx, db, shop, id)
	if m.Status != ledger.Sent || m.ProviderMessageID.String != "abc" || m.Attempts != 1 || len(m.Links) != 1 || !m.SentAt.Valid {
		t.Errorf("row %+v", m)
	}
}

func TestApplyEventOrder(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	n := 0
	fresh := func(status string) int64 {
		n++
		id, _, _ := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, To: "a@example.com", Kind: ledger.KindTest, DedupeKey: "test:" + string(rune('a'+n))})
		ledger.MarkSending(ctx, db, shop, id)
		ledger.MarkSent(ctx, db, shop, id, "p")
		if status != ledger.Sent {
			ledger.ApplyEvent(ctx, db, shop, id, ledger.Event{Status: status})
		}
		return id
	}
	cases := []struct {
		from, event string
		applied     bool
	}{
		{ledger.Sent, ledger.Delivered, true},
		{ledger.Delivered, ledger.Deferred, false},
		{ledger.Deferred, ledger.Delivered, true},
		{ledger.Opened, ledger.Delivered, false},
		{ledger.Clicked, ledger.Opened, false},
		{ledger.Opened, ledger.Clicked, true},
		{ledger.Delivered, ledger.Opened, true},
		{ledger.Clicked, ledger.Unsubscribed, true},
		{ledger.Unsubscribed, ledger.Clicked, false},
		{ledger.Unsubscribed, ledger.Complained, true},
		{ledger.Complained, ledger.Unsubscribed, false},
		{ledger.Bounced, ledger.Delivered, false},
		{ledger.Bounced, ledger.Dropped, false},
		{ledger.Delivered, ledger.Bounced, true},
		{ledger.Opened, ledger.Opened, false},
	}
	for _, c := range cases {
		id := fresh(c.from)
		ok, err := ledger.ApplyEvent(ctx, db, shop, id, ledger.Event{Status: c.event, BounceType: "soft"})
		if err != nil || ok != c.applied {
			t.Errorf("%s then %s: applied %v (%v), want %v", c.from, c.event, ok, err, c.applied)
		}
	}
	// Skipped rows ignore events; failed (interrupted) rows accept them as confirmation.
	id, _, _ := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, To: "a@example.com", Kind: ledger.KindTest, DedupeKey: "test:skip"})
	ledger.MarkSkipped(ctx, db, shop, id, "suppressed")
	if ok, _ := ledger.ApplyEvent(ctx, db, shop, id, ledger.Event{Status: ledger.Delivered}); ok {
		t.Error("event applied to a skipped row")
	}
	id, _, _ = ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, To: "a@example.com", Kind: ledger.KindTest, DedupeKey: "test:crash"})
	ledger.MarkSending(ctx, db, shop, id)
	ledger.MarkFailed(ctx, db, shop, id, ledger.InterruptedReason)
	if ok, _ := ledger.ApplyEvent(ctx, db, shop, id, ledger.Event{Status: ledger.Delivered, ProviderID: "sg-1"}); !ok {
		t.Error("delivered did not confirm an interrupted row")
	}
	m, _ := ledger.Get(ctx, db, shop, id)
	if m.Status != ledger.Delivered || m.ProviderMessageID.String != "sg-1" {
		t.Errorf("row %+v", m)
	}
	if _, err := ledger.ApplyEvent(ctx, db, shop, id, ledger.Event{Status: ledger.Queued}); err == nil {
		t.Error("queued accepted as an event")
	}
}
