package render

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// FuzzSanitizeHTML checks the sanitiser's promise on any input: re-parsed,
// its output has only allowlisted elements, no attribute but a safe href
// and the renderer's own style, and no comments.
func FuzzSanitizeHTML(f *testing.F) {
	for _, s := range []string{
		`<p>Hi <b>there</b></p>`, `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`,
		`<a href="javascript:alert(1)">x</a>`, `<a href=" jav&#x09;ascript:alert(1)">x</a>`, `<svg><a xlink:href="javascript:x">y</a></svg>`,
		`<p style="x" onclick="y">z</p>`, `<!--[if mso]><script>x</script><![endif]-->`, `<a href="{{ cart_url }}">c</a>`,
		`<math><mi><style><img src=x onerror=1></style></mi></math>`, `<noscript><p title="</noscript><img src=x onerror=1>">`,
		`<table><tr><td><iframe src=x></iframe></td></tr></table>`, `</p><p>{{ first_name | default: "<b>x</b>" }}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SanitizeHTML(in)
		ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
		nodes, err := html.ParseFragment(strings.NewReader(out), ctx)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		var check func(n *html.Node)
		check = func(n *html.Node) {
			switch n.Type {
			case html.CommentNode:
				t.Fatalf("comment survived: %q → %q", in, out)
			case html.ElementNode:
				if !keepElems[n.DataAtom] || n.Namespace != "" {
					t.Fatalf("element %q survived: %q → %q", n.Data, in, out)
				}
				for _, a := range n.Attr {
					switch {
					case a.Key == "href" && n.DataAtom == atom.A && safeHref(a.Val):
					case a.Key == "style" && a.Val == inlineStyle[n.DataAtom]:
					default:
						t.Fatalf("attribute %s=%q survived: %q → %q", a.Key, a.Val, in, out)
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				check(c)
			}
		}
		for _, n := range nodes {
			check(n)
		}
	})
}
