// Package wheel is the storefront signup wheel: the merchant's
// configuration (validated here, stored as JSON), the server-side spin that
// decides the outcome, subscribes the shopper and issues a single-use
// Shopify discount code, and the wheel's stats.
package wheel

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/input"
)

// Prize kinds, as the storefront contract names them.
const (
	PrizePercentage   = "percentage"
	PrizeFixedAmount  = "fixed_amount"
	PrizeFreeShipping = "free_shipping"
	PrizeNone         = "none"
)

// Limits the editor enforces.
const (
	MinSlices     = 2
	MaxSlices     = 12
	MaxLabelLen   = 40
	MaxPaths      = 20
	maxWeight     = 1_000_000
	maxFixedValue = 100_000
)

// Slice is one segment of the wheel.
type Slice struct {
	Label      string          `json:"label"`
	Color      string          `json:"color"`
	PrizeKind  string          `json:"prize_kind"`
	PrizeValue decimal.Decimal `json:"prize_value"`
	Weight     float64         `json:"weight"`
}

// Wins reports whether landing on the slice earns a discount code.
func (s Slice) Wins() bool { return s.PrizeKind != PrizeNone }

// Texts are what the widget says.
type Texts struct {
	Headline string `json:"headline"`
	Subtext  string `json:"subtext"`
	Consent  string `json:"consent"`
	Button   string `json:"button"`
	NoPrize  string `json:"no_prize"`
}

// Colors of the widget (the slices carry their own).
type Colors struct {
	Background string `json:"background"`
	Text       string `json:"text"`
	Button     string `json:"button"`
	ButtonText string `json:"button_text"`
}

// Trigger says when the widget opens.
type Trigger struct {
	DelaySeconds  int  `json:"delay_seconds"`
	ScrollPercent int  `json:"scroll_percent"`
	ExitIntent    bool `json:"exit_intent"`
}

// Pages says where the widget may open: everywhere, only on matching
// paths, or everywhere but matching paths ("*" matches any run of
// characters).
type Pages struct {
	Mode  string   `json:"mode"` // all | include | exclude
	Paths []string `json:"paths"`
}

// Config is a wheel's whole configuration, as stored in wheels.config.
type Config struct {
	Slices          []Slice          `json:"slices"`
	Texts           Texts            `json:"texts"`
	Colors          Colors           `json:"colors"`
	Trigger         Trigger          `json:"trigger"`
	Pages           Pages            `json:"pages"`
	FrequencyDays   int              `json:"frequency_days"`
	PrizeExpiryDays int              `json:"prize_expiry_days"`
	MinOrderAmount  *decimal.Decimal `json:"min_order_amount,omitempty"` // nil: no minimum
	// PrizeCap bounds how many winning spins the wheel gives out in total
	// (0: no cap). Once reached, only "no prize" slices can come up, with
	// their relative weights; the editor requires one when a cap is set.
	PrizeCap int  `json:"prize_cap"`
	Tab      bool `json:"tab"` // show a small tab to reopen the wheel after closing it
	// DailyCodeCap bounds the discount codes the wheel creates in any 24
	// hours (0 in configurations saved before it existed: the default).
	// Beyond it spins are refused with a message, so a flood of sign-ups
	// can't flood the store with codes.
	DailyCodeCap int `json:"daily_code_cap"`
	// EmailCode sends the code to the address entered instead of showing
	// it: only the owner of the inbox gets the prize, and the spin answers
	// the same whether or not the address is already subscribed.
	EmailCode bool `json:"email_code"`
}

// DefaultDailyCodeCap is the daily code cap of a wheel that has none set:
// far above what a store's real sign-ups reach in a day, far below what a
// script can ask for.
const DefaultDailyCodeCap = 500

// MaxDailyCodeCap is the highest cap the editor takes.
const MaxDailyCodeCap = 100_000

// CodesPerDay is the wheel's effective daily code cap.
func (c Config) CodesPerDay() int {
	if c.DailyCodeCap <= 0 {
		return DefaultDailyCodeCap
	}
	return c.DailyCodeCap
}

