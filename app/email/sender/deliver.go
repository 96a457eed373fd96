package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/compose"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/signals"
)

// Deliver sends the shop's reserved ledger rows ids (a batch queued by
// EnqueueDeliver), working on the batch as a whole: a handful of statements
// whatever its size instead of several per message.
//
//  1. One read of the rows; rows no longer queued are settled as before.
//  2. Once per batch: the shop, its settings, the sender verification,
//     each template compiled.
//  3. One read of every recipient's profile with its suppression; the
//     per-recipient rules (deleted, no address, suppressed, consent) are
//     applied to it, and the rows they stop are skipped in one statement.
//  4. Each remaining email is composed (template, the profile as it is
//     now, the row's context) and tracked, on every core.
//  5. One transaction claims them: it locks the capped recipients'
//     profiles (ascending ids, customers.LockProfiles, the lock the
//     single-email path takes too), reads their latest marketing email
//     once, skips those the frequency cap or the campaign window holds,
//     applies the daily limit (campaign emails over it stay queued for the
//     shop's next day, flow emails count but are never held), and moves
//     the rest from queued to sending in one UPDATE. Two batches sending
//     one customer can't both pass a cap: the second waits for the first's
//     lock and then sees its row in sending.
//  6. The claimed messages go to the provider a chunk at a time
//     (Options.HandOffChunk; a BatchProvider gets the whole batch in its
//     own requests; a Concurrent one up to its Concurrency at once), each
//     chunk recorded as handed over right before it goes.
//  7. One transaction per chunk records what was sent (with the
//     EmailSent signals), one statement what failed.
//
// A worker killed mid-batch leaves its claimed rows in sending: the sweep
// (Sweep) fails those of the chunk being handed over — the provider may
// have them — and puts the rest, never handed over, back to queued with
// their delivery queued again. A batching provider's rows count as handed
// over from the claim (its requests follow at once), so they are failed.
//
// Every guarantee of Send holds per row: only a queued row is claimed and
// sent; a row another worker holds is left to it; a row left in sending by
// a dead worker is failed, never resent. A retryable provider error puts
// the rows not accepted back to queued and ends the batch with the error
// (the job retries; rows already settled are not touched again). Ids of
// another shop or of no row are ignored.
func (s *Sender) Deliver(ctx context.Context, shopID int64, ids []int64) ([]Result, error) {
	msgs, err := ledger.GetMany(ctx, s.d.DB, shopID, ids)
	if err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(msgs))
	var queued []ledger.Message
	for _, m := range msgs {
		if m.Status == ledger.Queued {
			queued = append(queued, m)
			continue
		}
		r, done, err := s.settle(ctx, m)
		if err != nil {
			return results, err
		}
		if !done {
			// Claimed by a batch whose worker died before handing it
			// over: queued again, and this batch may send it.
			m.Status = ledger.Queued
			queued = append(queued, m)
			continue
		}
		results = append(results, r)
	}
	if len(queued) == 0 {
		return results, nil
	}

	// Once per batch.
	sh, reason, err := s.shopChecks(ctx, shopID)
	if err != nil {
		return results, err
	}
	if reason == "" && strings.TrimSpace(sh.settings.PostalAddress) == "" {
		reason = SkipNoPostalAddress // every composed email shows it
	}
	if reason != "" {
		var sk skips
		for _, m := range queued {
			sk.add(m.ID, reason)
		}
		return sk.record(ctx, s, shopID, results)
	}
	b := &batch{shopID: shopID, state: sh, shop: compose.Shop(sh.shop, sh.settings),
		templates: compose.NewTemplates(s.d.Templates, shopID)}

	items, sk, err := s.checkRecipients(ctx, b, queued)
	if err != nil {
		return results, err
	}
	if results, err = sk.record(ctx, s, shopID, results); err != nil {
		return results, err
	}
	if len(items) == 0 {
		return results, nil
	}
	items, results, err = s.composeAll(ctx, b, items, results)
	if err != nil || len(items) == 0 {
		return results, err
	}
	if err := ctx.Err(); err != nil {
		return results, err // stopping: nothing claimed, all stay queued
	}
	budget, err := s.budgetFor(ctx, b, items)
	if err != nil {
		return results, err
	}
	claimed, results, held, err := s.claimBatch(ctx, b, items, budget, results)
	if err != nil {
		return results, err
	}
	if results, err = s.sendClaimed(ctx, b, claimed, results); err != nil {
		return results, err
	}
	if held != nil {
		return results, heldUntilTomorrow(held, time.Now())
	}
	return results, nil
}

