// Package jobs wires River: one client on the app's *sql.DB (poll-only, as
// the database/sql driver has no LISTEN), the workers of every domain, and
// job metrics. Domain packages define their own job args and workers and
// enqueue through the narrow Inserter interface inside their transactions.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/metrics"
)

// Inserter enqueues a job in the caller's transaction, so the job exists if
// and only if the domain write committed.
type Inserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Client is the River client type used across the app.
type Client = river.Client[*sql.Tx]

// QueueEmail is the queue email deliveries run on, with its own workers, so
// a send never waits behind a store import or a segment refresh on the
// default queue.
const QueueEmail = "email"

// QueueFlows is the queue flow steps run on (flows.Queue): a long import
// doesn't hold up a due abandoned-cart email.
const QueueFlows = "flows"

// Options tune the client; zero values are production defaults.
type Options struct {
	MaxWorkers int // default queue (default 10)
	// EmailWorkers works QueueEmail (default 10).
	EmailWorkers int
	PollInterval time.Duration
	Logger       *slog.Logger
	Metrics      *metrics.Metrics
	// Periodic jobs are inserted on schedule by the elected leader, so N
	// instances still run each once.
	Periodic []*river.PeriodicJob
}

// New builds the client with the given workers registered. It can insert
// right away; Start runs the workers.
func New(db *sql.DB, workers *river.Workers, o Options) (*Client, error) {
	if o.MaxWorkers == 0 {
		o.MaxWorkers = 10
	}
	if o.PollInterval == 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg := &river.Config{
		Queues:            Queues(o),
		Workers:           workers,
		PollOnly:          true,
		FetchPollInterval: o.PollInterval,
		FetchCooldown:     o.PollInterval / 5,
		Logger:            o.Logger,
		JobTimeout:        5 * time.Minute,
		PeriodicJobs:      o.Periodic,
	}
	if o.Metrics != nil {
		cfg.Middleware = []rivertype.Middleware{&metricsMiddleware{m: o.Metrics}}
	}
	c, err := river.NewClient(riverdatabasesql.New(db), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: new client: %w", err)
	}
	return c, nil
}

// Queues are the queues a client built with o works, each with its own
// worker pool: every queue a job is inserted into must be here, or its jobs
// would wait forever.
func Queues(o Options) map[string]river.QueueConfig {
	def, email := o.MaxWorkers, o.EmailWorkers
	if def == 0 {
		def = 10
	}
	if email == 0 {
		email = 10
	}
	return map[string]river.QueueConfig{
		river.QueueDefault: {MaxWorkers: def},
		QueueEmail:         {MaxWorkers: email},
		QueueFlows:         {MaxWorkers: 4},
	}
}

type metricsMiddleware struct {
	river.MiddlewareDefaults
	m *metrics.Metrics
}

func (mw *metricsMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	start := time.Now()
	err := doInner(ctx)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	mw.m.JobsWorked.WithLabelValues(job.Kind, outcome).Inc()
	mw.m.JobDuration.WithLabelValues(job.Kind).Observe(time.Since(start).Seconds())
	return err
}
