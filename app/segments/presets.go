package segments

import (
	"context"
	"fmt"
	"time"
)

// Preset is a segment every shop starts with (segments.preset_key). Presets
// are ordinary segments afterwards: the merchant may edit them.
type Preset struct {
	Key   string
	Name  string
	Rules Rules
}

// presetSince records the PresetsVersion that added a preset, for presets
// added after the first generation.
var presetSince = map[string]int{}

// Since is the PresetsVersion that added the preset.
func (p Preset) Since() int {
	if v, ok := presetSince[p.Key]; ok {
		return v
	}
	return 1
}

func pc(c Condition) Node { return Node{Condition: &c} }
func pand(items ...Node) Group {
	return Group{Op: "and", Items: items}
}
func por(items ...Node) Node {
	return Node{Group: &Group{Op: "or", Items: items}}
}
func prules(items ...Node) Rules { return Rules{Version: Version, Root: pand(items...)} }
func num(f float64) *float64     { return &f }
func lastDays(n int) *Window     { return &Window{Kind: "last_days", Days: n} }
func atLeast(n int) *Count       { return &Count{Op: "at_least", N: n} }

// mailable is "not unsubscribed and not bounced". Bounces (hard bounce, 7
// consecutive soft bounces, spam complaint) are recorded as suppressions, so
// "bounced" is expressed with the suppressed condition.
func mailable() []Node {
	return []Node{
		pc(Condition{Field: FieldUnsubscribed, Op: "is_not"}),
		pc(Condition{Field: FieldSuppressed, Op: "is_not"}),
	}
}

// BounceReasons are the suppression reasons that mean "bounced": a hard
// bounce, 7 consecutive soft bounces (recorded as soft_bounces), a spam
// complaint, or a bounce carried over from an imported list.
var BounceReasons = []string{"hard_bounce", "soft_bounces", "bounced", "complaint"}

func withMailable(items ...Node) Rules { return prules(append(items, mailable()...)...) }

// visitors: any storefront activity in the last n days.
func visitors(n int) Rules {
	var items []Node
	for _, ev := range []string{"page_viewed", "product_viewed", "collection_viewed", "search_submitted", "product_added_to_cart"} {
		items = append(items, pc(Condition{Field: FieldEvent, Op: "did", Event: ev, Window: lastDays(n)}))
	}
	return Rules{Version: Version, Root: Group{Op: "or", Items: items}}
}

func inactive(days, received int) Rules {
	return prules(
		pc(Condition{Field: FieldConsent, Op: "in", Values: []string{"subscribed"}}),
		pc(Condition{Field: FieldSubscribedAt, Op: "not_within", Window: lastDays(days)}),
		pc(Condition{Field: FieldEmailReceived, Op: "did", Count: atLeast(received)}),
		pc(Condition{Field: FieldEmailOpened, Op: "did_not", Window: lastDays(days)}),
		pc(Condition{Field: FieldEmailClicked, Op: "did_not", Window: lastDays(days)}),
	)
}

