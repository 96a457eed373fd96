package storesync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// errStream marks a result download that broke mid-way: worth reopening
// from the checkpoint.
var errStream = errors.New("storesync: result stream broke")

// maxErrorSamples bounds the bad lines kept verbatim per run.
const maxErrorSamples = 5

// group is a root object's line and the child lines that follow it
// (grouped output puts every child right after its parent). A child whose
// parent is not the line before it forms a group of its own, root nil.
type group struct {
	line     int64 // 1-based line number of the first line
	root     []byte
	rootID   string // the root's gid
	children []childLine
}

type childLine struct {
	line   int64
	parent string // the parent's gid
	raw    []byte
}

func (g *group) lines() int {
	if g.root == nil {
		return len(g.children)
	}
	return len(g.children) + 1
}

type lineError struct {
	line int64
	msg  string
}

// sink turns groups of one resource into rows and writes a batch of them.
type sink interface {
	// add decodes a group; bad lines come back as errors, the rest counts
	// as ok and is written by flush.
	add(g *group) (ok int, errs []lineError)
	flush(ctx context.Context, tx *sqlx.Tx, st sinkStores) error
}

// batch is what one transaction writes, with the checkpoint it reaches.
type batch struct {
	sink     sink
	lines    int
	ok       int
	errs     []lineError
	linesEnd int64 // lines_done once this batch is committed
}

// apply reads the JSONL result from the run's checkpoint, writing batches
// as it goes. Parsing runs in its own goroutine so it overlaps the
// database writes; at most two batches are in memory.
func (w *ImportWorker) apply(ctx context.Context, run *importRun, body io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- w.read(ctx, run, body, batches)
	}()
	var writeErr error
	for b := range batches {
		if writeErr != nil {
			continue // drain so the reader can stop
		}
		if err := w.write(ctx, run, b); err != nil {
			writeErr = err
			cancel()
		}
	}
	if writeErr != nil {
		return writeErr
	}
	return <-readErr
}

// read splits the stream into groups and groups into batches.
func (w *ImportWorker) read(ctx context.Context, run *importRun, body io.Reader, out chan<- *batch) error {
	br := bufio.NewReaderSize(body, 256<<10)
	lineNo, err := skipLines(br, run.LinesDone)
	if err == io.EOF {
		// The file ends at or before the checkpoint: everything is applied.
		out <- &batch{sink: newSink(run.Resource), linesEnd: lineNo}
		return nil
	}
	if err != nil {
		return streamErr(ctx, err)
	}
	cur := &batch{sink: newSink(run.Resource), linesEnd: lineNo}
	var g *group
	send := func(next int64) error {
		cur.linesEnd = next
		select {
		case out <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur = &batch{sink: newSink(run.Resource), linesEnd: next}
		return nil
	}
	closeGroup := func() {
		if g == nil {
			return
		}
		ok, errs := cur.sink.add(g)
		cur.ok += ok
		cur.errs = append(cur.errs, errs...)
		cur.lines += g.lines()
		g = nil
	}
	for {
		raw, err := br.ReadBytes('\n')
		if len(raw) > 0 && (err == nil || err == io.EOF) {
			raw = bytes.TrimRight(raw, "\r\n")
		}
		if err != nil && err != io.EOF {
			return streamErr(ctx, err)
		}
		if len(raw) > 0 {
			lineNo++
			parent := parentID(raw)
			switch {
			case parent == "":
				// A new root: the previous group is complete, and a batch
				// may end here, so the checkpoint always lands on a root.
				closeGroup()
				if cur.lines >= w.o.BatchSize {
					if err := send(lineNo - 1); err != nil {
						return err
					}
				}
				g = &group{line: lineNo, root: raw, rootID: rootGID(raw)}
			case g != nil && g.root != nil && g.rootID == parent:
				g.children = append(g.children, childLine{line: lineNo, parent: parent, raw: raw})
			default:
				closeGroup()
				g = &group{line: lineNo, children: []childLine{{line: lineNo, parent: parent, raw: raw}}}
			}
		}
		if err == io.EOF {
			closeGroup()
			return send(lineNo)
		}
	}
}

func streamErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %w", errStream, err)
}

