package render

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Rich text keeps a small allowlist of elements; everything else is
// unwrapped (its text kept) or, for elements whose content is code or
// foreign, dropped with its content. No attribute survives except a safe
// href on links; styles are added by the renderer, never taken from input.
var (
	keepElems = map[atom.Atom]bool{
		atom.P: true, atom.Br: true, atom.B: true, atom.Strong: true, atom.I: true, atom.Em: true,
		atom.U: true, atom.A: true, atom.Ul: true, atom.Ol: true, atom.Li: true, atom.Span: true,
	}
	dropElems = map[atom.Atom]bool{
		atom.Script: true, atom.Style: true, atom.Iframe: true, atom.Object: true, atom.Embed: true,
		atom.Noscript: true, atom.Template: true, atom.Svg: true, atom.Math: true, atom.Head: true,
		atom.Title: true, atom.Textarea: true, atom.Select: true, atom.Form: true, atom.Frame: true,
		atom.Frameset: true, atom.Applet: true, atom.Link: true, atom.Meta: true, atom.Base: true,
		atom.Audio: true, atom.Video: true, atom.Canvas: true, atom.Button: true, atom.Input: true,
	}
	inlineStyle = map[atom.Atom]string{
		atom.P:  "margin:0 0 12px 0;",
		atom.Ul: "margin:0 0 12px 0;padding-left:24px;",
		atom.Ol: "margin:0 0 12px 0;padding-left:24px;",
		atom.Li: "margin:0 0 4px 0;",
		atom.A:  "color:#1a5fb4;text-decoration:underline;",
	}
)

// SanitizeHTML returns rich text reduced to the allowlist. Merge tags in
// text survive as written (quotes are not escaped in text), so they can be
// compiled afterwards; a link may point at http(s), mailto or exactly one
// URL merge tag.
func SanitizeHTML(in string) string {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(in), ctx)
	if err != nil {
		return escapeText(in)
	}
	var b strings.Builder
	b.Grow(len(in))
	for _, n := range nodes {
		writeNode(&b, n)
	}
	return b.String()
}

func writeNode(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(escapeText(n.Data))
		return
	case html.ElementNode:
	default: // comments, doctypes: dropped
		return
	}
	if dropElems[n.DataAtom] {
		return
	}
	if !keepElems[n.DataAtom] {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			writeNode(b, c)
		}
		return
	}
	b.WriteByte('<')
	b.WriteString(n.DataAtom.String())
	if n.DataAtom == atom.A {
		for _, a := range n.Attr {
			if a.Namespace == "" && a.Key == "href" && safeHref(a.Val) {
				b.WriteString(` href="`)
				b.WriteString(escapeAttr(strings.TrimSpace(a.Val)))
				b.WriteString(`"`)
				break
			}
		}
	}
	if st, ok := inlineStyle[n.DataAtom]; ok {
		b.WriteString(` style="`)
		b.WriteString(st)
		b.WriteByte('"')
	}
	b.WriteByte('>')
	if n.DataAtom == atom.Br {
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		writeNode(b, c)
	}
	b.WriteString("</")
	b.WriteString(n.DataAtom.String())
	b.WriteByte('>')
}

func safeHref(v string) bool {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(strings.ToLower(v), "mailto:") {
		return len(v) < MaxURLBytes && !strings.ContainsAny(v, "<>\"")
	}
	if strings.Contains(v, "{{") {
		segs, err := parseTags(v)
		return err == nil && len(segs) == 1 && tagIsURL(segs[0].tag)
	}
	return safeURL(v)
}

// escapeText escapes what text content needs (not quotes, so merge tag
// defaults stay readable to the compiler).
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escapeText(s string) string { return textEscaper.Replace(s) }

var attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

func escapeAttr(s string) string { return attrEscaper.Replace(s) }
