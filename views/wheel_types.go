package views

import "strconv"

// WheelForm is Admin › Signup wheel's editor, with values as typed.
// Errors is keyed by field name ("slice_label.2" for a slice's field);
// "slices" is about the slices as a whole.
type WheelForm struct {
	Enabled                                     bool
	Slices                                      []WheelSlice
	Headline, Subtext, Consent, Button, NoPrize string
	Background, TextColor, ButtonColor          string
	ButtonTextColor                             string
	DelaySeconds, ScrollPercent                 string
	ExitIntent                                  bool
	PagesMode, Paths                            string
	FrequencyDays, PrizeExpiryDays, MinOrder    string
	PrizeCap, DailyCodeCap                      string
	EmailCode                                   bool
	Tab                                         bool
	Errors                                      map[string]string
	Saved                                       bool
	MaxSlices                                   int
}

// WheelSlice is one row of the slices table.
type WheelSlice struct {
	Label, Color, Kind, Value, Weight string
	Percent                           string // chance computed from the weights, e.g. "25.0%"
}

// WheelStats are the wheel's figures, formatted.
type WheelStats struct {
	Impressions      string
	ImpressionsKnown bool
	Spins, Signups   string
	Conversion       string
	CodesIssued      string
	CodesRedeemed    string
	CodesPending     int64
	CodesFailed      int64
}

// StorefrontWheelJS is the URL of the built storefront widget (the same
// file the theme app extension ships), for the editor's live preview.
func StorefrontWheelJS() string { return defaultStatic().url("dist/storefront/wheel.js") }

// storefrontWheelCSS is the widget's stylesheet (the theme loads it with the script).
func storefrontWheelCSS() string { return defaultStatic().url("dist/storefront/wheel.css") }

func sliceKey(name string, i int) string { return name + "." + strconv.Itoa(i) }
func sliceID(name string, i int) string  { return "f-" + name + "-" + strconv.Itoa(i) }

var prizeKinds = []struct{ value, label string }{
	{"percentage", "Percentage off"},
	{"fixed_amount", "Amount off"},
	{"free_shipping", "Free shipping"},
	{"none", "No prize"},
}

var pageModes = []struct{ value, label string }{
	{"all", "All pages"},
	{"include", "Only these pages"},
	{"exclude", "All pages except these"},
}

// wheelFieldLabels names the editor's fields for the error summary.
var wheelFieldLabels = map[string]string{
	"slices": "Slices", "headline": "Headline", "subtext": "Text under the headline", "consent": "Consent text",
	"button": "Button label", "no_prize": "No-prize message", "background": "Background colour",
	"text_color": "Text colour", "button_color": "Button colour", "button_text_color": "Button text colour",
	"delay_seconds": "Delay", "scroll_percent": "Scroll depth", "pages_mode": "Pages", "paths": "Page paths",
	"frequency_days": "Frequency", "prize_expiry_days": "Code expiry", "min_order": "Minimum order",
	"prize_cap": "Prize limit", "daily_code_cap": "Codes per day",
}

var sliceFieldLabels = map[string]string{
	"slice_label": "label", "slice_color": "colour", "slice_kind": "prize", "slice_value": "value", "slice_weight": "weight",
}

// wheelErrors lists the errors for the summary banner, slices first.
func wheelErrors(errs map[string]string) []formError {
	var out []formError
	if m := errs["slices"]; m != "" {
		out = append(out, formError{"slices", "Slices", m})
	}
	for i := 0; i < 64; i++ {
		for _, n := range []string{"slice_label", "slice_color", "slice_kind", "slice_value", "slice_weight"} {
			if m := errs[sliceKey(n, i)]; m != "" {
				out = append(out, formError{n + "-" + strconv.Itoa(i), "Slice " + strconv.Itoa(i+1) + " " + sliceFieldLabels[n], m})
			}
		}
	}
	for _, n := range []string{"headline", "subtext", "consent", "button", "no_prize", "background", "text_color", "button_color",
		"button_text_color", "delay_seconds", "scroll_percent", "pages_mode", "paths", "frequency_days", "prize_expiry_days", "min_order", "prize_cap", "daily_code_cap"} {
		if m := errs[n]; m != "" {
			out = append(out, formError{n, wheelFieldLabels[n], m})
		}
	}
	return out
}

func wheelErrorSummary(errs map[string]string) string {
	n := len(wheelErrors(errs))
	if n == 1 {
		return "1 field needs your attention"
	}
	return strconv.Itoa(n) + " fields need your attention"
}

func validKind(k string) bool {
	for _, p := range prizeKinds {
		if p.value == k {
			return true
		}
	}
	return false
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func wheelOptionLabel(options []struct{ value, label string }, value string) string {
	for _, o := range options {
		if o.value == value {
			return o.label
		}
	}
	return "Select…"
}

func codesNote(pending, failed int64) string {
	s := ""
	if pending > 0 {
		s = strconv.FormatInt(pending, 10) + " code(s) are still being created in Shopify and will be retried automatically. "
	}
	if failed > 0 {
		s += strconv.FormatInt(failed, 10) + " code(s) could not be created; those winners were told to contact you."
	}
	return s
}
