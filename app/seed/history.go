package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/signals"
)

// EmailHistory gives a demo shop two months of email so the dashboard and
// the reports have something true to show: a campaign sent three weeks
// ago, a welcome series (a draft flow from the preset) whose emails went
// out over the two months, their deliveries, opens (some by Apple Mail's
// privacy prefetch), clicks, a few bounces and unsubscribes, wheel signups,
// and orders placed after clicks. Everything is written as the real paths
// write it, with its signals, so the app's own signals consumer builds the
// rollups and attributes the orders. A shop that has any email is left as
// it is.
func EmailHistory(ctx context.Context, d *sqlx.DB, shopID int64, now time.Time, seed uint64) error {
	var has bool
	if err := d.GetContext(ctx, &has, `SELECT EXISTS (SELECT 1 FROM email_messages WHERE shop_id = $1)`, shopID); err != nil {
		return fmt.Errorf("seed: email history: %w", err)
	}
	if has {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0xe3a11))
	fs := &flows.Store{DB: d}
	flow, err := fs.CreateFromPreset(ctx, shopID, flows.PresetWelcomeSeries, "en")
	if err != nil {
		return fmt.Errorf("seed: email history: %w", err)
	}
	version, err := fs.Publish(ctx, shopID, flow.ID, false)
	if err != nil {
		return fmt.Errorf("seed: email history: publish the welcome series: %w", err)
	}
	var steps []flows.Step
	flows.Walk(flow.Draft.Steps, func(s *flows.Step) {
		if s.Type == flows.StepSendEmail {
			steps = append(steps, *s)
		}
	})
	if len(steps) == 0 {
		return fmt.Errorf("seed: email history: the welcome series has no email")
	}
	var campaignID int64
	campaignAt := now.AddDate(0, 0, -21).Truncate(time.Hour)
	if err := d.GetContext(ctx, &campaignID, `INSERT INTO campaigns (shop_id, name, status, subject, template_id, snapshot_at, started_at, finished_at)
		VALUES ($1, 'Autumn favourites', 'sent', 'Our autumn favourites are back', $2, $3::timestamptz, $3::timestamptz, $3::timestamptz + interval '20 minutes') RETURNING id`,
		shopID, steps[0].TemplateID, campaignAt); err != nil {
		return fmt.Errorf("seed: email history: campaign: %w", err)
	}

	var people []struct {
		ID        int64  `db:"id"`
		ShopifyID int64  `db:"shopify_id"`
		Email     string `db:"email"`
		Consent   string `db:"email_consent"`
	}
	if err := d.SelectContext(ctx, &people, `SELECT id, COALESCE(shopify_id, 0) AS shopify_id, email, email_consent FROM customers
		WHERE shop_id = $1 AND email IS NOT NULL AND deleted_at IS NULL ORDER BY id`, shopID); err != nil {
		return fmt.Errorf("seed: email history: customers: %w", err)
	}
	var vs []variant
	if err := func() error {
		rows, err := d.QueryxContext(ctx, `SELECT p.shopify_id, v.shopify_id, p.title, v.price FROM variants v
			JOIN products p ON p.shop_id = v.shop_id AND p.shopify_id = v.product_id WHERE v.shop_id = $1 AND v.price IS NOT NULL ORDER BY v.shopify_id`, shopID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v variant
			if err := rows.Scan(&v.product, &v.id, &v.title, &v.price); err != nil {
				return err
			}
			vs = append(vs, v)
		}
		return rows.Err()
	}(); err != nil {
		return fmt.Errorf("seed: email history: variants: %w", err)
	}

	cs := customers.NewStore(d)
	ord := orders.NewStore(d, cs)
	orderID := int64(6000000)
	var ords []orders.Order
	err = db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		var sigs []signals.Signal
		// Wheel signups over the two months: profiles not yet subscribed.
		for _, p := range people {
			if p.Consent != customers.ConsentNotSubscribed || rng.IntN(3) != 0 {
				continue
			}
			at := now.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))))
			changed, err := cs.SetConsent(ctx, tx, shopID, customers.ConsentChange{CustomerID: p.ID, State: customers.ConsentSubscribed,
				OptInLevel: "single_opt_in", Source: "wheel", At: at})
			if err != nil {
				return err
			}
			if changed {
				sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: p.ID, Kind: signals.ConsentChanged, At: at,
					Data: signals.Data(map[string]any{"state": customers.ConsentSubscribed, "source": "wheel"})})
			}
		}
		for _, p := range people {
			if p.Consent != customers.ConsentSubscribed {
				continue
			}
			var sends []email
			sends = append(sends, email{kind: "campaign", key: "campaign:" + strconv.FormatInt(campaignID, 10) + ":customer:" + strconv.FormatInt(p.ID, 10),
				at: campaignAt.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))})
			if rng.IntN(5) < 2 {
				// A run that has reached its end: every step's email went out.
				span := time.Duration(len(steps)-1)*48*time.Hour + time.Hour
				start := now.Add(-span - time.Duration(rng.Int64N(int64(56*24*time.Hour-span))))
				var run int64
				if err := tx.GetContext(ctx, &run, `INSERT INTO flow_runs (shop_id, flow_id, version, customer_id, status, started_at, ended_at, end_reason)
					VALUES ($1, $2, $3, $4, 'completed', $5, $6, 'completed') RETURNING id`,
					shopID, flow.ID, version, p.ID, start, start.Add(span-time.Hour)); err != nil {
					return fmt.Errorf("flow run: %w", err)
				}
				for i, st := range steps {
					sends = append(sends, email{kind: "flow", step: st, at: start.Add(time.Duration(i) * 48 * time.Hour), run: run, version: version,
						key: fmt.Sprintf("flow_run:%d:step:%s", run, st.ID)})
				}
			}
			for _, e := range sends {
				s, o, err := sendOne(ctx, tx, cs, rng, shopID, p.ID, p.Email, campaignID, flow.ID, e, now)
				if err != nil {
					return err
				}
				sigs = append(sigs, s...)
				if o != nil && len(vs) > 0 && p.ShopifyID != 0 {
					orderID++
					ords = append(ords, syntheticOrder(rng, orderID, p.ShopifyID, p.Email, *o, pickLines(vs, rng)))
				}
			}
		}
		return signals.Record(ctx, tx.Tx, sigs...)
	})
	if err != nil {
		return fmt.Errorf("seed: email history: %w", err)
	}
	// The orders come after the emails' signals, as they would in life: the
	// consumer attributes each to the click before it.
	if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		_, err := ord.Upsert(ctx, tx, shopID, ords)
		return err
	}); err != nil {
		return fmt.Errorf("seed: email history: orders: %w", err)
	}
	if err := ord.RefreshAllCustomers(ctx, shopID); err != nil {
		return fmt.Errorf("seed: email history: figures: %w", err)
	}
	return nil
}