// DefaultConfig is the wheel a shop starts with.
func DefaultConfig() Config {
	return Config{
		Slices: []Slice{
			{Label: "10% off", Color: "#F6C445", PrizeKind: PrizePercentage, PrizeValue: decimal.NewFromInt(10), Weight: 30},
			{Label: "No luck", Color: "#2F3A4A", PrizeKind: PrizeNone, Weight: 20},
			{Label: "Free shipping", Color: "#4FB286", PrizeKind: PrizeFreeShipping, Weight: 20},
			{Label: "Almost!", Color: "#E26D5C", PrizeKind: PrizeNone, Weight: 10},
			{Label: "5 off", Color: "#5C7AEA", PrizeKind: PrizeFixedAmount, PrizeValue: decimal.NewFromInt(5), Weight: 15},
			{Label: "15% off", Color: "#B565A7", PrizeKind: PrizePercentage, PrizeValue: decimal.NewFromInt(15), Weight: 5},
		},
		Texts: Texts{
			Headline: "Spin to win a discount",
			Subtext:  "Enter your email for a chance to win a discount on your order.",
			Consent:  "I agree to receive marketing emails. I can unsubscribe at any time.",
			Button:   "Spin",
			NoPrize:  "No prize this time, but thanks for subscribing!",
		},
		Colors:          Colors{Background: "#FFFFFF", Text: "#111111", Button: "#111111", ButtonText: "#FFFFFF"},
		Trigger:         Trigger{DelaySeconds: 5, ExitIntent: true},
		Pages:           Pages{Mode: "all", Paths: []string{}},
		FrequencyDays:   7,
		PrizeExpiryDays: 14,
		Tab:             true,
		DailyCodeCap:    DefaultDailyCodeCap,
	}
}

// Percentages are each slice's chance in percent, from the weights (all
// zero when every weight is zero).
func Percentages(slices []Slice) []float64 {
	total := 0.0
	for _, s := range slices {
		if s.Weight > 0 {
			total += s.Weight
		}
	}
	out := make([]float64, len(slices))
	if total == 0 {
		return out
	}
	for i, s := range slices {
		if s.Weight > 0 {
			out[i] = s.Weight / total * 100
		}
	}
	return out
}

// FieldErrors maps a form field to what is wrong with it; "" is about the
// form as a whole. Slice fields are named "slice_label.2" and so on.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	return fmt.Sprintf("wheel: %d invalid field(s)", len(e))
}

// SliceInput is one slice as typed in the editor.
type SliceInput struct {
	Label, Color, PrizeKind, PrizeValue, Weight string
}

// Input is the editor's form, as typed, so it can be shown again with its
// errors.
type Input struct {
	Enabled                                       bool
	Slices                                        []SliceInput
	Headline, Subtext, Consent, Button, NoPrize   string
	Background, TextColor, ButtonColor, BtnText   string
	DelaySeconds, ScrollPercent                   string
	ExitIntent                                    bool
	PagesMode, Paths                              string // Paths: one per line
	FrequencyDays, PrizeExpiryDays, MinOrder, Cap string
	Tab                                           bool
	DailyCodeCap                                  string
	EmailCode                                     bool
}

// InputFrom renders a stored configuration as the editor's form.
func InputFrom(enabled bool, c Config) Input {
	in := Input{
		Enabled: enabled, Headline: c.Texts.Headline, Subtext: c.Texts.Subtext, Consent: c.Texts.Consent,
		Button: c.Texts.Button, NoPrize: c.Texts.NoPrize,
		Background: c.Colors.Background, TextColor: c.Colors.Text, ButtonColor: c.Colors.Button, BtnText: c.Colors.ButtonText,
		DelaySeconds: strconv.Itoa(c.Trigger.DelaySeconds), ScrollPercent: strconv.Itoa(c.Trigger.ScrollPercent),
		ExitIntent: c.Trigger.ExitIntent, PagesMode: c.Pages.Mode, Paths: strings.Join(c.Pages.Paths, "\n"),
		FrequencyDays: strconv.Itoa(c.FrequencyDays), PrizeExpiryDays: strconv.Itoa(c.PrizeExpiryDays), Tab: c.Tab,
		DailyCodeCap: strconv.Itoa(c.CodesPerDay()), EmailCode: c.EmailCode,
	}
	if c.MinOrderAmount != nil {
		in.MinOrder = c.MinOrderAmount.StringFixed(2)
	}
	if c.PrizeCap > 0 {
		in.Cap = strconv.Itoa(c.PrizeCap)
	}
	for _, s := range c.Slices {
		si := SliceInput{Label: s.Label, Color: s.Color, PrizeKind: s.PrizeKind, Weight: strconv.FormatFloat(s.Weight, 'f', -1, 64)}
		if s.PrizeKind == PrizePercentage || s.PrizeKind == PrizeFixedAmount {
			si.PrizeValue = s.PrizeValue.String()
		}
		in.Slices = append(in.Slices, si)
	}
	return in
}