// budgetFor reads the shop's daily limit left when the batch has campaign
// emails and the shop has a limit or a warm-up running (nil otherwise).
func (s *Sender) budgetFor(ctx context.Context, b *batch, items []*item) (*dailyBudget, error) {
	st := b.state.settings
	if st.DailySendLimit <= 0 && st.WarmupStartedOn == nil {
		return nil, nil
	}
	for _, it := range items {
		if it.m.Kind == ledger.KindCampaign && it.m.Marketing {
			return s.readDailyBudget(ctx, b.shopID, st, time.Now())
		}
	}
	return nil, nil
}

// batch is what Deliver reads once for all its messages.
type batch struct {
	shopID    int64
	state     shopState
	shop      render.Shop
	templates *compose.Templates
}

// item is one queued message on its way through Deliver.
type item struct {
	m  ledger.Message
	rc recipientCheck
	// composed
	comp *render.Compiled
	out  render.Output
	dec  email.Decorated
	who  compose.Recipient
	// claim is this batch's claim of the row
	claim ledger.Claimed
	// failed: the message can't be composed, ever
	failed string
}

// skips collects rows to mark skipped in one statement.
type skips struct {
	ids     []int64
	reasons []string
}

func (k *skips) add(id int64, reason string) {
	k.ids, k.reasons = append(k.ids, id), append(k.reasons, reason)
}

// record marks the rows skipped and adds their results.
func (k *skips) record(ctx context.Context, s *Sender, shopID int64, results []Result) ([]Result, error) {
	if len(k.ids) == 0 {
		return results, nil
	}
	if _, err := ledger.MarkSkippedMany(ctx, s.d.DB, shopID, k.ids, k.reasons); err != nil {
		return results, err
	}
	for i, id := range k.ids {
		results = append(results, Result{MessageID: id, Outcome: OutcomeSkipped, SkipReason: k.reasons[i]})
	}
	k.ids, k.reasons = nil, nil
	return results, nil
}

// checkRecipients reads every recipient's profile in one statement and
// applies the per-recipient rules that need no lock (all but the caps,
// which the claim applies). It returns the messages still to send and the
// ones to skip.
func (s *Sender) checkRecipients(ctx context.Context, b *batch, queued []ledger.Message) ([]*item, skips, error) {
	var sk skips
	var custIDs []int64
	var bare []string // addresses of rows without a profile
	for _, m := range queued {
		if m.CustomerID.Valid {
			custIDs = append(custIDs, m.CustomerID.Int64)
		} else if m.To != "" {
			bare = append(bare, m.To)
		}
	}
	profiles, err := s.profiles(ctx, b.shopID, custIDs)
	if err != nil {
		return nil, sk, err
	}
	suppressed, err := s.suppressedAmong(ctx, b.shopID, bare)
	if err != nil {
		return nil, sk, err
	}
	items := make([]*item, 0, len(queued))
	for _, m := range queued {
		rc := recipientCheck{MessageID: m.ID, To: m.To, Kind: m.Kind, Marketing: m.Marketing}
		var reason string
		switch {
		case m.CustomerID.Valid:
			rc.CustomerID = m.CustomerID.Int64
			p := profiles[rc.CustomerID]
			rc.Profile = p
			// The address is the profile's as it is now: a customer who
			// changed it gets the email at the new one.
			rc.To = p.Email
			if p.Found && !p.Deleted.Valid && p.Email == "" {
				reason = SkipNoAddress
			}
		case m.To == "":
			// The profile was erased (customers/redact) after the row was queued.
			reason = SkipCustomerDeleted
		}
		if reason == "" {
			reason = s.checkOne(rc, suppressed)
		}
		if reason != "" {
			sk.add(m.ID, reason)
			continue
		}
		items = append(items, &item{m: m, rc: rc})
	}
	return items, sk, nil
}

