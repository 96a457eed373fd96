package segments

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

const seedShop = int64(1)

func mustExec(t testing.TB, d *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func copyIn(t testing.TB, tx *sqlx.Tx, table string, cols []string, rows [][]any) {
	t.Helper()
	st, err := tx.Prepare(pq.CopyIn(table, cols...))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := st.Exec(r...); err != nil {
			t.Fatalf("copy %s: %v", table, err)
		}
	}
	if _, err := st.Exec(); err != nil {
		t.Fatalf("copy %s: %v", table, err)
	}
	st.Close()
}

// seed writes n customers with orders, purchases, events and email history
// (deterministic from seed) into shop 1 and returns the same data as a
// Snapshot. A second shop gets look-alike rows that must never match.
func seed(t testing.TB, d *sqlx.DB, n int, seedN int64, now time.Time) *Snapshot {
	t.Helper()
	r := rand.New(rand.NewSource(seedN))
	mustExec(t, d, `INSERT INTO shops (id, domain) VALUES (1, 'one.myshopify.com'), (2, 'two.myshopify.com')`)
	s := &Snapshot{Bought: map[int64][]int64{}, ProductColls: map[int64][]int64{}, Suppressed: map[string]string{}, Members: map[int64]map[int64]bool{}}
	tx := d.MustBegin()
	defer tx.Rollback()
	at := func(maxDays int) time.Time {
		return now.Add(-time.Duration(r.Int63n(int64(maxDays)*24*int64(time.Hour))) + time.Hour).Truncate(time.Second)
	}
	optAt := func(maxDays int) *time.Time {
		if r.Intn(4) == 0 {
			return nil
		}
		x := at(maxDays)
		return &x
	}
	var prods [][]any
	for _, p := range poolProducts {
		cols := []int64{poolColls[r.Intn(len(poolColls))]}
		if r.Intn(2) == 0 {
			cols = append(cols, poolColls[r.Intn(len(poolColls))])
		}
		s.ProductColls[p] = cols
		prods = append(prods, []any{seedShop, p, pq.Int64Array(cols)})
	}
	copyIn(t, tx, "products", []string{"shop_id", "shopify_id", "collection_ids"}, prods)

	var custs, orders, cps, evs, msgs, mevs, sups [][]any
	orderID, msgID := int64(1), int64(1)
	for i := 1; i <= n+50; i++ {
		shop := seedShop
		if i > n {
			shop = 2
		}
		id := int64(i)
		c := SnapCustomer{ID: id, Country: poolCountries[r.Intn(4)], City: poolCities[r.Intn(4)],
			Locale: poolLocales[r.Intn(len(poolLocales))], Source: sources[r.Intn(3)],
			Consent: consentStates[r.Intn(len(consentStates))], ConsentAt: optAt(500),
			CreatedAt: at(800), ShopifyCreatedAt: optAt(800), Properties: map[string]string{},
			OrdersCount: r.Intn(5), TotalSpentCents: []int64{0, 5000, 10050, 25000, 1999, 12345}[r.Intn(6)],
			AOVCents: []int64{0, 5000, 10050, 1999, 777}[r.Intn(5)], FirstOrderAt: optAt(600), LastOrderAt: optAt(300)}
		if r.Intn(10) > 0 {
			e := fmt.Sprintf("C%d@%s", i, poolDomains[r.Intn(3)])
			c.Email = &e
			if r.Intn(8) == 0 {
				reason := SuppressionReasons[r.Intn(len(SuppressionReasons))]
				sups = append(sups, []any{shop, lowerAll([]string{e})[0], reason})
				if shop == seedShop {
					s.Suppressed[lowerAll([]string{e})[0]] = reason
				}
			}
		}
		c.Tags = []string{}
		for _, tg := range poolTags {
			if r.Intn(3) == 0 {
				c.Tags = append(c.Tags, tg)
			}
		}
		for _, k := range poolPropKeys {
			if r.Intn(2) == 0 {
				c.Properties[k] = poolPropVals[r.Intn(2)]
			}
		}
		props, _ := json.Marshal(c.Properties)
		var deleted *time.Time
		if r.Intn(30) == 0 {
			x := at(10)
			deleted = &x
		}
		cents := func(v int64) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }
		custs = append(custs, []any{id, shop, c.Email, c.Country, c.City, c.Locale, c.Source, c.Consent, c.ConsentAt,
			pq.StringArray(c.Tags), string(props), c.CreatedAt, c.ShopifyCreatedAt, c.OrdersCount,
			cents(c.TotalSpentCents), cents(c.AOVCents), c.FirstOrderAt, c.LastOrderAt, deleted})
		for k := r.Intn(4); k > 0; k-- {
			o := SnapOrder{CustomerID: id, Cancelled: r.Intn(6) == 0, Test: r.Intn(10) == 0, DiscountCodes: []string{}}
			if r.Intn(2) == 0 {
				o.DiscountCodes = append(o.DiscountCodes, poolCodes[r.Intn(3)])
			}
			var canc *time.Time
			if o.Cancelled {
				x := at(100)
				canc = &x
			}
			orders = append(orders, []any{shop, orderID, id, canc, o.Test, pq.StringArray(o.DiscountCodes)})
			orderID++
			if shop == seedShop {
				s.Orders = append(s.Orders, o)
			}
		}
		seen := map[int64]bool{}
		for k := r.Intn(4); k > 0; k-- {
			p := poolProducts[r.Intn(len(poolProducts))]
			if seen[p] {
				continue
			}
			seen[p] = true
			cps = append(cps, []any{shop, id, p, 1})
			if shop == seedShop {
				s.Bought[id] = append(s.Bought[id], p)
			}
		}
		for k := r.Intn(7); k > 0; k-- {
			ev := SnapEvent{CustomerID: id, Name: poolEvents[r.Intn(len(poolEvents))], OccurredAt: at(120)}
			var data any = map[string]any{}
			pid := fmt.Sprint(poolProducts[r.Intn(len(poolProducts))])
			switch ev.Name {
			case "product_viewed":
				ev.ProductID = pid
				data = map[string]any{"productVariant": map[string]any{"id": "9", "product": map[string]any{"id": pid}}}
			case "product_added_to_cart":
				ev.ProductID = pid
				data = map[string]any{"cartLine": map[string]any{"merchandise": map[string]any{"product": map[string]any{"id": pid}}}}
			case "collection_viewed":
				ev.CollectionID = fmt.Sprint(poolColls[r.Intn(4)])
				data = map[string]any{"collection": map[string]any{"id": ev.CollectionID}}
			case "search_submitted":
				q := []string{"Red Boots", "hat", "100% wool", "boot%", "scarf"}[r.Intn(5)]
				ev.SearchQuery = &q
				data = map[string]any{"searchResult": map[string]any{"query": q}}
			}
			b, _ := json.Marshal(data)
			evs = append(evs, []any{shop, fmt.Sprintf("e%d-%d", i, k), id, ev.Name, ev.OccurredAt, "pixel", string(b)})
			if shop == seedShop {
				s.Events = append(s.Events, ev)
			}
		}
		for k := r.Intn(5); k > 0; k-- {
			m := SnapMessage{ID: msgID, CustomerID: id, Kind: []string{"campaign", "flow", "test", "system"}[r.Intn(4)], SentAt: optAt(200)}
			msgID++
			msgs = append(msgs, []any{m.ID, shop, m.CustomerID, "x@example.com", m.Kind, fmt.Sprintf("d%d", m.ID), m.SentAt})
			if shop == seedShop {
				s.Messages = append(s.Messages, m)
			}
			for j := r.Intn(4); j > 0; j-- {
				ee := SnapEmailEvent{MessageID: m.ID, Kind: []string{"open", "click", "delivered"}[r.Intn(3)], Machine: r.Intn(4) == 0, OccurredAt: at(200)}
				mevs = append(mevs, []any{shop, m.ID, "pixel", ee.Kind, ee.Machine, ee.OccurredAt})
				if shop == seedShop {
					s.EmailEvents = append(s.EmailEvents, ee)
				}
			}
		}
		if shop == seedShop && deleted == nil {
			s.Customers = append(s.Customers, c)
		}
	}
	copyIn(t, tx, "customers", []string{"id", "shop_id", "email", "country", "city", "locale", "source", "email_consent",
		"email_consent_updated_at", "tags", "properties", "created_at", "shopify_created_at", "orders_count", "total_spent",
		"average_order_value", "first_order_at", "last_order_at", "deleted_at"}, custs)
	copyIn(t, tx, "orders", []string{"shop_id", "shopify_id", "customer_id", "cancelled_at", "test", "discount_codes"}, orders)
	copyIn(t, tx, "customer_products", []string{"shop_id", "customer_id", "product_id", "quantity"}, cps)
	copyIn(t, tx, "events", []string{"shop_id", "event_id", "customer_id", "name", "occurred_at", "source", "data"}, evs)
	copyIn(t, tx, "email_messages", []string{"id", "shop_id", "customer_id", "to_email", "kind", "dedupe_key", "sent_at"}, msgs)
	copyIn(t, tx, "email_events", []string{"shop_id", "message_id", "source", "kind", "machine", "occurred_at"}, mevs)
	copyIn(t, tx, "suppressions", []string{"shop_id", "email", "reason"}, sups)
	// Two segments with materialised members, for "in segment".
	poolSegments = poolSegments[:0]
	for _, sid := range []int64{1, 2} {
		tx.MustExec(`INSERT INTO segments (id, shop_id, name, rules) VALUES ($1, 1, 'seg', '{}')`, sid)
		s.Members[sid] = map[int64]bool{}
		for _, c := range s.Customers {
			if r.Intn(3) == 0 {
				tx.MustExec(`INSERT INTO segment_members (shop_id, segment_id, customer_id) VALUES (1, $1, $2)`, sid, c.ID)
				s.Members[sid][c.ID] = true
			}
		}
		poolSegments = append(poolSegments, sid)
	}
	if err := refreshRFM(context.Background(), tx, seedShop, now); err != nil {
		t.Fatal(err)
	}
	if err := rebuildActivity(context.Background(), tx, seedShop, 0); err != nil {
		t.Fatal(err)
	}
	s.RFM = ComputeRFMThresholds(s.Customers)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, d, "ANALYZE")
	return s
}

func query(t testing.TB, d *sqlx.DB, sql string, args []any) []int64 {
	t.Helper()
	var ids []int64
	if err := d.SelectContext(context.Background(), &ids, sql+" ORDER BY c.id", args...); err != nil {
		t.Fatalf("query failed: %v\n%s", err, sql)
	}
	return ids
}
