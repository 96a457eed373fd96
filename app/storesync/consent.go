package storesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
)

// ChangeConsent records a consent decision made in Cartwheel and, in the
// same transaction, queues pushing it to Shopify, so the two never disagree
// for longer than the push takes, and records a ConsentChanged signal
// (segments: most presets require consent; flows: the subscribed trigger).
// Its source is the change's, with "merchant" named "admin".
func ChangeConsent(ctx context.Context, tx *sqlx.Tx, c *customers.Store, j jobs.Inserter, shopID int64, ch customers.ConsentChange) error {
	changed, err := c.SetConsent(ctx, tx, shopID, ch)
	if err != nil || !changed {
		return err
	}
	if _, err := j.InsertTx(ctx, tx.Tx, customers.ConsentPushArgs{ShopID: shopID, CustomerID: ch.CustomerID}, nil); err != nil {
		return fmt.Errorf("storesync: queue consent push for %d: %w", ch.CustomerID, err)
	}
	source := ch.Source
	if source == "merchant" {
		source = "admin"
	}
	if err := signals.Record(ctx, tx.Tx, signals.Signal{ShopID: shopID, CustomerID: ch.CustomerID, Kind: signals.ConsentChanged,
		Data: signals.Data(map[string]any{"state": ch.State, "source": source})}); err != nil {
		return fmt.Errorf("storesync: %w", err)
	}
	return nil
}

// ConsentAPI is the part of the Admin API the push needs.
type ConsentAPI interface {
	GraphQL(ctx context.Context, shop, token, query string, vars any, out any) error
}

// ConsentPusher is the River worker for customers.ConsentPushArgs.
type ConsentPusher struct {
	river.WorkerDefaults[customers.ConsentPushArgs]
	shops     *shops.Store
	customers *customers.Store
	api       ConsentAPI
	log       *slog.Logger
}

// NewConsentPusher returns the worker.
func NewConsentPusher(sh *shops.Store, c *customers.Store, api ConsentAPI, log *slog.Logger) *ConsentPusher {
	return &ConsentPusher{shops: sh, customers: c, api: api, log: log}
}

const consentUpdateMutation = `mutation customerEmailMarketingConsentUpdate($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message }
  }
}`

const customerCreateMutation = `mutation customerCreate($input: CustomerInput!) {
  customerCreate(input: $input) {
    customer { id }
    userErrors { field message }
  }
}`

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

func userErrorsErr(op string, errs []userError) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, strings.Join(e.Field, ".")+": "+e.Message)
	}
	return fmt.Errorf("storesync: %s: %s", op, strings.Join(msgs, "; "))
}

// Work sends the profile's current consent: an update for a known Shopify
// customer, or a customerCreate carrying the consent for someone Shopify
// doesn't know yet (a wheel signup).
func (w *ConsentPusher) Work(ctx context.Context, job *river.Job[customers.ConsentPushArgs]) error {
	sh, err := w.shops.ByID(ctx, job.Args.ShopID)
	if errors.Is(err, shops.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sh.Installed() {
		w.log.Info("consent push dropped: shop uninstalled", "shop", sh.Domain, "customer", job.Args.CustomerID)
		return nil
	}
	t, err := w.customers.ForPush(ctx, sh.ID, job.Args.CustomerID)
	if errors.Is(err, customers.ErrNotFound) {
		return nil // erased meanwhile
	}
	if err != nil {
		return err
	}
	state := strings.ToUpper(t.Consent)
	if t.Deleted || !t.Email.Valid || (state != "SUBSCRIBED" && state != "UNSUBSCRIBED" && state != "PENDING") {
		// Shopify needs an email and accepts only these three states.
		return nil
	}
	token, err := w.shops.AccessToken(ctx, sh.ID)
	if err != nil {
		return err
	}
	consent := map[string]any{"marketingState": state}
	if t.OptInLevel != "" {
		consent["marketingOptInLevel"] = strings.ToUpper(t.OptInLevel)
	}
	if t.UpdatedAt.Valid {
		consent["consentUpdatedAt"] = t.UpdatedAt.Time.UTC().Format(time.RFC3339)
	}
	if t.ShopifyID.Valid {
		var out struct {
			Result struct {
				UserErrors []userError `json:"userErrors"`
			} `json:"customerEmailMarketingConsentUpdate"`
		}
		vars := map[string]any{"input": map[string]any{
			"customerId":            "gid://shopify/Customer/" + strconv.FormatInt(t.ShopifyID.Int64, 10),
			"emailMarketingConsent": consent,
		}}
		if err := w.api.GraphQL(ctx, sh.Domain, token, consentUpdateMutation, vars, &out); err != nil {
			return fmt.Errorf("storesync: push consent of %d: %w", job.Args.CustomerID, err)
		}
		return userErrorsErr("customerEmailMarketingConsentUpdate", out.Result.UserErrors)
	}
	var out struct {
		Result struct {
			Customer *struct {
				ID string `json:"id"`
			} `json:"customer"`
			UserErrors []userError `json:"userErrors"`
		} `json:"customerCreate"`
	}
	input := map[string]any{"email": t.Email.String, "emailMarketingConsent": consent}
	if t.FirstName != "" {
		input["firstName"] = t.FirstName
	}
	if t.LastName != "" {
		input["lastName"] = t.LastName
	}
	if err := w.api.GraphQL(ctx, sh.Domain, token, customerCreateMutation, map[string]any{"input": input}, &out); err != nil {
		return fmt.Errorf("storesync: create customer for %d: %w", job.Args.CustomerID, err)
	}
	if err := userErrorsErr("customerCreate", out.Result.UserErrors); err != nil {
		return err
	}
	if out.Result.Customer == nil {
		return fmt.Errorf("storesync: customerCreate for %d returned no customer", job.Args.CustomerID)
	}
	id, err := parseGID(out.Result.Customer.ID)
	if err != nil {
		return err
	}
	return w.customers.LinkShopifyID(ctx, sh.ID, job.Args.CustomerID, id)
}

// parseGID reads the number at the end of a Shopify global id
// ("gid://shopify/Customer/123").
func parseGID(gid string) (int64, error) {
	i := strings.LastIndexByte(gid, '/')
	n, err := strconv.ParseInt(gid[i+1:], 10, 64)
	if err != nil || n <= 0 || !strings.HasPrefix(gid, "gid://shopify/") {
		return 0, fmt.Errorf("storesync: not a Shopify id: %q", gid)
	}
	return n, nil
}

var _ ConsentAPI = (*shopify.Client)(nil)
