package render

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Shop is what a render needs to know about the store.
type Shop struct {
	Name          string
	URL           string // https://…
	PostalAddress string // from Settings; required by law in marketing email
	Currency      string
	LogoURL       string // used by a logo block without its own image
}

// Customer is the recipient.
type Customer struct {
	FirstName, LastName, Email string
}

// Product is one product shown in a product block, ready to print.
type Product struct {
	ID           int64
	Title        string
	VariantTitle string
	URL          string // product page (or the recovery link for cart items)
	ImageURL     string
	Price        string // formatted, e.g. "€19.99"
	Quantity     int    // cart items only
}

// RenderData is everything one recipient's render reads.
type RenderData struct {
	Shop         Shop
	Customer     Customer
	DiscountCode string
	CartURL      string
	// UnsubscribeURL is the recipient's signed link; empty leaves
	// UnsubscribePlaceholder for the tracker to fill.
	UnsubscribeURL string
	// Products holds each product block's products, keyed by Need.Key().
	Products map[string][]Product
}

// Output is one rendered email.
type Output struct {
	Subject, Preheader, HTML, Text string
}

// ErrNoPostalAddress is returned when the shop has no postal address: every
// marketing email has to show one, so nothing renders without it.
var ErrNoPostalAddress = errors.New("render: the shop's postal address is missing (Settings → company postal address); emails can't be sent without it")

// Need is the data one product block asks for.
type Need struct {
	Source     Source
	Count      int
	ProductIDs []int64
}

