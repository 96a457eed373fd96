package tracking

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
)

// streakEvents are the event types that move an address's soft-bounce
// streak: a delivery resets it, a deferral or a block adds a message.
var streakEvents = map[string]bool{"delivered": true, "deferred": true, "bounce": true}

// suppressingEvents may suppress an address, which refreshes the segments
// of every profile holding it.
var suppressingEvents = map[string]bool{"bounce": true, "deferred": true, "dropped": true, "spamreport": true}

// lockBatch takes, before a SendGrid batch writes anything, every lock its
// events will need, each kind in one sorted order, so that batches
// processed at the same moment wait for each other instead of deadlocking
// or losing an update:
//
//   - the soft-bounce streak row of each address whose streak an event
//     moves (created at 0 if missing). A streak is "messages whose first
//     deferral or block came after the address's last delivery"; counting it
//     incrementally is only right if the events of one address are applied
//     one batch at a time, in the order their rows get their ids. Holding the
//     row from before the batch inserts any event gives exactly that: two
//     batches each inserting a deferral of the same message would otherwise
//     both miss the other's and count the message twice, and a delivery
//     could reset a streak while a deferral that came after it is counted
//     against the old value. RepairStreaks recomputes the same definition
//     from the rows.
//   - the profiles whose derived data the batch changes (the messages'
//     recipients, and the holders of addresses it may suppress), which
//     signals.Record would otherwise lock one by one in
//     event order.
//
// Addresses come before profiles here, and nothing else locks streak rows.
func (s *Service) lockBatch(ctx context.Context, tx *sqlx.Tx, raw []json.RawMessage) error {
	type shopSet struct {
		addrs, suppressAddrs []string
		customers            []int64
	}
	var msgIDs []int64
	kinds := map[int64][]string{}
	for _, r := range raw {
		var e sgEvent
		if json.Unmarshal(r, &e) != nil || e.SGEventID == "" || !knownEvents[e.Event] {
			continue
		}
		id := int64(e.CWMessageID)
		if id == 0 {
			id = int64(e.CustomArgs.CWMessageID)
		}
		if id > 0 {
			msgIDs = append(msgIDs, id)
			kinds[id] = append(kinds[id], e.Event)
		}
	}
	if len(msgIDs) == 0 {
		return nil
	}
	var msgs []message
	if err := tx.SelectContext(ctx, &msgs, `SELECT `+messageColumns+` FROM email_messages WHERE id = ANY($1)`, pq.Array(msgIDs)); err != nil {
		return fmt.Errorf("tracking: lock batch: %w", err)
	}
	byShop := map[int64]*shopSet{}
	for _, m := range msgs {
		set := byShop[m.ShopID]
		if set == nil {
			set = &shopSet{}
			byShop[m.ShopID] = set
		}
		addr := strings.ToLower(m.ToEmail)
		if m.CustomerID.Valid {
			set.customers = append(set.customers, m.CustomerID.Int64)
		}
		for _, k := range kinds[m.ID] {
			if streakEvents[k] {
				set.addrs = append(set.addrs, addr)
			}
			if suppressingEvents[k] || k == "unsubscribe" || k == "group_unsubscribe" {
				set.suppressAddrs = append(set.suppressAddrs, addr)
			}
		}
	}
	shops := make([]int64, 0, len(byShop))
	for id := range byShop {
		shops = append(shops, id)
	}
	slices.Sort(shops)
	for _, shopID := range shops {
		set := byShop[shopID]
		if err := lockStreaks(ctx, tx, shopID, set.addrs); err != nil {
			return err
		}
	}
	for _, shopID := range shops {
		set := byShop[shopID]
		ids := set.customers
		if len(set.suppressAddrs) > 0 {
			var holders []int64
			if err := tx.SelectContext(ctx, &holders, `SELECT id FROM customers WHERE shop_id = $1 AND email IS NOT NULL AND lower(email) = ANY($2)`,
				shopID, pq.Array(set.suppressAddrs)); err != nil {
				return fmt.Errorf("tracking: lock batch: %w", err)
			}
			ids = append(ids, holders...)
		}
		if len(ids) > 0 {
			if _, err := customers.LockProfiles(ctx, tx, shopID, ids); err != nil {
				return fmt.Errorf("tracking: lock batch: %w", err)
			}
		}
	}
	return nil
}

// lockStreaks locks the soft-bounce streak rows of the (lower-case)
// addresses in one order, creating missing ones at 0.
func lockStreaks(ctx context.Context, tx *sqlx.Tx, shopID int64, addrs []string) error {
	addrs = slices.Compact(slices.Sorted(slices.Values(addrs)))
	if len(addrs) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_soft_bounces (shop_id, email, streak)
		SELECT $1, e, 0 FROM unnest($2::text[]) AS e ORDER BY e
		ON CONFLICT (shop_id, email) DO NOTHING`, shopID, pq.Array(addrs)); err != nil {
		return fmt.Errorf("tracking: lock streaks: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM email_soft_bounces WHERE shop_id = $1 AND email = ANY($2)
		ORDER BY email FOR UPDATE`, shopID, pq.Array(addrs)); err != nil {
		return fmt.Errorf("tracking: lock streaks: %w", err)
	}
	return nil
}