// checkOne is recipientChecks without the caps, on data already read.
func (s *Sender) checkOne(r recipientCheck, suppressedBare map[string]bool) string {
	p := r.Profile
	if r.CustomerID != 0 && (!p.Found || p.Deleted.Valid) {
		return SkipCustomerDeleted
	}
	if r.CustomerID != 0 {
		if p.Suppressed {
			return SkipSuppressed
		}
	} else if suppressedBare[strings.ToLower(strings.TrimSpace(r.To))] {
		return SkipSuppressed
	}
	if !r.Marketing {
		return ""
	}
	if r.CustomerID == 0 {
		return SkipNoProfile
	}
	if p.Consent != "subscribed" {
		return SkipNotConsented
	}
	return ""
}

// profiles reads the customers' profiles, each with whether its address is
// suppressed, in one statement. Customers not found are absent.
func (s *Sender) profiles(ctx context.Context, shopID int64, ids []int64) (map[int64]profile, error) {
	out := make(map[int64]profile, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID int64 `db:"id"`
		profile
	}
	err := s.d.DB.SelectContext(ctx, &rows, `
		SELECT c.id, c.deleted_at, c.email_consent, c.first_name, c.last_name, COALESCE(c.email, '') AS email,
		       EXISTS (SELECT 1 FROM suppressions x WHERE x.shop_id = c.shop_id AND x.email = lower(trim(c.email))) AS suppressed
		FROM customers c WHERE c.shop_id = $1 AND c.id = ANY($2)`, shopID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("sender: profiles: %w", err)
	}
	for _, r := range rows {
		p := r.profile
		p.Found = true
		out[r.ID] = p
	}
	return out, nil
}

// suppressedAmong returns which of the addresses (lower-cased, trimmed)
// are suppressed in the shop.
func (s *Sender) suppressedAmong(ctx context.Context, shopID int64, addrs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(addrs) == 0 {
		return out, nil
	}
	norm := make([]string, len(addrs))
	for i, a := range addrs {
		norm[i] = strings.ToLower(strings.TrimSpace(a))
	}
	var found []string
	if err := s.d.DB.SelectContext(ctx, &found, `SELECT email FROM suppressions WHERE shop_id = $1 AND email = ANY($2)`,
		shopID, pq.Array(norm)); err != nil {
		return nil, fmt.Errorf("sender: suppressions: %w", err)
	}
	for _, e := range found {
		out[e] = true
	}
	return out, nil
}

// composeAll composes and tracks every item, on every core. Templates are
// compiled first, once each (the cache is not shared between goroutines);
// a message whose template is gone or doesn't render fails; any other
// error (reading products) ends the batch before anything was claimed.
func (s *Sender) composeAll(ctx context.Context, b *batch, items []*item, results []Result) ([]*item, []Result, error) {
	var fails skips
	kept := items[:0]
	for _, it := range items {
		// A campaign's subject and preheader (its own or its A/B
		// variant's) replace the template's; other messages have none in
		// their context.
		comp, err := b.templates.GetFor(ctx, it.m.TemplateID, it.m.Context[ledger.ContextSubject], it.m.Context[ledger.ContextPreheader])
		if errors.Is(err, compose.ErrTemplate) {
			fails.add(it.m.ID, err.Error())
			continue
		}
		if err != nil {
			return nil, results, err
		}
		it.comp = comp
		kept = append(kept, it)
	}
	items = kept

	workers := min(runtime.GOMAXPROCS(0), len(items))
	next := make(chan *item)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				if err := s.composeOne(ctx, b, it); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, results, firstErr
	}
	kept = items[:0]
	for _, it := range items {
		if it.failed != "" {
			fails.add(it.m.ID, it.failed)
			continue
		}
		kept = append(kept, it)
	}
	if len(fails.ids) > 0 {
		if _, err := ledger.MarkFailedMany(ctx, s.d.DB, b.shopID, fails.ids, fails.reasons); err != nil {
			return nil, results, err
		}
		for i, id := range fails.ids {
			results = append(results, Result{MessageID: id, Outcome: OutcomeFailed, Error: fails.reasons[i]})
		}
	}
	return kept, results, nil
}

