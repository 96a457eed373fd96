package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/signals"
)

// How a visitor got identified (visitors.identified_by).
const (
	ByWheel      = "wheel"
	ByCheckout   = "checkout"
	ByProxyLogin = "proxy_login"
	// ByPixelClaim is kept for visitors linked before the pixel's claim
	// stopped counting (it is unauthenticated); nothing sets it now.
	ByPixelClaim = "pixel_claim"
)

// BackfillWindow bounds how far back a stitch attaches a visitor's
// anonymous events to the profile.
const BackfillWindow = 90 * 24 * time.Hour

// Identify stitches a visitor to a customer profile: later events of the
// visitor land on the profile, and its anonymous events of the last
// BackfillWindow join it now. A visitor already stitched to someone else
// (a shared device) follows the newest identity; its earlier events keep
// the profile they were attributed to.
func Identify(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64, by string) error {
	_, _, err := identify(ctx, tx, shopID, visitorID, customerID, by)
	return err
}

// identify is Identify that also reports what changed: whether the
// visitor got linked to the profile, and per event name the newest of its
// events back-filled onto it.
func identify(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64, by string) (bool, map[string]time.Time, error) {
	if !ValidVisitorID(visitorID) {
		return false, nil, fmt.Errorf("events: identify: bad visitor id")
	}
	// The profile before the visitor: the order the ingester takes them
	// (it locks the profiles its signals are for), so the two can't
	// deadlock.
	if _, err := customers.LockProfiles(ctx, tx, shopID, []int64{customerID}); err != nil {
		return false, nil, fmt.Errorf("events: identify: %w", err)
	}
	// Locks the visitor row: a committer inserting this visitor's events
	// either finished before (and the back-fill below sees them) or waits
	// and then reads the new customer_id.
	linked, err := tx.ExecContext(ctx, `
		INSERT INTO visitors (shop_id, visitor_id, customer_id, identified_at, identified_by)
		VALUES ($1, $2, $3, now(), $4)
		ON CONFLICT (shop_id, visitor_id) DO UPDATE
		SET customer_id = EXCLUDED.customer_id, identified_at = now(), identified_by = EXCLUDED.identified_by
		WHERE visitors.customer_id IS DISTINCT FROM EXCLUDED.customer_id`,
		shopID, visitorID, customerID, by)
	if err != nil {
		return false, nil, fmt.Errorf("events: identify visitor: %w", err)
	}
	var filled []struct {
		Name string    `db:"name"`
		At   time.Time `db:"at"`
	}
	if err := tx.SelectContext(ctx, &filled, `
		WITH f AS (
			UPDATE events SET customer_id = $3
			WHERE shop_id = $1 AND visitor_id = $2 AND customer_id IS NULL AND occurred_at > $4
			RETURNING name, occurred_at
		)
		SELECT name, max(occurred_at) AS at FROM f GROUP BY name ORDER BY name`,
		shopID, visitorID, customerID, time.Now().Add(-BackfillWindow)); err != nil {
		return false, nil, fmt.Errorf("events: back-fill visitor events: %w", err)
	}
	n, _ := linked.RowsAffected()
	names := make(map[string]time.Time, len(filled))
	for _, f := range filled {
		names[f.Name] = f.At
	}
	return n > 0, names, nil
}

// identifySignals describes what identify changed for the customer: a new
// link (ProfileChanged, Data {"identified_by"}) and one StorefrontEvent per
// back-filled event name.
func identifySignals(shopID, customerID int64, by string, linked bool, filled map[string]time.Time) []signals.Signal {
	var out []signals.Signal
	if linked {
		out = append(out, signals.Signal{ShopID: shopID, CustomerID: customerID, Kind: signals.ProfileChanged,
			Data: signals.Data(map[string]any{"identified_by": by})})
	}
	names := slices.Sorted(maps.Keys(filled))
	for _, n := range names {
		out = append(out, signals.Signal{ShopID: shopID, CustomerID: customerID, Kind: signals.StorefrontEvent, Ref: n, At: filled[n]})
	}
	return out
}

// Identity resolves who a visitor is from what a batch tells.
type Identity struct {
	db        *sqlx.DB
	customers *customers.Store
	now       func() time.Time
}

// NewIdentity returns an Identity.
func NewIdentity(db *sqlx.DB, cs *customers.Store) *Identity {
	return &Identity{db: db, customers: cs, now: time.Now}
}

