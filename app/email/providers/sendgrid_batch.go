package providers

import (
	"context"
	"crypto/sha256"
	"errors"
	"html"
	"sort"
	"strconv"
	"strings"

	"github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/cartwheel/cartwheel/app/email"
)

// MaxPersonalizations is the most personalizations (and recipients) one
// SendGrid v3 mail send request takes.
const MaxPersonalizations = 1000

var _ email.BatchProvider = (*SendGrid)(nil)

// SendBatch implements email.BatchProvider with SendGrid's
// personalizations: messages whose bodies differ only in their Personal
// strings (tracking tokens, and the recipient's name and address where
// merge tags put them) go in one request per up to 1,000 recipients, as
// one body with a substitution key where each of those strings was, and
// per recipient its own values, subject, headers (List-Unsubscribe) and
// custom_args (cw_message_id, what the event webhook finds the ledger row
// by). Every other message (content that differs in more than that, or a
// body a substitution wouldn't give back exactly) is sent on its own.
//
// A request's outcome is each of its messages' outcome: retryable means
// SendGrid took none of them (all go back to queued), and the requests
// after it are not tried (they wait with it); an unknown outcome (the
// request may have reached SendGrid) fails them all, never resent; a
// refusal fails them all.
func (s *SendGrid) SendBatch(ctx context.Context, ms []email.Message) []email.Outcome {
	out := make([]email.Outcome, len(ms))
	groups, singles := groupForBatch(ms)
	// After a retryable answer (429, 5xx) the rest is not tried: it waits
	// with the refused request for the job's retry.
	var later error
	for _, g := range groups {
		for _, req := range g.requests() {
			if later == nil && ctx.Err() != nil {
				later = &RetryableError{Provider: "sendgrid", Msg: ctx.Err().Error()}
			}
			if later != nil {
				for _, i := range req {
					out[i] = email.Outcome{Err: later}
				}
				continue
			}
			body := mail.GetRequestBody(g.payload(ms, req))
			// One token of the shop's limiter per request: SendGrid limits
			// requests; the shop's messages per second are held by the
			// campaign's sending rate, across processes.
			var res email.Result
			err := s.limiter.Wait(ctx, ms[req[0]].ShopID)
			if err != nil {
				err = &RetryableError{Provider: "sendgrid", Msg: "rate limiter: " + err.Error()}
			} else {
				res, err = s.post(ctx, body)
			}
			for _, i := range req {
				out[i] = email.Outcome{Result: res, Err: err}
			}
			if errors.Is(err, email.ErrRetryable) {
				later = err
			}
		}
	}
	for _, i := range singles {
		if later == nil && ctx.Err() != nil {
			later = &RetryableError{Provider: "sendgrid", Msg: ctx.Err().Error()}
		}
		if later != nil {
			out[i] = email.Outcome{Err: later}
			continue
		}
		r, err := s.Send(ctx, ms[i])
		out[i] = email.Outcome{Result: r, Err: err}
		if errors.Is(err, email.ErrRetryable) {
			later = err
		}
	}
	return out
}

// batchGroup is messages that share one body once their personal strings
// are replaced by keys.
type batchGroup struct {
	html, text string
	members    []int               // indexes into the messages
	subs       []map[string]string // per member, in members' order
	index      map[int]int         // message index → its place in subs
	addr       map[int]string      // message index → its address, lower-cased
}

// requests splits the group into requests of at most MaxPersonalizations
// recipients with no address twice in one request.
func (g *batchGroup) requests() [][]int {
	var out [][]int
	var cur []int
	seen := map[string]bool{}
	pending := append([]int(nil), g.members...)
	for len(pending) > 0 {
		var later []int
		for _, i := range pending {
			a := g.addr[i]
			if seen[a] || len(cur) == MaxPersonalizations {
				later = append(later, i)
				continue
			}
			seen[a] = true
			cur = append(cur, i)
		}
		out = append(out, cur)
		cur, seen, pending = nil, map[string]bool{}, later
	}
	return out
}

// payload is the v3 body of one request of the group.
func (g *batchGroup) payload(ms []email.Message, req []int) *mail.SGMailV3 {
	first := ms[req[0]]
	v := mail.NewV3Mail()
	v.SetFrom(mail.NewEmail(first.From.Name, first.From.Email))
	if first.ReplyTo != "" {
		v.SetReplyTo(mail.NewEmail("", first.ReplyTo))
	}
	if g.text != "" {
		v.AddContent(mail.NewContent("text/plain", g.text))
	}
	if g.html != "" {
		v.AddContent(mail.NewContent("text/html", g.html))
	}
	if len(first.Categories) > 0 {
		v.AddCategories(first.Categories...)
	}
	for _, i := range req {
		m := ms[i]
		p := mail.NewPersonalization()
		p.AddTos(mail.NewEmail(m.To.Name, m.To.Email))
		p.Subject = m.Subject
		for k, val := range m.Headers {
			p.SetHeader(k, val)
		}
		for k, val := range g.subs[g.index[i]] {
			p.SetSubstitution(k, val)
		}
		p.SetCustomArg("cw_message_id", strconv.FormatInt(m.ID, 10))
		p.SetCustomArg("cw_shop_id", strconv.FormatInt(m.ShopID, 10))
		v.AddPersonalizations(p)
	}
	ts := mail.NewTrackingSettings()
	ts.SetClickTracking(mail.NewClickTrackingSetting().SetEnable(false).SetEnableText(false))
	ts.SetOpenTracking(mail.NewOpenTrackingSetting().SetEnable(false))
	ts.SetSubscriptionTracking(mail.NewSubscriptionTrackingSetting().SetEnable(false))
	v.SetTrackingSettings(ts)
	return v
}

