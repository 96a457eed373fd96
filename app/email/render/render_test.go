package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func demoData() *RenderData {
	return &RenderData{
		Shop:         Shop{Name: "Acme & Co", URL: "https://acme.example", PostalAddress: "1 Main St\nSpringfield, 12345", Currency: "USD"},
		Customer:     Customer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
		DiscountCode: "WELCOME10",
		CartURL:      "https://acme.example/checkouts/abc/recover?key=1&x=2",
		Products: map[string][]Product{
			"cart": {
				{ID: 1, Title: "Rain boots", VariantTitle: "Yellow / 38", URL: "https://acme.example/products/rain-boots", ImageURL: "https://cdn.example/boots.jpg", Price: "$79.00", Quantity: 1},
				{ID: 2, Title: "Wool socks", URL: "https://acme.example/products/socks", ImageURL: "https://cdn.example/socks.jpg", Price: "$12.00", Quantity: 2},
				{ID: 3, Title: "Umbrella", URL: "https://acme.example/products/umbrella", ImageURL: "https://cdn.example/umbrella.jpg", Price: "$25.00", Quantity: 1},
			},
			"bought_together": {
				{ID: 4, Title: "Raincoat", URL: "https://acme.example/products/raincoat", ImageURL: "https://cdn.example/coat.jpg", Price: "$120.00"},
			},
		},
	}
}

func mustCompile(t testing.TB, tpl Template) *Compiled {
	t.Helper()
	c, err := Compile(tpl)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}

