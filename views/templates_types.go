package views

import "strconv"

// TemplatesList is Admin › Templates: the shop's templates and the starter gallery.
type TemplatesList struct {
	Rows     []TemplateRow
	Starters []StarterCard
	Error    string
	Outbox   bool // MAIL_PROVIDER=outbox: link to the outbox
}

// TemplateRow is one of the shop's templates.
type TemplateRow struct {
	ID                             int64
	Name, Locale, Starter, Updated string
}

// Href is the editor's URL.
func (r TemplateRow) Href() string { return "/app/templates/" + strconv.FormatInt(r.ID, 10) }

// StarterCard is one starter template of the gallery.
type StarterCard struct {
	Key, Locale, Name, Subject string
	Blocks                     int
}

// TemplatePage is the editor page: the form, the preview and the test send.
type TemplatePage struct {
	Editor     TemplateEditor
	Customers  []Option
	CustomerID string
	Test       TestSend
	Outbox     bool
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
}

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
