package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
)

// How a visitor got identified (visitors.identified_by).
const (
	ByWheel      = "wheel"
	ByCheckout   = "checkout"
	ByProxyLogin = "proxy_login"
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
	_, err := identify(ctx, tx, shopID, visitorID, customerID, by)
	return err
}

// identify is Identify that also reports whether anything changed: the
// visitor's profile, or events back-filled onto it.
func identify(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64, by string) (bool, error) {
	if !ValidVisitorID(visitorID) {
		return false, fmt.Errorf("events: identify: bad visitor id")
	}
	// The profile before the visitor: the order the ingester takes them
	// (its segment refresh locks the profile), so the two can't deadlock.
	if _, err := customers.LockProfiles(ctx, tx, shopID, []int64{customerID}); err != nil {
		return false, fmt.Errorf("events: identify: %w", err)
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
		return false, fmt.Errorf("events: identify visitor: %w", err)
	}
	filled, err := tx.ExecContext(ctx, `
		UPDATE events SET customer_id = $3
		WHERE shop_id = $1 AND visitor_id = $2 AND customer_id IS NULL AND occurred_at > $4`,
		shopID, visitorID, customerID, time.Now().Add(-BackfillWindow))
	if err != nil {
		return false, fmt.Errorf("events: back-fill visitor events: %w", err)
	}
	n1, _ := linked.RowsAffected()
	n2, _ := filled.RowsAffected()
	return n1+n2 > 0, nil
}

// Identity resolves who a visitor is from what a batch tells.
type Identity struct {
	db        *sqlx.DB
	customers *customers.Store
}

// NewIdentity returns an Identity.
func NewIdentity(db *sqlx.DB, cs *customers.Store) *Identity {
	return &Identity{db: db, customers: cs}
}

// Stitch applies the identity signals of a stored batch, strongest first:
// the Shopify-signed logged-in customer (app proxy), an email typed at
// checkout, then the pixel's claim. It returns the profile the visitor was
// stitched to (0 if none).
func (id *Identity) Stitch(ctx context.Context, shopID int64, b Batch, loggedIn int64) (int64, error) {
	var email string
	for _, ev := range b.Events {
		if ev.Name == "checkout_contact_info_submitted" && customers.PlausibleEmail(ev.Email) {
			email = ev.Email
		}
	}
	if loggedIn == 0 && email == "" && (b.Customer == nil || b.Customer.ShopifyID == 0 || b.Customer.Email == "") {
		return 0, nil
	}
	var customerID int64
	err := inTx(ctx, id.db, func(tx *sqlx.Tx) error {
		var by string
		var err error
		switch {
		case loggedIn > 0:
			by = ByProxyLogin
			customerID, err = id.customers.ProfileForShopifyID(ctx, tx, shopID, loggedIn)
		case email != "":
			by = ByCheckout
			customerID, _, err = id.customers.ProfileForEmail(ctx, tx, shopID, email, customers.SourceCheckout)
		default:
			by = ByPixelClaim
			customerID, err = id.customers.ProfileForClaim(ctx, tx, shopID, b.Customer.ShopifyID, b.Customer.Email)
			if errors.Is(err, customers.ErrNotFound) {
				customerID = 0
				return nil // an unverifiable claim changes nothing
			}
		}
		if err != nil {
			return err
		}
		changed, err := identify(ctx, tx, shopID, b.VisitorID, customerID, by)
		if err != nil || !changed {
			// A logged-in shopper's every batch lands here: only a new
			// link (which a new profile always is) or back-filled events
			// are worth re-evaluating; the batch's own events already
			// queued a refresh when they were stored.
			return err
		}
		return id.customers.QueueSegmentRefresh(ctx, tx, shopID, customerID)
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