// Key identifies the need in RenderData.Products.
func (n Need) Key() string {
	if n.Source != SourceManual {
		return string(n.Source)
	}
	var b strings.Builder
	b.WriteString("manual:")
	for i, id := range n.ProductIDs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

type partKind uint8

const (
	pStatic   partKind = iota
	pTag               // merge tag value (escaped in HTML)
	pProducts          // a product block
	pAddress           // the shop's postal address
	pAddressText
	pLogo // the shop's logo, or its name when it has none
)

type part struct {
	kind partKind
	s    string
	tag  tagID
	def  string
	blk  int
}

// Compiled is a template ready to render many times; safe for concurrent use.
type Compiled struct {
	locale    string
	subject   []seg
	preheader []seg
	html      []part
	text      []part
	blocks    []productBlock
	needs     []Need
}

type productBlock struct {
	key    string
	source Source
	count  int
	title  []seg
}

// Needs lists the product data the template asks for, one per distinct key.
func (c *Compiled) Needs() []Need { return c.needs }

// Compile validates t and turns it into static strings and slots.
func Compile(t Template) (*Compiled, error) {
	if errs := Validate(t); errs != nil {
		return nil, errs
	}
	c := &Compiled{locale: t.Locale}
	c.subject, _ = parseTags(t.Subject)
	c.preheader, _ = parseTags(t.Preheader)
	msgs := locales[t.Locale]
	h := &builder{}
	x := &builder{}
	h.raw(layoutHead(t.Locale))
	h.segsHTML(c.subject)
	h.raw(layoutHead2)
	h.segsHTML(c.preheader)
	h.raw(layoutBodyStart)

	seen := map[string]bool{}
	var footer *Block
	for i := range t.Blocks {
		b := &t.Blocks[i]
		if b.Type == BlockFooter {
			footer = b
			continue
		}
		if err := c.block(h, x, b, msgs, seen); err != nil {
			return nil, err
		}
	}
	if footer == nil {
		footer = &Block{Type: BlockFooter}
	}
	c.footer(h, x, footer, msgs)
	h.raw(layoutBodyEnd)
	c.html = h.done()
	c.text = x.done()
	return c, nil
}

func align(b *Block, def string) string {
	if b.Align != "" {
		return b.Align
	}
	return def
}

const font = "font-family:Helvetica,Arial,'PingFang SC','Microsoft YaHei',sans-serif;"

func (c *Compiled) block(h, x *builder, b *Block, m *messages, seen map[string]bool) error {
	switch b.Type {
	case BlockLogo:
		h.raw(`<tr><td class="cw-pad" align="` + align(b, "center") + `" style="padding:24px 32px 8px 32px;` + font + `">`)
		href := b.URL
		if href == "" {
			href = "{{ shop_url }}"
		}
		h.raw(`<a href="`)
		h.urlAttr(href)
		h.raw(`" style="text-decoration:none;color:#111827;">`)
		if b.ImageURL != "" {
			h.raw(`<img src="` + escapeAttr(b.ImageURL) + `" width="160" alt="`)
			if b.Alt != "" {
				h.raw(escapeAttr(b.Alt))
			} else {
				h.tag(tagShopName, "")
			}
			h.raw(`" style="display:block;margin:0 auto;width:160px;max-width:100%;height:auto;border:0;">`)
		} else {
			h.add(part{kind: pLogo})
		}
		h.raw("</a></td></tr>\n")
		x.tag(tagShopName, "")
		x.raw("\n\n")
	case BlockHeading:
		segs, _ := parseTags(b.Text)
		h.raw(`<tr><td class="cw-pad" align="` + align(b, "left") + `" style="padding:16px 32px 8px 32px;` + font + `"><h1 style="margin:0;font-size:26px;line-height:1.25;font-weight:bold;color:#111827;">`)
		h.segsHTML(segs)
		h.raw("</h1></td></tr>\n")
		x.segsText(segs)
		x.raw("\n\n")
	case BlockText:
		clean := SanitizeHTML(b.HTML)
		segs, err := parseTags(clean)
		if err != nil {
			return FieldErrors{"html": checkTags(clean, "text")}
		}
		h.raw(`<tr><td class="cw-pad" align="` + align(b, "left") + `" style="padding:8px 32px;` + font + `font-size:16px;line-height:1.5;color:#374151;">`)
		for _, s := range segs {
			if s.tag == tagNone {
				h.raw(s.lit)
			} else {
				h.add(part{kind: pTag, tag: s.tag, def: html.UnescapeString(s.def)})
			}
		}
		h.raw("</td></tr>\n")
		x.richText(clean)
		x.raw("\n")
	case BlockImage:
		w := 536 / len(b.Images)
		h.raw(`<tr><td class="cw-pad" align="center" style="padding:8px 32px;"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>`)
		for _, im := range b.Images {
			h.raw(`<td class="cw-col" width="` + strconv.Itoa(100/len(b.Images)) + `%" valign="top" align="center" style="padding:4px;">`)
			img := `<img src="` + escapeAttr(im.URL) + `" width="` + strconv.Itoa(w-8) + `" alt="` + escapeAttr(im.Alt) + `" style="display:block;width:100%;max-width:` + strconv.Itoa(w-8) + `px;height:auto;border:0;">`
			if im.Link != "" {
				h.raw(`<a href="`)
				h.urlAttr(im.Link)
				h.raw(`">` + img + `</a>`)
			} else {
				h.raw(img)
			}
			h.raw(`</td>`)
			if im.Alt != "" {
				x.raw("[" + im.Alt + "]")
				if im.Link != "" {
					x.raw(" ")
					x.urlText(im.Link)
				}
				x.raw("\n")
			}
		}
		h.raw("</tr></table></td></tr>\n")
		x.raw("\n")
	case BlockButton:
		segs, _ := parseTags(b.Text)
		h.raw(`<tr><td class="cw-pad" align="` + align(b, "center") + `" style="padding:16px 32px;">`)
		h.button(b.URL, func() { h.segsHTML(segs) })
		h.raw("</td></tr>\n")
		x.segsText(segs)
		x.raw(m.colon)
		x.urlText(b.URL)
		x.raw("\n\n")
	case BlockProducts:
		n := Need{Source: b.Source, Count: b.Count}
		if b.Source == SourceManual {
			n.ProductIDs = b.ProductIDs
		}
		key := n.Key()
		if !seen[key] {
			seen[key] = true
			c.needs = append(c.needs, n)
		} else {
			for i := range c.needs {
				if c.needs[i].Key() == key && c.needs[i].Count < n.Count {
					c.needs[i].Count = n.Count
				}
			}
		}
		title, _ := parseTags(b.Text)
		c.blocks = append(c.blocks, productBlock{key: key, source: b.Source, count: b.Count, title: title})
		h.add(part{kind: pProducts, blk: len(c.blocks) - 1})
		x.add(part{kind: pProducts, blk: len(c.blocks) - 1})
	case BlockDiscount:
		label := b.Text
		if label == "" {
			label = m.discountLabel
		}
		segs, _ := parseTags(label)
		h.raw(`<tr><td class="cw-pad" align="center" style="padding:16px 32px;` + font + `"><p style="margin:0 0 8px 0;font-size:14px;color:#6b7280;">`)
		h.segsHTML(segs)
		h.raw(`</p><table role="presentation" cellpadding="0" cellspacing="0" border="0" align="center"><tr><td style="border:2px dashed #111827;padding:12px 24px;font-size:22px;font-weight:bold;letter-spacing:2px;color:#111827;` + font + `">`)
		h.tag(tagDiscountCode, "")
		h.raw("</td></tr></table></td></tr>\n")
		x.segsText(segs)
		x.raw(" ")
		x.tag(tagDiscountCode, "")
		x.raw("\n\n")
	case BlockDivider:
		h.raw(`<tr><td class="cw-pad" style="padding:16px 32px;"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td style="border-top:1px solid #e5e7eb;font-size:1px;line-height:1px;">&nbsp;</td></tr></table></td></tr>` + "\n")
		x.raw("----------------------------------------\n\n")
	case BlockSpacer:
		hh := strconv.Itoa(b.Height)
		h.raw(`<tr><td height="` + hh + `" style="height:` + hh + `px;font-size:1px;line-height:1px;">&nbsp;</td></tr>` + "\n")
	case BlockSocial:
		h.raw(`<tr><td class="cw-pad" align="` + align(b, "center") + `" style="padding:16px 32px;` + font + `font-size:14px;">`)
		for i, l := range b.Links {
			if i > 0 {
				h.raw(` &nbsp;·&nbsp; `)
			}
			h.raw(`<a href="` + escapeAttr(l.URL) + `" style="color:#374151;text-decoration:underline;">` + networks[l.Network] + `</a>`)
			x.raw(networks[l.Network] + ": " + l.URL + "\n")
		}
		h.raw("</td></tr>\n")
		x.raw("\n")
	}
	return nil
}

func (c *Compiled) footer(h, x *builder, b *Block, m *messages) {
	why := b.Text
	if why == "" {
		why = m.why
	}
	segs, _ := parseTags(why)
	h.raw(`<tr><td class="cw-pad" align="center" style="padding:24px 32px 32px 32px;border-top:1px solid #e5e7eb;` + font + `font-size:12px;line-height:1.5;color:#6b7280;"><p style="margin:0 0 8px 0;">`)
	h.segsHTML(segs)
	h.raw(`</p><p style="margin:0 0 8px 0;"><a href="`)
	h.tag(tagUnsubscribeURL, "")
	h.raw(`" style="color:#6b7280;text-decoration:underline;">` + m.unsubscribe + `</a></p><p style="margin:0;">`)
	h.tag(tagShopName, "")
	h.raw(`<br>`)
	h.add(part{kind: pAddress})
	h.raw(`</p></td></tr>` + "\n")

	x.raw("--\n")
	x.segsText(segs)
	x.raw("\n" + m.unsubscribe + m.colon)
	x.tag(tagUnsubscribeURL, "")
	x.raw("\n\n")
	x.tag(tagShopName, "")
	x.raw("\n")
	x.add(part{kind: pAddressText})
	x.raw("\n")
}

// builder collects parts, merging adjacent static strings.
type builder struct {
	parts []part
	cur   strings.Builder
}

func (b *builder) raw(s string) { b.cur.WriteString(s) }

func (b *builder) add(p part) {
	b.flush()
	b.parts = append(b.parts, p)
}

func (b *builder) flush() {
	if b.cur.Len() > 0 {
		b.parts = append(b.parts, part{kind: pStatic, s: b.cur.String()})
		b.cur.Reset()
	}
}

func (b *builder) done() []part {
	b.flush()
	return b.parts
}

func (b *builder) tag(t tagID, def string) { b.add(part{kind: pTag, tag: t, def: def}) }

func (b *builder) segsHTML(segs []seg) {
	for _, s := range segs {
		if s.tag == tagNone {
			b.raw(escapeAttr(s.lit))
		} else {
			b.tag(s.tag, s.def)
		}
	}
}

func (b *builder) segsText(segs []seg) {
	for _, s := range segs {
		if s.tag == tagNone {
			b.raw(s.lit)
		} else {
			b.tag(s.tag, s.def)
		}
	}
}

// urlAttr writes a validated URL (a literal or one URL merge tag).
func (b *builder) urlAttr(u string) {
	if segs, err := parseTags(u); err == nil && len(segs) == 1 && segs[0].tag != tagNone {
		b.tag(segs[0].tag, "")
		return
	}
	b.raw(escapeAttr(u))
}

func (b *builder) urlText(u string) {
	if segs, err := parseTags(u); err == nil && len(segs) == 1 && segs[0].tag != tagNone {
		b.tag(segs[0].tag, "")
		return
	}
	b.raw(u)
}

func (b *builder) button(u string, label func()) {
	b.raw(`<table role="presentation" cellpadding="0" cellspacing="0" border="0" align="center"><tr><td align="center" bgcolor="#111827" style="border-radius:6px;background-color:#111827;"><a href="`)
	b.urlAttr(u)
	b.raw(`" style="display:inline-block;padding:14px 28px;` + font + `font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">`)
	label()
	b.raw(`</a></td></tr></table>`)
}

// richText writes sanitised rich text as plain text: paragraphs and list
// items on their own lines, links followed by their address.
func (b *builder) richText(clean string) {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, _ := html.ParseFragment(strings.NewReader(clean), ctx)
	var sb strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			sb.WriteString(n.Data)
			return
		case html.ElementNode:
		default:
			return
		}
		switch n.DataAtom {
		case atom.Br:
			sb.WriteString("\n")
			return
		case atom.Li:
			sb.WriteString("- ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		switch n.DataAtom {
		case atom.P, atom.Ul, atom.Ol:
			sb.WriteString("\n\n")
		case atom.Li:
			sb.WriteString("\n")
		case atom.A:
			for _, a := range n.Attr {
				if a.Key == "href" {
					sb.WriteString(" (" + a.Val + ")")
				}
			}
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	t := strings.TrimRight(sb.String(), "\n") + "\n"
	segs, _ := parseTags(t)
	b.segsText(segs)
}

var bufPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 16<<10)) }}

