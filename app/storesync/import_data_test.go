package storesync

import (
	"bufio"
	"fmt"
	"io"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

// storeData generates a store's bulk exports in Shopify's JSONL shape,
// lazily: every download writes the lines afresh, so a benchmark over a
// million lines holds none of them. The first customer, product and order
// carry the values of go-shopify's fixtures (customer.json, product.json,
// order.json), converted to GraphQL field names.
type storeData struct {
	customers, orders, itemsPerOrder, products, checkouts int
}

const (
	firstProductID = 1071559748 // fixtures/product.json
	firstVariantID = 1070325219
	firstOrderID   = 123456 // fixtures/order.json
	firstItemID    = 254721536
)

func (d storeData) register(fake *shopifytest.Server, shop string) {
	fake.SetBulkResult(shop, "customers", d.customersResult())
	fake.SetBulkResult(shop, "products", d.productsResult())
	fake.SetBulkResult(shop, "orders", d.ordersResult())
	fake.SetBulkResult(shop, "abandonedCheckouts", d.checkoutsResult())
}

func stream(objects, roots int64, gen func(w *bufio.Writer)) shopifytest.BulkResult {
	return shopifytest.BulkResult{
		ObjectCount: objects, RootObjectCount: roots,
		Write: func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 64<<10)
			gen(bw)
			return bw.Flush()
		},
	}
}

func (d storeData) customersResult() shopifytest.BulkResult {
	return stream(int64(d.customers), int64(d.customers), func(w *bufio.Writer) {
		for c := 1; c <= d.customers; c++ {
			w.WriteString(d.customerLine(c))
			w.WriteByte('\n')
		}
	})
}

func (d storeData) customerLine(c int) string {
	if c == 1 {
		return `{"id":"gid://shopify/Customer/1","email":"test@example.com","phone":null,"firstName":"Test","lastName":"Citizen",` +
			`"locale":"en","tags":["tag1","tag2"],"createdAt":"2017-09-23T18:15:47Z","updatedAt":"2017-09-23T18:15:47Z",` +
			`"emailMarketingConsent":{"marketingState":"NOT_SUBSCRIBED","marketingOptInLevel":"SINGLE_OPT_IN","consentUpdatedAt":"2017-09-23T18:15:47Z"},` +
			`"defaultAddress":{"city":"BRISBANE","countryCodeV2":"AU","provinceCode":"QLD"}}`
	}
	state := "NOT_SUBSCRIBED"
	if c%3 == 0 {
		state = "SUBSCRIBED"
	}
	return fmt.Sprintf(`{"id":"gid://shopify/Customer/%d","email":"customer%d@example.com","phone":"+1555%07d","firstName":"First%d","lastName":"Last%d",`+
		`"locale":"en-CA","tags":["vip","wave-%d"],"createdAt":"2024-01-02T03:04:05Z","updatedAt":"2024-02-03T04:05:06Z",`+
		`"emailMarketingConsent":{"marketingState":"%s","marketingOptInLevel":"SINGLE_OPT_IN","consentUpdatedAt":"2024-01-02T03:04:05Z"},`+
		`"defaultAddress":{"city":"Toronto","countryCodeV2":"CA","provinceCode":"ON"}}`, c, c, c, c, c, c%10, state)
}

func (d storeData) productsResult() shopifytest.BulkResult {
	// Each product: itself, two variants, one collection.
	return stream(int64(d.products)*4, int64(d.products), func(w *bufio.Writer) {
		for p := 0; p < d.products; p++ {
			for _, l := range d.productLines(p) {
				w.WriteString(l)
				w.WriteByte('\n')
			}
		}
	})
}

func variantPrice(p, v int) decimal.Decimal { return decimal.NewFromInt(int64(10 + p%5 + v*5)) }

func (d storeData) productLines(p int) []string {
	pid := firstProductID + p
	parent := fmt.Sprintf(`"__parentId":"gid://shopify/Product/%d"`, pid)
	title, handle := fmt.Sprintf("Product %d", p), fmt.Sprintf("product-%d", p)
	if p == 0 {
		title, handle = "Burton Custom Freestyle 151", "burton-custom-freestyle-151"
	}
	lines := []string{fmt.Sprintf(`{"id":"gid://shopify/Product/%d","title":%q,"handle":%q,"vendor":"Burton","productType":"Snowboard",`+
		`"tags":["Big Air","Barnes & Noble","John's Fav"],"status":"ACTIVE","createdAt":"2017-09-22T18:48:44Z","updatedAt":"2017-09-22T18:48:44Z",`+
		`"publishedAt":"2017-09-22T18:48:44Z","featuredMedia":{"preview":{"image":{"url":"https://cdn.shopify.com/s/files/1/p%d.jpg"}}}}`, pid, title, handle, p)}
	for v := 0; v < 2; v++ {
		lines = append(lines, fmt.Sprintf(`{"id":"gid://shopify/ProductVariant/%d","title":"Size %d","sku":"SKU-%d-%d","price":"%s.00",`+
			`"compareAtPrice":null,"inventoryQuantity":%d,"image":null,%s}`, firstVariantID+2*p+v, v, p, v, variantPrice(p, v), 5+v, parent))
	}
	lines = append(lines, fmt.Sprintf(`{"id":"gid://shopify/Collection/%d","title":"Collection %d","handle":"collection-%d",%s}`, 841564295+p%3, p%3, p%3, parent))
	return lines
}