var (
	colorRe = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	pathRe  = regexp.MustCompile(`^/[A-Za-z0-9\-._~/*%]*$`)
)

// Parse validates the editor's form and returns the configuration, or
// FieldErrors with a message a merchant can act on for every problem.
func Parse(in Input) (Config, error) {
	errs := FieldErrors{}
	var c Config

	if len(in.Slices) < MinSlices {
		errs["slices"] = fmt.Sprintf("Add at least %d slices.", MinSlices)
	}
	if len(in.Slices) > MaxSlices {
		errs["slices"] = fmt.Sprintf("A wheel can have at most %d slices; remove %d.", MaxSlices, len(in.Slices)-MaxSlices)
	}
	total, hasNone := 0.0, false
	for i, si := range in.Slices {
		n := strconv.Itoa(i)
		s := Slice{Label: strings.TrimSpace(si.Label), Color: strings.TrimSpace(si.Color), PrizeKind: si.PrizeKind}
		switch {
		case s.Label == "":
			errs["slice_label."+n] = "Enter a label for this slice."
		case input.Problem(s.Label) != "":
			errs["slice_label."+n] = "The label " + input.Problem(s.Label) + "."
		case utf8.RuneCountInString(s.Label) > MaxLabelLen:
			errs["slice_label."+n] = fmt.Sprintf("Keep the label to %d characters or fewer (it has %d).", MaxLabelLen, utf8.RuneCountInString(s.Label))
		}
		if !colorRe.MatchString(s.Color) {
			errs["slice_color."+n] = "Use a colour like #F6C445."
		} else {
			s.Color = strings.ToUpper(s.Color)
		}
		v := strings.TrimSpace(si.PrizeValue)
		switch s.PrizeKind {
		case PrizePercentage:
			d, err := decimal.NewFromString(v)
			if err != nil || d.LessThan(decimal.NewFromInt(1)) || d.GreaterThan(decimal.NewFromInt(100)) || d.Exponent() < -2 {
				errs["slice_value."+n] = "Enter a percentage from 1 to 100."
			}
			s.PrizeValue = d
		case PrizeFixedAmount:
			d, err := decimal.NewFromString(v)
			if err != nil || !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(maxFixedValue)) || d.Exponent() < -2 {
				errs["slice_value."+n] = "Enter an amount above 0, such as 5 or 7.50."
			}
			s.PrizeValue = d
		case PrizeFreeShipping, PrizeNone:
			// No amount: the prize is the kind itself.
		default:
			errs["slice_kind."+n] = "Choose a prize: percentage off, amount off, free shipping or no prize."
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(si.Weight), 64)
		switch {
		case err != nil || !input.Finite(w): // NaN passes every range test below
			errs["slice_weight."+n] = "Enter the slice's weight as a number, such as 10."
		case w < 0:
			errs["slice_weight."+n] = "A weight can't be negative; use 0 for a slice that never wins."
		case w > maxWeight:
			errs["slice_weight."+n] = "Use a smaller weight (at most 1,000,000)."
		default:
			s.Weight = w
			total += w
			if s.PrizeKind == PrizeNone && w > 0 {
				hasNone = true
			}
		}
		c.Slices = append(c.Slices, s)
	}
	if len(in.Slices) >= MinSlices && total == 0 && !hasSliceErr(errs, "slice_weight.") {
		errs["slices"] = "At least one slice needs a weight above 0, or the wheel can never stop anywhere."
	}

	c.Texts = Texts{
		Headline: strings.TrimSpace(in.Headline), Subtext: strings.TrimSpace(in.Subtext),
		Consent: strings.TrimSpace(in.Consent), Button: strings.TrimSpace(in.Button), NoPrize: strings.TrimSpace(in.NoPrize),
	}
	text(errs, "headline", "Headline", c.Texts.Headline, true, 80)
	text(errs, "subtext", "Text under the headline", c.Texts.Subtext, false, 200)
	text(errs, "consent", "Consent text", c.Texts.Consent, true, 300)
	text(errs, "button", "Button label", c.Texts.Button, true, 30)
	text(errs, "no_prize", "No-prize message", c.Texts.NoPrize, false, 160)

	c.Colors = Colors{Background: strings.TrimSpace(in.Background), Text: strings.TrimSpace(in.TextColor),
		Button: strings.TrimSpace(in.ButtonColor), ButtonText: strings.TrimSpace(in.BtnText)}
	for name, v := range map[string]*string{"background": &c.Colors.Background, "text_color": &c.Colors.Text,
		"button_color": &c.Colors.Button, "button_text_color": &c.Colors.ButtonText} {
		if !colorRe.MatchString(*v) {
			errs[name] = "Use a colour like #111111."
		} else {
			*v = strings.ToUpper(*v)
		}
	}

	c.Trigger.DelaySeconds = intField(errs, "delay_seconds", in.DelaySeconds, 0, 600, "Enter a delay from 0 to 600 seconds.")
	c.Trigger.ScrollPercent = intField(errs, "scroll_percent", in.ScrollPercent, 0, 100, "Enter a scroll depth from 0 to 100 percent (0 turns it off).")
	c.Trigger.ExitIntent = in.ExitIntent

	c.Pages = Pages{Mode: in.PagesMode, Paths: []string{}}
	switch c.Pages.Mode {
	case "all", "include", "exclude":
	default:
		errs["pages_mode"] = "Choose on which pages the wheel may appear."
	}
	for _, line := range strings.Split(in.Paths, "\n") {
		p := strings.TrimSpace(line)
		if p == "" {
			continue
		}
		if len(p) > 200 || !pathRe.MatchString(p) {
			errs["paths"] = fmt.Sprintf("%q is not a page path; paths start with / and may use * as a wildcard, e.g. /products/*.", truncate(p, 60))
			break
		}
		c.Pages.Paths = append(c.Pages.Paths, p)
	}
	if len(c.Pages.Paths) > MaxPaths {
		errs["paths"] = fmt.Sprintf("List at most %d paths.", MaxPaths)
	}
	if c.Pages.Mode == "include" && len(c.Pages.Paths) == 0 && errs["paths"] == "" {
		errs["paths"] = "List the pages the wheel may appear on, or choose All pages."
	}

	c.FrequencyDays = intField(errs, "frequency_days", in.FrequencyDays, 1, 365, "Enter how often a visitor may see the wheel: every 1 to 365 days.")
	c.PrizeExpiryDays = intField(errs, "prize_expiry_days", in.PrizeExpiryDays, 1, 365, "Codes must expire after 1 to 365 days.")
	if v := strings.TrimSpace(in.MinOrder); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(1_000_000)) || d.Exponent() < -2 {
			errs["min_order"] = "Enter a minimum order amount above 0, or leave it empty for none."
		} else {
			c.MinOrderAmount = &d
		}
	}
	if v := strings.TrimSpace(in.Cap); v != "" {
		c.PrizeCap = intField(errs, "prize_cap", v, 0, 10_000_000, "Enter the most prizes to give out as a whole number, or leave it empty for no limit.")
	}
	if c.PrizeCap > 0 && !hasNone && errs["slices"] == "" {
		errs["prize_cap"] = "A prize limit needs a “No prize” slice with a weight above 0, for the wheel to land on once the limit is reached."
	}
	c.Tab = in.Tab
	c.DailyCodeCap = DefaultDailyCodeCap // left empty: the default
	if v := strings.TrimSpace(in.DailyCodeCap); v != "" {
		c.DailyCodeCap = intField(errs, "daily_code_cap", v, 1, MaxDailyCodeCap,
			fmt.Sprintf("Enter the most codes to create per day, from 1 to %d (the default is %d).", MaxDailyCodeCap, DefaultDailyCodeCap))
	}
	c.EmailCode = in.EmailCode

	if len(errs) > 0 {
		return Config{}, errs
	}
	return c, nil
}

// Validate checks a stored or built configuration with the editor's rules.
func Validate(enabled bool, c Config) error {
	_, err := Parse(InputFrom(enabled, c))
	return err
}

func hasSliceErr(errs FieldErrors, prefix string) bool {
	for k := range errs {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func text(errs FieldErrors, name, label, v string, required bool, max int) {
	switch {
	case required && v == "":
		errs[name] = label + " is required."
	case input.Problem(v) != "":
		errs[name] = label + " " + input.Problem(v) + "."
	case utf8.RuneCountInString(v) > max:
		errs[name] = fmt.Sprintf("%s must be %d characters or fewer (it has %d).", label, max, utf8.RuneCountInString(v))
	}
}

func intField(errs FieldErrors, name, v string, min, max int, msg string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min || n > max {
		errs[name] = msg
		return 0
	}
	return n
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
