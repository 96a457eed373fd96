# The two commands a newcomer needs (see README): `make dev` and `make test`.
# Everything else here is what those two are made of.

GO ?= go
export CI_FLAGS ?=

.PHONY: dev test deps assets assets-check vet templ-check fmt-check go-test theme-check shopify-check js-test browser-test bench bench-customers bench-import bench-csv bench-ingest bench-send bench-render bench-segments bench-flows bench-campaign bench-report bench-attribution bench-recompute bench-metrics bench-lifecycle bench-reports pg-stop

## dev: local PostgreSQL, migrations, demo shop, simulated Shopify; admin at http://localhost:8080/ (PORT to change)
dev: deps assets
	$(GO) run . dev

## test: everything CI runs, one step after the other, with each step's time printed at the end
TEST_STEPS = deps assets-check fmt-check vet templ-check go-test theme-check shopify-check js-test browser-test
test:
	@bash scripts/timed-steps.sh "$(MAKE)" $(TEST_STEPS)

deps:
	@bash scripts/ensure-deps.sh

assets:
	npm run --silent build

# The theme extension's built assets are committed (shopify app deploy
# uploads them as they are): building must change nothing.
assets-check:
	@before=$$(find extensions/cartwheel-theme/assets -type f -exec sha256sum {} + | sort); \
	npm run --silent build; \
	after=$$(find extensions/cartwheel-theme/assets -type f -exec sha256sum {} + | sort); \
	if [ "$$before" != "$$after" ]; then echo "extensions/cartwheel-theme/assets changed when rebuilt: run 'npm run build' and commit"; exit 1; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*') | grep -v '_templ.go$$' || true); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Generated templ files are committed: regenerating must change nothing.
templ-check:
	@before=$$(find views -name '*_templ.go' -exec sha256sum {} + | sort); \
	$(GO) tool templ generate -path views >/dev/null; \
	after=$$(find views -name '*_templ.go' -exec sha256sum {} + | sort); \
	if [ "$$before" != "$$after" ]; then echo "templ generate changed views/*_templ.go: run 'go tool templ generate' and commit"; exit 1; fi

# Tests with a database run in parallel (dbtest); they mostly wait on
# PostgreSQL, so four at a time per package beats the default (GOMAXPROCS).
go-test:
	$(GO) test -count=1 -parallel 4 ./...

# Shopify's theme check on the theme app extension: any offense fails.
theme-check:
	npm run --silent check:theme

shopify-check:
	npm run --silent check:shopify

# Node unit tests: the storefront scripts (the web pixel, bundled by esbuild) and
# the email HTML checked against caniemail's data (renders via scripts/renderdemo).
js-test:
	npm run --silent test:unit

# The app and the fake Shopify are built once for all files, which run three
# at a time (node's default on two cores is one).
BROWSER_BIN = .data/browser-bin
browser-test:
	@mkdir -p $(BROWSER_BIN)
	$(GO) build -o $(BROWSER_BIN)/cartwheel . && $(GO) build -o $(BROWSER_BIN)/fakeshopify ./tests/browser/fakeshopify
	CARTWHEEL_BROWSER_BIN=$(CURDIR)/$(BROWSER_BIN) node --test --test-concurrency=3 tests/browser/

## bench: webhook acknowledgement latency at 500 req/s (figures printed)
bench: deps assets
	$(GO) test -run '^$$' -bench BenchmarkWebhookAck -benchtime 1x ./app/web/

## bench-customers: customers list/profile server time with 1M customers (BENCH_CUSTOMERS, BENCH_REQUESTS)
bench-customers: deps assets
	$(GO) test -run '^$$' -bench BenchmarkCustomersPages -benchtime 1x -timeout 60m ./app/web/

## bench-csv: upload and apply a generated 1M-row profile CSV (BENCH_CSV_ROWS)
bench-csv: deps
	$(GO) test -run '^$$' -bench BenchmarkCSVImport -benchtime 1x -timeout 30m ./app/customers/

## bench-import: full store import (100k customers, 300k orders, 900k line items, 5k products) from the fake Admin API
bench-import: deps
	$(GO) test -run '^$$' -bench BenchmarkImport -benchtime 1x -timeout 30m ./app/storesync/

## bench-ingest: storefront events via POST /ingest, group commit vs one INSERT per event (BENCH_INGEST_RATE batches/s of 10 events, BENCH_SECONDS)
bench-ingest: deps
	$(GO) test -run '^$$' -bench BenchmarkIngest -benchtime 1x -timeout 30m ./app/web/

