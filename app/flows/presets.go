package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/segments"
)

// Preset keys: the ready-made flows offered as cards on Admin › Flows.
const (
	PresetAbandonedCheckout     = "abandoned_checkout"
	PresetAbandonedCheckoutFast = "abandoned_checkout_fast"
	PresetAbandonedCart         = "abandoned_cart"
	PresetBrowseAbandonment     = "browse_abandonment"
	PresetSearchAbandonment     = "search_abandonment"
	PresetWelcomeSeries         = "welcome_series"
	PresetOrderFollowUp         = "order_follow_up"
	PresetRepeatPurchase        = "repeat_purchase"
	PresetWinBack               = "win_back"
	PresetSunset                = "sunset"
	PresetBirthday              = "birthday"
)

// Preset is a ready-made flow: a draft built from the starter templates, for
// the merchant to review and switch on.
type Preset struct {
	Key         string
	Name        string
	Description string
	Trigger     string
	// Emails are the templates the flow sends, created in the shop when the
	// preset is used; send steps name them by Email.Slot.
	Emails []PresetEmail
	// build makes the definition; tpl maps a slot to its template id, seg
	// is the id of the preset's segment (Segment, when set).
	build func(tpl map[string]int64, seg int64) Definition
	// Segment, when set, is a segment the preset's trigger needs; it is
	// created (or reused by name) when the preset is used.
	Segment *PresetSegment
}

// PresetEmail is one template of a preset: a starter, optionally reworded
// (a welcome series needs five emails from one "welcome" starter).
type PresetEmail struct {
	Slot    string
	Starter string
	// Variant rewords the starter per locale (nil: the starter as it is).
	Variant map[string]Rewording
}

// Rewording replaces a starter's name, subject, preheader, first heading and
// first text block.
type Rewording struct{ Name, Subject, Preheader, Heading, Text string }

// PresetSegment is a segment a preset creates for its trigger.
type PresetSegment struct {
	Name  string
	Rules segments.Rules
}

func days(n int) Duration  { return Duration(time.Duration(n) * 24 * time.Hour) }
func hours(n int) Duration { return Duration(time.Duration(n) * time.Hour) }

func wait(id string, d Duration) Step { return Step{ID: id, Type: StepWait, Wait: d} }
func send(id, name string, tpl int64) Step {
	return Step{ID: id, Type: StepSendEmail, Name: name, TemplateID: tpl}
}
func withCode(s Step, kind string, value float64, expiry Duration, prefix string) Step {
	s.Discount = &Discount{Kind: kind, Value: value, Expiry: expiry, Prefix: prefix, Scope: "all"}
	return s
}

func base(trigger Trigger, steps ...Step) Definition {
	return Definition{Trigger: trigger, ReEntry: ReEntry{Mode: ReEntryEveryTime}, Priority: DefaultPriority(trigger.Type),
		MaxLateness: hours(12), Exits: []Exit{{Kind: ExitUnsubscribed}}, Steps: steps}
}

// abandonment builds the three-email recovery series (cart or checkout):
// emails at first, second and third after the trigger, the last with a
// unique code valid for 24 hours; exit on order.
func abandonment(trigger string, first, second, third Duration, extraExits ...string) func(map[string]int64, int64) Definition {
	return func(tpl map[string]int64, _ int64) Definition {
		var steps []Step
		if first > 0 {
			steps = append(steps, wait("wait-1", first))
		}
		steps = append(steps,
			send("email-1", "Reminder", tpl["reminder"]),
			wait("wait-2", second),
			send("email-2", "Selling fast", tpl["selling_fast"]),
			wait("wait-3", third),
			withCode(send("email-3", "Last chance with a code", tpl["last_chance"]), "percentage", 10, hours(24), "LAST"))
		d := base(Trigger{Type: trigger, Delay: hours(1)}, steps...)
		d.Exits = append(d.Exits, Exit{Kind: ExitOrderPlaced})
		for _, e := range extraExits {
			d.Exits = append(d.Exits, Exit{Kind: e})
		}
		d.MaxLateness = hours(6)
		return d
	}
}

var cartEmails = []PresetEmail{
	{Slot: "reminder", Starter: render.StarterAbandonedCart1},
	{Slot: "selling_fast", Starter: render.StarterAbandonedCart2},
	{Slot: "last_chance", Starter: render.StarterAbandonedCart3},
}

