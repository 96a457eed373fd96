package seed

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/orders"
)

// StoreOptions shape a synthetic store.
type StoreOptions struct {
	Customers int
	Products  int       // default 60
	Seed      uint64    // same seed, same store
	Now       time.Time // the store's "today"; default time.Now()
	// Progress is called after each batch with customers written so far.
	Progress func(done, total int)
}

// customerBatch is how many customers (with their orders) go in one
// transaction through the batch writers.
const customerBatch = 500

var (
	firstNames = []string{"Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo", "Amelia", "Leo",
		"Isla", "Hugo", "Chloé", "Jonas", "Sofía", "Yuki", "Aarav", "Zoë", "Mohammed", "Freya", "Oscar", "Lena"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Martin", "Müller", "Rossi",
		"Dubois", "Tanaka", "Kowalski", "Andersson", "Silva", "Nguyen", "O'Brien", "Patel", "Jensen", "López"}
	places = []struct{ country, province, city string }{{"US", "NY", "New York"}, {"US", "TX", "Austin"}, {"US", "OR", "Portland"},
		{"CA", "ON", "Toronto"}, {"GB", "", "London"}, {"GB", "", "Leeds"}, {"FR", "", "Lyon"}, {"DE", "", "Berlin"},
		{"AU", "VIC", "Melbourne"}, {"NL", "", "Utrecht"}}
	collectionNames = []string{"New arrivals", "Best sellers", "Outerwear", "Accessories", "Sale", "Home"}
	productNouns    = []string{"Tee", "Hoodie", "Beanie", "Tote", "Mug", "Candle", "Sneaker", "Scarf", "Cap", "Jacket"}
	productAdjs     = []string{"Classic", "Organic", "Merino", "Vintage", "Everyday", "Trail", "Cozy", "Linen"}
	tagPool         = []string{"VIP", "wholesale", "newsletter", "returning", "gift-buyer"}
)

// Store fills a shop with a realistic synthetic store through the same batch
// writers the Shopify sync uses: collections, products with variants,
// customers with a consent mix, orders skewed towards a few repeat buyers
// over two years, refunds and abandoned checkouts. Shopify ids are derived
// from the seed, so running it twice updates the same rows.
func Store(ctx context.Context, d *sqlx.DB, shopID int64, o StoreOptions) error {
	if o.Products <= 0 {
		o.Products = 60
	}
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	cat := catalog.NewStore(d)
	cs := customers.NewStore(d)
	ord := orders.NewStore(d, cs)

	var variants []variant
	err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		var cols []catalog.Collection
		for i, name := range collectionNames {
			cols = append(cols, catalog.Collection{ShopifyID: 9000 + int64(i), Title: name, Handle: handle(name)})
		}
		if err := cat.UpsertCollections(ctx, tx, shopID, cols); err != nil {
			return err
		}
		var products []catalog.Product
		created := o.Now.AddDate(-2, 0, 0)
		for i := 0; i < o.Products; i++ {
			title := productAdjs[i%len(productAdjs)] + " " + productNouns[(i/len(productAdjs)+i)%len(productNouns)]
			p := catalog.Product{ShopifyID: 7000000 + int64(i), Title: title, Handle: fmt.Sprintf("%s-%d", handle(title), i),
				Vendor: "Demo Goods", ProductType: productNouns[i%len(productNouns)], Status: "active",
				CreatedAt: &created, UpdatedAt: &created, PublishedAt: &created,
				CollectionIDs: []int64{9000 + int64(i%len(collectionNames)), 9000 + int64((i*7)%len(collectionNames))},
				Tags:          []string{}, VariantsComplete: true}
			base := 8 + rng.IntN(120)
			for j, size := range []string{"S", "M", "L"} {
				price := decimal.NewFromInt(int64(base)).Add(decimal.New(int64(j*200), -2))
				v := catalog.Variant{ShopifyID: p.ShopifyID*10 + int64(j), Title: size, SKU: fmt.Sprintf("SKU-%d-%s", i, size), Price: &price}
				p.Variants = append(p.Variants, v)
				variants = append(variants, variant{product: p.ShopifyID, id: v.ShopifyID, title: title, price: price})
			}
			products = append(products, p)
		}
		return cat.Upsert(ctx, tx, shopID, products)
	})
	if err != nil {
		return fmt.Errorf("seed: catalog: %w", err)
	}

	span := o.Now.Sub(o.Now.AddDate(-2, 0, 0))
	orderID := int64(5000000)
	for start := 0; start < o.Customers; start += customerBatch {
		end := min(start+customerBatch, o.Customers)
		var custs []customers.ShopifyCustomer
		var ords []orders.Order
		var checkouts []orders.Checkout
		for i := start; i < end; i++ {
			sid := 1000000 + int64(i)
			first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
			pl := places[rng.IntN(len(places))]
			created := o.Now.Add(-time.Duration(rng.Int64N(int64(span))))
			c := customers.ShopifyCustomer{ShopifyID: sid,
				Email:     fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(ascii(first)), strings.ToLower(ascii(last)), i),
				FirstName: first, LastName: last, Country: pl.country, ProvinceCode: pl.province, City: pl.city, Locale: "en",
				CreatedAt: &created, UpdatedAt: &created, ConsentUpdatedAt: &created}
			switch r := rng.Float64(); {
			case r < 0.45:
				c.Consent, c.OptInLevel = customers.ConsentSubscribed, "single_opt_in"
			case r < 0.85:
				c.Consent = customers.ConsentNotSubscribed
			case r < 0.95:
				c.Consent = customers.ConsentUnsubscribed
			default:
				c.Consent, c.OptInLevel = customers.ConsentPending, "confirmed_opt_in"
			}
			if rng.IntN(6) == 0 {
				c.Tags = []string{tagPool[rng.IntN(len(tagPool))]}
			}
			if rng.IntN(10) == 0 {
				c.Phone = fmt.Sprintf("+1 555 %07d", i)
			}
			custs = append(custs, c)

			// Skewed histories: most people buy never or once, a few buy a lot.
			n := 0
			if rng.Float64() > 0.42 {
				n = 1 + int(math.Floor(rng.ExpFloat64()*0.9))
				if rng.IntN(25) == 0 {
					n += 5 + rng.IntN(15) // loyal regulars
				}
			}
			for k := 0; k < n; k++ {
				orderID++
				at := created.Add(time.Duration(rng.Int64N(int64(o.Now.Sub(created)) + 1)))
				ords = append(ords, syntheticOrder(rng, orderID, sid, c.Email, at, pickLines(variants, rng)))
			}
			if rng.IntN(10) == 0 {
				at := o.Now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
				v := variants[rng.IntN(len(variants))]
				token := fmt.Sprintf("seed-%d-%d", o.Seed, i)
				checkouts = append(checkouts, orders.Checkout{Token: token, Kind: "checkout",
					ShopifyCustomerID: sid, Email: c.Email, Currency: "USD", Total: v.price,
					LineItems: []orders.CheckoutLine{{ProductID: v.product, VariantID: v.id, Title: v.title, Quantity: 1, Price: v.price}},
					// Shopify's shape: the checkout's token is in the path.
					RecoveryURL: "https://demo.myshopify.com/checkouts/" + token + "/recover", CreatedAt: &at, UpdatedAt: &at})
			}
		}
		err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
			if _, err := cs.UpsertShopify(ctx, tx, shopID, custs); err != nil {
				return err
			}
			for i := 0; i < len(ords); i += 500 {
				if _, err := ord.Upsert(ctx, tx, shopID, ords[i:min(i+500, len(ords))]); err != nil {
					return err
				}
			}
			return ord.UpsertCheckouts(ctx, tx, shopID, checkouts)
		})
		if err != nil {
			return fmt.Errorf("seed: customers %d-%d: %w", start, end, err)
		}
		if o.Progress != nil {
			o.Progress(end, o.Customers)
		}
	}
	if err := ord.RefreshAllCustomers(ctx, shopID); err != nil {
		return fmt.Errorf("seed: figures: %w", err)
	}
	return cat.RefreshAllPrices(ctx, shopID)
}