// orderFacts are one generated order's figures, for independent totals.
type orderFacts struct {
	customer             int
	total, refunded      decimal.Decimal
	cancelled, test      bool
	discountCode, refund bool
}

func (d storeData) order(i int) orderFacts {
	f := orderFacts{
		customer:     i%d.customers + 1,
		total:        decimal.NewFromInt(int64(10 + i%7)),
		cancelled:    i%11 == 0,
		test:         i%13 == 0,
		discountCode: i%4 == 0,
		refund:       i%5 == 0,
	}
	if f.refund {
		f.refunded = decimal.RequireFromString("1.50")
	}
	return f
}

func (d storeData) ordersResult() shopifytest.BulkResult {
	return stream(int64(d.orders)*int64(1+d.itemsPerOrder), int64(d.orders), func(w *bufio.Writer) {
		buf := make([]byte, 0, 2048)
		for i := 0; i < d.orders; i++ {
			buf = d.appendOrderLines(buf[:0], i)
			w.Write(buf)
		}
	})
}

func (d storeData) appendOrderLines(b []byte, i int) []byte {
	f := d.order(i)
	oid := firstOrderID + i
	b = fmt.Appendf(b, `{"id":"gid://shopify/Order/%d","name":"#%d","email":"customer%d@example.com","createdAt":"2024-03-01T10:00:00Z",`+
		`"updatedAt":"2024-03-02T10:00:00Z","processedAt":"2024-03-01T10:00:%02dZ",`, oid, 1001+i, f.customer, i%60)
	if f.cancelled {
		b = append(b, `"cancelledAt":"2024-03-03T10:00:00Z",`...)
	} else {
		b = append(b, `"cancelledAt":null,`...)
	}
	b = fmt.Appendf(b, `"test":%t,"currencyCode":"USD","displayFinancialStatus":"PAID","sourceName":"web",`+
		`"landingPageUrl":"/products/product-%d?utm_source=cartwheel","referrerUrl":null,`, f.test, i%d.products)
	if f.discountCode {
		b = append(b, `"discountCodes":["SPRING"],`...)
	} else {
		b = append(b, `"discountCodes":[],`...)
	}
	b = fmt.Appendf(b, `"customer":{"id":"gid://shopify/Customer/%d","email":"customer%d@example.com","firstName":null,"lastName":null},`, f.customer, f.customer)
	money := func(s string) string { return `{"shopMoney":{"amount":"` + s + `","currencyCode":"USD"}}` }
	b = fmt.Appendf(b, `"subtotalPriceSet":%s,"totalTaxSet":%s,"totalShippingPriceSet":%s,"totalDiscountsSet":%s,"totalPriceSet":%s,`,
		money(f.total.Sub(decimal.NewFromInt(1)).StringFixed(2)), money("1.00"), money("0.00"), money("0.00"), money(f.total.StringFixed(2)))
	if f.refund {
		b = fmt.Appendf(b, `"refunds":[{"id":"gid://shopify/Refund/%d","createdAt":"2024-03-05T10:00:00Z","totalRefundedSet":%s}]}`, 900000+i, money("1.50"))
	} else {
		b = append(b, `"refunds":[]}`...)
	}
	b = append(b, '\n')
	for k := 0; k < d.itemsPerOrder; k++ {
		p := (i + k) % d.products
		b = fmt.Appendf(b, `{"id":"gid://shopify/LineItem/%d","title":"Product %d","variantTitle":"Size 0","sku":"SKU-%d-0","quantity":%d,`+
			`"originalUnitPriceSet":%s,"totalDiscountSet":%s,"product":{"id":"gid://shopify/Product/%d"},`+
			`"variant":{"id":"gid://shopify/ProductVariant/%d"},"customAttributes":[{"key":"gift","value":"yes"}],`+
			`"__parentId":"gid://shopify/Order/%d"}`+"\n",
			firstItemID+i*d.itemsPerOrder+k, p, p, 1+k, money("5.00"), money("0.00"), firstProductID+p, firstVariantID+2*p, oid)
	}
	return b
}

func (d storeData) checkoutsResult() shopifytest.BulkResult {
	return stream(int64(d.checkouts)*3, int64(d.checkouts), func(w *bufio.Writer) {
		for j := 0; j < d.checkouts; j++ {
			id := 7000 + j
			fmt.Fprintf(w, `{"id":"gid://shopify/AbandonedCheckout/%d","abandonedCheckoutUrl":"https://shop.example/548380009/checkouts/tok%d/recover?key=k%d",`+
				`"createdAt":"2024-04-01T00:00:00Z","updatedAt":"2024-04-01T01:00:00Z","completedAt":null,`+
				`"customer":{"id":"gid://shopify/Customer/%d","email":"customer%d@example.com"},"totalPriceSet":{"shopMoney":{"amount":"30.00","currencyCode":"USD"}}}`+"\n",
				id, id, id, j%d.customers+1, j%d.customers+1)
			for k := 0; k < 2; k++ {
				fmt.Fprintf(w, `{"id":"gid://shopify/AbandonedCheckoutLineItem/%d","title":"Product %d","variantTitle":null,"quantity":%d,`+
					`"originalUnitPriceSet":{"shopMoney":{"amount":"15.00","currencyCode":"USD"}},"product":{"id":"gid://shopify/Product/%d"},`+
					`"variant":null,"__parentId":"gid://shopify/AbandonedCheckout/%d"}`+"\n", id*10+k, k, 1, firstProductID+k, id)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