var presets = []Preset{
	{Key: PresetAbandonedCheckout, Name: "Abandoned checkout",
		Description: "Three emails to shoppers who started a checkout and didn't finish: a reminder after 1 day, a selling-fast nudge after 3 days and a last-chance code, valid that day only, after 5 days. Stops as soon as they order.",
		Trigger:     TriggerCheckoutAbandoned, Emails: cartEmails,
		// The trigger fires an hour after the checkout stops, so the first
		// wait is 23 hours: the emails land 1, 3 and 5 days after it.
		build: abandonment(TriggerCheckoutAbandoned, hours(23), days(2), days(2))},
	{Key: PresetAbandonedCheckoutFast, Name: "Abandoned checkout (fast)",
		Description: "The same three emails sooner: 1 hour, 24 hours and 48 hours after the checkout stops, the last with a code valid for 24 hours. Stops as soon as they order.",
		Trigger:     TriggerCheckoutAbandoned, Emails: cartEmails,
		build: abandonment(TriggerCheckoutAbandoned, 0, hours(23), hours(24))},
	{Key: PresetAbandonedCart, Name: "Abandoned cart",
		Description: "For shoppers who added to the cart but never started a checkout: a reminder after 1 day, selling fast after 3 days, a last-chance code after 5 days. Stops when they start a checkout (the checkout flow takes over) or order.",
		Trigger:     TriggerCartAbandoned, Emails: cartEmails,
		build: abandonment(TriggerCartAbandoned, hours(23), days(2), days(2), ExitCheckout)},
	{Key: PresetBrowseAbandonment, Name: "Browse abandonment",
		Description: "Known visitors who looked at products without adding any to the cart get the products they viewed after 1, 3 and 5 days. Stops on add-to-cart, checkout or order; once every 14 days at most.",
		Trigger:     TriggerBrowseAbandoned,
		Emails: []PresetEmail{
			{Slot: "day1", Starter: render.StarterBrowseAbandonment},
			{Slot: "day3", Starter: render.StarterBrowseAbandonment, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Browse abandonment — still available (day 3)", Subject: "Still available: the things you looked at", Preheader: "They're still here, for now.", Heading: "They're still here"},
				render.LocaleZH: {Name: "浏览未购提醒：仍有库存（第 3 天）", Subject: "您看过的商品还有货", Preheader: "现在还有，但不一定一直有。", Heading: "它们还在等您"},
			}},
			{Slot: "day5", Starter: render.StarterBrowseAbandonment, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Browse abandonment — last look (day 5)", Subject: "One last look?", Preheader: "The products you viewed, one more time.", Heading: "One last look"},
				render.LocaleZH: {Name: "浏览未购提醒：最后看一眼（第 5 天）", Subject: "再看最后一眼？", Preheader: "您浏览过的商品，再为您展示一次。", Heading: "再看最后一眼"},
			}},
		},
		build: func(tpl map[string]int64, _ int64) Definition {
			d := base(Trigger{Type: TriggerBrowseAbandoned, Delay: hours(1)},
				wait("wait-1", hours(23)), send("email-1", "Day 1: viewed products", tpl["day1"]),
				wait("wait-2", days(2)), send("email-2", "Day 3: still available", tpl["day3"]),
				wait("wait-3", days(2)), send("email-3", "Day 5: last look", tpl["day5"]))
			d.Exits = append(d.Exits, Exit{Kind: ExitAddedToCart}, Exit{Kind: ExitCheckout}, Exit{Kind: ExitOrderPlaced})
			d.ReEntry = ReEntry{Mode: ReEntryAfter, Days: 14}
			return d
		}},
	{Key: PresetSearchAbandonment, Name: "Search abandonment",
		Description: "Known visitors who searched and added nothing to the cart get products matching what they looked for. At most once a day.",
		Trigger:     TriggerSearchAbandoned,
		Emails:      []PresetEmail{{Slot: "search", Starter: render.StarterSearchAbandonment}},
		build: func(tpl map[string]int64, _ int64) Definition {
			d := base(Trigger{Type: TriggerSearchAbandoned, Delay: hours(1)}, send("email-1", "Did you find it?", tpl["search"]))
			d.Exits = append(d.Exits, Exit{Kind: ExitAddedToCart}, Exit{Kind: ExitCheckout}, Exit{Kind: ExitOrderPlaced})
			d.ReEntry = ReEntry{Mode: ReEntryAfter, Days: 1}
			return d
		}},
	{Key: PresetWelcomeSeries, Name: "Welcome series",
		Description: "Five emails 4–5 days apart for new subscribers: welcome with a code, why us, a tour of the store, social proof with an offer, and email preferences. Customers who order meanwhile don't get the offer.",
		Trigger:     TriggerSubscribed,
		Emails: []PresetEmail{
			{Slot: "welcome", Starter: render.StarterWelcome},
			{Slot: "why_us", Starter: render.StarterNewsletter, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Welcome series — why us (2)", Subject: "Why shoppers choose {{ shop_name }}", Preheader: "What makes us different.", Heading: "Why shop with us",
					Text: `<p>Hi {{ first_name | default: "there" }},</p><p>We make every product with care, ship quickly, and if something isn't right, returns are easy. Here's what our customers come back for.</p>`},
				render.LocaleZH: {Name: "欢迎系列：为什么选择我们（2）", Subject: "为什么大家选择 {{ shop_name }}", Preheader: "我们的不同之处。", Heading: "为什么选择我们",
					Text: `<p>{{ first_name | default: "您好" }}，</p><p>我们用心对待每一件商品，发货迅速；如果有任何不满意，退换也很方便。来看看老顾客们最常回购的商品。</p>`},
			}},
			{Slot: "tour", Starter: render.StarterNewsletter, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Welcome series — tour of the store (3)", Subject: "A quick tour of {{ shop_name }}", Preheader: "Find your way around in a minute.", Heading: "A quick tour",
					Text: `<p>Hi {{ first_name | default: "there" }},</p><p>Here's where to start: our newest arrivals, the favourites customers love most, and the collections worth a look.</p>`},
				render.LocaleZH: {Name: "欢迎系列：店铺导览（3）", Subject: "一分钟逛遍 {{ shop_name }}", Preheader: "快速了解我们的店铺。", Heading: "店铺导览",
					Text: `<p>{{ first_name | default: "您好" }}，</p><p>从这里开始吧：最新上架的商品、顾客最爱的热销款，还有值得一看的精选系列。</p>`},
			}},
			{Slot: "social_proof", Starter: render.StarterWelcome, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Welcome series — social proof (4)", Subject: "What customers say about {{ shop_name }}", Preheader: "Our best sellers, and a little offer.", Heading: "Loved by our customers",
					Text: `<p>Hi {{ first_name | default: "there" }},</p><p>Thousands of orders later, these are the products our customers rate highest. Still deciding? Here's a little something for your first order:</p>`},
				render.LocaleZH: {Name: "欢迎系列：顾客口碑（4）", Subject: "顾客们这样评价 {{ shop_name }}", Preheader: "热销好物，外加一份小优惠。", Heading: "顾客的心头好",
					Text: `<p>{{ first_name | default: "您好" }}，</p><p>这些是顾客评分最高的商品。还在犹豫吗？送您一份首单优惠：</p>`},
			}},
			{Slot: "preferences", Starter: render.StarterNewsletter, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Welcome series — preferences (5)", Subject: "How often should we write?", Preheader: "You choose what you hear about.", Heading: "You're in control",
					Text: `<p>Hi {{ first_name | default: "there" }},</p><p>We'd like to send you only what you enjoy. Reply and tell us what you'd like to hear about, or use the link at the bottom to stop our emails at any time.</p>`},
				render.LocaleZH: {Name: "欢迎系列：订阅偏好（5）", Subject: "希望我们多久给您写一次信？", Preheader: "您想收到什么，由您决定。", Heading: "由您做主",
					Text: `<p>{{ first_name | default: "您好" }}，</p><p>我们只想发送您喜欢的内容。回复告诉我们您感兴趣的话题，或随时通过邮件底部的链接退订。</p>`},
			}},
		},
		build: func(tpl map[string]int64, _ int64) Definition {
			noOrder := Condition{Field: CondOrdersSinceStart, Op: "eq", Number: 0}
			d := base(Trigger{Type: TriggerSubscribed},
				withCode(send("email-1", "Welcome with a code", tpl["welcome"]), "percentage", 10, days(14), "WELCOME"),
				wait("wait-1", days(4)), send("email-2", "Why us", tpl["why_us"]),
				wait("wait-2", days(5)), send("email-3", "Tour of the store", tpl["tour"]),
				wait("wait-3", days(4)),
				Step{ID: "no-order", Type: StepCondition, Name: "Hasn't ordered yet?", Conditions: []Condition{noOrder},
					Branches: []Branch{
						{Label: "Yes", Steps: []Step{
							withCode(send("email-4", "Social proof with an offer", tpl["social_proof"]), "percentage", 10, days(7), "HELLO"),
							wait("wait-4", days(5)), send("email-5", "Preferences", tpl["preferences"])}},
						{Label: "No", Steps: []Step{
							wait("wait-4b", days(5)), send("email-5b", "Preferences", tpl["preferences"])}},
					}})
			d.ReEntry = ReEntry{Mode: ReEntryNever}
			d.MaxLateness = days(1)
			return d
		}},
	{Key: PresetOrderFollowUp, Name: "Order follow-up",
		Description: "After each order: a thank-you at once, products that go with it 5 days later, and a review request 14 days after the order (about a week after delivery).",
		Trigger:     TriggerOrderPlaced,
		Emails: []PresetEmail{
			{Slot: "thank_you", Starter: render.StarterOrderThankYou},
			{Slot: "cross_sell", Starter: render.StarterOrderThankYou, Variant: map[string]Rewording{
				render.LocaleEN: {Name: "Order follow-up — goes well with (cross-sell)", Subject: "Picked to go with your order", Preheader: "Customers who bought what you did also love these.", Heading: "Goes well with your order",
					Text: `<p>Hi {{ first_name | default: "there" }},</p><p>We hope your order is on its way to you. Customers who bought the same things often pair them with these.</p>`},
				render.LocaleZH: {Name: "订单跟进：搭配推荐", Subject: "为您的订单精选的搭配", Preheader: "买过同款的顾客也喜欢这些。", Heading: "与您的订单更配",
					Text: `<p>{{ first_name | default: "您好" }}，</p><p>希望您的包裹已经在路上了。买过同款的顾客常常会一起搭配这些商品。</p>`},
			}},
			{Slot: "review", Starter: render.StarterReviewRequest},
		},
		build: func(tpl map[string]int64, _ int64) Definition {
			d := base(Trigger{Type: TriggerOrderPlaced},
				send("email-1", "Thank you", tpl["thank_you"]),
				wait("wait-1", days(5)), send("email-2", "Cross-sell", tpl["cross_sell"]),
				wait("wait-2", days(9)), send("email-3", "Review request", tpl["review"]))
			d.MaxLateness = days(2)
			return d
		}},
	{Key: PresetRepeatPurchase, Name: "Repeat purchase",
		Description: "One-time buyers whose order was 180 days ago get the best sellers, unless they had an automated email in the last 7 days. Add filters such as \"did not buy product\" or \"average order value at least\" to narrow it.",
		Trigger:     TriggerDateProperty,
		Emails:      []PresetEmail{{Slot: "repeat", Starter: render.StarterRepeatPurchase}},
		build: func(tpl map[string]int64, _ int64) Definition {
			d := base(Trigger{Type: TriggerDateProperty, DateProperty: DateDaysAfterLastOrder, Days: 180},
				send("email-1", "Best sellers", tpl["repeat"]))
			d.Filters = []Condition{{Field: CondOrdersCount, Op: "eq", Number: 1}, {Field: CondNoAutomationEmail, Number: 7}}
			d.Exits = append(d.Exits, Exit{Kind: ExitOrderPlaced})
			d.ReEntry = ReEntry{Mode: ReEntryAfter, Days: 180}
			d.MaxLateness = days(3)
			return d
		}},
	{Key: PresetWinBack, Name: "Win-back",
		Description: "Customers with more than one order whose last was 90 days ago get new arrivals and a welcome-back code, unless they had an automated email in the last 7 days.",
		Trigger:     TriggerDateProperty,
		Emails:      []PresetEmail{{Slot: "win_back", Starter: render.StarterWinBack}},
		build: func(tpl map[string]int64, _ int64) Definition {
			d := base(Trigger{Type: TriggerDateProperty, DateProperty: DateDaysAfterLastOrder, Days: 90},
				withCode(send("email-1", "New arrivals and an offer", tpl["win_back"]), "percentage", 15, days(7), "BACK"))
			d.Filters = []Condition{{Field: CondOrdersCount, Op: "gte", Number: 2}, {Field: CondNoAutomationEmail, Number: 7}}
			d.Exits = append(d.Exits, Exit{Kind: ExitOrderPlaced})
			d.ReEntry = ReEntry{Mode: ReEntryAfter, Days: 90}
			d.MaxLateness = days(3)
			return d
		}},
	{Key: PresetSunset, Name: "Sunset",
		Description: "Subscribers with no open or click in 180 days get a \"should we stop writing?\" email; if they still haven't opened it 15 days later, they are suppressed (reason: sunset) to protect your sender reputation.",
		Trigger:     TriggerSegmentEntered,
		Emails:      []PresetEmail{{Slot: "sunset", Starter: render.StarterSunset}},
		Segment: &PresetSegment{Name: "No opens or clicks in 180 days", Rules: segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{
			{Condition: &segments.Condition{Field: segments.FieldConsent, Op: "in", Values: []string{"subscribed"}}},
			{Condition: &segments.Condition{Field: segments.FieldSubscribedAt, Op: "not_within", Window: &segments.Window{Kind: "last_days", Days: 180}}},
			{Condition: &segments.Condition{Field: segments.FieldEmailReceived, Op: "did", Count: &segments.Count{Op: "at_least", N: 3}}},
			{Condition: &segments.Condition{Field: segments.FieldEmailOpened, Op: "did_not", Window: &segments.Window{Kind: "last_days", Days: 180}}},
			{Condition: &segments.Condition{Field: segments.FieldEmailClicked, Op: "did_not", Window: &segments.Window{Kind: "last_days", Days: 180}}},
		}}}},
		build: func(tpl map[string]int64, seg int64) Definition {
			d := base(Trigger{Type: TriggerSegmentEntered, SegmentID: seg},
				send("email-1", "Should we stop writing?", tpl["sunset"]),
				wait("wait-1", days(15)),
				Step{ID: "opened", Type: StepCondition, Name: "Opened the goodbye email?",
					Conditions: []Condition{{Field: CondOpenedRunEmail, StepID: "email-1"}},
					Branches: []Branch{
						{Label: "Yes", Steps: []Step{{ID: "keep", Type: StepExit, Name: "Keep subscribed"}}},
						{Label: "No", Steps: []Step{{ID: "suppress", Type: StepUpdate, Name: "Suppress (sunset)", SetProperty: "suppress", SetValue: "sunset"}}},
					}})
			d.Filters = []Condition{{Field: CondNoEngagementDays, Number: 180}}
			d.ReEntry = ReEntry{Mode: ReEntryNever}
			d.MaxLateness = days(3)
			return d
		}},
	{Key: PresetBirthday, Name: "Birthday",
		Description: "On each customer's birthday (the \"birthday\" property, from a CSV import), a birthday email with a unique code valid for 7 days.",
		Trigger:     TriggerDateProperty,
		Emails: []PresetEmail{{Slot: "birthday", Starter: render.StarterWelcome, Variant: map[string]Rewording{
			render.LocaleEN: {Name: "Birthday", Subject: `Happy birthday, {{ first_name | default: "friend" }}! A gift inside`, Preheader: "A little birthday present from us.", Heading: `Happy birthday, {{ first_name | default: "friend" }}!`,
				Text: `<p>Everyone at {{ shop_name }} wishes you a wonderful day.</p><p>Treat yourself: here's a birthday code, valid for the next 7 days.</p>`},
			render.LocaleZH: {Name: "生日祝福", Subject: `{{ first_name | default: "朋友" }}，生日快乐！为您准备了一份礼物`, Preheader: "一份小小的生日礼物。", Heading: `生日快乐，{{ first_name | default: "朋友" }}！`,
				Text: `<p>{{ shop_name }} 全体成员祝您生日快乐。</p><p>犒劳一下自己吧：这是您的生日优惠码，7 天内有效。</p>`},
		}}},
		build: func(tpl map[string]int64, _ int64) Definition {
			d := base(Trigger{Type: TriggerDateProperty, DateProperty: DateBirthday},
				withCode(send("email-1", "Birthday with a code", tpl["birthday"]), "percentage", 15, days(7), "BDAY"))
			d.ReEntry = ReEntry{Mode: ReEntryEveryTime}
			d.MaxLateness = hours(12)
			return d
		}},
}

