// Package render turns an email template (a list of blocks with merge tags)
// into responsive, table-based HTML with inline styles and a plain-text
// part, filled per recipient.
//
// The life of a template: Parse (JSON from the editor or the database) →
// Validate (every problem, in words a merchant understands) → Compile (once;
// rich text sanitised, merge tags resolved to slots, the layout joined into
// static strings) → Render (per recipient: static strings and escaped
// values appended to a pooled buffer, no reflection, no html/template —
// which would also strip Outlook's conditional comments).
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/cartwheel/cartwheel/app/input"
)

// Limits a template has to stay within. They keep one template's render
// cheap and refuse pasted junk (a 5 MB list of image URLs) with a clear
// message instead of storing it.
const (
	MaxDocBytes      = 256 << 10 // the whole template as JSON
	MaxBlocks        = 60
	MaxTextBytes     = 20 << 10 // one rich-text block
	MaxLineBytes     = 500      // subject, preheader, heading, button label, alt text
	MaxURLBytes      = 2048
	MaxImagesPerRow  = 4
	MaxSocialLinks   = 8
	MaxProductIDs    = 12
	MaxProductsCount = 12
	MaxSpacerHeight  = 120
)

// Locales a template can be written in.
const (
	LocaleEN = "en"
	LocaleZH = "zh-CN"
)

// BlockType is one of a closed set of block kinds.
type BlockType string

// The block types the editor offers.
const (
	BlockLogo     BlockType = "logo"     // header: logo image (or the shop name) linking to the store
	BlockHeading  BlockType = "heading"  // Text, merge tags allowed
	BlockText     BlockType = "text"     // HTML, sanitised rich text, merge tags allowed
	BlockImage    BlockType = "image"    // Images (1–4 side by side)
	BlockButton   BlockType = "button"   // Text (label) + URL
	BlockProducts BlockType = "products" // Source + Count (+ ProductIDs for manual)
	BlockDiscount BlockType = "discount" // Text (label); shows {{ discount_code }}
	BlockDivider  BlockType = "divider"
	BlockSpacer   BlockType = "spacer" // Height in px
	BlockSocial   BlockType = "social" // Links
	BlockFooter   BlockType = "footer" // Text: "why you got this" (optional; a default is used)
)

var blockTypes = map[BlockType]bool{
	BlockLogo: true, BlockHeading: true, BlockText: true, BlockImage: true, BlockButton: true,
	BlockProducts: true, BlockDiscount: true, BlockDivider: true, BlockSpacer: true,
	BlockSocial: true, BlockFooter: true,
}

// Source says where a product block's products come from, per recipient.
type Source string

// Product sources.
const (
	SourceCart           Source = "cart"             // the recipient's latest open checkout/cart
	SourceRecentlyViewed Source = "recently_viewed"  // product_viewed events of the recipient
	SourceBestSellers    Source = "best_sellers_30d" // units sold in the last 30 days
	SourceNewArrivals    Source = "new_arrivals"     // most recently published
	SourceBoughtTogether Source = "bought_together"  // product_pairs, from the recipient's last order or cart
	SourceManual         Source = "manual"           // ProductIDs chosen by the merchant
)

var sources = map[Source]bool{
	SourceCart: true, SourceRecentlyViewed: true, SourceBestSellers: true,
	SourceNewArrivals: true, SourceBoughtTogether: true, SourceManual: true,
}

// Template is what the editor saves.
type Template struct {
	Name      string  `json:"name"`
	Locale    string  `json:"locale"`
	Subject   string  `json:"subject"`
	Preheader string  `json:"preheader,omitempty"`
	Blocks    []Block `json:"blocks"`
}

// Block is one row of the email. Which fields matter depends on Type.
type Block struct {
	Type       BlockType    `json:"type"`
	Text       string       `json:"text,omitempty"`
	HTML       string       `json:"html,omitempty"`
	URL        string       `json:"url,omitempty"`
	ImageURL   string       `json:"image_url,omitempty"` // logo
	Alt        string       `json:"alt,omitempty"`
	Align      string       `json:"align,omitempty"` // left | center | right
	Height     int          `json:"height,omitempty"`
	Source     Source       `json:"source,omitempty"`
	Count      int          `json:"count,omitempty"`
	ProductIDs []int64      `json:"product_ids,omitempty"`
	Images     []Image      `json:"images,omitempty"`
	Links      []SocialLink `json:"links,omitempty"`
}