type email struct {
	kind, key string
	step      flows.Step
	run       int64
	version   int
	at        time.Time
}

// User agents the demo's opens and clicks come from (devices and mail
// clients for the reports' splits).
var demoAgents = []string{
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 (via ggpht.com GoogleImageProxy)",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
}

// sendOne writes one email with its events and returns their signals and,
// when a click led to an order, when it was placed.
func sendOne(ctx context.Context, tx *sqlx.Tx, cs *customers.Store, rng *rand.Rand, shopID, customerID int64, to string, campaignID, flowID int64, e email, now time.Time) ([]signals.Signal, *time.Time, error) {
	var id int64
	var err error
	if e.kind == "campaign" {
		err = tx.GetContext(ctx, &id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, status, provider,
			marketing, sent_at, campaign_id, campaign_variant) VALUES ($1, $2, $3, 'campaign', $4, 'Our autumn favourites are back', 'sent', 'outbox', true, $5, $6, '')
			RETURNING id`, shopID, customerID, to, e.key, e.at, campaignID)
	} else {
		err = tx.GetContext(ctx, &id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, status, provider,
			marketing, sent_at, flow_id, flow_version, flow_run_id, flow_step, template_id)
			VALUES ($1, $2, $3, 'flow', $4, $5, 'sent', 'outbox', true, $6, $7, $8, $9, $10, $11)
			RETURNING id`, shopID, customerID, to, e.key, e.step.Name, e.at, flowID, e.version, e.run, e.step.ID, e.step.TemplateID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO flow_run_steps (shop_id, flow_id, run_id, step_id, outcome, message_id, at)
				VALUES ($1, $2, $3, $4, 'sent', $5, $6)`, shopID, flowID, e.run, e.step.ID, id, e.at)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("message: %w", err)
	}
	ref := strconv.FormatInt(id, 10)
	sigs := []signals.Signal{{ShopID: shopID, CustomerID: customerID, Kind: signals.EmailSent, Ref: ref, At: e.at}}
	status := "sent"
	event := func(source, kind, status, ua, url string, machine bool, at time.Time) error {
		if at.After(now) {
			return nil
		}
		var ev int64
		if err := tx.GetContext(ctx, &ev, `INSERT INTO email_events (shop_id, message_id, source, kind, url, user_agent, machine, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, shopID, id, source, kind, url, ua, machine, at); err != nil {
			return fmt.Errorf("event: %w", err)
		}
		sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: customerID, Kind: signals.EmailEvent, Ref: ref, At: at,
			Data: signals.Data(map[string]any{"status": status, "event": ev})})
		return nil
	}
	var ordered *time.Time
	at := e.at.Add(time.Duration(30+rng.IntN(90)) * time.Second)
	if rng.IntN(100) < 3 {
		if err := event("sendgrid", "bounce", "bounced", "", "", false, at); err != nil {
			return nil, nil, err
		}
		status = "bounced"
	} else {
		if err := event("sendgrid", "delivered", "delivered", "", "", false, at); err != nil {
			return nil, nil, err
		}
		status = "delivered"
		if rng.IntN(5) == 0 { // Apple Mail's privacy prefetch: an open by a machine, minutes after delivery
			if err := event("pixel", "open", "opened", "Mozilla/5.0", "", true, at.Add(time.Duration(1+rng.IntN(10))*time.Minute)); err != nil {
				return nil, nil, err
			}
		}
		if rng.IntN(100) < 42 {
			ua := demoAgents[rng.IntN(len(demoAgents))]
			// People read mail in the morning and the evening.
			openAt := at.Add(time.Duration(rng.IntN(36)) * time.Hour).Add(time.Duration(rng.IntN(60)) * time.Minute)
			if err := event("pixel", "open", "opened", ua, "", false, openAt); err != nil {
				return nil, nil, err
			}
			status = "opened"
			if rng.IntN(100) < 30 {
				clickAt := openAt.Add(time.Duration(1+rng.IntN(20)) * time.Minute)
				if err := event("redirect", "click", "clicked", ua, "https://demo.myshopify.com/collections/all", false, clickAt); err != nil {
					return nil, nil, err
				}
				status = "clicked"
				if rng.IntN(100) < 35 {
					o := clickAt.Add(time.Duration(10+rng.IntN(36*60)) * time.Minute)
					if o.Before(now) {
						ordered = &o
					}
				}
			} else if rng.IntN(100) < 3 {
				unsubAt := openAt.Add(time.Minute)
				if unsubAt.Before(now) {
					if err := event("page", "unsubscribe", "unsubscribed", ua, "", false, unsubAt); err != nil {
						return nil, nil, err
					}
					changed, err := cs.SetConsent(ctx, tx, shopID, customers.ConsentChange{CustomerID: customerID,
						State: customers.ConsentUnsubscribed, Source: "unsubscribe", At: unsubAt})
					if err != nil {
						return nil, nil, err
					}
					if changed {
						sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: customerID, Kind: signals.ConsentChanged, At: unsubAt,
							Data: signals.Data(map[string]any{"state": customers.ConsentUnsubscribed, "source": "unsubscribe"})})
					}
					status = "unsubscribed"
				}
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE email_messages SET status = $2 WHERE id = $1`, id, status); err != nil {
		return nil, nil, fmt.Errorf("message status: %w", err)
	}
	return sigs, ordered, nil
}