// Presets lists the ready-made flows in the order the list page shows them.
func Presets() []Preset { return append([]Preset(nil), presets...) }

// PresetByKey finds a preset.
func PresetByKey(key string) (Preset, bool) {
	for _, p := range presets {
		if p.Key == key {
			return p, true
		}
	}
	return Preset{}, false
}

// Definition builds the preset's flow with the given template ids per slot
// and segment id (for presets with a Segment).
func (p Preset) Definition(tpl map[string]int64, segmentID int64) Definition {
	return p.build(tpl, segmentID)
}

// Template returns the preset email's template in locale.
func (e PresetEmail) Template(locale string) (render.Template, bool) {
	t, ok := render.Starter(e.Starter, locale)
	if !ok {
		return render.Template{}, false
	}
	rw, ok := e.Variant[locale]
	if e.Variant == nil {
		return t, true
	}
	if !ok {
		return render.Template{}, false
	}
	t.Name, t.Subject, t.Preheader = rw.Name, rw.Subject, rw.Preheader
	headed, texted := false, rw.Text == ""
	for i := range t.Blocks {
		switch {
		case t.Blocks[i].Type == render.BlockHeading && !headed:
			t.Blocks[i].Text, headed = rw.Heading, true
		case t.Blocks[i].Type == render.BlockText && !texted:
			t.Blocks[i].HTML, texted = rw.Text, true
		}
	}
	return t, true
}