// Stitch applies the identity signals of a stored batch. Only signed
// sources link a visitor to a profile or create one: here, the logged-in
// customer in Shopify's signed app-proxy query. What the browser says
// itself (an email typed at checkout, the pixel's customer claim) is never
// applied: anybody can post it. A checkout token the batch carries is kept
// as an unconfirmed claim and linked only when Shopify's signed checkout
// webhook names that token's customer (ConfirmCheckout), whichever comes
// first. It returns the profile the visitor was stitched to (0 if none).
func (id *Identity) Stitch(ctx context.Context, shopID int64, b Batch, loggedIn int64) (int64, error) {
	tokens := checkoutTokens(b)
	if loggedIn == 0 && len(tokens) == 0 {
		return 0, nil
	}
	if !ValidVisitorID(b.VisitorID) {
		return 0, nil
	}
	var customerID int64
	err := inTx(ctx, id.db, func(tx *sqlx.Tx) error {
		now := id.now()
		var sigs []signals.Signal
		for _, token := range tokens {
			confirmed, err := claimCheckout(ctx, tx, shopID, token, b.VisitorID, now)
			if err != nil {
				return err
			}
			if confirmed == 0 {
				continue
			}
			linked, filled, err := identify(ctx, tx, shopID, b.VisitorID, confirmed, ByCheckout)
			if err != nil {
				return err
			}
			customerID = confirmed
			sigs = append(sigs, identifySignals(shopID, confirmed, ByCheckout, linked, filled)...)
		}
		// The signed login last: the strongest signal wins.
		if loggedIn > 0 {
			cid, err := id.customers.ProfileForShopifyID(ctx, tx, shopID, loggedIn)
			if err != nil {
				return err
			}
			linked, filled, err := identify(ctx, tx, shopID, b.VisitorID, cid, ByProxyLogin)
			if err != nil {
				return err
			}
			customerID = cid
			sigs = append(sigs, identifySignals(shopID, cid, ByProxyLogin, linked, filled)...)
		}
		// A logged-in shopper's every batch lands here: only a new link
		// (which a new profile always is) or back-filled events are worth
		// a signal; the batch's own events recorded theirs when they were
		// stored.
		return id.customers.Signal(ctx, tx, sigs...)
	})
	if err != nil {
		return 0, fmt.Errorf("events: stitch visitor: %w", err)
	}
	return customerID, nil
}

// RecordServer stores an event the app itself observed (the wheel's
// "subscribed", "wheel_spun") in the caller's transaction, so it commits
// with the domain write. visitorID may be empty; customerID 0 means not
// known. data is stored as given (it comes from our code, not a browser).
func RecordServer(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64, name string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("events: record %s: %w", name, err)
	}
	if data == nil {
		raw = []byte("{}")
	}
	var cust *int64
	if customerID > 0 {
		cust = &customerID
	}
	// The default partition catches a month not created yet; the ingester
	// moves such rows out when it creates the month.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO events (shop_id, event_id, visitor_id, customer_id, name, occurred_at, source, data)
		VALUES ($1, $2, $3, COALESCE($4, (SELECT customer_id FROM visitors WHERE shop_id = $1 AND visitor_id = $3)),
		        $5, now(), 'server', $6)`,
		shopID, "srv_"+randomID(), visitorID, cust, name, string(raw)); err != nil {
		return fmt.Errorf("events: record %s: %w", name, err)
	}
	return nil
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func inTx(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Pipeline is what the HTTP layer calls: store a batch durably, then apply
// its identity signals (after the insert, so the back-fill covers the
// batch's own events).
type Pipeline struct {
	Ingester *Ingester
	Identity *Identity
}

// Ingest stores b for the shop; loggedIn is the Shopify customer id from a
// signed app-proxy request (0 otherwise).
func (p *Pipeline) Ingest(ctx context.Context, shopID int64, b Batch, loggedIn int64) (Result, error) {
	res, err := p.Ingester.Write(ctx, shopID, b)
	if err != nil {
		return res, err
	}
	if _, err := p.Identity.Stitch(ctx, shopID, b, loggedIn); err != nil {
		// The events are durable; a retry of the batch counts them as
		// duplicates and stitches again.
		return res, err
	}
	return res, nil
}
