package storesync

// The bulk queries of the full import, one per resource, in the Admin API
// version the client pins (2025-10). Bulk queries take no pagination
// arguments: Shopify walks every connection itself and writes one JSONL
// line per object, nested connections as lines carrying "__parentId".
// Plain lists (Order.refunds, discountCodes) stay inside their parent's line.

// Resources are imported in this order: products first (orders point at
// them), then customers (so orders link to full profiles rather than
// stubs), orders, and abandoned checkouts last.
var Resources = []string{ResourceProducts, ResourceCustomers, ResourceOrders, ResourceCheckouts}

// Resource names, as import_runs stores them.
const (
	ResourceProducts  = "products"
	ResourceCustomers = "customers"
	ResourceOrders    = "orders"
	ResourceCheckouts = "checkouts"
)

var bulkQueries = map[string]string{
	ResourceProducts: `{
  products {
    edges {
      node {
        id title handle vendor productType tags status createdAt updatedAt publishedAt
        featuredMedia { preview { image { url } } }
        variants {
          edges { node { id title sku price compareAtPrice inventoryQuantity image { url } } }
        }
        collections {
          edges { node { id title handle } }
        }
      }
    }
  }
}`,
	ResourceCustomers: `{
  customers {
    edges {
      node {
        id email phone firstName lastName locale tags createdAt updatedAt
        emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
        defaultAddress { city countryCodeV2 provinceCode }
      }
    }
  }
}`,
	ResourceOrders: `{
  orders {
    edges {
      node {
        id name email createdAt updatedAt processedAt cancelledAt test currencyCode
        displayFinancialStatus sourceName landingPageUrl referrerUrl discountCodes
        customer { id email firstName lastName }
        subtotalPriceSet { shopMoney { amount currencyCode } }
        totalTaxSet { shopMoney { amount currencyCode } }
        totalShippingPriceSet { shopMoney { amount currencyCode } }
        totalDiscountsSet { shopMoney { amount currencyCode } }
        totalPriceSet { shopMoney { amount currencyCode } }
        refunds { id createdAt totalRefundedSet { shopMoney { amount currencyCode } } }
        lineItems {
          edges {
            node {
              id title variantTitle sku quantity
              originalUnitPriceSet { shopMoney { amount currencyCode } }
              totalDiscountSet { shopMoney { amount currencyCode } }
              product { id }
              variant { id }
              customAttributes { key value }
            }
          }
        }
      }
    }
  }
}`,
	ResourceCheckouts: `{
  abandonedCheckouts {
    edges {
      node {
        id abandonedCheckoutUrl createdAt updatedAt completedAt
        customer { id email firstName lastName }
        totalPriceSet { shopMoney { amount currencyCode } }
        lineItems {
          edges {
            node {
              id title variantTitle quantity
              originalUnitPriceSet { shopMoney { amount currencyCode } }
              product { id }
              variant { id }
            }
          }
        }
      }
    }
  }
}`,
}