// composeOne renders and tracks one message.
func (s *Sender) composeOne(ctx context.Context, b *batch, it *item) error {
	rc := it.rc
	it.who = compose.Recipient{CustomerID: rc.CustomerID, FirstName: rc.Profile.FirstName, LastName: rc.Profile.LastName, Email: rc.To}
	data, err := compose.Data(ctx, s.d.Products, b.shopID, b.shop, it.who, it.m.Context, it.comp)
	if err != nil {
		return err
	}
	out, err := it.comp.Render(&data)
	if err != nil {
		it.failed = err.Error()
		return nil
	}
	it.out = out
	dec, err := s.d.Tracker.Decorate(b.shopID, it.m.ID, out.HTML, out.Text, it.m.Marketing)
	if err != nil {
		return fmt.Errorf("sender: tracking: %w", err)
	}
	it.dec = dec
	// The batch keeps every message until it is sent: only the tracked
	// bodies, not the rendered ones as well.
	it.out.HTML, it.out.Text = "", ""
	return nil
}

// capped reports whether the frequency cap or the campaign window applies
// to the message (see claim for why flow emails are left out).
func capped(st shopSettings, kind string, marketing bool, customerID int64) bool {
	return marketing && customerID != 0 && kind != ledger.KindFlow &&
		(st.capHours > 0 || (kind == ledger.KindCampaign && st.skipDays > 0))
}

type shopSettings struct{ capHours, skipDays int }

// claimBatch claims the composed items in one transaction (see Deliver,
// step 5) and returns those this call won, in id order. budget (nil: no
// limit) is what is left of the daily limit, used up as rows are claimed;
// the returned budget is set when campaign emails were left queued by it.
func (s *Sender) claimBatch(ctx context.Context, b *batch, items []*item, budget *dailyBudget, results []Result) ([]*item, []Result, *dailyBudget, error) {
	st := b.state.settings
	ss := shopSettings{capHours: st.MarketingCapHours, skipDays: st.CampaignSkipDays}
	now := time.Now()
	var lockIDs, batchIDs []int64
	for _, it := range items {
		batchIDs = append(batchIDs, it.m.ID)
		if capped(ss, it.m.Kind, it.m.Marketing, it.rc.CustomerID) {
			lockIDs = append(lockIDs, it.rc.CustomerID)
		}
	}

	tx, err := s.d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, results, nil, fmt.Errorf("sender: claim: %w", err)
	}
	defer tx.Rollback()
	var capWhy skips
	var take []*item
	var held *dailyBudget
	var latest map[int64]time.Time
	capSince, windowSince := now.Add(-time.Duration(ss.capHours)*time.Hour), now.AddDate(0, 0, -ss.skipDays)
	if len(lockIDs) > 0 {
		if _, err := customers.LockProfiles(ctx, tx, b.shopID, lockIDs); err != nil {
			return nil, results, nil, fmt.Errorf("sender: claim: %w", err)
		}
		since := now
		if ss.capHours > 0 {
			since = capSince
		}
		if ss.skipDays > 0 && windowSince.Before(since) {
			since = windowSince
		}
		if latest, err = ledger.LatestMarketing(ctx, tx, b.shopID, lockIDs, since, batchIDs); err != nil {
			return nil, results, nil, err
		}
	}
	for _, it := range items {
		cust := it.rc.CustomerID
		if capped(ss, it.m.Kind, it.m.Marketing, cust) {
			last, hit := latest[cust]
			switch {
			case hit && ss.capHours > 0 && !last.Before(capSince):
				capWhy.add(it.m.ID, SkipFrequencyCap)
				continue
			case hit && it.m.Kind == ledger.KindCampaign && ss.skipDays > 0 && !last.Before(windowSince):
				capWhy.add(it.m.ID, SkipFrequencyWindow)
				continue
			}
		}
		if budget != nil && it.m.Marketing {
			if it.m.Kind == ledger.KindCampaign && budget.left <= 0 {
				held = budget // stays queued until the shop's next day
				continue
			}
			budget.left--
		}
		if capped(ss, it.m.Kind, it.m.Marketing, cust) {
			// A second message of the batch to the same customer sees
			// this one as being sent, as a second batch would.
			if latest == nil {
				latest = map[int64]time.Time{}
			}
			latest[cust] = now
		}
		take = append(take, it)
	}
	if len(capWhy.ids) > 0 {
		if _, err := ledger.MarkSkippedMany(ctx, tx, b.shopID, capWhy.ids, capWhy.reasons); err != nil {
			return nil, results, nil, err
		}
	}
	rows := make([]ledger.ClaimRow, len(take))
	for i, it := range take {
		rows[i] = ledger.ClaimRow{ID: it.m.ID, CustomerID: it.rc.CustomerID, To: it.rc.To, Subject: it.out.Subject, Links: it.dec.Links}
	}
	// A batching provider gets the whole batch in its requests right after
	// this commit: its rows are handed over at the claim (one update of
	// each row fewer); the others are handed over a chunk at a time.
	_, batching := s.d.Provider.(email.BatchProvider)
	won, err := ledger.ClaimComposedMany(ctx, tx, b.shopID, s.d.Provider.Name(), batching, rows)
	if err != nil {
		return nil, results, nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, results, nil, fmt.Errorf("sender: claim: %w", err)
	}
	for i, id := range capWhy.ids {
		results = append(results, Result{MessageID: id, Outcome: OutcomeSkipped, SkipReason: capWhy.reasons[i]})
	}
	got := make(map[int64]ledger.Claimed, len(won))
	for _, c := range won {
		got[c.ID] = c
	}
	claimed := take[:0]
	for _, it := range take {
		if c, ok := got[it.m.ID]; ok {
			it.claim = c
			claimed = append(claimed, it)
			continue
		}
		// Someone else claimed it between our read and the claim, or the
		// customer was erased while we composed.
		r, done, err := s.existing(ctx, b.shopID, it.m.ID)
		if err == nil && !done {
			r, err = s.skip(ctx, b.shopID, it.m.ID, SkipCustomerDeleted)
		}
		if err != nil {
			return nil, results, nil, err
		}
		results = append(results, r)
	}
	return claimed, results, held, nil
}

