// Package storesync keeps Cartwheel's copy of a store current: the full
// import through bulk operations, live sync from webhooks, and pushing
// consent changes made in Cartwheel back to Shopify.
package storesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

// Sync applies store-data webhooks.
type Sync struct {
	shops     *shops.Store
	customers *customers.Store
	orders    *orders.Store
	catalog   *catalog.Store
	log       *slog.Logger
	// jobs schedules the consumers of the signals the handlers record in
	// the webhook's transaction (nil in tests that don't look at them).
	jobs jobs.Inserter
}

// New returns a Sync.
func New(sh *shops.Store, c *customers.Store, o *orders.Store, cat *catalog.Store, log *slog.Logger) *Sync {
	return &Sync{shops: sh, customers: c, orders: o, catalog: cat, log: log}
}

// QueueWith makes the handlers record a signal (app/signals) for every
// customer whose data they change, in the delivery's transaction. It is set
// after construction because the River client is built once every worker
// (the webhook processor among them) is registered.
func (s *Sync) QueueWith(j jobs.Inserter) { s.jobs = j }

// signal records what happened to customers in the delivery's transaction.
func (s *Sync) signal(ctx context.Context, tx *sqlx.Tx, sigs ...signals.Signal) error {
	if s.jobs == nil || len(sigs) == 0 {
		return nil
	}
	if err := signals.Record(ctx, tx.Tx, sigs...); err != nil {
		return fmt.Errorf("storesync: %w", err)
	}
	return nil
}

// orderSignals says what an order write did to each order's customer (Ref:
// the order's Shopify id, its key in orders):
// OrderPlaced the first time an order is stored (with the checkout and
// cart it came from), OrderUpdated after that (paid, cancelled, refunded,
// edited), OrderFulfilled the first time it is seen fulfilled.
func orderSignals(shopID int64, written []orders.Written, checkoutToken, cartToken string) []signals.Signal {
	var out []signals.Signal
	for _, w := range written {
		if w.CustomerID == 0 {
			continue
		}
		ref := strconv.FormatInt(w.ShopifyID, 10)
		sig := signals.Signal{ShopID: shopID, CustomerID: w.CustomerID, Kind: signals.OrderUpdated, Ref: ref}
		if w.Inserted {
			sig.Kind = signals.OrderPlaced
			sig.Data = signals.Data(map[string]any{"checkout_token": checkoutToken, "cart_token": cartToken})
		}
		out = append(out, sig)
		if w.Fulfilled {
			out = append(out, signals.Signal{ShopID: shopID, CustomerID: w.CustomerID, Kind: signals.OrderFulfilled, Ref: ref})
		}
	}
	return out
}

// checkoutSignals says what a checkout or cart write did for its customer:
// CheckoutCompleted the first time a checkout completes, CheckoutStarted
// for a checkout not completed, CartUpdated for a cart. Rows tied to nobody
// say nothing.
func checkoutSignals(shopID int64, written []orders.CheckoutWritten) []signals.Signal {
	var out []signals.Signal
	for _, w := range written {
		if w.CustomerID == 0 {
			continue
		}
		sig := signals.Signal{ShopID: shopID, CustomerID: w.CustomerID, Ref: w.Token}
		switch {
		case w.Kind == "cart":
			sig.Kind = signals.CartUpdated
		case w.Completed:
			sig.Kind = signals.CheckoutCompleted
		default:
			sig.Kind = signals.CheckoutStarted
		}
		out = append(out, sig)
	}
	return out
}

// Register adds the store-data handlers to the webhook processor.
func (s *Sync) Register(p *webhooks.Processor) {
	for _, t := range []string{"customers/create", "customers/update"} {
		p.Handle(t, s.withShop(s.customerUpdate))
	}
	p.Handle("customers/delete", s.withShop(s.customerDelete))
	for _, t := range []string{"orders/create", "orders/updated", "orders/paid", "orders/cancelled"} {
		p.Handle(t, s.withShop(s.orderUpdate))
	}
	p.Handle("refunds/create", s.withShop(s.refundCreate))
	for _, t := range []string{"products/create", "products/update"} {
		p.Handle(t, s.withShop(s.productUpdate))
	}
	p.Handle("products/delete", s.withShop(s.productDelete))
	for _, t := range []string{"checkouts/create", "checkouts/update"} {
		p.Handle(t, s.withShop(s.checkoutUpdate))
	}
	for _, t := range []string{"carts/create", "carts/update"} {
		p.Handle(t, s.withShop(s.cartUpdate))
	}
}

