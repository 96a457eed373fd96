package shopifytest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// maxPageSize is Shopify's limit on first/last for connections.
const maxPageSize = 250

// Paginate answers a connection field (first/after or last/before) over
// nodes, which must be sorted by the numeric tail of their "id" gid. The
// result has edges{cursor node}, nodes and pageInfo, typed typeName
// ("WebhookSubscription" → WebhookSubscriptionConnection/Edge).
func Paginate(f *Field, typeName string, nodes []map[string]any) (map[string]any, error) {
	first, hasFirst := f.ArgInt("first")
	last, hasLast := f.ArgInt("last")
	if !hasFirst && !hasLast {
		return nil, &Error{Message: "you must provide one of first or last", Code: "BAD_REQUEST"}
	}
	if (hasFirst && (first < 0 || first > maxPageSize)) || (hasLast && (last < 0 || last > maxPageSize)) {
		return nil, &Error{Message: fmt.Sprintf("The maximum number of records that can be requested is %d", maxPageSize), Code: "BAD_REQUEST"}
	}
	lo, hi := 0, len(nodes) // window [lo, hi)
	if after := f.ArgString("after"); after != "" {
		id, ok := parseCursor(after)
		if !ok {
			return nil, &Error{Message: "Invalid cursor for current pagination sort.", Code: "BAD_REQUEST"}
		}
		for lo < hi && nodeID(nodes[lo]) <= id {
			lo++
		}
	}
	if before := f.ArgString("before"); before != "" {
		id, ok := parseCursor(before)
		if !ok {
			return nil, &Error{Message: "Invalid cursor for current pagination sort.", Code: "BAD_REQUEST"}
		}
		for hi > lo && nodeID(nodes[hi-1]) >= id {
			hi--
		}
	}
	hasNext, hasPrev := false, lo > 0
	if hasFirst && hi-lo > first {
		hi = lo + first
		hasNext = true
	}
	if hasLast && hi-lo > last {
		lo = hi - last
		hasPrev = true
	}
	if hi < len(nodes) {
		hasNext = true
	}
	page := nodes[lo:hi]
	edges := make([]any, len(page))
	list := make([]any, len(page))
	for i, n := range page {
		edges[i] = map[string]any{"__typename": typeName + "Edge", "cursor": cursorFor(nodeID(n)), "node": n}
		list[i] = n
	}
	pageInfo := map[string]any{
		"__typename": "PageInfo", "hasNextPage": hasNext, "hasPreviousPage": hasPrev,
		"startCursor": nil, "endCursor": nil,
	}
	if len(page) > 0 {
		pageInfo["startCursor"] = cursorFor(nodeID(page[0]))
		pageInfo["endCursor"] = cursorFor(nodeID(page[len(page)-1]))
	}
	return map[string]any{
		"__typename": typeName + "Connection",
		"edges":      edges,
		"nodes":      list,
		"pageInfo":   pageInfo,
	}, nil
}

func nodeID(n map[string]any) int64 {
	gid, _ := n["id"].(string)
	id, _ := strconv.ParseInt(gid[strings.LastIndexByte(gid, '/')+1:], 10, 64)
	return id
}

func (s *Server) handleShop(c *Call) (any, error) {
	s.mu.Lock()
	st := s.shops[c.Shop]
	info, id := st.info, st.id
	s.mu.Unlock()
	return map[string]any{
		"__typename":      "Shop",
		"id":              fmt.Sprintf("gid://shopify/Shop/%d", id),
		"name":            info.Name,
		"email":           info.Email,
		"contactEmail":    info.Email,
		"myshopifyDomain": info.MyshopifyDomain,
		"url":             "https://" + info.MyshopifyDomain,
		"ianaTimezone":    info.IanaTimezone,
		"currencyCode":    info.CurrencyCode,
		"primaryDomain":   primaryDomain(info),
		"plan": map[string]any{
			"__typename":         "ShopPlan",
			"displayName":        info.PlanName, // deprecated in 2025-10, still served
			"publicDisplayName":  info.PlanName,
			"partnerDevelopment": info.PlanName == "Development",
			"shopifyPlus":        strings.HasPrefix(info.PlanName, "Plus"),
		},
	}, nil
}

// primaryDomain is the store's custom domain when the test set one, else
// its myshopify domain, as Shopify answers.
func primaryDomain(info shopify.ShopInfo) map[string]any {
	u := info.PrimaryDomainURL
	if u == "" {
		u = "https://" + info.MyshopifyDomain
	}
	return map[string]any{"__typename": "Domain", "host": strings.TrimPrefix(u, "https://"), "url": u}
}

func subscriptionNode(sub subscription) map[string]any {
	ts := sub.createdAt.UTC().Format(time.RFC3339)
	return map[string]any{
		"__typename":          "WebhookSubscription",
		"id":                  subscriptionGID(sub.id),
		"topic":               sub.topic,
		"uri":                 sub.uri,
		"callbackUrl":         sub.uri, // deprecated, still served
		"endpoint":            map[string]any{"__typename": "WebhookHttpEndpoint", "callbackUrl": sub.uri},
		"format":              "JSON",
		"includeFields":       []any{},
		"metafieldNamespaces": []any{},
		"filter":              nil,
		"apiVersion":          map[string]any{"__typename": "ApiVersion", "handle": shopify.APIVersion, "displayName": shopify.APIVersion, "supported": true},
		"createdAt":           ts,
		"updatedAt":           ts,
	}
}