// Render fills the template for one recipient. Every merchant or customer
// value is HTML-escaped in the HTML part and kept verbatim in the text part.
func (c *Compiled) Render(d *RenderData) (Output, error) {
	if strings.TrimSpace(d.Shop.PostalAddress) == "" {
		return Output{}, ErrNoPostalAddress
	}
	var out Output
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)

	buf.Reset()
	for _, s := range c.subject {
		writeSeg(buf, s, d, false)
	}
	out.Subject = buf.String()
	buf.Reset()
	for _, s := range c.preheader {
		writeSeg(buf, s, d, false)
	}
	out.Preheader = buf.String()

	buf.Reset()
	c.run(buf, c.html, d, true)
	out.HTML = buf.String()
	buf.Reset()
	c.run(buf, c.text, d, false)
	out.Text = buf.String()
	return out, nil
}

func (c *Compiled) run(buf *bytes.Buffer, parts []part, d *RenderData, isHTML bool) {
	for i := range parts {
		p := &parts[i]
		switch p.kind {
		case pStatic:
			buf.WriteString(p.s)
		case pTag:
			writeSeg(buf, seg{tag: p.tag, def: p.def}, d, isHTML)
		case pProducts:
			pb := &c.blocks[p.blk]
			ps := d.Products[pb.key]
			if len(ps) > pb.count {
				ps = ps[:pb.count]
			}
			if len(ps) == 0 {
				continue
			}
			m := locales[c.locale]
			if isHTML {
				productsHTML(buf, pb, ps, d, m)
			} else {
				productsText(buf, pb, ps, d, m)
			}
		case pAddress:
			lines := strings.Split(strings.TrimSpace(d.Shop.PostalAddress), "\n")
			for j, l := range lines {
				if j > 0 {
					buf.WriteString("<br>")
				}
				appendEscaped(buf, strings.TrimSpace(l))
			}
		case pLogo:
			if d.Shop.LogoURL != "" && safeURL(d.Shop.LogoURL) {
				buf.WriteString(`<img src="`)
				appendEscaped(buf, d.Shop.LogoURL)
				buf.WriteString(`" width="160" alt="`)
				appendEscaped(buf, d.Shop.Name)
				buf.WriteString(`" style="display:block;margin:0 auto;width:160px;max-width:100%;height:auto;border:0;">`)
			} else {
				buf.WriteString(`<span style="font-size:22px;font-weight:bold;color:#111827;">`)
				appendEscaped(buf, d.Shop.Name)
				buf.WriteString(`</span>`)
			}
		case pAddressText:
			buf.WriteString(strings.TrimSpace(d.Shop.PostalAddress))
		}
	}
}