type shopHandler func(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error)

// errRejected marks a payload that can never apply: it is recorded as the
// delivery's outcome and not retried.
var errRejected = errors.New("rejected")

func reject(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errRejected}, args...)...)
}

// withShop resolves the installed shop and turns bad payloads into a
// recorded outcome (retrying them would never help) while database errors
// still fail the job for a retry.
func (s *Sync) withShop(h shopHandler) webhooks.Handler {
	return func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		sh, err := s.shops.Installed(ctx, d.Shop)
		if errors.Is(err, shops.ErrNotFound) || errors.Is(err, shops.ErrNotInstalled) {
			return "ignored: shop not installed", nil
		}
		if err != nil {
			return "", err
		}
		outcome, err := h(ctx, tx, sh.ID, d)
		if errors.Is(err, errRejected) || errors.Is(err, orders.ErrInvalid) || errors.Is(err, catalog.ErrInvalid) {
			s.log.Warn("webhook payload rejected", "topic", d.Topic, "shop", d.Shop, "webhook_id", d.WebhookID, "reason", err)
			return "rejected: " + strings.TrimPrefix(err.Error(), "rejected: "), nil
		}
		return outcome, err
	}
}

// restCustomer is go-shopify's Customer with one field retyped: go-shopify
// declares marketing_opt_in_level a bool, but Shopify sends a string (or
// null), which would make every real customer payload fail to parse.
type restCustomer struct {
	goshopify.Customer
	MarketingOptInLevel any `json:"marketing_opt_in_level"`
}

func decode(d webhooks.Delivery, into any) error {
	if err := json.Unmarshal(d.Body, into); err != nil {
		return reject("%s body does not parse: %v", d.Topic, err)
	}
	return nil
}

func id64(u uint64) int64 { return int64(u) }

