package views

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/a-h/templ"
)

// pageTitle is the document <title>.
func pageTitle(title string) string {
	if title == "" {
		return "Cartwheel"
	}
	return title + " · Cartwheel"
}

// errorTitle is the heading of an error page: the page's title, else the status text.
func errorTitle(title string, status int) string {
	if title != "" {
		return title
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Something went wrong"
}

// statusText is "404 Not Found" for 404.
func statusText(status int) string {
	s := strconv.Itoa(status)
	if t := http.StatusText(status); t != "" {
		s += " " + t
	}
	return s
}

func rowsAttr(n int) string { return strconv.Itoa(n) }

// fieldError returns the message for a form field, if any.
func fieldError(errs map[string]string, name string) string {
	if errs == nil {
		return ""
	}
	return errs[name]
}

func installedLine(at string) string {
	if at == "" {
		return ""
	}
	return "Installed " + at
}

func welcomeName(shopName, shop string) string {
	if shopName != "" {
		return ", " + shopName
	}
	if shop != "" {
		return ", " + shop
	}
	return ""
}

func checklistProgress(settingsComplete bool) string {
	if settingsComplete {
		return "1 of 1 steps completed"
	}
	return "0 of 1 steps completed"
}

func missingLine(missing []string) string {
	if len(missing) == 0 {
		return "Add a sender name, sender email and postal address before sending email."
	}
	s := "Still missing: "
	for i, m := range missing {
		if i > 0 {
			s += ", "
		}
		s += m
	}
	return s + "."
}

// perN renders a help sentence with the field's current value for N when it is a
// positive whole number ("per 24 hours", "per 1 hour"), else with the letter N.
func perN(before, value, unit string) string {
	n, err := strconv.Atoi(value)
	if err != nil || n <= 0 {
		return before + "N " + unit + "s"
	}
	if n == 1 {
		return before + "1 " + unit
	}
	return before + strconv.Itoa(n) + " " + unit + "s"
}

// settingsFields lists the settings form fields in page order with their labels.
var settingsFields = []struct{ name, label string }{
	{"sender_name", "Sender name"},
	{"sender_email", "Sender email"},
	{"reply_to", "Reply-to email"},
	{"postal_address", "Postal address"},
	{"timezone", "Timezone"},
	{"attribution_click_days", "Click window"},
	{"attribution_open_days", "Open window"},
	{"marketing_cap_hours", "Marketing frequency cap"},
	{"campaign_skip_days", "Campaign frequency window"},
	{"daily_send_limit", "Daily sending limit"},
	{"send_rate_per_second", "Sending rate"},
	{"quiet_hours_start", "Quiet hours start"},
	{"quiet_hours_end", "Quiet hours end"},
}

type formError struct{ name, label, message string }

// orderedErrors returns the per-field errors in page order (unknown keys last, sorted).
func orderedErrors(errs map[string]string) []formError {
	var out []formError
	seen := map[string]bool{"": true}
	for _, f := range settingsFields {
		seen[f.name] = true
		if msg := errs[f.name]; msg != "" {
			out = append(out, formError{f.name, f.label, msg})
		}
	}
	var rest []string
	for k := range errs {
		if !seen[k] && errs[k] != "" {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		out = append(out, formError{k, k, errs[k]})
	}
	return out
}

func errorSummary(errs map[string]string) string {
	n := len(orderedErrors(errs))
	switch n {
	case 0:
		return "Your settings could not be saved"
	case 1:
		return "1 field needs your attention"
	}
	return strconv.Itoa(n) + " fields need your attention"
}

func timezoneHelp(shopTZ string) string {
	if shopTZ == "" {
		return ""
	}
	return "Your store's timezone in Shopify is " + shopTZ + "."
}

// storeTimezoneOption labels the empty timezone choice: it follows the
// store's own timezone, even if the merchant changes it in Shopify later.
func storeTimezoneOption(shopTZ string) string {
	if shopTZ == "" {
		return "Store timezone"
	}
	return "Store timezone (" + shopTZ + ")"
}

// themeEditorURL deep-links to the live theme's editor with the app embed
// (blocks/cartwheel-embed.liquid) ready to activate.
func themeEditorURL(shop, apiKey string) templ.SafeURL {
	q := url.Values{"context": {"apps"}, "activateAppId": {apiKey + "/cartwheel-embed"}}
	return templ.SafeURL("https://" + shop + "/admin/themes/current/editor?" + q.Encode())
}

func privacyRowID(id int64) string { return "privacy-request-" + strconv.FormatInt(id, 10) }

// withTitle returns p with Title set to def when it is empty.
func withTitle(p Page, def string) Page {
	if p.Title == "" {
		p.Title = def
	}
	return p
}