// CreateFromPreset creates the preset's templates (and segment) in the shop
// and a draft flow that sends them. The templates stay in the shop's
// template list, where the merchant can edit them.
func (s *Store) CreateFromPreset(ctx context.Context, shopID int64, key, locale string) (Flow, error) {
	p, ok := PresetByKey(key)
	if !ok {
		return Flow{}, InputError{"preset", fmt.Sprintf("There is no ready-made flow %q.", key)}
	}
	if locale != render.LocaleEN && locale != render.LocaleZH {
		return Flow{}, InputError{"locale", "Choose English or Chinese for the emails."}
	}
	// Everything is checked before anything is written.
	tpls := make([]render.Template, len(p.Emails))
	for i, e := range p.Emails {
		t, ok := e.Template(locale)
		if !ok {
			return Flow{}, fmt.Errorf("flows: preset %s: no template %s in %s", key, e.Slot, locale)
		}
		tpls[i] = t
	}
	templates := render.NewStore(s.DB)
	ids := map[string]int64{}
	for i, e := range p.Emails {
		id, err := templates.Save(ctx, shopID, 0, e.Starter, tpls[i])
		if err != nil {
			return Flow{}, fmt.Errorf("flows: preset %s: template %s: %w", key, e.Slot, err)
		}
		ids[e.Slot] = id
	}
	var segID int64
	if p.Segment != nil {
		id, err := s.presetSegment(ctx, shopID, *p.Segment)
		if err != nil {
			return Flow{}, fmt.Errorf("flows: preset %s: %w", key, err)
		}
		segID = id
	}
	return s.create(ctx, s.DB, shopID, p.Name, p.Key, p.Definition(ids, segID))
}

// presetSegment finds the shop's segment of that name or creates it.
func (s *Store) presetSegment(ctx context.Context, shopID int64, ps PresetSegment) (int64, error) {
	segs := segments.NewStore(s.DB)
	list, err := segs.List(ctx, shopID)
	if err != nil {
		return 0, err
	}
	for _, sg := range list {
		if sg.Name == ps.Name {
			return sg.ID, nil
		}
	}
	sg, err := segs.Create(ctx, shopID, ps.Name, ps.Rules, time.Now())
	if err != nil {
		return 0, err
	}
	return sg.ID, nil
}
