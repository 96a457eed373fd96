package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
)

// TimelineWindow bounds the storefront events shown on a profile.
const TimelineWindow = 90 * 24 * time.Hour

// Timeline is a customers.TimelineSource: the profile's recent storefront
// events as plain text. Text from the storefront is returned as is; the
// views escape it when rendering.
func Timeline(db *sqlx.DB) customers.TimelineSource {
	return func(ctx context.Context, shopID, customerID int64, limit int) ([]customers.TimelineEntry, error) {
		var rows []struct {
			Name string          `db:"name"`
			At   time.Time       `db:"occurred_at"`
			URL  string          `db:"url"`
			Data json.RawMessage `db:"data"`
		}
		// page_viewed is left out: it would crowd out everything else.
		if err := db.SelectContext(ctx, &rows, `
			SELECT name, occurred_at, url, data FROM events
			WHERE customer_id = $2 AND shop_id = $1 AND occurred_at > $3 AND name <> 'page_viewed'
			ORDER BY occurred_at DESC LIMIT $4`, shopID, customerID, time.Now().Add(-TimelineWindow), limit); err != nil {
			return nil, fmt.Errorf("events: timeline of %d: %w", customerID, err)
		}
		out := make([]customers.TimelineEntry, 0, len(rows))
		for _, r := range rows {
			title, detail := describe(r.Name, r.Data)
			if detail == "" {
				detail = r.URL
			}
			out = append(out, customers.TimelineEntry{At: r.At, Kind: "storefront", Title: title, Detail: detail})
		}
		return out, nil
	}
}

// eventData is the subset of stored data the timeline reads.
type eventData struct {
	ProductVariant *variant `json:"productVariant"`
	Collection     *struct {
		Title string `json:"title"`
	} `json:"collection"`
	SearchResult *struct {
		Query string `json:"query"`
	} `json:"searchResult"`
	CartLine *struct {
		Quantity    int64    `json:"quantity"`
		Merchandise *variant `json:"merchandise"`
	} `json:"cartLine"`
	Cart *struct {
		TotalQuantity int64  `json:"totalQuantity"`
		Cost          *costs `json:"cost"`
	} `json:"cart"`
	Checkout *struct {
		CurrencyCode string  `json:"currencyCode"`
		TotalPrice   *amount `json:"totalPrice"`
	} `json:"checkout"`
}

type variant struct {
	Title   string  `json:"title"`
	Price   *amount `json:"price"`
	Product *struct {
		Title string `json:"title"`
	} `json:"product"`
}

type amount struct {
	Amount       float64 `json:"amount"`
	CurrencyCode string  `json:"currencyCode"`
}

type costs struct {
	TotalAmount *amount `json:"totalAmount"`
}

func (m *amount) String() string {
	if m == nil {
		return ""
	}
	s := strconv.FormatFloat(m.Amount, 'f', 2, 64)
	if m.CurrencyCode != "" {
		s += " " + m.CurrencyCode
	}
	return s
}

func (v *variant) name() string {
	if v == nil {
		return "a product"
	}
	if v.Product != nil && v.Product.Title != "" {
		if v.Title != "" && v.Title != "Default Title" && v.Title != v.Product.Title {
			return v.Product.Title + " (" + v.Title + ")"
		}
		return v.Product.Title
	}
	if v.Title != "" {
		return v.Title
	}
	return "a product"
}

// describe turns an event into a timeline title and detail.
func describe(name string, raw json.RawMessage) (string, string) {
	var d eventData
	_ = json.Unmarshal(raw, &d) // stored data was validated on the way in
	switch name {
	case "product_viewed":
		if d.ProductVariant != nil {
			return "Viewed " + d.ProductVariant.name(), d.ProductVariant.Price.String()
		}
		return "Viewed a product", ""
	case "collection_viewed":
		if d.Collection != nil && d.Collection.Title != "" {
			return "Viewed collection " + d.Collection.Title, ""
		}
		return "Viewed a collection", ""
	case "search_submitted":
		if d.SearchResult != nil {
			return "Searched “" + d.SearchResult.Query + "”", ""
		}
		return "Searched the store", ""
	case "product_added_to_cart", "product_removed_from_cart":
		verb := "Added"
		prep := " to cart"
		if name == "product_removed_from_cart" {
			verb, prep = "Removed", " from cart"
		}
		if d.CartLine != nil {
			return verb + " " + d.CartLine.Merchandise.name() + prep, "Quantity " + strconv.FormatInt(d.CartLine.Quantity, 10)
		}
		return verb + " a product" + prep, ""
	case "cart_viewed":
		if d.Cart != nil && d.Cart.Cost != nil {
			return "Viewed cart", d.Cart.Cost.TotalAmount.String()
		}
		return "Viewed cart", ""
	case "checkout_started", "checkout_contact_info_submitted", "checkout_completed":
		title := map[string]string{
			"checkout_started":                "Started checkout",
			"checkout_contact_info_submitted": "Entered contact details at checkout",
			"checkout_completed":              "Completed checkout",
		}[name]
		if d.Checkout != nil && d.Checkout.TotalPrice != nil {
			if d.Checkout.TotalPrice.CurrencyCode == "" {
				d.Checkout.TotalPrice.CurrencyCode = d.Checkout.CurrencyCode
			}
			return title, d.Checkout.TotalPrice.String()
		}
		return title, ""
	case "wheel_viewed":
		return "Saw the signup wheel", ""
	case "wheel_closed":
		return "Closed the signup wheel", ""
	case "wheel_spun":
		return "Spun the signup wheel", ""
	case "subscribed":
		return "Subscribed through the signup wheel", ""
	}
	return name, ""
}