## bench-send: reserve + deliver batches (checks, compose, ledger) to the fake SendGrid over loopback, msgs/s (BENCH_SEND_MESSAGES, BENCH_SEND_WORKERS)
bench-send: deps
	$(GO) test -run '^$$' -bench BenchmarkHandoff -benchtime 1x -timeout 30m ./app/email/sender/

## bench-render: personalised email renders per second on one core (abandoned cart, 3 products, merge tags)
bench-render:
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench BenchmarkRender -benchmem ./app/email/render/

## bench-segments: presets' full computation, builder live counts and per-customer refresh on 1M customers, 5M orders, 20M events (BENCH_SEGMENTS_CUSTOMERS; the seeded database is kept and reused)
bench-segments: deps
	$(GO) test -run '^$$' -bench BenchmarkSegments -benchtime 1x -timeout 120m ./app/segments/

## bench-flows: due flow steps per second into the ledger and the email queue with 1M runs waiting (BENCH_FLOWS_WAITING, BENCH_FLOWS_DUE, BENCH_FLOWS_WORKERS)
bench-flows: deps
	$(GO) test -run '^$$' -bench 'BenchmarkFlows' -benchtime 1x -timeout 60m ./app/flows/

## bench-campaign: a campaign sent end to end (10k and 100k personalised, tracked recipients to a local SMTP sink and to the SendGrid fake: msgs/s, the worker's peak RSS, CPU per message; BENCH_SEND_RECIPIENTS, BENCH_SEND_PROVIDERS, BENCH_SEND_WORKERS), then the snapshot of a 1M-customer audience and its reachable count (BENCH_CAMPAIGN_CUSTOMERS; the seeded database is kept and reused)
bench-campaign: deps
	$(GO) test -run '^$$' -bench 'BenchmarkCampaignSend' -benchtime 1x -timeout 60m ./app/campaigns/
	$(GO) test -run '^$$' -bench 'BenchmarkSnapshot' -benchtime 1x -timeout 60m ./app/campaigns/

## bench-attribution: cost of attributing an order when it arrives, one at a time and through the consumer (BENCH_ATTR_CUSTOMERS, default 100,000, each with 5 orders, 20 emails and ~60 events; the seeded database is kept and reused)
bench-attribution: deps
	$(GO) test -run '^$$' -bench 'BenchmarkAttribution' -benchtime 1x -timeout 60m ./app/reports/

## bench-recompute: full re-attribution after a window change on bench-attribution's store (seeds it through that benchmark first; BENCH_ATTR_CUSTOMERS)
bench-recompute: deps
	$(GO) test -run '^$$' -bench 'BenchmarkAttribution$$|BenchmarkRecomputeAttribution' -benchtime 1x -timeout 60m ./app/reports/

## bench-report: a campaign report's server time on a campaign of 1M recipients and millions of events, read from the rollups (BENCH_REPORT_RECIPIENTS; the seeded database is kept and reused)
bench-report: deps
	$(GO) test -run '^$$' -bench 'BenchmarkCampaignReport' -benchtime 1x -timeout 60m ./app/reports/

## bench-metrics: Admin › Reports server time (7/30/90/365 days; all email and one flow) on a year of rollups of a large store (BENCH_METRICS_DAY_CUSTOMERS; the seeded database is kept)
bench-metrics: deps
	$(GO) test -run '^$$' -bench 'BenchmarkReportsPage' -benchtime 1x -timeout 60m ./app/reports/

## bench-lifecycle: the dashboard's lifecycle funnel and member composition on 1M customers, 5M orders, 20M events (BENCH_LIFECYCLE_CUSTOMERS; the seeded database is kept)
bench-lifecycle: deps
	$(GO) test -run '^$$' -bench BenchmarkLifecycle -benchtime 1x -timeout 180m ./app/lifecycle/

## bench-reports: issue 13 §4 on one store of 1M customers, 5M orders and 50M email events (BENCH_REPORTS_CUSTOMERS; generated once into the kept database bench_dashboard): dashboard server time (30/90 days), a campaign report with its orders, attribution per order at webhook time, full re-attribution after a window change (BENCH_REPORTS_RECOMPUTE_CHUNKS caps it and extrapolates)
bench-reports: deps
	$(GO) test -run '^$$' -bench 'BenchmarkDashboard' -benchtime 1x -timeout 240m ./app/reports/

## pg-stop: stop the private PostgreSQL started by dev/test
pg-stop:
	$(GO) run ./scripts/pgctl stop
