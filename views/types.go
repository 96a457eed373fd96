// Package views renders Cartwheel's admin pages with templ, styled with Polaris CSS
// (no React). Views take their own small view-model structs so this package compiles
// on its own: handlers map domain values into them.
package views

// Page carries what every admin page needs.
type Page struct {
	Title      string // page title
	Shop       string // verified shop domain
	APIKey     string // SHOPIFY_API_KEY, for <meta name="shopify-api-key">
	Production bool   // load App Bridge from Shopify's CDN (first script in <head>) and emit <ui-nav-menu>
	Dev        bool   // APP_ENV=dev: emit <meta name="cartwheel-dev-shop">; admin.js then stands in for App Bridge
	Active     string // nav key: "dashboard", "customers", "segments", "flows", "campaigns", "templates", "wheel", "reports", "settings"
	Assets     Assets
}

// Assets are the URLs of the built front-end files, with a ?v= content hash
// (see StaticAssets).
type Assets struct {
	PolarisCSS, AppCSS, AdminJS, HtmxJS string
	ChartsJS                            string // loaded by admin.js when a page has a chart
	EditorJS                            string // loaded by admin.js when a page has a rich-text field
	Favicon                             string
}

// SettingsForm holds the settings form as typed, so invalid input can be shown again.
type SettingsForm struct {
	SenderName, SenderEmail, ReplyTo, PostalAddress, Timezone                      string
	AttributionClickDays, AttributionOpenDays, MarketingCapHours, CampaignSkipDays string
	DailySendLimit                                                                 string
	SendRate                                                                       string // campaign emails per second
	Warmup                                                                         bool   // the warm-up schedule is on
	WarmupStatus                                                                   string // where it stands today
	AttributionStatus                                                              string // a recompute after a window change, while it runs
	QuietHoursStart, QuietHoursEnd                                                 string
	Errors                                                                         map[string]string // form field name -> message
	Saved                                                                          bool
	Timezones                                                                      []string // options for the timezone <select>
	ShopTimezone                                                                   string   // the shop's own timezone, shown as a hint
}

// PrivacyRequest is one compliance webhook the app received, listed under Settings.
type PrivacyRequest struct {
	ID          int64
	Kind        string // "Data request", "Customer redacted", "Shop redacted"
	CustomerRef string
	ReceivedAt  string
	DownloadURL string // when non-empty, a plain link to download the data export
}

// navItem is one entry of the admin navigation.
type navItem struct {
	Key, Label, Href, Icon string
}

// navItems is the admin navigation, in order; also used for App Bridge's <ui-nav-menu>.
var navItems = []navItem{
	{"dashboard", "Dashboard", "/app", "home"},
	{"customers", "Customers", "/app/customers", "person"},
	{"segments", "Segments", "/app/segments", "segment"},
	{"flows", "Flows", "/app/flows", "automation"},
	{"campaigns", "Campaigns", "/app/campaigns", "megaphone"},
	{"templates", "Templates", "/app/templates", "email"},
	{"wheel", "Signup wheel", "/app/wheel", "discount"},
	{"reports", "Reports", "/app/reports", "chart"},
	{"settings", "Settings", "/app/settings", "settings"},
}