// skipLines discards n lines without keeping them.
func skipLines(br *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		_, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			done++
		case errors.Is(err, bufio.ErrBufferFull):
			// a line longer than the buffer: keep reading it
		case err == io.EOF:
			return done, io.EOF
		default:
			return done, err
		}
	}
	return done, nil
}

var parentKey = []byte(`"__parentId":"`)

// parentID finds a line's "__parentId" without decoding it. The key can't
// appear unescaped inside a string value, so a byte search is exact.
func parentID(line []byte) string {
	i := bytes.LastIndex(line, parentKey)
	if i < 0 {
		return ""
	}
	rest := line[i+len(parentKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// rootGID finds a root line's own "id": cheaply when it is the first key
// (as Shopify writes it), else by decoding the line.
func rootGID(line []byte) string {
	if bytes.HasPrefix(line, []byte(`{"id":"`)) {
		rest := line[len(`{"id":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			return string(rest[:j])
		}
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := decodeJSON(line, &v, "id"); err != nil {
		return ""
	}
	return v.ID
}

// write commits one batch and moves the checkpoint in the same
// transaction, so rows and checkpoint never disagree. The checkpoint only
// moves from where this worker found it: a second worker on the same run
// fails instead of double-counting.
func (w *ImportWorker) write(ctx context.Context, run *importRun, b *batch) error {
	tx, err := w.d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if b.ok > 0 {
		st := sinkStores{shopID: run.ShopID, customers: w.d.Customers, orders: w.d.Orders, catalog: w.d.Catalog}
		if err := b.sink.flush(ctx, tx, st); err != nil {
			return fmt.Errorf("write batch ending at line %d: %w", b.linesEnd, err)
		}
		if os, ok := b.sink.(*orderSink); ok && w.d.Attribute != nil && len(os.orders) > 0 {
			ids := make([]int64, len(os.orders))
			for i, o := range os.orders {
				ids[i] = o.ShopifyID
			}
			if err := w.d.Attribute(ctx, tx, run.ShopID, ids); err != nil {
				return fmt.Errorf("attribute orders of the batch ending at line %d: %w", b.linesEnd, err)
			}
		}
	}
	samples := make([]string, 0, len(b.errs))
	lastErr := ""
	for _, e := range b.errs {
		msg := fmt.Sprintf("line %d: %s", e.line, e.msg)
		if len(msg) > 300 {
			msg = msg[:300]
		}
		if len(samples) < maxErrorSamples {
			samples = append(samples, msg)
		}
		lastErr = msg
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE import_runs SET lines_done = $2, rows_done = rows_done + $3, errors = errors + $4,
			error_samples = (error_samples || $5::text[])[1:5],
			last_error = CASE WHEN $6 <> '' THEN $6 ELSE last_error END, updated_at = now()
		WHERE id = $1 AND lines_done = $7`,
		run.ID, b.linesEnd, b.ok, len(b.errs), pq.Array(samples), lastErr, run.LinesDone)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("checkpoint of run %d moved under us (another worker?)", run.ID)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	run.LinesDone = b.linesEnd
	run.RowsDone += int64(b.ok)
	run.Errors += len(b.errs)
	if run.RowsDone >= run.nextAnalyze {
		// Tables that started empty keep plans made for empty tables
		// (sequential scans in every lookup) until autovacuum notices;
		// fresh statistics at each doubling keep batches fast.
		if err := w.analyze(ctx, run.Resource); err != nil {
			return err
		}
		run.nextAnalyze = max(2*run.RowsDone, 4000)
	}
	if w.afterBatch != nil {
		w.afterBatch(run.Resource, run.LinesDone)
	}
	return nil
}

// analyzeTables are the tables each resource's batches write and look up.
var analyzeTables = map[string][]string{
	ResourceProducts:  {"products", "variants", "collections"},
	ResourceCustomers: {"customers"},
	ResourceOrders:    {"customers", "orders", "order_line_items", "refunds"},
	ResourceCheckouts: {"checkouts"},
}

func (w *ImportWorker) analyze(ctx context.Context, resource string) error {
	for _, t := range analyzeTables[resource] {
		// Table names are constants above, never input.
		if _, err := w.d.DB.ExecContext(ctx, "ANALYZE "+t); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}
