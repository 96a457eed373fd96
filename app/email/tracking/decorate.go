package tracking

import (
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/cartwheel/cartwheel/app/email"
)

// Tracker implements email.Tracker.
type Tracker struct {
	appURL string // no trailing slash
	tokens *Tokens
}

var _ email.Tracker = (*Tracker)(nil)

// NewTracker makes tracking URLs under appURL (the public APP_URL).
func NewTracker(appURL string, tokens *Tokens) *Tracker {
	return &Tracker{appURL: strings.TrimRight(appURL, "/"), tokens: tokens}
}

// UnsubscribePlaceholder matches what the renderer leaves in HTML and text
// where the unsubscribe URL goes ({{ unsubscribe_url }}, spacing optional).
var UnsubscribePlaceholder = regexp.MustCompile(`\{\{\s*unsubscribe_url\s*\}\}`)

// href="…" or href='…' (or unquoted) inside a tag.
var hrefAttr = regexp.MustCompile(`(?i)(<a\b[^>]*?\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s>"']+)`)

var bodyClose = regexp.MustCompile(`(?i)</body\s*>`)

// UnsubscribeURL is the page of the message's recipient.
func (t *Tracker) UnsubscribeURL(messageID int64) string {
	return t.appURL + "/u/" + t.tokens.UnsubscribeToken(messageID)
}

// ClickURL and OpenURL are the redirect and the pixel of a message.
func (t *Tracker) ClickURL(messageID int64, link int) string {
	return t.appURL + "/t/c/" + t.tokens.ClickToken(messageID, link)
}

// OpenURL is the open pixel of a message.
func (t *Tracker) OpenURL(messageID int64) string {
	return t.appURL + "/t/o/" + t.tokens.OpenToken(messageID)
}

// Decorate rewrites every http(s) link of an <a> in the HTML to the click
// redirect (mailto:, tel:, anchors and the unsubscribe link are left alone),
// returning the original targets in order; adds the open pixel before
// </body>; replaces the unsubscribe placeholder in HTML and text; and, for
// marketing mail, sets the RFC 2369/8058 List-Unsubscribe headers.
func (t *Tracker) Decorate(shopID, messageID int64, htmlBody, text string, marketing bool) (email.Decorated, error) {
	if messageID <= 0 {
		return email.Decorated{}, fmt.Errorf("tracking: decorate: message id %d", messageID)
	}
	unsubTok := t.tokens.UnsubscribeToken(messageID)
	openTok := t.tokens.OpenToken(messageID)
	unsub := t.appURL + "/u/" + unsubTok
	personal := []string{unsubTok, openTok}
	var links []string
	out := hrefAttr.ReplaceAllStringFunc(htmlBody, func(m string) string {
		sub := hrefAttr.FindStringSubmatch(m)
		prefix, quoted := sub[1], sub[2]
		raw := strings.Trim(quoted, `"'`)
		target := strings.TrimSpace(html.UnescapeString(raw))
		lower := strings.ToLower(target)
		if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
			return m
		}
		if strings.HasPrefix(target, t.appURL+"/u/") || strings.HasPrefix(target, t.appURL+"/t/") {
			return m
		}
		links = append(links, target)
		tok := t.tokens.ClickToken(messageID, len(links)-1)
		personal = append(personal, tok)
		return prefix + `"` + html.EscapeString(t.appURL+"/t/c/"+tok) + `"`
	})
	out = UnsubscribePlaceholder.ReplaceAllLiteralString(out, html.EscapeString(unsub))
	pixel := `<img src="` + html.EscapeString(t.appURL+"/t/o/"+openTok) +
		`" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px;overflow:hidden" />`
	if locs := bodyClose.FindAllStringIndex(out, -1); len(locs) > 0 {
		at := locs[len(locs)-1][0]
		out = out[:at] + pixel + out[at:]
	} else if out != "" {
		out += pixel
	}
	d := email.Decorated{
		HTML:     out,
		Text:     UnsubscribePlaceholder.ReplaceAllLiteralString(text, unsub),
		Links:    links,
		Headers:  map[string]string{},
		Personal: personal,
	}
	if links == nil {
		d.Links = []string{}
	}
	if marketing {
		d.Headers["List-Unsubscribe"] = "<" + unsub + ">"
		d.Headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
	}
	return d, nil
}
