// Package metrics holds the Prometheus collectors the binary exports at
// /metrics. They live in one registry owned by the process, not in the
// global default, so tests can build several servers side by side.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the counters and histograms the app records.
type Metrics struct {
	Registry         *prometheus.Registry
	HTTPRequests     *prometheus.CounterVec
	HTTPDuration     *prometheus.HistogramVec
	JobsWorked       *prometheus.CounterVec
	JobDuration      *prometheus.HistogramVec
	WebhooksReceived *prometheus.CounterVec
	// ConsistencyRepairs counts derived values the daily sweep found wrong
	// and rewrote (app/consistency); anything but 0 points at a bug.
	ConsistencyRepairs *prometheus.CounterVec
}

// New registers every collector in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cartwheel_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cartwheel_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		JobsWorked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cartwheel_jobs_total", Help: "Jobs worked by kind and outcome (ok or error).",
		}, []string{"kind", "outcome"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cartwheel_job_duration_seconds", Help: "Job run time by kind.",
		}, []string{"kind"}),
		WebhooksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cartwheel_webhooks_received_total", Help: "Shopify webhooks by topic and result (accepted, duplicate, rejected, rejected_body: stored but unprocessable).",
		}, []string{"topic", "result"}),
		ConsistencyRepairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cartwheel_consistency_repairs_total", Help: "Derived values the consistency sweep found wrong and repaired, by kind.",
		}, []string{"kind"}),
	}
	m.Registry.MustRegister(m.HTTPRequests, m.HTTPDuration, m.JobsWorked, m.JobDuration, m.WebhooksReceived, m.ConsistencyRepairs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