func TestEscaping(t *testing.T) {
	tpl := Template{Name: "x", Locale: LocaleEN, Subject: "Hi {{ first_name }}", Blocks: []Block{
		heading("Hello {{ first_name }} <b>&</b>"),
		text(`<p>Dear {{ first_name | default: "there" }}, {{ last_name }}</p>`),
		products(SourceCart, 3, ""),
	}}
	c := mustCompile(t, tpl)
	d := demoData()
	d.Customer.FirstName = `<script>alert("x")</script>`
	d.Customer.LastName = `"><img src=x onerror=alert(1)>`
	d.Products["cart"][0].Title = `<iframe src="https://evil.example"></iframe>`
	out, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<iframe", "<img src=x", "onerror=alert(1)>", "<b>&</b>"} {
		if strings.Contains(out.HTML, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;iframe", "Acme &amp; Co", "&lt;b&gt;&amp;&lt;/b&gt;", "recover?key=1&amp;x=2", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if !strings.Contains(out.Text, `Dear <script>alert("x")</script>, "><img src=x onerror=alert(1)>`) {
		t.Errorf("text part should keep values verbatim:\n%s", out.Text)
	}
	if out.Subject != `Hi <script>alert("x")</script>` {
		t.Errorf("subject = %q", out.Subject)
	}
}

func TestMergeTags(t *testing.T) {
	tpl := Template{Name: "x", Locale: LocaleEN, Subject: `Hey {{first_name | default: "there"}} from {{ shop_name }}`,
		Preheader: `{{ discount_code | default: 'no code' }}`, Blocks: []Block{heading("x")}}
	c := mustCompile(t, tpl)
	d := demoData()
	d.Customer.FirstName = ""
	d.DiscountCode = ""
	out, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "Hey there from Acme & Co" || out.Preheader != "no code" {
		t.Errorf("subject %q preheader %q", out.Subject, out.Preheader)
	}

	cases := []struct {
		subject, field, want string
	}{
		{"Hi {{ foo }}", "subject", "Unknown merge tag {{ foo }} in subject"},
		{"Hi {{ first_name | upcase }}", "subject", "only the default filter"},
		{"Hi {{ first_name", "subject", "not closed"},
		{`Hi {{ first_name | default: there }}`, "subject", "not written right"},
	}
	for _, tc := range cases {
		tpl := Template{Name: "x", Locale: LocaleEN, Subject: tc.subject, Blocks: []Block{text("<p>{{ bogus_tag }}</p>")}}
		errs := Validate(tpl)
		if !strings.Contains(errs[tc.field], tc.want) {
			t.Errorf("%q: %s = %q, want %q", tc.subject, tc.field, errs[tc.field], tc.want)
		}
		if !strings.Contains(errs["blocks[0].html"], "Unknown merge tag {{ bogus_tag }} in block 1 (text)") {
			t.Errorf("block error = %q", errs["blocks[0].html"])
		}
	}
}

func TestSanitizer(t *testing.T) {
	in := `<p onclick="x()">Hi <b>there</b><script>alert(1)</script><iframe src="https://e.example"></iframe>` +
		`<img src=x onerror="alert(1)"><a href="javascript:alert(1)">bad</a> <a href="JaVaScRiPt:alert(1)">bad2</a>` +
		`<a href="https://ok.example/?a=1&b=2" onmouseover="x()">ok</a> <a href="{{ cart_url }}">cart</a>` +
		`<style>body{}</style><span style="background:url(javascript:x)">s</span><!-- c --><div>d</div></p>` +
		`<svg><script>alert(1)</script></svg><a href="mailto:hi@example.com">mail</a><a href="data:text/html,x">data</a>`
	out := SanitizeHTML(in)
	for _, bad := range []string{"script", "iframe", "onerror", "onclick", "onmouseover", "javascript", "<img", "<style", "style=\"background", "<!--", "<div", "<svg", "data:"} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(bad)) {
			t.Errorf("sanitised output contains %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"<b>there</b>", `href="https://ok.example/?a=1&amp;b=2"`, `href="{{ cart_url }}"`, `href="mailto:hi@example.com"`, ">bad</a>", "d"} {
		if !strings.Contains(out, want) {
			t.Errorf("sanitised output lacks %q:\n%s", want, out)
		}
	}
	// The cart link in rich text is filled at render time.
	c := mustCompile(t, Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{text(in)}})
	o, err := c.Render(demoData())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(o.HTML, `href="https://acme.example/checkouts/abc/recover?key=1&amp;x=2"`) {
		t.Errorf("cart_url not filled in rich text")
	}
}

func TestFooterMandatory(t *testing.T) {
	c := mustCompile(t, Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{heading("h")}})
	d := demoData()
	d.Shop.PostalAddress = "  "
	if _, err := c.Render(d); !errors.Is(err, ErrNoPostalAddress) {
		t.Fatalf("err = %v, want ErrNoPostalAddress", err)
	}
	out, err := c.Render(demoData())
	if err != nil {
		t.Fatal(err)
	}
	// No footer block in the template: the default footer is still there.
	for _, want := range []string{"1 Main St<br>Springfield, 12345", "Unsubscribe</a>", `href="{{ unsubscribe_url }}"`, "because you signed up for news and offers from Acme &amp; Co"} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if !strings.Contains(out.Text, "Unsubscribe: {{ unsubscribe_url }}") || !strings.Contains(out.Text, "1 Main St\nSpringfield, 12345") {
		t.Errorf("text footer:\n%s", out.Text)
	}
	d = demoData()
	d.UnsubscribeURL = "https://app.example/u/tok"
	out, _ = c.Render(d)
	if strings.Contains(out.HTML, UnsubscribePlaceholder) || !strings.Contains(out.HTML, `href="https://app.example/u/tok"`) {
		t.Errorf("unsubscribe URL not used")
	}
	// A footer that isn't last, or two footers, is refused.
	errs := Validate(Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{footer(), heading("h")}})
	if errs["blocks[0].type"] != "The footer has to be the last block." {
		t.Errorf("errs = %v", errs)
	}
}

func TestPlainText(t *testing.T) {
	tpl, _ := Starter(StarterAbandonedCart2, LocaleEN)
	out, err := mustCompile(t, tpl).Render(demoData())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Acme & Co\n\nPopular picks go quickly\n\nHi Ada,\n\nThe items in your cart",
		"* Rain boots (Yellow / 38) × 1 — $79.00\n* Wool socks × 2 — $12.00\n",
		"Return to your cart: https://acme.example/checkouts/abc/recover?key=1&x=2\n",
		"Often bought together\n\n* Raincoat — $120.00\n  https://acme.example/products/raincoat\n",
	}
	for _, w := range want {
		if !strings.Contains(out.Text, w) {
			t.Errorf("text lacks %q:\n%s", w, out.Text)
		}
	}
	if strings.ContainsAny(out.Text, "<>") {
		t.Errorf("text part has markup:\n%s", out.Text)
	}
}

func TestOutlookConditionalComments(t *testing.T) {
	tpl, _ := Starter(StarterWelcome, LocaleEN)
	out, err := mustCompile(t, tpl).Render(demoData())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<!--[if mso]>\n<noscript><xml><o:OfficeDocumentSettings>",
		`<!--[if mso]><table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" align="center"><tr><td><![endif]-->`,
		"<!--[if mso]></td></tr></table><![endif]-->",
		"<!DOCTYPE html>",
		"@media only screen and (max-width:620px)",
	} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Count(out.HTML, "<!--[if mso]>") != strings.Count(out.HTML, "<![endif]-->") {
		t.Errorf("unbalanced conditional comments")
	}
}

