package views

import (
	"encoding/json"
	"regexp"
	"strconv"
)

// TemplatesList is Admin › Templates: the shop's templates and the starter gallery.
type TemplatesList struct {
	Rows     []TemplateRow
	Starters []StarterCard
	Error    string
	Notice   string         // the outcome of a rename, copy or delete
	InUse    *TemplateInUse // a delete refused: who sends the template
	Outbox   bool           // MAIL_PROVIDER=outbox: link to the outbox
	// RenameID and RenameValue reopen a refused rename with what was typed.
	RenameID    int64
	RenameValue string
}

// TemplateInUse names the flows and campaigns that keep a template from
// being deleted.
type TemplateInUse struct {
	Name  string
	Users []TemplateUser
}

// TemplateUser is one flow or campaign sending a template.
type TemplateUser struct {
	Kind, Name, Href string // Kind: "flow" | "campaign"
}

// KindLabel is "Flow" or "Campaign".
func (u TemplateUser) KindLabel() string {
	if u.Kind == "flow" {
		return "Flow"
	}
	return "Campaign"
}

// LocaleName is a template language in words.
func LocaleName(locale string) string {
	switch locale {
	case "en":
		return "English"
	case "zh-CN":
		return "简体中文"
	}
	return locale
}

// Purposes are the gallery's groups, in order; a starter key belongs to one.
var Purposes = []Option{
	{"welcome", "Welcome"}, {"cart", "Abandoned cart"}, {"browse", "Browse and search abandonment"},
	{"post_purchase", "After a purchase"}, {"winback", "Win-back and re-engagement"}, {"newsletter", "Newsletters"},
	{"custom", "Your own"},
}

// Purpose groups a template by the starter it was made from.
func Purpose(starterKey string) string {
	switch starterKey {
	case "welcome":
		return "welcome"
	case "abandoned_cart_1", "abandoned_cart_2", "abandoned_cart_3":
		return "cart"
	case "browse_abandonment", "search_abandonment":
		return "browse"
	case "order_thank_you", "review_request", "repeat_purchase":
		return "post_purchase"
	case "win_back", "sunset":
		return "winback"
	case "newsletter":
		return "newsletter"
	}
	return "custom"
}

// CardGroup is one purpose's cards.
type CardGroup struct {
	Key, Title string
	Rows       []TemplateRow
	Starters   []StarterCard
}