func fromRESTCustomer(c *goshopify.Customer) customers.ShopifyCustomer {
	out := customers.ShopifyCustomer{
		ShopifyID: id64(c.Id), Email: c.Email, Phone: c.Phone, FirstName: c.FirstName, LastName: c.LastName,
		Tags: customers.SplitTags(c.Tags), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if a := c.DefaultAddress; a != nil {
		out.Country, out.City, out.ProvinceCode = a.CountryCode, a.City, a.ProvinceCode
	}
	if m := c.EmailMarketingConsent; m != nil {
		out.Consent, out.OptInLevel, out.ConsentUpdatedAt = m.State, m.OptInLevel, m.ConsentUpdatedAt
	}
	return out
}

func (s *Sync) customerUpdate(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var c restCustomer
	if err := decode(d, &c); err != nil {
		return "", err
	}
	if c.Id == 0 {
		return "", reject("customer has no id")
	}
	if redacted, err := redactedCustomers(ctx, tx, shopID, []int64{id64(c.Id)}); err != nil {
		return "", err
	} else if redacted[id64(c.Id)] {
		return "ignored: customer was redacted", nil
	}
	ids, written, err := s.customers.UpsertShopifyWritten(ctx, tx, shopID, []customers.ShopifyCustomer{fromRESTCustomer(&c.Customer)})
	if err != nil {
		return "", err
	}
	// A stale delivery wrote nothing: nothing happened.
	if err := s.signal(ctx, tx, written...); err != nil {
		return "", err
	}
	return fmt.Sprintf("customer %d stored as profile %d", c.Id, ids[id64(c.Id)]), nil
}

func (s *Sync) customerDelete(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var c struct {
		ID int64 `json:"id"`
	}
	if err := decode(d, &c); err != nil {
		return "", err
	}
	if c.ID <= 0 {
		return "", reject("customers/delete has no id")
	}
	id, err := s.customers.MarkDeleted(ctx, tx, shopID, c.ID, d.TriggeredAt)
	if err != nil {
		return "", err
	}
	// Deleted profiles leave their segments (id is 0 when the deletion was stale).
	if id != 0 {
		if err := s.signal(ctx, tx, signals.Signal{ShopID: shopID, CustomerID: id, Kind: signals.ProfileChanged,
			Data: signals.Data(map[string]any{"deleted": true})}); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("customer %d deleted (kept for order history, never mailed)", c.ID), nil
}

// restOrder retypes the embedded customer for the same reason as restCustomer.
type restOrder struct {
	goshopify.Order
	Customer *restCustomer `json:"customer"`
}

func money(d *decimal.Decimal) decimal.Decimal {
	if d == nil {
		return decimal.Zero
	}
	return *d
}

func fromRESTOrder(o *restOrder) (orders.Order, error) {
	out := orders.Order{
		ShopifyID: id64(o.Id), Name: o.Name, Email: o.Email, Currency: o.Currency,
		Subtotal: money(o.SubtotalPrice), Tax: money(o.TotalTax), Discounts: money(o.TotalDiscounts),
		Total: money(o.TotalPrice), FinancialStatus: string(o.FinancialStatus), CancelledAt: o.CancelledAt,
		ProcessedAt: o.ProcessedAt, LandingSite: o.LandingSite, ReferringSite: o.ReferringSite,
		SourceName: o.SourceName, Test: o.Test, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		FulfillmentStatus: string(o.FulfillmentStatus), LineItemsComplete: true,
	}
	if o.Currency == "" {
		return out, reject("order %d has no currency", o.Id)
	}
	if o.TotalPrice == nil {
		return out, reject("order %d has no total_price", o.Id)
	}
	if s := o.TotalShippingPriceSet; s != nil {
		out.Shipping = money(s.ShopMoney.Amount)
	}
	if o.Customer != nil && o.Customer.Id != 0 {
		c := fromRESTCustomer(&o.Customer.Customer)
		out.ShopifyCustomerID, out.Customer = c.ShopifyID, &c
	}
	for _, dc := range o.DiscountCodes {
		if dc.Code != "" {
			out.DiscountCodes = append(out.DiscountCodes, dc.Code)
		}
	}
	for _, li := range o.LineItems {
		props, err := json.Marshal(li.Properties)
		if err != nil || li.Properties == nil {
			props = []byte("[]")
		}
		out.LineItems = append(out.LineItems, orders.LineItem{
			ShopifyID: id64(li.Id), ProductID: id64(li.ProductId), VariantID: id64(li.VariantId),
			Title: li.Title, VariantTitle: li.VariantTitle, SKU: li.SKU, Quantity: li.Quantity,
			Price: money(li.Price), TotalDiscount: money(li.TotalDiscount), Properties: props,
		})
	}
	for _, r := range o.Refunds {
		out.Refunds = append(out.Refunds, fromRESTRefund(&r, id64(o.Id)))
	}
	return out, nil
}

// fromRESTRefund sums the refund's successful refund transactions: that is
// the money that went back, whatever line items or adjustments it covered.
func fromRESTRefund(r *goshopify.Refund, orderID int64) orders.Refund {
	amount := decimal.Zero
	for _, t := range r.Transactions {
		if t.Kind == "refund" && (t.Status == "success" || t.Status == "") && t.Amount != nil {
			amount = amount.Add(*t.Amount)
		}
	}
	if r.OrderId != 0 {
		orderID = id64(r.OrderId)
	}
	return orders.Refund{ShopifyID: id64(r.Id), OrderID: orderID, Amount: amount, CreatedAt: r.CreatedAt}
}

func (s *Sync) orderUpdate(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var o restOrder
	if err := decode(d, &o); err != nil {
		return "", err
	}
	if o.Id == 0 {
		return "", reject("order has no id")
	}
	ord, err := fromRESTOrder(&o)
	if err != nil {
		return "", err
	}
	if ord.ShopifyCustomerID != 0 {
		redacted, err := redactedCustomers(ctx, tx, shopID, []int64{ord.ShopifyCustomerID})
		if err != nil {
			return "", err
		}
		if redacted[ord.ShopifyCustomerID] {
			// Keep the revenue, not the person.
			ord.ShopifyCustomerID, ord.Customer, ord.Email = 0, nil, ""
		}
	}
	touched, written, err := s.orders.UpsertWritten(ctx, tx, shopID, []orders.Order{ord})
	if err != nil {
		return "", err
	}
	if err := s.orders.RefreshCustomers(ctx, tx, shopID, touched); err != nil {
		return "", err
	}
	// Figures, products bought and discount codes used may have changed.
	sigs := orderSignals(shopID, written, o.CheckoutToken, o.CartToken)
	var tokens []string
	for _, t := range []string{o.CheckoutToken, o.CartToken} {
		if t != "" {
			tokens = append(tokens, t)
		}
	}
	at := d.TriggeredAt
	if o.CreatedAt != nil {
		at = *o.CreatedAt
	}
	completed, err := s.orders.CompleteCheckouts(ctx, tx, shopID, tokens, at)
	if err != nil {
		return "", err
	}
	if err := s.signal(ctx, tx, append(sigs, checkoutSignals(shopID, completed)...)...); err != nil {
		return "", err
	}
	return fmt.Sprintf("order %d stored with %d line items", o.Id, len(ord.LineItems)), nil
}

func (s *Sync) refundCreate(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var r goshopify.Refund
	if err := decode(d, &r); err != nil {
		return "", err
	}
	if r.Id == 0 || r.OrderId == 0 {
		return "", reject("refund has no id or order_id")
	}
	ref := fromRESTRefund(&r, id64(r.OrderId))
	touched, written, err := s.orders.AddRefundsWritten(ctx, tx, shopID, []orders.Refund{ref})
	if err != nil {
		return "", err
	}
	if err := s.orders.RefreshCustomers(ctx, tx, shopID, touched); err != nil {
		return "", err
	}
	// Total spent and average order value are net of refunds.
	if err := s.signal(ctx, tx, orderSignals(shopID, written, "", "")...); err != nil {
		return "", err
	}
	return fmt.Sprintf("refund %d of %s on order %d", r.Id, ref.Amount, r.OrderId), nil
}

func fromRESTProduct(p *goshopify.Product) catalog.Product {
	out := catalog.Product{
		ShopifyID: id64(p.Id), Title: p.Title, Handle: p.Handle, Vendor: p.Vendor, ProductType: p.ProductType,
		Tags: customers.SplitTags(p.Tags), Status: string(p.Status), ImageURL: p.Image.Src,
		PublishedAt: p.PublishedAt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, VariantsComplete: true,
	}
	for _, v := range p.Variants {
		qty := v.InventoryQuantity
		out.Variants = append(out.Variants, catalog.Variant{
			ShopifyID: id64(v.Id), Title: v.Title, SKU: v.Sku, Price: v.Price, CompareAtPrice: v.CompareAtPrice,
			InventoryQuantity: &qty,
		})
	}
	return out
}

func (s *Sync) productUpdate(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var p goshopify.Product
	if err := decode(d, &p); err != nil {
		return "", err
	}
	if p.Id == 0 {
		return "", reject("product has no id")
	}
	if err := s.catalog.Upsert(ctx, tx, shopID, []catalog.Product{fromRESTProduct(&p)}); err != nil {
		return "", err
	}
	return fmt.Sprintf("product %d stored with %d variants", p.Id, len(p.Variants)), nil
}

func (s *Sync) productDelete(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var p struct {
		ID int64 `json:"id"`
	}
	if err := decode(d, &p); err != nil {
		return "", err
	}
	if p.ID <= 0 {
		return "", reject("products/delete has no id")
	}
	if err := s.catalog.MarkDeleted(ctx, tx, shopID, p.ID, d.TriggeredAt); err != nil {
		return "", err
	}
	return fmt.Sprintf("product %d deleted", p.ID), nil
}

// restLine is the line item shape of checkout and cart payloads (go-shopify's
// AbandonedCheckout has no line_items field).
type restLine struct {
	ProductID    uint64           `json:"product_id"`
	VariantID    uint64           `json:"variant_id"`
	Title        string           `json:"title"`
	VariantTitle string           `json:"variant_title"`
	Quantity     int              `json:"quantity"`
	Price        *decimal.Decimal `json:"price"`
}

func lines(ls []restLine) []orders.CheckoutLine {
	out := make([]orders.CheckoutLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, orders.CheckoutLine{ProductID: id64(l.ProductID), VariantID: id64(l.VariantID),
			Title: l.Title, VariantTitle: l.VariantTitle, Quantity: l.Quantity, Price: money(l.Price)})
	}
	return out
}

type restCheckout struct {
	goshopify.AbandonedCheckout
	Customer  *restCustomer `json:"customer"`
	LineItems []restLine    `json:"line_items"`
}

func (s *Sync) checkoutUpdate(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var c restCheckout
	if err := decode(d, &c); err != nil {
		return "", err
	}
	k := orders.Checkout{
		Token: c.Token, Kind: "checkout", ShopifyID: id64(c.Id), CartToken: c.CartToken, Email: c.Email,
		Currency: c.Currency, Total: money(c.TotalPrice), LineItems: lines(c.LineItems),
		RecoveryURL: c.AbandonedCheckoutUrl, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, CompletedAt: c.CompletedAt,
	}
	// The checkout's lock before the customer's: the order a pixel claim of
	// this token takes them in (app/events), or the two deadlock.
	if c.Token != "" {
		if err := events.LockCheckout(ctx, tx, shopID, c.Token); err != nil {
			return "", err
		}
	}
	var customerID int64 // the checkout's profile, for visitor identity
	var sigs []signals.Signal
	if c.Customer != nil && c.Customer.Id != 0 {
		redacted, err := redactedCustomers(ctx, tx, shopID, []int64{id64(c.Customer.Id)})
		if err != nil {
			return "", err
		}
		if redacted[id64(c.Customer.Id)] {
			return "ignored: customer was redacted", nil
		}
		k.ShopifyCustomerID = id64(c.Customer.Id)
		// A checkout is often the first we hear of a customer.
		cust := fromRESTCustomer(&c.Customer.Customer)
		cust.UpdatedAt = nil
		if cust.Email == "" {
			cust.Email = c.Email
		}
		ids, written, err := s.customers.UpsertShopifyWritten(ctx, tx, shopID, []customers.ShopifyCustomer{cust})
		if err != nil {
			return "", err
		}
		sigs = append(sigs, written...)
		customerID = ids[k.ShopifyCustomerID]
	} else if customers.PlausibleEmail(customers.NormalizeEmail(c.Email)) {
		// A guest checkout: Shopify's signed webhook vouches for the
		// address, so it may create the profile (without consent).
		id, created, err := s.customers.ProfileForEmail(ctx, tx, shopID, c.Email, customers.SourceCheckout)
		if err != nil {
			return "", err
		}
		if created {
			sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: id, Kind: signals.CustomerCreated,
				Data: signals.Data(map[string]any{"source": customers.SourceCheckout})})
		}
		customerID = id
	}
	written, err := s.orders.UpsertCheckoutsWritten(ctx, tx, shopID, []orders.Checkout{k})
	if err != nil {
		return "", err
	}
	sigs = append(sigs, checkoutSignals(shopID, written)...)
	// Visitors whose pixel claimed this checkout token are this customer:
	// linked now, or when their claim arrives (app/events).
	linked, err := events.ConfirmCheckout(ctx, tx, shopID, k.Token, customerID, time.Now())
	if err != nil {
		return "", err
	}
	// The checkout's lock, then (here) the profile's, then the visitor's
	// (ConfirmCheckout took the profile's before its visitors' already).
	if err := s.signal(ctx, tx, append(sigs, linked...)...); err != nil {
		return "", err
	}
	return fmt.Sprintf("checkout %s stored", k.Token), nil
}

type restCart struct {
	ID        string     `json:"id"`
	Token     string     `json:"token"`
	LineItems []restLine `json:"line_items"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
}

func (s *Sync) cartUpdate(ctx context.Context, tx *sqlx.Tx, shopID int64, d webhooks.Delivery) (string, error) {
	var c restCart
	if err := decode(d, &c); err != nil {
		return "", err
	}
	token := c.Token
	if token == "" {
		token = c.ID
	}
	total := decimal.Zero
	ls := lines(c.LineItems)
	for _, l := range ls {
		total = total.Add(l.Price.Mul(decimal.NewFromInt(int64(l.Quantity))))
	}
	k := orders.Checkout{Token: token, Kind: "cart", CartToken: token, Total: total, LineItems: ls,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	written, err := s.orders.UpsertCheckoutsWritten(ctx, tx, shopID, []orders.Checkout{k})
	if err != nil {
		return "", err
	}
	// Only a cart already tied to a customer says anything.
	if err := s.signal(ctx, tx, checkoutSignals(shopID, written)...); err != nil {
		return "", err
	}
	return fmt.Sprintf("cart %s stored with %d lines", token, len(ls)), nil
}
