package tracking_test

import (
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/email/tracking"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTokens(t testing.TB) *tracking.Tokens {
	t.Helper()
	tk, err := tracking.NewTokens(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTokensRoundTrip(t *testing.T) {
	tk := newTokens(t)
	tok := tk.ClickToken(123456789, 7)
	if len(tok) > 40 {
		t.Errorf("click token %q is %d chars, want compact", tok, len(tok))
	}
	id, idx, err := tk.ParseClick(tok)
	if err != nil || id != 123456789 || idx != 7 {
		t.Fatalf("ParseClick = %d, %d, %v", id, idx, err)
	}
	if id, err := tk.ParseOpen(tk.OpenToken(42)); err != nil || id != 42 {
		t.Fatalf("ParseOpen = %d, %v", id, err)
	}
	if id, err := tk.ParseUnsubscribe(tk.UnsubscribeToken(42)); err != nil || id != 42 {
		t.Fatalf("ParseUnsubscribe = %d, %v", id, err)
	}
}

func TestTokensRejectTamperingAndWrongPurpose(t *testing.T) {
	tk := newTokens(t)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, tok := range []string{tk.ClickToken(99, 3), tk.OpenToken(99), tk.UnsubscribeToken(99)} {
		for i := range len(tok) {
			for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, tok[i])+1)%64], alphabet[(strings.IndexByte(alphabet, tok[i])+32)%64]} {
				bad := tok[:i] + string(c) + tok[i+1:]
				_, e1 := tk.Verify(tracking.PurposeClick, bad, 2)
				_, e2 := tk.Verify(tracking.PurposeOpen, bad, 1)
				_, e3 := tk.Verify(tracking.PurposeUnsubscribe, bad, 1)
				if e1 == nil || e2 == nil || e3 == nil {
					t.Fatalf("tampered token %q (byte %d of %q) accepted", bad, i, tok)
				}
			}
		}
		for _, bad := range []string{"", tok[:len(tok)-1], tok + "A", tok + "=", "!" + tok[1:], strings.Repeat("A", 200)} {
			if _, err := tk.Verify(tracking.PurposeClick, bad, 2); !errors.Is(err, tracking.ErrBadToken) {
				t.Errorf("malformed %q: %v", bad, err)
			}
		}
	}
	// Same fields, other purpose: refused.
	if _, err := tk.ParseOpen(tk.UnsubscribeToken(5)); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("unsubscribe token accepted as open token: %v", err)
	}
	if _, err := tk.ParseUnsubscribe(tk.OpenToken(5)); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("open token accepted as unsubscribe token: %v", err)
	}
	if _, _, err := tk.ParseClick(tk.Sign(tracking.PurposeOpen, 5, 0)); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("open-keyed token accepted as click token: %v", err)
	}
	// Another key: refused.
	other, _ := tracking.NewTokens([]byte("another secret of thirty-two byt"))
	if _, err := other.ParseOpen(tk.OpenToken(5)); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("token from another key accepted: %v", err)
	}
	// Field count must match.
	if _, err := tk.Verify(tracking.PurposeClick, tk.Sign(tracking.PurposeClick, 1, 2, 3), 2); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("extra field accepted: %v", err)
	}
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