// Image is one picture of an image block.
type Image struct {
	URL  string `json:"url"`
	Alt  string `json:"alt,omitempty"`
	Link string `json:"link,omitempty"`
}

// SocialLink is one network of a social block.
type SocialLink struct {
	Network string `json:"network"` // facebook | instagram | x | tiktok | youtube | pinterest | weibo | wechat | website
	URL     string `json:"url"`
}

var networks = map[string]string{
	"facebook": "Facebook", "instagram": "Instagram", "x": "X", "tiktok": "TikTok", "youtube": "YouTube",
	"pinterest": "Pinterest", "weibo": "Weibo", "wechat": "WeChat", "website": "Website",
}

// FieldErrors maps a field ("subject", "blocks[3].url") to a message a
// merchant understands.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + f[k]
	}
	return "render: invalid template: " + strings.Join(parts, "; ")
}

// ErrTooLarge is returned by Parse for a document over MaxDocBytes.
var ErrTooLarge = errors.New("render: template too large")

// Parse reads a template saved as JSON. It refuses oversized documents
// before decoding them and unknown fields, so a typo doesn't silently vanish.
func Parse(doc []byte) (Template, error) {
	var t Template
	if len(doc) > MaxDocBytes {
		return t, fmt.Errorf("%w: the template is %d KB; the limit is %d KB — remove some blocks or images", ErrTooLarge, len(doc)>>10, MaxDocBytes>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("render: template is not valid JSON: %w", err)
	}
	return t, nil
}

// Validate returns every problem of the template (nil when none). Rich
// text is not refused for unsafe HTML: Compile removes it. Merge tags are
// checked everywhere they may appear.
func Validate(t Template) FieldErrors {
	errs := FieldErrors{}
	if strings.TrimSpace(t.Name) == "" {
		errs["name"] = "Give the template a name."
	} else if p := input.Problem(t.Name); p != "" {
		errs["name"] = "The name " + p + "."
	} else if len(t.Name) > 200 {
		errs["name"] = "The name is too long (200 characters at most)."
	}
	if t.Locale != LocaleEN && t.Locale != LocaleZH {
		errs["locale"] = `Choose a language: "en" or "zh-CN".`
	}
	if strings.TrimSpace(t.Subject) == "" {
		errs["subject"] = "Write a subject line."
	} else {
		checkLine(errs, "subject", "subject", t.Subject)
	}
	checkLine(errs, "preheader", "preheader", t.Preheader)

	if len(t.Blocks) > MaxBlocks {
		errs["blocks"] = fmt.Sprintf("An email can have at most %d blocks; this one has %d.", MaxBlocks, len(t.Blocks))
		return errs
	}
	content := 0
	for _, b := range t.Blocks {
		if b.Type != BlockFooter && b.Type != BlockSpacer && b.Type != BlockDivider {
			content++
		}
	}
	if content == 0 {
		errs["blocks"] = "Add at least one block: a heading, some text, products…"
	}
	footers := 0
	for i, b := range t.Blocks {
		f := fmt.Sprintf("blocks[%d]", i)
		where := fmt.Sprintf("block %d (%s)", i+1, b.Type)
		if !blockTypes[b.Type] {
			errs[f+".type"] = fmt.Sprintf("Unknown block type %q.", b.Type)
			continue
		}
		switch b.Type {
		case BlockLogo:
			if b.ImageURL != "" {
				checkURL(errs, f+".image_url", b.ImageURL, false)
			}
			if b.URL != "" {
				checkURL(errs, f+".url", b.URL, true)
			}
			checkLine(errs, f+".alt", where, b.Alt)
		case BlockHeading:
			if strings.TrimSpace(b.Text) == "" {
				errs[f+".text"] = "The heading is empty."
			}
			checkLine(errs, f+".text", where, b.Text)
		case BlockText:
			if len(b.HTML) > MaxTextBytes {
				errs[f+".html"] = fmt.Sprintf("This text block is %d KB; a block can hold at most %d KB.", (len(b.HTML)+1023)>>10, MaxTextBytes>>10)
			} else if err := checkTags(SanitizeHTML(b.HTML), where); err != "" {
				errs[f+".html"] = err
			}
		case BlockImage:
			if len(b.Images) == 0 {
				errs[f+".images"] = "Add an image."
			} else if len(b.Images) > MaxImagesPerRow {
				errs[f+".images"] = fmt.Sprintf("An image block holds at most %d images side by side; this one has %d.", MaxImagesPerRow, len(b.Images))
			} else {
				for j, im := range b.Images {
					g := fmt.Sprintf("%s.images[%d]", f, j)
					checkURL(errs, g+".url", im.URL, false)
					if im.Link != "" {
						checkURL(errs, g+".link", im.Link, true)
					}
					checkLine(errs, g+".alt", where, im.Alt)
				}
			}
		case BlockButton:
			if strings.TrimSpace(b.Text) == "" {
				errs[f+".text"] = "The button needs a label."
			}
			checkLine(errs, f+".text", where, b.Text)
			checkURL(errs, f+".url", b.URL, true)
		case BlockProducts:
			if !sources[b.Source] {
				errs[f+".source"] = "Choose where the products come from (cart, recently viewed, best sellers, new arrivals, bought together or hand-picked)."
			}
			if b.Count < 1 || b.Count > MaxProductsCount {
				errs[f+".count"] = fmt.Sprintf("Show between 1 and %d products.", MaxProductsCount)
			}
			if b.Source == SourceManual && len(b.ProductIDs) == 0 {
				errs[f+".product_ids"] = "Pick at least one product."
			}
			if len(b.ProductIDs) > MaxProductIDs {
				errs[f+".product_ids"] = fmt.Sprintf("Pick at most %d products.", MaxProductIDs)
			}
			checkLine(errs, f+".text", where, b.Text)
		case BlockDiscount:
			checkLine(errs, f+".text", where, b.Text)
		case BlockSpacer:
			if b.Height < 0 || b.Height > MaxSpacerHeight {
				errs[f+".height"] = fmt.Sprintf("A spacer is between 0 and %d pixels high.", MaxSpacerHeight)
			}
		case BlockSocial:
			if len(b.Links) == 0 {
				errs[f+".links"] = "Add at least one social link."
			} else if len(b.Links) > MaxSocialLinks {
				errs[f+".links"] = fmt.Sprintf("At most %d social links; this block has %d.", MaxSocialLinks, len(b.Links))
			} else {
				for j, l := range b.Links {
					g := fmt.Sprintf("%s.links[%d]", f, j)
					if _, ok := networks[l.Network]; !ok {
						errs[g+".network"] = fmt.Sprintf("Unknown network %q.", l.Network)
					}
					checkURL(errs, g+".url", l.URL, false)
				}
			}
		case BlockFooter:
			footers++
			if footers > 1 {
				errs[f+".type"] = "An email has one footer."
			} else if i != len(t.Blocks)-1 {
				errs[f+".type"] = "The footer has to be the last block."
			}
			checkLine(errs, f+".text", where, b.Text)
		}
		if b.Align != "" && b.Align != "left" && b.Align != "center" && b.Align != "right" {
			errs[f+".align"] = "Align left, center or right."
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func checkLine(errs FieldErrors, field, where, s string) {
	if s == "" {
		return
	}
	if len(s) > MaxLineBytes {
		errs[field] = fmt.Sprintf("Too long: at most %d characters.", MaxLineBytes)
		return
	}
	if p := input.Problem(s); p != "" {
		errs[field] = "The text " + p + "."
		return
	}
	if e := checkTags(s, where); e != "" {
		errs[field] = e
	}
}

func checkTags(s, where string) string {
	if _, err := parseTags(s); err != nil {
		var te *TagError
		if errors.As(err, &te) {
			return te.message(where)
		}
		return err.Error()
	}
	return ""
}

// checkURL accepts http(s) URLs; when tagOK, also a URL that is exactly
// one URL merge tag ({{ cart_url }}, {{ shop_url }}).
func checkURL(errs FieldErrors, field, s string, tagOK bool) {
	if s == "" {
		errs[field] = "Add a link (https://…)."
		return
	}
	if len(s) > MaxURLBytes {
		errs[field] = fmt.Sprintf("This link is %d characters long; links are at most %d.", len(s), MaxURLBytes)
		return
	}
	if strings.Contains(s, "{{") {
		segs, err := parseTags(s)
		if err != nil {
			errs[field] = checkTags(s, "link")
			return
		}
		if tagOK && len(segs) == 1 && segs[0].tag != tagNone && tagIsURL(segs[0].tag) {
			return
		}
		errs[field] = "A link can be a web address (https://…) or one of {{ shop_url }}, {{ cart_url }}."
		return
	}
	if !safeURL(s) {
		errs[field] = "Links have to start with https:// or http://."
	}
}

// safeURL says s is an absolute http(s) URL with a host.
func safeURL(s string) bool {
	if len(s) > MaxURLBytes {
		return false
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http"
}