func tagValue(t tagID, d *RenderData) string {
	switch t {
	case tagFirstName:
		return d.Customer.FirstName
	case tagLastName:
		return d.Customer.LastName
	case tagEmail:
		return d.Customer.Email
	case tagShopName:
		return d.Shop.Name
	case tagShopURL:
		return d.Shop.URL
	case tagDiscountCode:
		return d.DiscountCode
	case tagCartURL:
		if d.CartURL == "" { // no open cart: the store itself
			return d.Shop.URL
		}
		return d.CartURL
	case tagUnsubscribeURL:
		if d.UnsubscribeURL == "" {
			return UnsubscribePlaceholder
		}
		return d.UnsubscribeURL
	}
	return ""
}

func writeSeg(buf *bytes.Buffer, s seg, d *RenderData, isHTML bool) {
	if s.tag == tagNone {
		buf.WriteString(s.lit)
		return
	}
	v := strings.TrimSpace(tagValue(s.tag, d))
	if v == "" {
		v = s.def
	}
	if tagIsURL(s.tag) && v != UnsubscribePlaceholder && !safeURL(v) {
		v = "#"
	}
	if isHTML {
		appendEscaped(buf, v)
	} else {
		buf.WriteString(v)
	}
}

// appendEscaped writes s with & < > " ' escaped (safe in text and in
// double-quoted attributes).
func appendEscaped(buf *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		buf.WriteString(s[last:i])
		buf.WriteString(esc)
		last = i + 1
	}
	buf.WriteString(s[last:])
}