// RowGroups groups the shop's templates by purpose, in Purposes order.
func (l TemplatesList) RowGroups() []CardGroup {
	var out []CardGroup
	for _, p := range Purposes {
		g := CardGroup{Key: p.Value, Title: p.Label}
		for _, r := range l.Rows {
			if Purpose(r.Starter) == p.Value {
				g.Rows = append(g.Rows, r)
			}
		}
		if len(g.Rows) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// StarterGroups groups the starters by purpose, in Purposes order.
func (l TemplatesList) StarterGroups() []CardGroup {
	var out []CardGroup
	for _, p := range Purposes {
		g := CardGroup{Key: p.Value, Title: p.Label}
		for _, s := range l.Starters {
			if Purpose(s.Key) == p.Value {
				g.Starters = append(g.Starters, s)
			}
		}
		if len(g.Starters) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// TemplateRow is one of the shop's templates.
type TemplateRow struct {
	ID                             int64
	Name, Locale, Starter, Updated string
}

// Href is the editor's URL.
func (r TemplateRow) Href() string { return "/app/templates/" + strconv.FormatInt(r.ID, 10) }

// Action is the URL of one of the template's gallery actions.
func (r TemplateRow) Action(name string) string { return r.Href() + "/" + name }

// IDString is the id for element ids.
func (r TemplateRow) IDString() string { return strconv.FormatInt(r.ID, 10) }

// StarterCard is one starter template of the gallery.
type StarterCard struct {
	Key, Locale, Name, Subject string
	Blocks                     int
}

// PreviewSrc is the starter's rendered preview (the thumbnail).
func (s StarterCard) PreviewSrc() string {
	return "/app/starters/" + s.Key + "/preview?locale=" + s.Locale
}

// TemplatePage is the editor page: the form, the preview and the test send.
type TemplatePage struct {
	Editor     TemplateEditor
	Customers  []Option
	CustomerID string
	Test       TestSend
	Outbox     bool
	// NoAddress: the shop has no postal address yet; the preview shows a
	// placeholder and the page says where to set it.
	NoAddress bool
}

// TemplateEditor is the block editor <form>; htmx swaps it whole.
type TemplateEditor struct {
	ID                               int64
	Name, Locale, Subject, Preheader string
	Blocks                           []BlockForm
	// Errors holds the template's own fields (name, locale, subject,
	// preheader, blocks) and "" for the form as a whole.
	Errors  map[string]string
	Saved   bool
	Changed bool // edited (block added, moved…) but not saved yet
}

// BlockForm is one block's fields as the form shows them.
type BlockForm struct {
	Index                                 int
	Type                                  string
	Text, HTML, URL, ImageURL, Alt, Align string
	Height, Source, Count, ProductIDs     string
	Images, Links                         string            // one per line: "url | alt | link", "network | url"
	Errors                                map[string]string // keyed by field (text, url, images…); "type" for the block
	First, Last                           bool
	Picked                                []PickerProduct // a product block's hand-picked products, for the picker
}

// PickerProduct is a product the product picker offers or shows as chosen.
type PickerProduct struct {
	ID                     int64
	Title, ImageURL, Price string
}

// IDString is the product id as the form holds it.
func (p PickerProduct) IDString() string { return strconv.FormatInt(p.ID, 10) }

// Field is the form name of one of the block's fields.
func (b BlockForm) Field(name string) string { return "blocks[" + strconv.Itoa(b.Index) + "]." + name }

// Err is the block's error for a field.
func (b BlockForm) Err(name string) string { return b.Errors[name] }

// TestSend is the "Send a test" card.
type TestSend struct {
	TemplateID int64
	// ActionURL, when set, is where the form posts instead of the
	// template's test (a campaign's).
	ActionURL    string
	To           string
	Error        string
	Notice       string
	SettingsLink bool // the problem is fixed in Settings (sender email)
	OutboxLink   bool
}

// Action is the URL the test form posts to.
func (t TestSend) Action() string {
	if t.ActionURL != "" {
		return t.ActionURL
	}
	return "/app/templates/" + strconv.FormatInt(t.TemplateID, 10) + "/test"
}

// OutboxList is the development outbox.
type OutboxList struct {
	Rows []OutboxRow
	Next string // cursor for older messages
}

// OutboxRow is one stored message.
type OutboxRow struct {
	ID                      int64
	To, Subject, From, When string
}

// Href is the message's page.
func (r OutboxRow) Href() string { return "/app/outbox/" + strconv.FormatInt(r.ID, 10) }

// OutboxMessage is one stored message in full.
type OutboxMessage struct {
	ID      int64
	Headers []KV // sorted by name
	Text    string
	When    string
	Subject string
}

// HTMLSrc is the stored HTML's URL (framed in a sandboxed iframe).
func (m OutboxMessage) HTMLSrc() string {
	return "/app/outbox/" + strconv.FormatInt(m.ID, 10) + "/html"
}

func editorAction(id int64, suffix string) string {
	return "/app/templates/" + strconv.FormatInt(id, 10) + suffix
}

func opVals(op string) string { return `{"op":"` + op + `"}` }

// AddableBlocks are the blocks "Add a block" offers (the footer is always there).
var AddableBlocks = []Option{
	{"logo", "Logo / header"}, {"heading", "Heading"}, {"text", "Text"}, {"image", "Image"}, {"button", "Button"},
	{"products", "Product grid"}, {"discount", "Discount code"}, {"divider", "Divider"}, {"spacer", "Spacer"},
	{"social", "Social links"},
}

// BlockLabel names a block type.
func BlockLabel(t string) string {
	if t == "footer" {
		return "Footer"
	}
	for _, o := range AddableBlocks {
		if o.Value == t {
			return o.Label
		}
	}
	return t
}

// ProductSources are a product block's sources.
var ProductSources = []Option{
	{"best_sellers_30d", "Best sellers (30 days)"}, {"new_arrivals", "New arrivals"}, {"cart", "Their cart"},
	{"recently_viewed", "Recently viewed"}, {"bought_together", "Bought together"}, {"manual", "Hand-picked"},
}

// AlignOptions are a block's alignments.
var AlignOptions = []Option{{"", "Default"}, {"left", "Left"}, {"center", "Center"}, {"right", "Right"}}

// MergeTags are the merge tags the editor offers, with the words the
// subject chips and the insert menu show for them.
var MergeTags = []Option{
	{"first_name", "First name"}, {"last_name", "Last name"}, {"email", "Email"},
	{"shop_name", "Store name"}, {"shop_url", "Store link"}, {"discount_code", "Discount code"},
	{"cart_url", "Cart link"}, {"unsubscribe_url", "Unsubscribe link"},
}

// MergeTagsJSON is MergeTags for admin.js: [{"tag":…,"label":…}].
func MergeTagsJSON() string {
	type tag struct {
		Tag   string `json:"tag"`
		Label string `json:"label"`
	}
	out := make([]tag, len(MergeTags))
	for i, o := range MergeTags {
		out[i] = tag{o.Value, o.Label}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// SubjectPart is a piece of a subject line: text, or a merge tag in words.
type SubjectPart struct {
	Text string
	Tag  bool
}

var subjectTag = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*(?:\|\s*default\s*:\s*(?:"([^"]*)"|'([^']*)')\s*)?\}\}`)

// ReadableSubject splits a subject into text and merge tags in words
// ("First name, or 'friend'"), as the editor's chips show them.
func ReadableSubject(s string) []SubjectPart {
	var out []SubjectPart
	last := 0
	for _, m := range subjectTag.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			out = append(out, SubjectPart{Text: s[last:m[0]]})
		}
		name := s[m[2]:m[3]]
		label := name
		for _, o := range MergeTags {
			if o.Value == name {
				label = o.Label
			}
		}
		switch {
		case m[4] >= 0:
			label += ", or '" + s[m[4]:m[5]] + "'"
		case m[6] >= 0:
			label += ", or '" + s[m[6]:m[7]] + "'"
		}
		out = append(out, SubjectPart{Text: label, Tag: true})
		last = m[1]
	}
	if last < len(s) {
		out = append(out, SubjectPart{Text: s[last:]})
	}
	return out
}