func TestDecorate(t *testing.T) {
	tk := newTokens(t)
	tr := tracking.NewTracker("https://cartwheel.test/", tk)
	in := `<html><body><table><tr><td>
<a href="https://shop.example/products/hat?variant=1&amp;ref=mail" class="btn">Hat</a>
<a class="x" href='http://shop.example/sale'>Sale</a>
<a href="mailto:help@shop.example">Mail us</a>
<a href="tel:+33123">Call</a>
<a href="#top">Top</a>
<a href="{{ unsubscribe_url }}">Unsubscribe</a>
<A HREF="https://shop.example/products/hat?variant=1&amp;ref=mail">Hat again</A>
</td></tr></table></body></html>`
	text := "Hat: https://shop.example/products/hat\nUnsubscribe: {{unsubscribe_url}}\n"
	d, err := tr.Decorate(1, 77, in, text, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://shop.example/products/hat?variant=1&ref=mail", "http://shop.example/sale", "https://shop.example/products/hat?variant=1&ref=mail"}
	if strings.Join(d.Links, " ") != strings.Join(want, " ") {
		t.Fatalf("links = %q, want %q", d.Links, want)
	}
	unsub := tr.UnsubscribeURL(77)
	var clicks int
	for _, m := range regexp.MustCompile(`(?i)href=["']([^"']*)["']`).FindAllStringSubmatch(d.HTML, -1) {
		h := html.UnescapeString(m[1])
		switch {
		case strings.HasPrefix(h, "https://cartwheel.test/t/c/"):
			id, idx, err := tk.ParseClick(strings.TrimPrefix(h, "https://cartwheel.test/t/c/"))
			if err != nil || id != 77 || idx != clicks {
				t.Errorf("click link %s: id %d idx %d err %v (want idx %d)", h, id, idx, err, clicks)
			}
			clicks++
		case h == unsub, strings.HasPrefix(h, "mailto:"), strings.HasPrefix(h, "tel:"), h == "#top":
		default:
			t.Errorf("unexpected href %q", h)
		}
	}
	if clicks != 3 {
		t.Errorf("%d rewritten links, want 3", clicks)
	}
	for _, keep := range []string{`href="mailto:help@shop.example"`, `href="tel:+33123"`, `href="#top"`, `class="btn"`, `class="x"`} {
		if !strings.Contains(d.HTML, keep) {
			t.Errorf("HTML lost %s", keep)
		}
	}
	if strings.Contains(d.HTML, "unsubscribe_url") || strings.Contains(d.Text, "unsubscribe_url") {
		t.Error("placeholder left in output")
	}
	if !strings.Contains(d.Text, "Unsubscribe: "+unsub+"\n") || !strings.Contains(d.HTML, `href="`+unsub+`"`) {
		t.Errorf("unsubscribe URL not placed:\n%s\n%s", d.HTML, d.Text)
	}
	pixel := `<img src="` + tr.OpenURL(77) + `" width="1" height="1"`
	if i := strings.Index(d.HTML, pixel); i < 0 || !strings.HasPrefix(d.HTML[strings.Index(d.HTML[i:], "/>")+i+2:], "</body>") {
		t.Errorf("pixel not right before </body>:\n%s", d.HTML)
	}
	if d.Headers["List-Unsubscribe"] != "<"+unsub+">" || d.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("headers = %v", d.Headers)
	}
	if u, err := url.Parse(unsub); err != nil || u.Scheme != "https" {
		t.Errorf("unsubscribe URL %q", unsub)
	}

	// Transactional: no List-Unsubscribe headers.
	d, err = tr.Decorate(1, 78, in, text, false)
	if err != nil || len(d.Headers) != 0 {
		t.Fatalf("transactional headers = %v, %v", d.Headers, err)
	}
	// No </body>: the pixel is appended; no links: empty, not nil.
	d, _ = tr.Decorate(1, 79, "<p>Hi</p>", "", true)
	if !strings.HasSuffix(d.HTML, "/>") || d.Links == nil || len(d.Links) != 0 {
		t.Errorf("fragment: %q links %v", d.HTML, d.Links)
	}
}

func TestAddUTM(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://s.example/p", "https://s.example/p?utm_campaign=campaign-3&utm_medium=email&utm_source=cartwheel"},
		{"https://s.example/p?a=1&utm_source=news#frag", "https://s.example/p?a=1&utm_source=news&utm_campaign=campaign-3&utm_medium=email#frag"},
		{"https://s.example/p?utm_source=x&utm_medium=y&utm_campaign=z", "https://s.example/p?utm_source=x&utm_medium=y&utm_campaign=z"},
	} {
		got, err := tracking.AddUTM(c.in, "campaign-3")
		if err != nil || got != c.want {
			t.Errorf("AddUTM(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"javascript:alert(1)", "mailto:a@b.c", "//evil.example/x"} {
		if _, err := tracking.AddUTM(bad, "x"); err == nil {
			t.Errorf("AddUTM(%q) accepted", bad)
		}
	}
}

func TestMachineHeuristics(t *testing.T) {
	if !tracking.IsApplePrivacyProxy("Mozilla/5.0") || tracking.IsApplePrivacyProxy("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15") {
		t.Error("Apple MPP heuristic")
	}
	for _, ua := range []string{"", "Barracuda Sentinel (EE)", "Mozilla/5.0 (compatible; Proofpoint URL Defense)", "python-requests/2.31"} {
		if !tracking.IsScanner(ua) {
			t.Errorf("%q not flagged as scanner", ua)
		}
	}
	for _, ua := range []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"} {
		if tracking.IsScanner(ua) {
			t.Errorf("%q flagged as scanner", ua)
		}
	}
	if tracking.TruncateIP("203.0.113.77") != "203.0.113.0" || tracking.TruncateIP("2001:db8:abcd:12::1") != "2001:db8:abcd::" || tracking.TruncateIP("x") != "" {
		t.Error("TruncateIP")
	}
	_ = hrefRE
}