func productsHTML(buf *bytes.Buffer, pb *productBlock, ps []Product, d *RenderData, m *messages) {
	buf.WriteString(`<tr><td class="cw-pad" style="padding:8px 24px;` + font + `">`)
	if len(pb.title) > 0 {
		buf.WriteString(`<h2 style="margin:0 8px 8px 8px;font-size:20px;line-height:1.3;color:#111827;">`)
		for _, s := range pb.title {
			if s.tag == tagNone {
				appendEscaped(buf, s.lit)
			} else {
				writeSeg(buf, s, d, true)
			}
		}
		buf.WriteString(`</h2>`)
	}
	if pb.source == SourceCart {
		buf.WriteString(`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">`)
		for i := range ps {
			p := &ps[i]
			buf.WriteString(`<tr><td width="96" valign="top" style="padding:8px;">`)
			if p.ImageURL != "" && safeURL(p.ImageURL) {
				buf.WriteString(`<img src="`)
				appendEscaped(buf, p.ImageURL)
				buf.WriteString(`" width="80" alt="`)
				appendEscaped(buf, p.Title)
				buf.WriteString(`" style="display:block;width:80px;height:auto;border:0;">`)
			}
			buf.WriteString(`</td><td valign="top" style="padding:8px;font-size:15px;line-height:1.4;color:#111827;"><strong>`)
			appendEscaped(buf, p.Title)
			buf.WriteString(`</strong>`)
			if p.VariantTitle != "" {
				buf.WriteString(`<br><span style="color:#6b7280;font-size:13px;">`)
				appendEscaped(buf, p.VariantTitle)
				buf.WriteString(`</span>`)
			}
			if p.Quantity > 0 {
				buf.WriteString(`<br><span style="color:#6b7280;font-size:13px;">` + m.qty + ` `)
				buf.WriteString(strconv.Itoa(p.Quantity))
				buf.WriteString(`</span>`)
			}
			buf.WriteString(`</td><td align="right" valign="top" style="padding:8px;font-size:15px;color:#111827;">`)
			appendEscaped(buf, p.Price)
			buf.WriteString(`</td></tr>`)
		}
		buf.WriteString(`</table><table role="presentation" cellpadding="0" cellspacing="0" border="0" align="center" style="margin-top:12px;"><tr><td align="center" bgcolor="#111827" style="border-radius:6px;background-color:#111827;"><a href="`)
		writeSeg(buf, seg{tag: tagCartURL}, d, true)
		buf.WriteString(`" style="display:inline-block;padding:14px 28px;` + font + `font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">` + m.backToCart + `</a></td></tr></table></td></tr>` + "\n")
		return
	}
	buf.WriteString(`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">`)
	for i := 0; i < len(ps); i += 2 {
		buf.WriteString(`<tr>`)
		for j := i; j < i+2; j++ {
			buf.WriteString(`<td class="cw-col" width="50%" valign="top" align="center" style="padding:8px;">`)
			if j < len(ps) {
				productCell(buf, &ps[j], m)
			}
			buf.WriteString(`</td>`)
		}
		buf.WriteString(`</tr>`)
	}
	buf.WriteString("</table></td></tr>\n")
}