type variant struct {
	product, id int64
	title       string
	price       decimal.Decimal
}

// pickLines chooses one to three variants for an order.
func pickLines(vs []variant, rng *rand.Rand) []variant {
	n := 1 + rng.IntN(3)
	out := make([]variant, n)
	for i := range out {
		out[i] = vs[rng.IntN(len(vs))]
	}
	return out
}

func syntheticOrder(rng *rand.Rand, id, customerID int64, email string, at time.Time, lines []variant) orders.Order {
	o := orders.Order{ShopifyID: id, Name: fmt.Sprintf("#%d", id-4000000), ShopifyCustomerID: customerID, Email: email,
		Currency: "USD", FinancialStatus: "paid", ProcessedAt: &at, CreatedAt: &at, UpdatedAt: &at, SourceName: "web",
		LineItemsComplete: true}
	sub := decimal.Zero
	for j, v := range lines {
		qty := 1 + rng.IntN(2)
		o.LineItems = append(o.LineItems, orders.LineItem{ShopifyID: id*10 + int64(j), ProductID: v.product, VariantID: v.id,
			Title: v.title, Quantity: qty, Price: v.price})
		sub = sub.Add(v.price.Mul(decimal.NewFromInt(int64(qty))))
	}
	o.Subtotal = sub
	o.Shipping = decimal.NewFromInt(5)
	o.Tax = sub.Mul(decimal.NewFromFloat(0.08)).Round(2)
	o.Total = o.Subtotal.Add(o.Shipping).Add(o.Tax)
	if rng.IntN(20) == 0 { // about 5 % get a partial refund
		amount := o.Total.Div(decimal.NewFromInt(2)).Round(2)
		refundAt := at.Add(72 * time.Hour)
		o.Refunds = []orders.Refund{{ShopifyID: id, OrderID: id, Amount: amount, CreatedAt: &refundAt}}
		o.FinancialStatus = "partially_refunded"
	}
	return o
}

func handle(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", "-"))
}

// ascii keeps generated addresses plain ASCII.
func ascii(s string) string {
	r := strings.NewReplacer("é", "e", "ü", "u", "í", "i", "ë", "e", "ó", "o", "'", "")
	return r.Replace(s)
}