// Presets returns the preset segments, in display order: CartSee's eleven,
// site visitors, opened-not-clicked, then the RFM grid.
func Presets() []Preset {
	out := []Preset{
		{"repeat_buyers", "Repeat buyers", withMailable(
			pc(Condition{Field: FieldOrdersCount, Op: "gt", Number: num(1)}))},
		{"need_recall", "Need recall", prules(
			pc(Condition{Field: FieldOrdersCount, Op: "gte", Number: num(1)}),
			pc(Condition{Field: FieldLastOrderAt, Op: "not_within", Window: lastDays(180)}))},
		{"all_subscribers", "All subscribers", prules(
			pc(Condition{Field: FieldConsent, Op: "in", Values: []string{"subscribed"}}))},
		{"new_subscribers", "New subscribers", withMailable(
			pc(Condition{Field: FieldSubscribedAt, Op: "within", Window: lastDays(14)}))},
		{"active_3_months", "Active in the last 3 months", prules(por(
			pc(Condition{Field: FieldEmailOpened, Op: "did", Window: lastDays(90)}),
			pc(Condition{Field: FieldEmailClicked, Op: "did", Window: lastDays(90)})))},
		{"inactive_3_months", "Inactive for 3 months", inactive(90, 5)},
		{"inactive_1_year", "Inactive for 1 year", inactive(365, 10)},
		{"unsubscribed", "Unsubscribed", prules(
			pc(Condition{Field: FieldUnsubscribed, Op: "is"}))},
		{"bounced", "Bounced", prules(
			pc(Condition{Field: FieldSuppressed, Op: "is", Values: BounceReasons}))},
		{"vip", "VIP customers", withMailable(
			pc(Condition{Field: FieldOrdersCount, Op: "gte", Number: num(5)}))},
		{"churn_risk", "Churn risk", withMailable(
			pc(Condition{Field: FieldOrdersCount, Op: "gte", Number: num(1)}),
			pc(Condition{Field: FieldLastOrderAt, Op: "not_within", Window: lastDays(180)}),
			pc(Condition{Field: FieldEmailReceived, Op: "did", Count: atLeast(2), Window: lastDays(90)}),
			pc(Condition{Field: FieldEmailOpened, Op: "did_not", Window: lastDays(90)}))},
		{"visitors_7_days", "Site visitors, last 7 days", visitors(7)},
		{"visitors_30_days", "Site visitors, last 30 days", visitors(30)},
		{"visitors_90_days", "Site visitors, last 90 days", visitors(90)},
		{"opened_not_clicked_60_days", "Opened but didn't click, last 60 days", prules(
			pc(Condition{Field: FieldOpenedNoClick, Op: "did", Window: lastDays(60)}))},
	}
	for _, cell := range RFMCells {
		out = append(out, Preset{Key: "rfm_" + cell, Name: "RFM: " + RFMLabels[cell], Rules: prules(
			pc(Condition{Field: FieldRFM, Op: "in", Values: []string{cell}}))})
	}
	return out
}

// PresetsVersion is the newest generation of presets; Preset.Since says
// which generation added each.
const PresetsVersion = 1

// EnsurePresets gives the shop the presets of every generation it hasn't
// had yet (by preset_key; existing ones are left alone) and computes their
// membership. A preset the merchant deleted is not brought back. Safe to
// call repeatedly and concurrently.
func (s *Store) EnsurePresets(ctx context.Context, shopID int64, now time.Time) error {
	var had int
	if err := s.DB.GetContext(ctx, &had, "SELECT segment_presets_version FROM shops WHERE id = $1", shopID); err != nil {
		return fmt.Errorf("segments: presets of shop %d: %w", shopID, err)
	}
	if had >= PresetsVersion {
		return nil
	}
	var have []string
	if err := s.DB.SelectContext(ctx, &have, "SELECT preset_key FROM segments WHERE shop_id = $1 AND preset_key IS NOT NULL", shopID); err != nil {
		return fmt.Errorf("segments: presets: %w", err)
	}
	got := map[string]bool{}
	for _, k := range have {
		got[k] = true
	}
	for _, p := range Presets() {
		if got[p.Key] || p.Since() <= had {
			continue
		}
		if _, err := s.create(ctx, shopID, p.Name, p.Rules, p.Key, now); err != nil {
			if isUniqueViolation(err) {
				continue // created concurrently
			}
			return fmt.Errorf("segments: preset %s: %w", p.Key, err)
		}
	}
	if _, err := s.DB.ExecContext(ctx, "UPDATE shops SET segment_presets_version = GREATEST(segment_presets_version, $2) WHERE id = $1",
		shopID, PresetsVersion); err != nil {
		return fmt.Errorf("segments: presets of shop %d: %w", shopID, err)
	}
	return nil
}
