package campaigns_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

// BenchmarkSendPipeline measures the two halves of sending a campaign of
// BENCH_SEND_RECIPIENTS (default 20,000) to an in-process SMTP server:
// the hand-off (batches of 500 reserving ledger rows, marking recipients,
// moving the checkpoint, queueing deliveries; one worker, as batches of a
// campaign take turns) and the delivery (the deliver jobs' message ids run
// through sender.Deliver by 8 workers, as the email queue would, one SMTP
// connection per message). Reported as recipients/s and emails/s.
func BenchmarkSendPipeline(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("BENCH_SEND_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := dbtest.New(b)
		for _, q := range []string{
			`INSERT INTO shops (id, domain, iana_timezone, installed_at, access_token_enc, sender_name, sender_email, postal_address,
				marketing_cap_hours, campaign_skip_days, send_rate_per_second)
			 VALUES (1, 'bench.myshopify.com', 'UTC', now(), '\x00'::bytea, 'Bench', 'hello@bench.example', '1 Road', 0, 0, 100000)`,
			`INSERT INTO customers (shop_id, email, email_consent, first_name, tags)
			 SELECT 1, 'c' || g || '@example.com', 'subscribed', 'C' || g, '{vip}' FROM generate_series(1, ` + strconv.Itoa(n) + `) g`,
		} {
			d.MustExec(q)
		}
		seg, err := segments.NewStore(d).Create(ctx, 1, "vip", segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and",
			Items: []segments.Node{{Condition: &segments.Condition{Field: segments.FieldTags, Op: "has_any", Values: []string{"vip"}}}}}}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		tpl, err := render.NewStore(d).Save(ctx, 1, 0, "", render.Template{Name: "News", Locale: render.LocaleEN, Subject: "News",
			Blocks: []render.Block{{Type: render.BlockHeading, Text: "Hello {{ first_name }}"}, {Type: render.BlockFooter}}})
		if err != nil {
			b.Fatal(err)
		}
		smtpSink := newSink(b)
		smtp, err := providers.NewSMTP("smtp://" + smtpSink.ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		snd, err := sender.New(sender.Deps{DB: d, Shops: shops.NewStore(d, nil), Provider: smtp, Tracker: sender.NoTracking{},
			Verifier: sender.AlwaysVerified, Templates: render.NewStore(d), Products: render.NewProductSource(d)}, sender.Options{})
		if err != nil {
			b.Fatal(err)
		}
		sending := &campaigns.Sending{Store: campaigns.NewStore(d)}
		workers := river.NewWorkers()
		river.AddWorker(workers, &campaigns.SendWorker{S: sending})
		river.AddWorker(workers, sender.NewDeliverWorker(snd))
		jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		sending.QueueWith(jc)
		c, err := sending.Store.Create(ctx, 1, campaigns.Draft{Name: "Bench", Subject: "Hi {{ first_name }}", TemplateID: tpl,
			Audience: campaigns.Audience{Include: []int64{seg.ID}}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sending.Start(ctx, 1, c.ID, time.Now()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		start := time.Now()
		for {
			r, err := sending.SendBatch(ctx, 1, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			if r.Finished || r.Stopped != "" {
				break
			}
		}
		handoff := time.Since(start)

		var args [][]byte
		if err := d.Select(&args, `SELECT args FROM river_job WHERE kind = 'email.deliver' ORDER BY id`); err != nil {
			b.Fatal(err)
		}
		work := make(chan []int64, len(args))
		for _, a := range args {
			var da sender.DeliverArgs
			if err := json.Unmarshal(a, &da); err != nil {
				b.Fatal(err)
			}
			work <- da.MessageIDs
		}
		close(work)
		start = time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ids := range work {
					if _, err := snd.Deliver(ctx, 1, ids); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		delivery := time.Since(start)
		if got := smtpSink.received(); got != n {
			b.Fatalf("%d emails received, want %d", got, n)
		}
		b.ReportMetric(float64(n)/handoff.Seconds(), "handoff-recipients/s")
		b.ReportMetric(float64(n)/delivery.Seconds(), "delivered-emails/s")
	}
}