// message is the provider's form of a claimed item.
func (b *batch) message(it *item) email.Message {
	st := b.state.settings
	m := it.m
	var cats []string
	cats = append(cats, m.Kind)
	switch {
	case m.FlowID != 0:
		cats = append(cats, "flow:"+strconv.FormatInt(m.FlowID, 10))
	case m.CampaignID != 0:
		cats = append(cats, "campaign:"+strconv.FormatInt(m.CampaignID, 10))
	}
	cats = append(cats, "template:"+strconv.FormatInt(m.TemplateID, 10))
	headers := make(map[string]string, len(it.dec.Headers))
	for k, v := range it.dec.Headers {
		headers[k] = v
	}
	return email.Message{
		ID: m.ID, ShopID: b.shopID,
		To:         email.Address{Name: strings.TrimSpace(it.who.FirstName + " " + it.who.LastName), Email: it.rc.To},
		From:       email.Address{Name: cmp.Or(m.Context[ledger.ContextSenderName], st.SenderName), Email: st.SenderEmail},
		ReplyTo:    st.ReplyTo,
		Subject:    it.out.Subject,
		HTML:       it.dec.HTML,
		Text:       it.dec.Text,
		Headers:    headers,
		Categories: cats,
		Personal:   personal(it),
	}
}

// personal lists what only this recipient's email holds: its tracking
// tokens, and the values merge tags put in it (as the renderer trims them).
func personal(it *item) []string {
	out := append([]string(nil), it.dec.Personal...)
	for _, v := range []string{it.who.FirstName, it.who.LastName, it.who.Email} {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// sendClaimed hands the claimed items to the provider a chunk at a time
// (Options.HandOffChunk; a BatchProvider gets them all at once): it records
// the chunk as handed over (from then on a dead worker's rows are failed,
// never resent), sends it — up to the provider's Concurrency at once — and
// records the outcomes: sent in one transaction, failed in one statement.
// A retryable error (or the job's context ending) puts every claimed row
// not taken by the provider back to queued and is returned: the job
// retries them.
func (s *Sender) sendClaimed(ctx context.Context, b *batch, claimed []*item, results []Result) ([]Result, error) {
	if len(claimed) == 0 {
		return results, nil
	}
	bp, batching := s.d.Provider.(email.BatchProvider)
	chunk := s.o.HandOffChunk
	if batching {
		chunk = len(claimed)
	}
	par := 1
	if c, ok := s.d.Provider.(email.Concurrent); ok {
		par = max(1, c.Concurrency())
	}
	// Record the outcomes even if the job's context is ending: the
	// provider calls already happened.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	claims := func(its []*item) []ledger.Claimed {
		out := make([]ledger.Claimed, len(its))
		for i, it := range its {
			out[i] = it.claim
		}
		return out
	}
	var stop error // why the rest is not sent: retryable, or the context
	var acc sentRows
	done := 0
	for done < len(claimed) && stop == nil {
		if err := ctx.Err(); err != nil {
			stop = err
			break
		}
		chunkItems := claimed[done:min(done+chunk, len(claimed))]
		done += len(chunkItems)
		var handed []int64
		var err error
		if batching {
			for _, it := range chunkItems {
				handed = append(handed, it.m.ID) // handed over at the claim
			}
		} else {
			handed, err = ledger.HandingOff(ctx, s.d.DB, b.shopID, claims(chunkItems))
		}
		if err != nil {
			if _, rerr := ledger.RequeueClaimed(wctx, s.d.DB, b.shopID, claims(claimed[done-len(chunkItems):]), err.Error()); rerr != nil {
				return results, rerr
			}
			return results, err
		}
		ours := make(map[int64]bool, len(handed))
		for _, id := range handed {
			ours[id] = true
		}
		var part []*item
		for _, it := range chunkItems {
			if ours[it.m.ID] {
				part = append(part, it)
			} else {
				// Taken back by the sweep (this batch looked dead) and
				// someone else's now.
				results = append(results, Result{MessageID: it.m.ID, Outcome: OutcomeInProgress})
			}
		}
		if len(part) == 0 {
			continue
		}
		msgs := make([]email.Message, len(part))
		for i, it := range part {
			msgs[i] = b.message(it)
		}
		var outcomes []email.Outcome
		var tried []bool
		if batching {
			outcomes = bp.SendBatch(ctx, msgs)
			tried = make([]bool, len(msgs))
			for i := range tried {
				tried[i] = true
			}
		} else {
			outcomes, tried = s.handOver(ctx, msgs, par)
		}
		if results, stop, err = s.record(wctx, b, &acc, msgs, part, outcomes, tried, results); err != nil {
			return results, err
		}
		if errors.Is(stop, errStopped) && ctx.Err() != nil {
			stop = ctx.Err()
		}
	}
	var err error
	if results, err = acc.flush(wctx, s, b.shopID, results); err != nil {
		return results, err
	}
	if stop != nil && done < len(claimed) {
		if _, err := ledger.RequeueClaimed(wctx, s.d.DB, b.shopID, claims(claimed[done:]), stop.Error()); err != nil {
			return results, err
		}
	}
	slices.SortStableFunc(results, func(a, b Result) int { return cmp.Compare(a.MessageID, b.MessageID) })
	return results, stop
}

// MarkSentEvery: accepted messages are recorded as sent (one transaction
// with their signals) once this many have gathered, and at the end of the
// batch. A worker that dies before recording them leaves them failed as
// interrupted (the provider has them; SendGrid's events still mark them).
const MarkSentEvery = 128

// sentRows gathers accepted messages until they are recorded.
type sentRows struct {
	ids, custs []int64
	pids       []string
}

func (a *sentRows) add(ids []int64, pids []string, custs []int64) {
	a.ids, a.pids, a.custs = append(a.ids, ids...), append(a.pids, pids...), append(a.custs, custs...)
}

func (a *sentRows) len() int { return len(a.ids) }

// flush records the gathered rows as sent.
func (a *sentRows) flush(ctx context.Context, s *Sender, shopID int64, results []Result) ([]Result, error) {
	if len(a.ids) == 0 {
		return results, nil
	}
	// If recording fails, the rows stay in sending and are failed as
	// interrupted, never resent; the provider's events still find them.
	if err := s.markSentMany(ctx, shopID, a.ids, a.pids, a.custs); err != nil {
		return results, err
	}
	for i, id := range a.ids {
		results = append(results, Result{MessageID: id, Outcome: OutcomeSent, ProviderID: a.pids[i]})
	}
	a.ids, a.pids, a.custs = nil, nil, nil
	return results, nil
}

// errStopped: messages of a chunk were not tried because the batch stopped.
var errStopped = errors.New("sender: delivery stopped before the provider was called")

// handOver sends the messages, up to par at once, and stops starting new
// ones at the first retryable error or when ctx ends; tried says which
// were handed to the provider.
func (s *Sender) handOver(ctx context.Context, ms []email.Message, par int) ([]email.Outcome, []bool) {
	outcomes, tried := make([]email.Outcome, len(ms)), make([]bool, len(ms))
	var mu sync.Mutex
	stopped := false
	next := 0
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if stopped || next >= len(ms) || ctx.Err() != nil {
			return -1
		}
		next++
		tried[next-1] = true
		return next - 1
	}
	var wg sync.WaitGroup
	for w := 0; w < min(par, len(ms)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := take(); i >= 0; i = take() {
				r, err := s.d.Provider.Send(ctx, ms[i])
				outcomes[i] = email.Outcome{Result: r, Err: err}
				if errors.Is(err, email.ErrRetryable) {
					// The provider says later: it certainly didn't take
					// this one, and the rest wait with it.
					mu.Lock()
					stopped = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return outcomes, tried
}

// record writes the outcomes of one handed-over chunk: sent (with their
// signals), failed, and back to queued for a retryable error or a message
// not tried. stop is the retryable error (or the context's), if any.
func (s *Sender) record(ctx context.Context, b *batch, acc *sentRows, part []email.Message, items []*item, outcomes []email.Outcome, tried []bool,
	results []Result) ([]Result, error, error) {
	var sentIDs, sentCusts []int64
	var requeue []ledger.Claimed
	var pids []string
	var fails skips
	var stop error
	for i, m := range part {
		o := outcomes[i]
		switch {
		case !tried[i]:
			requeue = append(requeue, items[i].claim)
		case o.Err == nil:
			sentIDs, pids = append(sentIDs, m.ID), append(pids, o.Result.ProviderID)
			if c := items[i].rc.CustomerID; c != 0 {
				sentCusts = append(sentCusts, c)
			}
		case errors.Is(o.Err, email.ErrRetryable):
			requeue = append(requeue, items[i].claim)
			if stop == nil {
				stop = o.Err
			}
			results = append(results, Result{MessageID: m.ID, Outcome: OutcomeRetry, Error: o.Err.Error()})
		default:
			fails.add(m.ID, o.Err.Error())
		}
	}
	if len(requeue) > 0 && stop == nil {
		stop = errStopped // the job's context ended mid-chunk
	}
	acc.add(sentIDs, pids, sentCusts)
	if acc.len() >= MarkSentEvery || stop != nil {
		var err error
		if results, err = acc.flush(ctx, s, b.shopID, results); err != nil {
			return results, stop, err
		}
	}
	if len(fails.ids) > 0 {
		if _, err := ledger.MarkFailedMany(ctx, s.d.DB, b.shopID, fails.ids, fails.reasons); err != nil {
			return results, stop, err
		}
		for i, id := range fails.ids {
			results = append(results, Result{MessageID: id, Outcome: OutcomeFailed, Error: fails.reasons[i]})
		}
	}
	if len(requeue) > 0 {
		if _, err := ledger.RequeueClaimed(ctx, s.d.DB, b.shopID, requeue, stop.Error()); err != nil {
			return results, stop, err
		}
	}
	return results, stop, nil
}

// markSentMany records the provider's acceptance of the rows and, for
// customers' messages, their EmailSent signals ("received an email"
// segment conditions read sent_at) in the same transaction.
func (s *Sender) markSentMany(ctx context.Context, shopID int64, ids []int64, pids []string, custs []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if s.jobs == nil {
		_, err := ledger.MarkSentMany(ctx, s.d.DB, shopID, ids, pids)
		return err
	}
	tx, err := s.d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sender: mark %d sent: %w", len(ids), err)
	}
	defer tx.Rollback()
	// The profiles before the ledger rows, in the order a SendGrid event
	// batch takes them (tracking locks its profiles first), so the two
	// can't deadlock.
	if len(custs) > 0 {
		if _, err := customers.LockProfiles(ctx, tx, shopID, custs); err != nil {
			return fmt.Errorf("sender: mark %d sent: %w", len(ids), err)
		}
	}
	sent, err := ledger.MarkSentMany(ctx, tx, shopID, ids, pids)
	if err != nil {
		return err
	}
	sigs := make([]signals.Signal, 0, len(sent))
	for _, r := range sent {
		if r.CustomerID != 0 {
			sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: r.CustomerID, Kind: signals.EmailSent,
				Ref: strconv.FormatInt(r.ID, 10)})
		}
	}
	if err := signals.Record(ctx, tx.Tx, sigs...); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sender: mark %d sent: %w", len(ids), err)
	}
	return nil
}
