package storesync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/orders"
)

// This file maps bulk JSONL lines (GraphQL field names, 2025-10) to the
// domain structs the stores write.

func newSink(resource string) sink {
	switch resource {
	case ResourceProducts:
		return &productSink{}
	case ResourceCustomers:
		return &customerSink{}
	case ResourceOrders:
		return &orderSink{}
	default:
		return &checkoutSink{}
	}
}

// sinkStores are what a sink writes through, for one shop.
type sinkStores struct {
	shopID    int64
	customers *customers.Store
	orders    *orders.Store
	catalog   *catalog.Store
}

// gidNumber reads "gid://shopify/Type/123" → (123, "Type").
func gidNumber(gid string) (int64, string, error) {
	rest, ok := strings.CutPrefix(gid, "gid://shopify/")
	if !ok {
		return 0, "", fmt.Errorf("not a Shopify id: %q", gid)
	}
	typ, num, ok := strings.Cut(rest, "/")
	if i := strings.IndexByte(num, '?'); i >= 0 {
		num = num[:i]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0, "", fmt.Errorf("not a Shopify id: %q", gid)
	}
	return n, typ, nil
}

type gidRef struct {
	ID string `json:"id"`
}

func (r *gidRef) number() int64 {
	if r == nil {
		return 0
	}
	n, _, _ := gidNumber(r.ID)
	return n
}

// moneyBag is a MoneyBag; amounts are in the shop's currency.
type moneyBag struct {
	ShopMoney struct {
		Amount       decimal.Decimal `json:"amount"`
		CurrencyCode string          `json:"currencyCode"`
	} `json:"shopMoney"`
}

func (m *moneyBag) amount() decimal.Decimal {
	if m == nil {
		return decimal.Zero
	}
	return m.ShopMoney.Amount
}

func lineErr(line int64, err error) lineError { return lineError{line: line, msg: err.Error()} }

// childErrs reports every child of a bad root as bad too: without their
// parent they can't be stored.
func childErrs(g *group, why string) []lineError {
	errs := make([]lineError, 0, len(g.children))
	for _, c := range g.children {
		errs = append(errs, lineError{line: c.line, msg: why})
	}
	return errs
}

// --- customers ---