func productCell(buf *bytes.Buffer, p *Product, m *messages) {
	href := p.URL
	if !safeURL(href) {
		href = "#"
	}
	if p.ImageURL != "" && safeURL(p.ImageURL) {
		buf.WriteString(`<a href="`)
		appendEscaped(buf, href)
		buf.WriteString(`"><img src="`)
		appendEscaped(buf, p.ImageURL)
		buf.WriteString(`" width="252" alt="`)
		appendEscaped(buf, p.Title)
		buf.WriteString(`" style="display:block;width:100%;max-width:252px;height:auto;border:0;"></a>`)
	}
	buf.WriteString(`<p style="margin:8px 0 4px 0;font-size:15px;line-height:1.4;color:#111827;font-weight:bold;">`)
	appendEscaped(buf, p.Title)
	buf.WriteString(`</p><p style="margin:0 0 8px 0;font-size:15px;color:#374151;">`)
	appendEscaped(buf, p.Price)
	buf.WriteString(`</p><a href="`)
	appendEscaped(buf, href)
	buf.WriteString(`" style="color:#1a5fb4;font-size:14px;font-weight:bold;text-decoration:underline;">` + m.shopNow + `</a>`)
}

func productsText(buf *bytes.Buffer, pb *productBlock, ps []Product, d *RenderData, m *messages) {
	if len(pb.title) > 0 {
		for _, s := range pb.title {
			writeSeg(buf, s, d, false)
		}
		buf.WriteString("\n\n")
	}
	for i := range ps {
		p := &ps[i]
		buf.WriteString("* ")
		buf.WriteString(p.Title)
		if p.VariantTitle != "" {
			buf.WriteString(" (" + p.VariantTitle + ")")
		}
		if p.Quantity > 0 {
			fmt.Fprintf(buf, " × %d", p.Quantity)
		}
		if p.Price != "" {
			buf.WriteString(" — " + p.Price)
		}
		buf.WriteByte('\n')
		if pb.source != SourceCart && safeURL(p.URL) {
			buf.WriteString("  " + p.URL + "\n")
		}
	}
	if pb.source == SourceCart {
		buf.WriteString("\n" + m.backToCart + m.colon)
		writeSeg(buf, seg{tag: tagCartURL}, d, false)
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
}

// sortedKeys is used by tests and the demo.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