func TestProductBlocks(t *testing.T) {
	tpl := Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{
		products(SourceCart, 2, ""), products(SourceNewArrivals, 4, "New"), {Type: BlockProducts, Source: SourceManual, Count: 2, ProductIDs: []int64{9, 8}},
	}}
	c := mustCompile(t, tpl)
	keys := []string{}
	for _, n := range c.Needs() {
		keys = append(keys, n.Key())
	}
	if strings.Join(keys, " ") != "cart new_arrivals manual:9,8" {
		t.Errorf("needs = %v", keys)
	}
	out, _ := c.Render(demoData())
	if strings.Contains(out.HTML, "Umbrella") || !strings.Contains(out.HTML, "Wool socks") {
		t.Errorf("cart block should show 2 items")
	}
	if strings.Contains(out.HTML, ">New</h2>") {
		t.Errorf("an empty product block should not render its title")
	}
}

func TestLimits(t *testing.T) {
	// A 5 MB list of image URLs: refused by Parse before decoding…
	var sb strings.Builder
	sb.WriteString(`{"name":"x","locale":"en","subject":"s","blocks":[{"type":"image","images":[`)
	for i := 0; sb.Len() < 5<<20; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"url":"https://cdn.example/images/%08d.jpg"}`, i)
	}
	sb.WriteString(`]}]}`)
	_, err := Parse([]byte(sb.String()))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the limit is 256 KB") {
		t.Fatalf("Parse(5 MB) = %v", err)
	}
	// …and by Validate when built in code.
	imgs := make([]Image, 100000)
	for i := range imgs {
		imgs[i] = Image{URL: fmt.Sprintf("https://cdn.example/%d.jpg", i)}
	}
	errs := Validate(Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{{Type: BlockImage, Images: imgs}}})
	if !strings.Contains(errs["blocks[0].images"], "at most 4 images") {
		t.Errorf("errs = %v", errs)
	}
	long := "https://cdn.example/" + strings.Repeat("a", 5<<20)
	errs = Validate(Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{{Type: BlockImage, Images: []Image{{URL: long}}}}})
	if !strings.Contains(errs["blocks[0].images[0].url"], "links are at most 2048") {
		t.Errorf("errs = %v", errs)
	}
	many := make([]Block, 61)
	for i := range many {
		many[i] = divider()
	}
	if errs := Validate(Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: many}); !strings.Contains(errs["blocks"], "at most 60 blocks") {
		t.Errorf("errs = %v", errs)
	}
	if errs := Validate(Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{text(strings.Repeat("a", 21<<10))}}); !strings.Contains(errs["blocks[0].html"], "at most 20 KB") {
		t.Errorf("errs = %v", errs)
	}
	bad := Template{Name: "", Locale: "fr", Subject: "", Blocks: []Block{
		{Type: "video"}, button("Go", "javascript:alert(1)"), {Type: BlockImage, Images: []Image{{URL: "data:image/png;base64,xx"}}},
		{Type: BlockProducts, Source: "everything", Count: 99}, {Type: BlockSocial, Links: []SocialLink{{Network: "myspace", URL: "ftp://x"}}},
	}}
	errs = Validate(bad)
	for _, f := range []string{"name", "locale", "subject", "blocks[0].type", "blocks[1].url", "blocks[2].images[0].url", "blocks[3].source", "blocks[3].count", "blocks[4].links[0].network", "blocks[4].links[0].url"} {
		if errs[f] == "" {
			t.Errorf("no error for %s (%v)", f, errs)
		}
	}
	if _, err := Parse([]byte(`{"name":"x","blocks":[{"type":"text","onload":"x"}]}`)); err == nil {
		t.Errorf("unknown fields should be refused")
	}
}

func TestStarters(t *testing.T) {
	if len(StarterKeys()) != 12 {
		t.Fatalf("want 12 starters, have %d", len(StarterKeys()))
	}
	for _, loc := range []string{LocaleEN, LocaleZH} {
		for _, k := range StarterKeys() {
			tpl, ok := Starter(k, loc)
			if !ok {
				t.Errorf("missing starter %s/%s", k, loc)
				continue
			}
			if errs := Validate(tpl); errs != nil {
				t.Errorf("%s/%s: %v", k, loc, errs)
				continue
			}
			// Round trip through JSON, as stored.
			doc, _ := json.Marshal(tpl)
			tpl2, err := Parse(doc)
			if err != nil {
				t.Fatalf("%s/%s: %v", k, loc, err)
			}
			out, err := mustCompile(t, tpl2).Render(demoData())
			if err != nil {
				t.Fatalf("%s/%s: %v", k, loc, err)
			}
			if out.Subject == "" || strings.Contains(out.Subject, "{{") || strings.Contains(out.HTML, "{{ first_name") || strings.Contains(out.Text, "{{ shop_name") {
				t.Errorf("%s/%s: unrendered tags: %q", k, loc, out.Subject)
			}
			if !strings.Contains(out.HTML, `lang="`+loc+`"`) {
				t.Errorf("%s/%s: lang missing", k, loc)
			}
			if loc == LocaleZH && !strings.Contains(out.HTML, "退订") {
				t.Errorf("%s/%s: Chinese footer missing", k, loc)
			}
		}
	}
}

func BenchmarkRender(b *testing.B) {
	tpl, _ := Starter(StarterAbandonedCart1, LocaleEN)
	c := mustCompile(b, tpl)
	d := demoData()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Render(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
}

func TestBadMerchantHTMLRendered(t *testing.T) {
	tpl := Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{
		{Type: BlockLogo},
		text(`<p onmouseover="steal()">Sale!</p><script>document.cookie</script><iframe src="https://evil.example"></iframe>` +
			`<img src="https://x.example/a.png" onerror="alert(1)"><a href="javascript:alert(1)">click</a><object data="x"></object>`),
		heading(`<script>alert(1)</script>`),
		{Type: BlockImage, Images: []Image{{URL: `https://cdn.example/a.png?"onerror="alert(1)`, Alt: `"><script>x</script>`}}},
	}}
	if errs := Validate(tpl); errs != nil {
		t.Fatalf("unsafe HTML is cleaned, not refused: %v", errs)
	}
	d := demoData()
	d.Shop.LogoURL = `https://cdn.example/logo.png?a=1&b="x"`
	out, err := mustCompile(t, tpl).Render(d)
	if err != nil {
		t.Fatal(err)
	}
	low := strings.ToLower(out.HTML)
	for _, bad := range []string{"<script", "<iframe", "<object", "onmouseover=", `onerror="`, "javascript:", "steal()"} {
		if strings.Contains(low, bad) {
			t.Errorf("rendered HTML contains %q", bad)
		}
	}
	for _, want := range []string{"Sale!", ">click</a>", `src="https://cdn.example/logo.png?a=1&amp;b=&#34;x&#34;"`, "&lt;script&gt;alert(1)&lt;/script&gt;</h1>"} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("rendered HTML lacks %q", want)
		}
	}
	if errs := Validate(Template{Name: "x", Locale: LocaleEN, Subject: "s", Blocks: []Block{footer()}}); !strings.Contains(errs["blocks"], "Add at least one block") {
		t.Errorf("empty template: %v", errs)
	}
}

func TestConcurrentRenders(t *testing.T) {
	tpl, _ := Starter(StarterAbandonedCart1, LocaleEN)
	c := mustCompile(t, tpl)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 200; i++ {
				d := demoData()
				d.Customer.FirstName = fmt.Sprintf("N%d_%d", g, i)
				out, err := c.Render(d)
				if err == nil && (!strings.Contains(out.HTML, "Hi "+d.Customer.FirstName+",") || !strings.Contains(out.Text, "Hi "+d.Customer.FirstName+",")) {
					err = fmt.Errorf("render for %s lost its name", d.Customer.FirstName)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