type customerLine struct {
	ID                    string     `json:"id"`
	Email                 *string    `json:"email"`
	Phone                 *string    `json:"phone"`
	FirstName             *string    `json:"firstName"`
	LastName              *string    `json:"lastName"`
	Locale                *string    `json:"locale"`
	Tags                  []string   `json:"tags"`
	CreatedAt             *time.Time `json:"createdAt"`
	UpdatedAt             *time.Time `json:"updatedAt"`
	EmailMarketingConsent *struct {
		MarketingState      string     `json:"marketingState"`
		MarketingOptInLevel *string    `json:"marketingOptInLevel"`
		ConsentUpdatedAt    *time.Time `json:"consentUpdatedAt"`
	} `json:"emailMarketingConsent"`
	DefaultAddress *struct {
		City          *string `json:"city"`
		CountryCodeV2 *string `json:"countryCodeV2"`
		ProvinceCode  *string `json:"provinceCode"`
	} `json:"defaultAddress"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (l *customerLine) customer() (customers.ShopifyCustomer, error) {
	id, typ, err := gidNumber(l.ID)
	if err != nil {
		return customers.ShopifyCustomer{}, err
	}
	if typ != "Customer" {
		return customers.ShopifyCustomer{}, fmt.Errorf("expected a Customer, got %s", l.ID)
	}
	c := customers.ShopifyCustomer{
		ShopifyID: id, Email: str(l.Email), Phone: str(l.Phone), FirstName: str(l.FirstName), LastName: str(l.LastName),
		Locale: str(l.Locale), Tags: l.Tags, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
	}
	if a := l.DefaultAddress; a != nil {
		c.City, c.Country, c.ProvinceCode = str(a.City), str(a.CountryCodeV2), str(a.ProvinceCode)
	}
	if m := l.EmailMarketingConsent; m != nil {
		// Shopify's enum values lower-cased are Cartwheel's names.
		c.Consent = strings.ToLower(m.MarketingState)
		c.OptInLevel = strings.ToLower(str(m.MarketingOptInLevel))
		c.ConsentUpdatedAt = m.ConsentUpdatedAt
	}
	return c, nil
}

type customerSink struct{ rows []customers.ShopifyCustomer }

func (s *customerSink) add(g *group) (int, []lineError) {
	if g.root == nil {
		return 0, childErrs(g, "unexpected child line in a customers export")
	}
	var l customerLine
	if err := json.Unmarshal(g.root, &l); err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	c, err := l.customer()
	if err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	s.rows = append(s.rows, c)
	// Children (none are queried) are ignored but counted as applied.
	return 1 + len(g.children), nil
}

func (s *customerSink) flush(ctx context.Context, tx *sqlx.Tx, st sinkStores) error {
	rows, err := withoutRedactedCustomers(ctx, tx, st.shopID, s.rows)
	if err != nil {
		return err
	}
	// No per-customer segment refresh here (a large store has millions):
	// the worker queues one full refresh of the shop when the import ends.
	_, err = st.customers.UpsertShopify(ctx, tx, st.shopID, rows)
	return err
}

// --- products ---

// productLine is a product, a variant or a collection line: the fields
// of all three, told apart by the gid's type.
type productLine struct {
	ID             string           `json:"id"`
	Title          string           `json:"title"`
	Handle         string           `json:"handle"`
	Vendor         string           `json:"vendor"`
	ProductType    string           `json:"productType"`
	Tags           []string         `json:"tags"`
	Status         string           `json:"status"`
	CreatedAt      *time.Time       `json:"createdAt"`
	UpdatedAt      *time.Time       `json:"updatedAt"`
	PublishedAt    *time.Time       `json:"publishedAt"`
	SKU            *string          `json:"sku"`
	Price          *decimal.Decimal `json:"price"`
	CompareAtPrice *decimal.Decimal `json:"compareAtPrice"`
	Inventory      *int             `json:"inventoryQuantity"`
	Image          *struct {
		URL string `json:"url"`
	} `json:"image"`
	FeaturedMedia *struct {
		Preview *struct {
			Image *struct {
				URL string `json:"url"`
			} `json:"image"`
		} `json:"preview"`
	} `json:"featuredMedia"`
}

type productSink struct {
	products    []catalog.Product
	variants    []catalog.Variant // whose product came in an earlier group
	collections map[int64]catalog.Collection
}

func (l *productLine) variant(productID int64) (catalog.Variant, error) {
	id, _, err := gidNumber(l.ID)
	if err != nil {
		return catalog.Variant{}, err
	}
	if l.Price != nil && l.Price.IsNegative() {
		return catalog.Variant{}, fmt.Errorf("variant %d has a negative price", id)
	}
	v := catalog.Variant{ShopifyID: id, ProductID: productID, Title: l.Title, SKU: str(l.SKU), Price: l.Price,
		CompareAtPrice: l.CompareAtPrice, InventoryQuantity: l.Inventory}
	if l.Image != nil {
		v.ImageURL = l.Image.URL
	}
	return v, nil
}

func (s *productSink) add(g *group) (int, []lineError) {
	if s.collections == nil {
		s.collections = map[int64]catalog.Collection{}
	}
	if g.root == nil {
		// Children after a different parent: variants can still be stored
		// against their product; a collection membership can't.
		ok, errs := 0, []lineError(nil)
		for _, c := range g.children {
			var l productLine
			pid, _, err := gidNumber(c.parent)
			if err == nil {
				err = json.Unmarshal(c.raw, &l)
			}
			if err != nil {
				errs = append(errs, lineErr(c.line, err))
				continue
			}
			if _, typ, _ := gidNumber(l.ID); typ != "ProductVariant" {
				errs = append(errs, lineError{line: c.line, msg: "child line does not follow its product"})
				continue
			}
			v, err := l.variant(pid)
			if err != nil {
				errs = append(errs, lineErr(c.line, err))
				continue
			}
			s.variants = append(s.variants, v)
			ok++
		}
		return ok, errs
	}
	var l productLine
	if err := json.Unmarshal(g.root, &l); err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	id, typ, err := gidNumber(l.ID)
	if err == nil && typ != "Product" {
		err = fmt.Errorf("expected a Product, got %s", l.ID)
	}
	if err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	p := catalog.Product{ShopifyID: id, Title: l.Title, Handle: l.Handle, Vendor: l.Vendor, ProductType: l.ProductType,
		Tags: customers.CleanTags(l.Tags), Status: strings.ToLower(l.Status), PublishedAt: l.PublishedAt,
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, CollectionIDs: []int64{}}
	if fm := l.FeaturedMedia; fm != nil && fm.Preview != nil && fm.Preview.Image != nil {
		p.ImageURL = fm.Preview.Image.URL
	}
	ok := 1
	var errs []lineError
	for _, c := range g.children {
		var cl productLine
		if err := json.Unmarshal(c.raw, &cl); err != nil {
			errs = append(errs, lineErr(c.line, err))
			continue
		}
		cid, ctyp, err := gidNumber(cl.ID)
		if err != nil {
			errs = append(errs, lineErr(c.line, err))
			continue
		}
		switch ctyp {
		case "ProductVariant":
			v, err := cl.variant(id)
			if err != nil {
				errs = append(errs, lineErr(c.line, err))
				continue
			}
			p.Variants = append(p.Variants, v)
		case "Collection":
			p.CollectionIDs = append(p.CollectionIDs, cid)
			s.collections[cid] = catalog.Collection{ShopifyID: cid, Title: cl.Title, Handle: cl.Handle}
		default:
			errs = append(errs, lineError{line: c.line, msg: "unexpected " + ctyp + " under a product"})
			continue
		}
		ok++
	}
	s.products = append(s.products, p)
	return ok, errs
}

func (s *productSink) flush(ctx context.Context, tx *sqlx.Tx, st sinkStores) error {
	cs := make([]catalog.Collection, 0, len(s.collections))
	for _, c := range s.collections {
		cs = append(cs, c)
	}
	if err := st.catalog.UpsertCollections(ctx, tx, st.shopID, cs); err != nil {
		return err
	}
	if err := st.catalog.Upsert(ctx, tx, st.shopID, s.products); err != nil {
		return err
	}
	return st.catalog.UpsertVariants(ctx, tx, st.shopID, s.variants)
}

// --- orders ---

// orderLine is an order or a line item line.
type orderLine struct {
	ID                     string     `json:"id"`
	Name                   string     `json:"name"`
	Email                  *string    `json:"email"`
	CreatedAt              *time.Time `json:"createdAt"`
	UpdatedAt              *time.Time `json:"updatedAt"`
	ProcessedAt            *time.Time `json:"processedAt"`
	CancelledAt            *time.Time `json:"cancelledAt"`
	Test                   bool       `json:"test"`
	CurrencyCode           string     `json:"currencyCode"`
	DisplayFinancialStatus *string    `json:"displayFinancialStatus"`
	SourceName             *string    `json:"sourceName"`
	LandingPageURL         *string    `json:"landingPageUrl"`
	ReferrerURL            *string    `json:"referrerUrl"`
	DiscountCodes          []string   `json:"discountCodes"`
	Customer               *struct {
		ID        string  `json:"id"`
		Email     *string `json:"email"`
		FirstName *string `json:"firstName"`
		LastName  *string `json:"lastName"`
	} `json:"customer"`
	SubtotalPriceSet      *moneyBag `json:"subtotalPriceSet"`
	TotalTaxSet           *moneyBag `json:"totalTaxSet"`
	TotalShippingPriceSet *moneyBag `json:"totalShippingPriceSet"`
	TotalDiscountsSet     *moneyBag `json:"totalDiscountsSet"`
	TotalPriceSet         *moneyBag `json:"totalPriceSet"`
	Refunds               []struct {
		ID               string     `json:"id"`
		CreatedAt        *time.Time `json:"createdAt"`
		TotalRefundedSet *moneyBag  `json:"totalRefundedSet"`
	} `json:"refunds"`
	// line item fields
	Title                string    `json:"title"`
	VariantTitle         *string   `json:"variantTitle"`
	SKU                  *string   `json:"sku"`
	Quantity             int       `json:"quantity"`
	OriginalUnitPriceSet *moneyBag `json:"originalUnitPriceSet"`
	TotalDiscountSet     *moneyBag `json:"totalDiscountSet"`
	Product              *gidRef   `json:"product"`
	Variant              *gidRef   `json:"variant"`
	CustomAttributes     []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	} `json:"customAttributes"`
}

func (l *orderLine) order() (orders.Order, error) {
	id, typ, err := gidNumber(l.ID)
	if err != nil {
		return orders.Order{}, err
	}
	if typ != "Order" {
		return orders.Order{}, fmt.Errorf("expected an Order, got %s", l.ID)
	}
	currency := l.CurrencyCode
	if l.TotalPriceSet != nil && l.TotalPriceSet.ShopMoney.CurrencyCode != "" {
		currency = l.TotalPriceSet.ShopMoney.CurrencyCode
	}
	o := orders.Order{
		ShopifyID: id, Name: l.Name, Email: str(l.Email), Currency: currency,
		Subtotal: l.SubtotalPriceSet.amount(), Tax: l.TotalTaxSet.amount(), Shipping: l.TotalShippingPriceSet.amount(),
		Discounts: l.TotalDiscountsSet.amount(), Total: l.TotalPriceSet.amount(),
		FinancialStatus: strings.ToLower(str(l.DisplayFinancialStatus)), CancelledAt: l.CancelledAt,
		ProcessedAt: l.ProcessedAt, LandingSite: str(l.LandingPageURL), ReferringSite: str(l.ReferrerURL),
		SourceName: str(l.SourceName), DiscountCodes: l.DiscountCodes, Test: l.Test,
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
	}
	if c := l.Customer; c != nil {
		cid, _, err := gidNumber(c.ID)
		if err != nil {
			return orders.Order{}, fmt.Errorf("order %d: customer: %w", id, err)
		}
		o.ShopifyCustomerID = cid
		o.Customer = &customers.ShopifyCustomer{ShopifyID: cid, Email: str(c.Email), FirstName: str(c.FirstName), LastName: str(c.LastName)}
	}
	for _, r := range l.Refunds {
		rid, _, err := gidNumber(r.ID)
		if err != nil {
			return orders.Order{}, fmt.Errorf("order %d: refund: %w", id, err)
		}
		o.Refunds = append(o.Refunds, orders.Refund{ShopifyID: rid, OrderID: id, Amount: r.TotalRefundedSet.amount(), CreatedAt: r.CreatedAt})
	}
	return o, nil
}

func (l *orderLine) lineItem(orderID int64) (orders.LineItem, error) {
	id, typ, err := gidNumber(l.ID)
	if err != nil {
		return orders.LineItem{}, err
	}
	if typ != "LineItem" {
		return orders.LineItem{}, fmt.Errorf("expected a LineItem, got %s", l.ID)
	}
	li := orders.LineItem{ShopifyID: id, OrderID: orderID, ProductID: l.Product.number(), VariantID: l.Variant.number(),
		Title: l.Title, VariantTitle: str(l.VariantTitle), SKU: str(l.SKU), Quantity: l.Quantity,
		Price: l.OriginalUnitPriceSet.amount(), TotalDiscount: l.TotalDiscountSet.amount()}
	if li.Quantity < 0 || li.Price.IsNegative() {
		return orders.LineItem{}, fmt.Errorf("line item %d has a negative quantity or price", id)
	}
	if len(l.CustomAttributes) > 0 {
		// Stored in the shape webhooks deliver (REST "properties").
		props := make([]map[string]string, 0, len(l.CustomAttributes))
		for _, a := range l.CustomAttributes {
			props = append(props, map[string]string{"name": a.Key, "value": str(a.Value)})
		}
		li.Properties, _ = json.Marshal(props)
	}
	return li, nil
}

type orderSink struct {
	orders []orders.Order
	items  []orders.LineItem // whose order came in an earlier group
}

func (s *orderSink) add(g *group) (int, []lineError) {
	if g.root == nil {
		ok, errs := 0, []lineError(nil)
		for _, c := range g.children {
			oid, _, err := gidNumber(c.parent)
			var l orderLine
			if err == nil {
				err = json.Unmarshal(c.raw, &l)
			}
			var li orders.LineItem
			if err == nil {
				li, err = l.lineItem(oid)
			}
			if err != nil {
				errs = append(errs, lineErr(c.line, err))
				continue
			}
			s.items = append(s.items, li)
			ok++
		}
		return ok, errs
	}
	var l orderLine
	if err := json.Unmarshal(g.root, &l); err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	o, err := l.order()
	if err == nil {
		err = o.Validate()
	}
	if err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	ok := 1
	var errs []lineError
	for _, c := range g.children {
		var cl orderLine
		err := json.Unmarshal(c.raw, &cl)
		var li orders.LineItem
		if err == nil {
			li, err = cl.lineItem(o.ShopifyID)
		}
		if err != nil {
			errs = append(errs, lineErr(c.line, err))
			continue
		}
		o.LineItems = append(o.LineItems, li)
		ok++
	}
	s.orders = append(s.orders, o)
	return ok, errs
}

func (s *orderSink) flush(ctx context.Context, tx *sqlx.Tx, st sinkStores) error {
	if err := anonymizeRedactedOrders(ctx, tx, st.shopID, s.orders); err != nil {
		return err
	}
	if _, err := st.orders.Upsert(ctx, tx, st.shopID, s.orders); err != nil {
		return err
	}
	return st.orders.UpsertLineItems(ctx, tx, st.shopID, s.items)
}

// --- abandoned checkouts ---

type checkoutLine struct {
	ID                   string     `json:"id"`
	AbandonedCheckoutURL string     `json:"abandonedCheckoutUrl"`
	CreatedAt            *time.Time `json:"createdAt"`
	UpdatedAt            *time.Time `json:"updatedAt"`
	CompletedAt          *time.Time `json:"completedAt"`
	Customer             *struct {
		ID    string  `json:"id"`
		Email *string `json:"email"`
	} `json:"customer"`
	TotalPriceSet *moneyBag `json:"totalPriceSet"`
	// line fields
	Title                string    `json:"title"`
	VariantTitle         *string   `json:"variantTitle"`
	Quantity             int       `json:"quantity"`
	OriginalUnitPriceSet *moneyBag `json:"originalUnitPriceSet"`
	Product              *gidRef   `json:"product"`
	Variant              *gidRef   `json:"variant"`
}

// checkoutToken is the checkout's token as webhooks carry it, so both
// paths write the same row. GraphQL has no token field; the recovery URL
// holds it (…/checkouts/{token}/recover?key=…). Without one, the gid
// number stands in.
func checkoutToken(recoveryURL string, id int64) string {
	if u, err := url.Parse(recoveryURL); err == nil {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		for i := 0; i+1 < len(parts); i++ {
			if (parts[i] == "checkouts" || parts[i] == "ac") && parts[i+1] != "ac" && parts[i+1] != "" {
				return parts[i+1]
			}
		}
	}
	return strconv.FormatInt(id, 10)
}

type checkoutSink struct{ rows []orders.Checkout }

func (s *checkoutSink) add(g *group) (int, []lineError) {
	if g.root == nil {
		return 0, childErrs(g, "checkout line item does not follow its checkout")
	}
	var l checkoutLine
	if err := json.Unmarshal(g.root, &l); err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	id, typ, err := gidNumber(l.ID)
	if err == nil && typ != "AbandonedCheckout" {
		err = fmt.Errorf("expected an AbandonedCheckout, got %s", l.ID)
	}
	if err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	k := orders.Checkout{Token: checkoutToken(l.AbandonedCheckoutURL, id), Kind: "checkout", ShopifyID: id,
		Total: l.TotalPriceSet.amount(), RecoveryURL: l.AbandonedCheckoutURL,
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, CompletedAt: l.CompletedAt, LineItems: []orders.CheckoutLine{}}
	if l.TotalPriceSet != nil {
		k.Currency = l.TotalPriceSet.ShopMoney.CurrencyCode
	}
	if c := l.Customer; c != nil {
		k.ShopifyCustomerID, _, _ = gidNumber(c.ID)
		k.Email = str(c.Email)
	}
	ok := 1
	var errs []lineError
	for _, c := range g.children {
		var cl checkoutLine
		if err := json.Unmarshal(c.raw, &cl); err != nil {
			errs = append(errs, lineErr(c.line, err))
			continue
		}
		k.LineItems = append(k.LineItems, orders.CheckoutLine{ProductID: cl.Product.number(), VariantID: cl.Variant.number(),
			Title: cl.Title, VariantTitle: str(cl.VariantTitle), Quantity: cl.Quantity, Price: cl.OriginalUnitPriceSet.amount()})
		ok++
	}
	if err := k.Validate(); err != nil {
		return 0, append([]lineError{lineErr(g.line, err)}, childErrs(g, "parent line was bad")...)
	}
	s.rows = append(s.rows, k)
	return ok, errs
}

func (s *checkoutSink) flush(ctx context.Context, tx *sqlx.Tx, st sinkStores) error {
	rows, err := withoutRedactedCheckouts(ctx, tx, st.shopID, s.rows)
	if err != nil {
		return err
	}
	return st.orders.UpsertCheckouts(ctx, tx, st.shopID, rows)
}