func (s *Server) handleWebhookSubscriptions(c *Call) (any, error) {
	topics := map[string]bool{}
	for _, t := range c.Field.ArgList("topics") {
		if ts, ok := t.(string); ok {
			topics[ts] = true
		}
	}
	uri := c.Field.ArgString("uri")
	if uri == "" {
		uri = c.Field.ArgString("callbackUrl")
	}
	s.mu.Lock()
	var nodes []map[string]any
	for _, sub := range s.shops[c.Shop].subs {
		if len(topics) > 0 && !topics[sub.topic] {
			continue
		}
		if uri != "" && sub.uri != uri {
			continue
		}
		nodes = append(nodes, subscriptionNode(sub))
	}
	s.mu.Unlock()
	return Paginate(c.Field, "WebhookSubscription", nodes)
}

func (s *Server) handleWebhookSubscriptionCreate(c *Call) (any, error) {
	topic := c.Field.ArgString("topic")
	if !webhookTopics[topic] {
		msg := fmt.Sprintf("Argument 'topic' on Field 'webhookSubscriptionCreate' has an invalid value (%s). Expected type 'WebhookSubscriptionTopic!'.", topic)
		code := "argumentLiteralsIncompatible"
		if v := c.Field.ArgVar("topic"); v != "" {
			msg = fmt.Sprintf("Variable $%s of type WebhookSubscriptionTopic! was provided invalid value", v)
			code = "INVALID_VARIABLE"
		}
		return nil, &Error{Message: msg, Code: code, Static: true}
	}
	in := c.Field.ArgMap("webhookSubscription")
	if in == nil {
		return nil, &Error{Message: "Field 'webhookSubscriptionCreate' is missing required arguments: webhookSubscription", Code: "missingRequiredArguments", Static: true}
	}
	field := "uri"
	uri, _ := in["uri"].(string)
	if uri == "" {
		field = "callbackUrl"
		uri, _ = in["callbackUrl"].(string)
	}
	userError := func(msg string) (any, error) {
		return map[string]any{
			"__typename":          "WebhookSubscriptionCreatePayload",
			"webhookSubscription": nil,
			"userErrors": []any{map[string]any{
				"__typename": "UserError", "field": []any{"webhookSubscription", field}, "message": msg,
			}},
		}, nil
	}
	if uri == "" {
		return userError("Address can't be blank")
	}
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return userError("Address is invalid")
	}
	if u.Scheme == "http" {
		return userError("Address protocol http:// is not supported")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.shops[c.Shop]
	for _, sub := range st.subs {
		if sub.topic == topic && sub.uri == uri {
			return userError("Address for this topic has already been taken")
		}
	}
	s.nextID++
	sub := subscription{id: s.nextID, topic: topic, uri: uri, createdAt: s.Now()}
	st.subs = append(st.subs, sub)
	return map[string]any{
		"__typename":          "WebhookSubscriptionCreatePayload",
		"webhookSubscription": subscriptionNode(sub),
		"userErrors":          []any{},
	}, nil
}

// webhookTopics is a subset of the WebhookSubscriptionTopic enum: the topics
// an email-marketing app plausibly uses. Compliance topics
// (customers/redact …) are deliberately absent: Shopify only accepts them in
// shopify.app.toml.
var webhookTopics = map[string]bool{}

func init() {
	for _, t := range []string{
		"APP_UNINSTALLED", "APP_SCOPES_UPDATE", "APP_SUBSCRIPTIONS_UPDATE",
		"BULK_OPERATIONS_FINISH",
		"CARTS_CREATE", "CARTS_UPDATE",
		"CHECKOUTS_CREATE", "CHECKOUTS_UPDATE", "CHECKOUTS_DELETE",
		"COLLECTIONS_CREATE", "COLLECTIONS_UPDATE", "COLLECTIONS_DELETE",
		"CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "CUSTOMERS_DELETE",
		"CUSTOMERS_ENABLE", "CUSTOMERS_DISABLE", "CUSTOMERS_MERGE",
		"CUSTOMERS_EMAIL_MARKETING_CONSENT_UPDATE", "CUSTOMERS_MARKETING_CONSENT_UPDATE",
		"CUSTOMER_TAGS_ADDED", "CUSTOMER_TAGS_REMOVED",
		"DISCOUNTS_CREATE", "DISCOUNTS_UPDATE", "DISCOUNTS_DELETE", "DISCOUNTS_REDEEMCODE_ADDED",
		"DRAFT_ORDERS_CREATE", "DRAFT_ORDERS_UPDATE", "DRAFT_ORDERS_DELETE",
		"ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_DELETE", "ORDERS_PAID", "ORDERS_CANCELLED",
		"ORDERS_FULFILLED", "ORDERS_PARTIALLY_FULFILLED", "ORDERS_EDITED",
		"ORDER_TRANSACTIONS_CREATE",
		"PRODUCTS_CREATE", "PRODUCTS_UPDATE", "PRODUCTS_DELETE",
		"REFUNDS_CREATE",
		"SHOP_UPDATE",
		"THEMES_PUBLISH",
	} {
		webhookTopics[t] = true
	}
}