// subKey is the substitution key of a message's i-th personal string in
// the HTML (h) or text part. Keys are checked never to occur in a body.
func subKey(i int, part byte) string { return "[%cw" + string(part) + strconv.Itoa(i) + "%]" }

// skeleton replaces the message's personal strings in its bodies by keys
// and returns the bodies and the substitutions that give them back; ok is
// false when the bodies already hold a key or the substitutions would not
// give the message back exactly (a personal string inside another, or
// found where it isn't personal and differs between recipients — those
// messages are sent on their own).
func skeleton(m email.Message) (htmlOut, textOut string, subs map[string]string, ok bool) {
	if strings.Contains(m.HTML, "[%cw") || strings.Contains(m.Text, "[%cw") || strings.Contains(m.Subject, "[%cw") {
		return "", "", nil, false
	}
	// Longest first, so a short value inside a longer one (a first name
	// inside the address) doesn't cut it up.
	type val struct {
		i int
		s string
	}
	var vals []val
	for i, p := range m.Personal {
		if strings.TrimSpace(p) != "" {
			vals = append(vals, val{i, p})
		}
	}
	sort.SliceStable(vals, func(a, b int) bool { return len(vals[a].s) > len(vals[b].s) })
	htmlOut, textOut = m.HTML, m.Text
	subs = map[string]string{}
	for _, v := range vals {
		hv, hk, tk := html.EscapeString(v.s), subKey(v.i, 'h'), subKey(v.i, 't')
		if strings.Contains(htmlOut, hv) {
			htmlOut = strings.ReplaceAll(htmlOut, hv, hk)
			subs[hk] = hv
		}
		if strings.Contains(textOut, v.s) {
			textOut = strings.ReplaceAll(textOut, v.s, tk)
			subs[tk] = v.s
		}
	}
	// What SendGrid will do with them must give this message back.
	if Substitute(htmlOut, subs) != m.HTML || Substitute(textOut, subs) != m.Text {
		return "", "", nil, false
	}
	return htmlOut, textOut, subs, true
}

// Substitute applies SendGrid substitutions to s: every key replaced by its
// value, in one pass (values are not searched again).
func Substitute(s string, subs map[string]string) string {
	if len(subs) == 0 {
		return s
	}
	keys := make([]string, 0, len(subs))
	for k := range subs {
		keys = append(keys, k)
	}
	// Longer keys first where one starts another.
	sort.Slice(keys, func(a, b int) bool { return len(keys[a]) > len(keys[b]) })
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, subs[k])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// groupForBatch sorts messages into groups that can share a request, and
// the indexes of those to send on their own.
func groupForBatch(ms []email.Message) ([]*batchGroup, []int) {
	byKey := map[[32]byte]*batchGroup{}
	var order []*batchGroup
	var singles []int
	for i, m := range ms {
		h, t, subs, ok := skeleton(m)
		if !ok {
			singles = append(singles, i)
			continue
		}
		k := groupKey(m, h, t)
		g := byKey[k]
		if g == nil {
			g = &batchGroup{html: h, text: t, addr: map[int]string{}, index: map[int]int{}}
			byKey[k] = g
			order = append(order, g)
		}
		g.index[i] = len(g.subs)
		g.members = append(g.members, i)
		g.subs = append(g.subs, subs)
		g.addr[i] = strings.ToLower(strings.TrimSpace(m.To.Email))
	}
	var groups []*batchGroup
	for _, g := range order {
		if len(g.members) == 1 {
			singles = append(singles, g.members[0])
			continue
		}
		groups = append(groups, g)
	}
	sort.Ints(singles)
	return groups, singles
}

// groupKey identifies what a request shares: sender, reply-to, categories,
// the header names (their values go per recipient) and both bodies.
func groupKey(m email.Message, htmlBody, text string) [32]byte {
	h := sha256.New()
	w := func(s string) { h.Write([]byte(strconv.Itoa(len(s)))); h.Write([]byte{':'}); h.Write([]byte(s)) }
	w(m.From.Name)
	w(m.From.Email)
	w(m.ReplyTo)
	w(strconv.FormatInt(m.ShopID, 10))
	for _, c := range m.Categories {
		w(c)
	}
	w("|")
	names := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		w(k)
	}
	w("|")
	w(htmlBody)
	w(text)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
