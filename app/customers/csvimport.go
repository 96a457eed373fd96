package customers

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/csvcell"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals"
)

// MaxImportBytes bounds an uploaded CSV file (Klaviyo exports of large
// stores reach a couple of hundred megabytes).
const MaxImportBytes = 250 << 20

// Import kinds.
const (
	ImportProfiles     = "profiles"
	ImportSuppressions = "suppressions"
)

// Target fields a CSV column can map to. FieldProperty keeps the column as
// a custom property named after its header; FieldIgnore drops it.
const (
	FieldIgnore    = "ignore"
	FieldEmail     = "email"
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
	FieldPhone     = "phone"
	FieldCountry   = "country"
	FieldCity      = "city"
	FieldProvince  = "province_code"
	FieldTimezone  = "timezone"
	FieldLocale    = "locale"
	FieldTags      = "tags"
	FieldConsent   = "consent"
	FieldConsentAt = "consent_at"
	FieldReason    = "reason"
	FieldProperty  = "property"
)

// ProfileFields and SuppressionFields are the targets offered in the
// mapping preview, in display order.
var (
	ProfileFields = []string{FieldEmail, FieldFirstName, FieldLastName, FieldPhone, FieldCountry, FieldProvince, FieldCity, FieldLocale,
		FieldTimezone, FieldTags, FieldConsent, FieldConsentAt, FieldProperty, FieldIgnore}
	SuppressionFields = []string{FieldEmail, FieldReason, FieldIgnore}
)

// ImportError is a problem with the uploaded file or the mapping, worded for
// the merchant; the handler answers it with a 4xx and the message.
type ImportError struct{ Msg string }

func (e *ImportError) Error() string { return e.Msg }

// Limits on one row of a CSV file. csv.Reader keeps a whole row in memory,
// so without them one 100 MB cell is read, kept and stored whole; with them
// a row costs at most about MaxRowBytes and the file is refused naming the
// line and column.
const (
	MaxCellBytes = 64 << 10 // one cell (a long custom property fits)
	MaxRowBytes  = 1 << 20  // one row, every cell together
	// sampleCellRunes bounds each cell kept for the mapping preview (which
	// shows 60 characters).
	sampleCellRunes = 100
)

// ErrTooLarge is returned when an upload exceeds MaxImportBytes.
var ErrTooLarge = fmt.Errorf("the file is larger than %d MB", MaxImportBytes>>20)

func importErr(format string, args ...any) error {
	return &ImportError{Msg: fmt.Sprintf(format, args...)}
}

// Import is one uploaded CSV file and the progress of its import.
type Import struct {
	ID           int64          `db:"id"`
	ShopID       int64          `db:"shop_id"`
	Kind         string         `db:"kind"`
	Format       string         `db:"format"`
	Filename     string         `db:"filename"`
	Separator    string         `db:"separator"`
	Header       pq.StringArray `db:"header"`
	MappingJSON  []byte         `db:"mapping"`
	SampleJSON   []byte         `db:"sample"`
	BytesTotal   int64          `db:"bytes_total"`
	RowsTotal    int64          `db:"rows_total"`
	RowsDone     int64          `db:"rows_done"`
	RowsCreated  int64          `db:"rows_created"`
	RowsUpdated  int64          `db:"rows_updated"`
	RowsRejected int64          `db:"rows_rejected"`
	Status       string         `db:"status"`
	Error        string         `db:"error"`
	// StartFlows: the merchant asked to start subscribed-trigger flows for
	// the people this file newly subscribes.
	StartFlows bool       `db:"start_flows"`
	CreatedAt  time.Time  `db:"created_at"`
	FinishedAt *time.Time `db:"finished_at"`
}

// Mapping returns the column → field mapping, one entry per header column.
func (im Import) Mapping() []string {
	m := make([]string, len(im.Header))
	var stored map[string]string
	_ = json.Unmarshal(im.MappingJSON, &stored)
	for i := range m {
		m[i] = stored[strconv.Itoa(i)]
		if m[i] == "" {
			m[i] = FieldIgnore
		}
	}
	return m
}

// Sample returns the first rows of the file, for the preview.
func (im Import) Sample() [][]string {
	var rows [][]string
	_ = json.Unmarshal(im.SampleJSON, &rows)
	return rows
}

// Percent is the progress of a running import.
func (im Import) Percent() int {
	if im.Status == "done" {
		return 100
	}
	if im.RowsTotal == 0 {
		return 0
	}
	return int(im.RowsDone * 100 / im.RowsTotal)
}

// Finished reports whether the import ended (done or failed).
func (im Import) Finished() bool { return im.Status == "done" || im.Status == "failed" }

const chunkSize = 1 << 20

// abandonedUploadAge is how long an upload nobody imported is kept.
const abandonedUploadAge = 7 * 24 * time.Hour

// Upload reads a CSV file once, streaming it into the database in chunks
// while checking that it is UTF-8 CSV with a header, and records what the
// mapping preview needs. Nothing is stored unless the whole file is usable:
// a bad file is an *ImportError naming the line, and the transaction is
// rolled back.
func (s *Store) Upload(ctx context.Context, shopID int64, kind, filename string, body io.Reader) (Import, error) {
	if kind != ImportProfiles && kind != ImportSuppressions {
		return Import{}, importErr("unknown import type %q: choose profiles or suppressions", kind)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Import{}, fmt.Errorf("customers: upload: %w", err)
	}
	defer tx.Rollback()
	// Files uploaded but never imported hold personal data for no purpose:
	// drop the shop's week-old ones.
	if _, err := tx.ExecContext(ctx, `DELETE FROM csv_imports WHERE shop_id = $1 AND status = 'uploaded'
		AND created_at < now() - $2 * interval '1 second'`, shopID, abandonedUploadAge.Seconds()); err != nil {
		return Import{}, fmt.Errorf("customers: upload: prune: %w", err)
	}
	var id int64
	if err := tx.GetContext(ctx, &id, `INSERT INTO csv_imports (shop_id, kind, format, filename, header)
		VALUES ($1, $2, 'generic', $3, '{}') RETURNING id`, shopID, kind, truncate(filename, 200)); err != nil {
		return Import{}, fmt.Errorf("customers: upload: %w", err)
	}

	counted := &limitCounter{r: body, limit: MaxImportBytes}
	br := bufio.NewReaderSize(counted, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return Import{}, importErr("the file is UTF-16 text; save it as \"CSV UTF-8\" and upload it again")
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3) // Excel's UTF-8 byte order mark
	}
	first, _ := br.Peek(64 << 10)
	sep := detectSeparator(first)

	cw := &chunkWriter{ctx: ctx, tx: tx, id: id}
	rr := newRowReader(io.TeeReader(br, cw), sep)

	var header []string
	var sample [][]string
	var rows int64
	for {
		rec, err := rr.read(header)
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return Import{}, ErrTooLarge
			}
			var ie *ImportError
			if errors.As(err, &ie) {
				return Import{}, err
			}
			if cw.err != nil {
				return Import{}, cw.err
			}
			return Import{}, fmt.Errorf("customers: upload: %w", err)
		}
		if header == nil {
			header = make([]string, len(rec))
			for i, h := range rec {
				header[i] = strings.TrimSpace(h)
			}
			continue
		}
		if isBlank(rec) {
			continue
		}
		rows++
		if len(sample) < 5 {
			row := make([]string, len(rec))
			for i, f := range rec {
				row[i] = truncateRunes(f, sampleCellRunes)
			}
			sample = append(sample, row)
		}
	}
	if err := cw.flush(); err != nil {
		return Import{}, err
	}
	if header == nil {
		return Import{}, importErr("the file is empty: it needs a header line and at least one row")
	}
	if rows == 0 {
		return Import{}, importErr("the file has a header but no rows")
	}
	if len(header) > 500 {
		return Import{}, importErr("the file has %d columns; at most 500 are supported", len(header))
	}
	format := detectFormat(header)
	mapping := defaultMapping(kind, header)
	mj, _ := json.Marshal(mappingDoc(mapping))
	sj, _ := json.Marshal(sample)
	if _, err := tx.ExecContext(ctx, `UPDATE csv_imports SET format = $2, separator = $3, header = $4, mapping = $5, sample = $6,
		bytes_total = $7, rows_total = $8 WHERE id = $1`,
		id, format, string(sep), pq.Array(header), mj, sj, counted.n, rows); err != nil {
		return Import{}, fmt.Errorf("customers: upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Import{}, fmt.Errorf("customers: upload: %w", err)
	}
	return s.GetImport(ctx, shopID, id)
}

// GetImport loads an import of the shop, or ErrNotFound.
func (s *Store) GetImport(ctx context.Context, shopID, id int64) (Import, error) {
	var im Import
	// The sample is only shown while the import waits for its mapping;
	// progress polls of a running import don't load it.
	err := s.db.GetContext(ctx, &im, `SELECT id, shop_id, kind, format, filename, separator, header, mapping,
		CASE WHEN status = 'uploaded' THEN sample END AS sample, bytes_total,
		rows_total, rows_done, rows_created, rows_updated, rows_rejected, status, error, start_flows, created_at, finished_at
		FROM csv_imports WHERE shop_id = $1 AND id = $2`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Import{}, ErrNotFound
	}
	if err != nil {
		return Import{}, fmt.Errorf("customers: import %d: %w", id, err)
	}
	return im, nil
}

// ImportArgs is the River job that applies an uploaded file.
type ImportArgs struct {
	ShopID   int64 `json:"shop_id"`
	ImportID int64 `json:"import_id"`
}

// Kind names the job.
func (ImportArgs) Kind() string { return "customers_csv_import" }

// importAttempts bounds River's retries of a CSV import (about 20 s from
// the first failure to the last try with River's backoff). The import page
// shows each failed attempt's reason; after the last one the import is
// failed and the merchant retries it from the page (RetryImport).
const importAttempts = 3

// InsertOpts bounds the retries (see importAttempts).
func (ImportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: importAttempts} }

// RetryImport queues a failed import again, from the start of its file
// (applying rows is idempotent).
func (s *Store) RetryImport(ctx context.Context, ins jobs.Inserter, shopID, id int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("customers: retry import %d: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE csv_imports SET status = 'queued', error = '', updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'failed'`, shopID, id)
	if err != nil {
		return fmt.Errorf("customers: retry import %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return importErr("only an import that stopped can be retried")
	}
	if _, err := ins.InsertTx(ctx, tx.Tx, ImportArgs{ShopID: shopID, ImportID: id}, nil); err != nil {
		return fmt.Errorf("customers: retry import %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("customers: retry import %d: %w", id, err)
	}
	return nil
}

// StartImport checks the mapping the merchant confirmed, stores it and
// queues the import in the same transaction. mapping has one field per
// header column.
func (s *Store) StartImport(ctx context.Context, ins jobs.Inserter, shopID, id int64, mapping []string) error {
	return s.StartImportWith(ctx, ins, shopID, id, mapping, StartOptions{})
}

// StartOptions are the merchant's choices on the import screen besides the
// mapping.
type StartOptions struct {
	// StartFlows lets the people the file newly subscribes start
	// subscribed-trigger flows (off by default: importing long-standing
	// subscribers must not start a welcome series for each).
	StartFlows bool
}

// StartImportWith is StartImport with the screen's options, stored with
// the import (its history shows them; the job's args stay ids only).
func (s *Store) StartImportWith(ctx context.Context, ins jobs.Inserter, shopID, id int64, mapping []string, opts StartOptions) error {
	im, err := s.GetImport(ctx, shopID, id)
	if err != nil {
		return err
	}
	if im.Status != "uploaded" {
		return importErr("this import was already started")
	}
	if len(mapping) != len(im.Header) {
		return importErr("the mapping has %d columns but the file has %d", len(mapping), len(im.Header))
	}
	allowed := ProfileFields
	if im.Kind == ImportSuppressions {
		allowed = SuppressionFields
	}
	seen := map[string]string{}
	for i, f := range mapping {
		if !contains(allowed, f) {
			return importErr("column %q: %q is not a field you can import into", im.Header[i], f)
		}
		if f == FieldIgnore || f == FieldProperty {
			continue
		}
		if prev, ok := seen[f]; ok {
			return importErr("columns %q and %q are both mapped to %s; map only one", prev, im.Header[i], fieldLabel(f))
		}
		seen[f] = im.Header[i]
	}
	if _, ok := seen[FieldEmail]; !ok {
		return importErr("map one column to Email: every row needs an email address")
	}
	mj, _ := json.Marshal(mappingDoc(mapping))
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("customers: start import %d: %w", id, err)
	}
	defer tx.Rollback()
	startFlows := opts.StartFlows && im.Kind == ImportProfiles
	res, err := tx.ExecContext(ctx, `UPDATE csv_imports SET mapping = $3, start_flows = $4, status = 'queued', updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'uploaded'`, shopID, id, mj, startFlows)
	if err != nil {
		return fmt.Errorf("customers: start import %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return importErr("this import was already started")
	}
	if _, err := ins.InsertTx(ctx, tx.Tx, ImportArgs{ShopID: shopID, ImportID: id}, nil); err != nil {
		return fmt.Errorf("customers: start import %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("customers: start import %d: %w", id, err)
	}
	return nil
}

// ImportWorker applies uploaded files.
type ImportWorker struct {
	river.WorkerDefaults[ImportArgs]
	store *Store
}

// NewImportWorker returns the worker for ImportArgs.
func NewImportWorker(s *Store) *ImportWorker { return &ImportWorker{store: s} }

// Timeout lets a large file run past the client's default job timeout.
func (w *ImportWorker) Timeout(*river.Job[ImportArgs]) time.Duration { return 2 * time.Hour }

// Work runs the import. Applying a row is idempotent, so a retry after a
// crash simply starts the file over.
func (w *ImportWorker) Work(ctx context.Context, job *river.Job[ImportArgs]) error {
	err := w.store.RunImport(ctx, job.Args.ShopID, job.Args.ImportID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		// Until the last attempt the import stays queued (its page keeps
		// polling) with the reason; then it fails and offers a retry.
		status, msg := "queued", fmt.Sprintf("attempt %d of %d failed: %v", job.Attempt, job.MaxAttempts, err)
		if job.Attempt >= job.MaxAttempts {
			status, msg = "failed", err.Error()
		}
		w.store.db.ExecContext(context.WithoutCancel(ctx), `UPDATE csv_imports SET status = $3, error = $4, updated_at = now()
			WHERE shop_id = $1 AND id = $2 AND status <> 'done'`, job.Args.ShopID, job.Args.ImportID, status, truncate(msg, 500))
	}
	if errors.Is(err, ErrNotFound) {
		return nil // the shop was erased meanwhile
	}
	return err
}

// importBatch is how many rows go to the database per statement.
const importBatch = 2000

// importRow is one validated profile row, as the upsert reads it.
type importRow struct {
	Email      string            `json:"email"`
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Phone      string            `json:"phone"`
	Country    string            `json:"country"`
	Province   string            `json:"province_code"`
	Timezone   string            `json:"timezone"`
	City       string            `json:"city"`
	Locale     string            `json:"locale"`
	Tags       []string          `json:"tags"`
	Consent    string            `json:"consent"`
	ConsentAt  *time.Time        `json:"consent_at"`
	Properties map[string]string `json:"properties"`
	Reason     string            `json:"-"`
}

type reject struct {
	line   int64
	email  string
	reason string
}

// RunImport applies the file of an import (the job calls it; tests may too).
func (s *Store) RunImport(ctx context.Context, shopID, id int64) error {
	im, err := s.GetImport(ctx, shopID, id)
	if err != nil {
		return err
	}
	if im.Status == "done" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE csv_imports SET status = 'running', error = '', rows_done = 0, rows_created = 0,
		rows_updated = 0, rows_rejected = 0, updated_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("customers: import %d: %w", id, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM csv_import_rejects WHERE import_id = $1`, id); err != nil {
		return fmt.Errorf("customers: import %d: %w", id, err)
	}
	mapping := im.Mapping()
	sep, _ := utf8.DecodeRuneInString(im.Separator)
	rr := newRowReader(&chunkReader{ctx: ctx, db: s.db, id: id}, sep)
	if _, err := rr.read(nil); err != nil { // header
		return fmt.Errorf("customers: import %d: header: %w", id, err)
	}
	// Duplicates within the file are found by a 64-bit hash of the address:
	// a few bytes per row instead of the addresses themselves.
	seen := map[uint64]int64{}
	defReason := suppressionDefault(im.Header)
	var batch []importRow
	var rejects []reject
	var done int64
	flush := func() error {
		if len(batch) == 0 && len(rejects) == 0 {
			return nil
		}
		if err := s.applyBatch(ctx, im, batch, rejects, done); err != nil {
			return err
		}
		batch, rejects = batch[:0], rejects[:0]
		return nil
	}
	for {
		rec, err := rr.read(im.Header)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("customers: import %d: %w", id, err)
		}
		if isBlank(rec) {
			continue
		}
		line, _ := rr.cr.FieldPos(0)
		done++
		row, reason := parseRow(im.Kind, defReason, im.Header, mapping, rec)
		if reason == "" {
			h := hashEmail(row.Email)
			if first, dup := seen[h]; dup {
				reason = fmt.Sprintf("duplicate email: already on line %d", first)
			} else {
				seen[h] = int64(line)
			}
		}
		if reason != "" {
			rejects = append(rejects, reject{line: int64(line), email: truncate(row.Email, 254), reason: reason})
		} else {
			batch = append(batch, row)
		}
		if len(batch)+len(rejects) >= importBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return s.finishImport(ctx, im, done)
}

// finishImport marks the import done and, when it changed anything, queues
// one full refresh of the shop's segments in the same transaction. An
// import may touch hundreds of thousands of profiles: one set-based pass
// over the shop is far cheaper than a job per profile, and the batches
// above stay free of per-row work. (An import that fails half-way leaves
// its committed batches to the daily refresh.)
func (s *Store) finishImport(ctx context.Context, im Import, done int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("customers: import %d: finish: %w", im.ID, err)
	}
	defer tx.Rollback()
	var changed int64
	if err := tx.GetContext(ctx, &changed, `
		WITH d AS (DELETE FROM csv_import_chunks WHERE import_id = $1)
		UPDATE csv_imports SET status = 'done', rows_done = $2, finished_at = now(), updated_at = now() WHERE id = $1
		RETURNING rows_created + rows_updated`, im.ID, done); err != nil {
		return fmt.Errorf("customers: import %d: finish: %w", im.ID, err)
	}
	if changed > 0 {
		if err := s.queueShopSegmentRefresh(ctx, tx, im.ShopID); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("customers: import %d: finish: %w", im.ID, err)
	}
	return nil
}

// applyBatch writes one batch of rows, its rejects and the progress in one
// transaction, so the counters always match what is stored.
func (s *Store) applyBatch(ctx context.Context, im Import, batch []importRow, rejects []reject, done int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("customers: import %d: %w", im.ID, err)
	}
	defer tx.Rollback()
	var created, updated int64
	if im.Kind == ImportSuppressions {
		emails := make([]string, len(batch))
		reasons := make([]string, len(batch))
		for i, r := range batch {
			emails[i], reasons[i] = r.Email, r.Reason
		}
		added, err := s.suppress(ctx, tx, im.ShopID, emails, reasons, "import")
		if err != nil {
			return err
		}
		created = int64(len(added))
	} else {
		created, updated, err = s.upsertImported(ctx, tx, im.ShopID, batch, im.StartFlows)
		if err != nil {
			return fmt.Errorf("customers: import %d: %w", im.ID, err)
		}
	}
	if len(rejects) > 0 {
		lines := make([]int64, len(rejects))
		emails := make([]string, len(rejects))
		reasons := make([]string, len(rejects))
		for i, r := range rejects {
			lines[i], emails[i], reasons[i] = r.line, r.email, r.reason
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO csv_import_rejects (import_id, line, email, reason)
			SELECT $1, unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]) ON CONFLICT DO NOTHING`,
			im.ID, pq.Array(lines), pq.Array(emails), pq.Array(reasons)); err != nil {
			return fmt.Errorf("customers: import %d: rejects: %w", im.ID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE csv_imports SET rows_done = $2, rows_created = rows_created + $3,
		rows_updated = rows_updated + $4, rows_rejected = rows_rejected + $5, updated_at = now() WHERE id = $1`,
		im.ID, done, created, updated, len(rejects)); err != nil {
		return fmt.Errorf("customers: import %d: progress: %w", im.ID, err)
	}
	return tx.Commit()
}

// upsertImported merges imported profiles by email. Shopify stays the
// source of truth for its customers: an import only fills their blanks.
// Consent only ever moves towards less mail, except that a profile never
// asked (not_subscribed) may become subscribed: an import can't re-subscribe
// someone who unsubscribed. Rows whose values don't change are not written,
// so importing the same file twice changes nothing.
//
// Segments get one full refresh of the shop when the import ends, not a
// signal per row. Only when the merchant asked to start flows does each
// newly subscribed profile record a consent_changed signal (source import,
// start_flows, at the file's consent time when it has one) for the flow
// engine, which decides on it in one place; otherwise an import of 50,000
// long-standing subscribers would hand the consumer 50,000 customers for nothing.
func (s *Store) upsertImported(ctx context.Context, tx *sqlx.Tx, shopID int64, rows []importRow, startFlows bool) (created, updated int64, err error) {
	if len(rows) == 0 {
		return 0, 0, nil
	}
	doc, err := json.Marshal(rows)
	if err != nil {
		return 0, 0, err
	}
	var out []struct {
		ID        int64      `db:"id"`
		Inserted  bool       `db:"inserted"`
		Consent   string     `db:"email_consent"`
		At        *time.Time `db:"email_consent_updated_at"`
		Changed   bool       `db:"consent_changed"`
		InShopify bool       `db:"in_shopify"`
	}
	if err := tx.SelectContext(ctx, &out, qUpsertImported, shopID, doc); err != nil {
		return 0, 0, fmt.Errorf("upsert profiles: %w", err)
	}
	var evIDs, push []int64
	var evStates []string
	var evTimes []time.Time
	var sigs []signals.Signal
	for _, o := range out {
		if o.Inserted {
			created++
		} else {
			updated++
		}
		if o.Changed {
			at := time.Now()
			if o.At != nil {
				at = *o.At
			}
			evIDs = append(evIDs, o.ID)
			evStates = append(evStates, o.Consent)
			evTimes = append(evTimes, at)
			if startFlows && o.Consent == ConsentSubscribed {
				sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: o.ID, Kind: signals.ConsentChanged, At: at,
					Data: signals.Data(map[string]any{"state": o.Consent, "source": "import", "start_flows": true})})
			}
			// Shopify must hear about it too, for customers it has: an
			// import doesn't create Shopify customers on its own.
			if o.InShopify && (o.Consent == ConsentSubscribed || o.Consent == ConsentUnsubscribed) {
				push = append(push, o.ID)
			}
		}
	}
	if err := s.queueConsentPushes(ctx, tx, shopID, push); err != nil {
		return 0, 0, err
	}
	if err := recordConsentEvents(ctx, tx, shopID, "import", evIDs, evStates, nil, evTimes); err != nil {
		return 0, 0, err
	}
	// Set-based: the import doesn't take the profile locks Record would.
	if len(sigs) > 0 {
		if err := signals.RecordBulk(ctx, tx.Tx, sigs); err != nil {
			return 0, 0, fmt.Errorf("consent signals: %w", err)
		}
	}
	return created, updated, nil
}

// The new consent for an existing profile (c) given the imported one (r).
const importedConsent = `CASE
	WHEN EXCLUDED.email_consent = 'unsubscribed' AND c.email_consent IN ('subscribed', 'pending', 'not_subscribed') THEN 'unsubscribed'
	WHEN EXCLUDED.email_consent = 'subscribed' AND c.email_consent = 'not_subscribed' THEN 'subscribed'
	ELSE c.email_consent END`

const qUpsertImported = `
WITH r AS (
	SELECT * FROM jsonb_to_recordset($2::jsonb) AS r(email text, first_name text, last_name text, phone text, country text,
		province_code text, timezone text, city text, locale text, tags text[], consent text, consent_at timestamptz, properties jsonb)
),
old AS (
	SELECT c.id, c.email_consent FROM customers c JOIN r ON c.shop_id = $1 AND lower(c.email) = lower(r.email)
)
INSERT INTO customers AS c (shop_id, email, phone, first_name, last_name, country, province_code, timezone, city, locale, tags, email_consent,
	email_consent_updated_at, source, properties)
SELECT $1, r.email, NULLIF(r.phone, ''), r.first_name, r.last_name, r.country, COALESCE(r.province_code, ''), COALESCE(r.timezone, ''), r.city, r.locale, COALESCE(r.tags, '{}'),
	COALESCE(NULLIF(r.consent, ''), 'not_subscribed'),
	CASE WHEN COALESCE(r.consent, '') NOT IN ('', 'not_subscribed') THEN COALESCE(r.consent_at, now()) END,
	'import', COALESCE(r.properties, '{}')
FROM r
ON CONFLICT (shop_id, lower(email)) WHERE email IS NOT NULL DO UPDATE SET
	first_name = CASE WHEN c.source = 'shopify' AND c.first_name <> '' OR EXCLUDED.first_name = '' THEN c.first_name ELSE EXCLUDED.first_name END,
	last_name = CASE WHEN c.source = 'shopify' AND c.last_name <> '' OR EXCLUDED.last_name = '' THEN c.last_name ELSE EXCLUDED.last_name END,
	phone = CASE WHEN c.source = 'shopify' AND c.phone IS NOT NULL OR EXCLUDED.phone IS NULL THEN c.phone ELSE EXCLUDED.phone END,
	country = CASE WHEN c.source = 'shopify' AND c.country <> '' OR EXCLUDED.country = '' THEN c.country ELSE EXCLUDED.country END,
	province_code = CASE WHEN c.source = 'shopify' AND c.country <> '' OR EXCLUDED.country = '' THEN c.province_code ELSE EXCLUDED.province_code END,
	timezone = CASE WHEN c.source = 'shopify' AND c.timezone <> '' OR EXCLUDED.timezone = '' THEN c.timezone ELSE EXCLUDED.timezone END,
	city = CASE WHEN c.source = 'shopify' AND c.city <> '' OR EXCLUDED.city = '' THEN c.city ELSE EXCLUDED.city END,
	locale = CASE WHEN c.source = 'shopify' AND c.locale <> '' OR EXCLUDED.locale = '' THEN c.locale ELSE EXCLUDED.locale END,
	tags = c.tags || ARRAY(SELECT t FROM unnest(EXCLUDED.tags) t WHERE NOT lower(t) = ANY (SELECT lower(x) FROM unnest(c.tags) x)),
	properties = c.properties || EXCLUDED.properties,
	email_consent = (` + importedConsent + `),
	email_consent_updated_at = CASE WHEN (` + importedConsent + `) <> c.email_consent
		THEN COALESCE(EXCLUDED.email_consent_updated_at, now()) ELSE c.email_consent_updated_at END,
	updated_at = now()
WHERE (CASE WHEN c.source = 'shopify' AND c.first_name <> '' OR EXCLUDED.first_name = '' THEN c.first_name ELSE EXCLUDED.first_name END,
	   CASE WHEN c.source = 'shopify' AND c.last_name <> '' OR EXCLUDED.last_name = '' THEN c.last_name ELSE EXCLUDED.last_name END,
	   CASE WHEN c.source = 'shopify' AND c.phone IS NOT NULL OR EXCLUDED.phone IS NULL THEN c.phone ELSE EXCLUDED.phone END,
	   CASE WHEN c.source = 'shopify' AND c.country <> '' OR EXCLUDED.country = '' THEN c.country ELSE EXCLUDED.country END,
	   CASE WHEN c.source = 'shopify' AND c.city <> '' OR EXCLUDED.city = '' THEN c.city ELSE EXCLUDED.city END,
	   CASE WHEN c.source = 'shopify' AND c.locale <> '' OR EXCLUDED.locale = '' THEN c.locale ELSE EXCLUDED.locale END,
	   CASE WHEN c.source = 'shopify' AND c.timezone <> '' OR EXCLUDED.timezone = '' THEN c.timezone ELSE EXCLUDED.timezone END)
	IS DISTINCT FROM (c.first_name, c.last_name, c.phone, c.country, c.city, c.locale, c.timezone)
   OR EXISTS (SELECT 1 FROM unnest(EXCLUDED.tags) t WHERE NOT lower(t) = ANY (SELECT lower(x) FROM unnest(c.tags) x))
   OR NOT c.properties @> EXCLUDED.properties
   OR (` + importedConsent + `) <> c.email_consent
RETURNING c.id, (xmax = 0) AS inserted, c.email_consent, c.email_consent_updated_at, c.shopify_id IS NOT NULL AS in_shopify,
	COALESCE((SELECT old.email_consent <> c.email_consent FROM old WHERE old.id = c.id), c.email_consent <> 'not_subscribed') AS consent_changed`

// parseRow validates one record and maps it; a non-empty reason rejects it.
func parseRow(kind, defReason string, header, mapping, rec []string) (importRow, string) {
	var row importRow
	if len(rec) != len(header) {
		for i, f := range mapping {
			if f == FieldEmail && i < len(rec) {
				row.Email = strings.TrimSpace(rec[i])
			}
		}
		return row, fmt.Sprintf("has %d columns but the header has %d", len(rec), len(header))
	}
	for i, f := range mapping {
		v := strings.TrimSpace(rec[i])
		switch f {
		case FieldEmail:
			row.Email = v
		case FieldFirstName:
			row.FirstName = truncate(v, 255)
		case FieldLastName:
			row.LastName = truncate(v, 255)
		case FieldPhone:
			row.Phone = truncate(v, 64)
		case FieldCountry:
			row.Country = truncate(v, 64)
			if len(row.Country) == 2 {
				row.Country = strings.ToUpper(row.Country)
			}
		case FieldProvince:
			row.Province = strings.ToUpper(truncate(v, 16))
		case FieldTimezone:
			if ValidTimezone(v) { // anything else: derived from the address below
				row.Timezone = v
			}
		case FieldCity:
			row.City = truncate(v, 255)
		case FieldLocale:
			row.Locale = truncate(v, 32)
		case FieldTags:
			// Mailchimp quotes each tag inside the field: "VIP","Newsletter".
			row.Tags = SplitTags(strings.ReplaceAll(v, `"`, ""))
		case FieldConsent:
			c, ok := parseConsent(v)
			if !ok {
				return row, fmt.Sprintf("email consent %q is not one of subscribed, unsubscribed, never subscribed, yes, no", truncate(v, 40))
			}
			row.Consent = c
		case FieldConsentAt:
			row.ConsentAt = parseTime(v)
		case FieldReason:
			row.Reason = parseReason(v)
		case FieldProperty:
			if v != "" && header[i] != "" {
				if row.Properties == nil {
					row.Properties = map[string]string{}
				}
				row.Properties[truncate(header[i], 100)] = truncate(v, 2000)
			}
		}
	}
	if row.Timezone == "" {
		row.Timezone = TimezoneFor(row.Country, row.Province)
	}
	if row.Email == "" {
		return row, "no email address"
	}
	if !ValidEmail(row.Email) {
		return row, fmt.Sprintf("%q is not a valid email address", truncate(row.Email, 80))
	}
	if kind == ImportSuppressions && row.Reason == "" {
		row.Reason = defReason
	}
	if row.Tags == nil {
		row.Tags = []string{}
	}
	if row.Properties == nil {
		row.Properties = map[string]string{}
	}
	return row, ""
}

// ValidEmail is the syntax check for imported addresses: a bare address
// (no display name) that also passes PlausibleEmail.
func ValidEmail(s string) bool {
	if !PlausibleEmail(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

func parseConsent(v string) (string, bool) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(v), " ", "_")) {
	case "subscribed", "yes", "true", "1", "opted_in", "subscribed_to_list":
		return ConsentSubscribed, true
	case "unsubscribed", "opted_out", "suppressed":
		return ConsentUnsubscribed, true
	case "", "never_subscribed", "not_subscribed", "no", "false", "0":
		return "", true // says nothing new: never changes a stored consent
	}
	return "", false
}

func parseReason(v string) string {
	l := strings.ToLower(v)
	switch {
	case l == "":
		return ""
	case strings.Contains(l, "unsub"):
		return SuppressUnsubscribed
	case strings.Contains(l, "bounce"), strings.Contains(l, "invalid"):
		return SuppressBounced
	case strings.Contains(l, "spam"), strings.Contains(l, "complain"):
		return SuppressComplaint
	case strings.Contains(l, "clean"):
		return SuppressCleaned
	}
	return SuppressManual
}

func parseTime(v string) *time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t
		}
	}
	return nil
}

// detectSeparator picks , ; or tab by counting them outside quotes on the
// first line (European Excel writes ;).
func detectSeparator(b []byte) rune {
	counts := map[rune]int{}
	inQuotes := false
	for _, c := range string(b) {
		if c == '"' {
			inQuotes = !inQuotes
			continue
		}
		if !inQuotes && (c == '\n' || c == '\r') {
			break
		}
		if !inQuotes && (c == ',' || c == ';' || c == '\t') {
			counts[c]++
		}
	}
	best := ','
	for _, c := range []rune{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

func normHeader(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.NewReplacer("_", " ", "-", " ").Replace(h)
}

func detectFormat(header []string) string {
	has := map[string]bool{}
	for _, h := range header {
		has[normHeader(h)] = true
	}
	switch {
	case has["klaviyo id"] || has["email marketing consent"]:
		return "klaviyo"
	case has["email address"] && (has["leid"] || has["euid"] || has["member rating"] || has["unsub time"] || has["clean time"]):
		return "mailchimp"
	}
	return "generic"
}

// Export-only columns (Cartwheel's own export) that must not come back as
// properties when the file is re-imported.
var exportOnly = map[string]bool{"customer id": true, "orders": true, "total spent": true, "last order at": true,
	"created at": true, "source": true}

func defaultMapping(kind string, header []string) []string {
	m := make([]string, len(header))
	taken := map[string]bool{}
	for i, h := range header {
		f := FieldIgnore
		switch n := normHeader(h); {
		case n == "email" || n == "email address" || n == "e mail" || n == "e mail address":
			f = FieldEmail
		case kind == ImportSuppressions:
			if n == "suppression reason" || n == "reason" || n == "unsub reason" {
				f = FieldReason
			}
		case n == "first name" || n == "firstname" || n == "given name":
			f = FieldFirstName
		case n == "last name" || n == "lastname" || n == "surname" || n == "family name":
			f = FieldLastName
		case n == "phone" || n == "phone number" || n == "mobile":
			f = FieldPhone
		case n == "country" || n == "cc" || n == "country code" || n == "default address country code":
			f = FieldCountry
		case n == "province code" || n == "state" || n == "state code" || n == "region" || n == "province" ||
			n == "default address province code":
			f = FieldProvince
		case n == "timezone" || n == "time zone":
			f = FieldTimezone
		case n == "city":
			f = FieldCity
		case n == "locale" || n == "language":
			f = FieldLocale
		case n == "tags":
			f = FieldTags
		case n == "email marketing consent" || n == "accepts marketing" || n == "accepts email marketing" || n == "consent" || n == "email consent":
			f = FieldConsent
		case n == "email marketing consent timestamp" || n == "consent updated at" || n == "optin time":
			f = FieldConsentAt
		case exportOnly[n]:
			f = FieldIgnore
		default:
			f = FieldProperty
		}
		if f != FieldIgnore && f != FieldProperty && taken[f] {
			f = FieldIgnore
		}
		taken[f] = true
		m[i] = f
	}
	return m
}

// suppressionDefault is the reason used for rows without a reason column:
// Mailchimp's cleaned export holds bounced addresses, its unsubscribed
// export people who opted out.
func suppressionDefault(header []string) string {
	for _, h := range header {
		switch normHeader(h) {
		case "clean time", "clean campaign title":
			return SuppressCleaned
		case "unsub time", "unsub campaign title":
			return SuppressUnsubscribed
		}
	}
	return SuppressManual
}

func mappingDoc(m []string) map[string]string {
	doc := make(map[string]string, len(m))
	for i, f := range m {
		doc[strconv.Itoa(i)] = f
	}
	return doc
}

// FieldLabel is the merchant-facing name of a target field.
func FieldLabel(f string) string { return fieldLabel(f) }

func fieldLabel(f string) string {
	switch f {
	case FieldEmail:
		return "Email"
	case FieldFirstName:
		return "First name"
	case FieldLastName:
		return "Last name"
	case FieldPhone:
		return "Phone"
	case FieldCountry:
		return "Country"
	case FieldProvince:
		return "State/province code"
	case FieldTimezone:
		return "Timezone"
	case FieldCity:
		return "City"
	case FieldLocale:
		return "Language"
	case FieldTags:
		return "Tags"
	case FieldConsent:
		return "Email marketing consent"
	case FieldConsentAt:
		return "Consent date"
	case FieldReason:
		return "Suppression reason"
	case FieldProperty:
		return "Custom property"
	}
	return "Don't import"
}

// WriteRejects streams the report of rejected rows as CSV.
func (s *Store) WriteRejects(ctx context.Context, shopID, id int64, w io.Writer) error {
	if _, err := s.GetImport(ctx, shopID, id); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"Line", "Email", "Reason"})
	var after int64
	for {
		var rows []struct {
			Line   int64  `db:"line"`
			Email  string `db:"email"`
			Reason string `db:"reason"`
		}
		if err := s.db.SelectContext(ctx, &rows, `SELECT line, email, reason FROM csv_import_rejects
			WHERE import_id = $1 AND line > $2 ORDER BY line LIMIT 5000`, id, after); err != nil {
			return fmt.Errorf("customers: rejects %d: %w", id, err)
		}
		for _, r := range rows {
			cw.Write([]string{strconv.FormatInt(r.Line, 10), csvcell.Safe(r.Email), r.Reason})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(rows) < 5000 {
			return nil
		}
		after = rows[len(rows)-1].Line
	}
}

// RecentImports lists the shop's latest imports.
func (s *Store) RecentImports(ctx context.Context, shopID int64, limit int) ([]Import, error) {
	var out []Import
	if err := s.db.SelectContext(ctx, &out, `SELECT id, shop_id, kind, format, filename, separator, header, mapping, NULL::jsonb AS sample,
		bytes_total, rows_total, rows_done, rows_created, rows_updated, rows_rejected, status, error, start_flows, created_at, finished_at
		FROM csv_imports WHERE shop_id = $1 ORDER BY id DESC LIMIT $2`, shopID, limit); err != nil {
		return nil, fmt.Errorf("customers: imports: %w", err)
	}
	return out, nil
}

func isBlank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func hashEmail(e string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(e)))
	return h.Sum64()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// limitCounter counts bytes read and fails past the limit, so an oversized
// upload stops as soon as it crosses it.
type limitCounter struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *limitCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n, ErrTooLarge
	}
	return n, err
}

// chunkWriter stores the file in 1 MB rows as it is read.
type chunkWriter struct {
	ctx context.Context
	tx  *sqlx.Tx
	id  int64
	seq int
	buf []byte
	err error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= chunkSize {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *chunkWriter) flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO csv_import_chunks (import_id, seq, data) VALUES ($1, $2, $3)`,
		w.id, w.seq, w.buf); err != nil {
		w.err = fmt.Errorf("customers: upload chunk %d: %w", w.seq, err)
		return w.err
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// chunkReader reads a stored file back, one chunk at a time.
type chunkReader struct {
	ctx context.Context
	db  *sqlx.DB
	id  int64
	seq int
	buf []byte
	eof bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		var data []byte
		err := r.db.GetContext(r.ctx, &data, `SELECT data FROM csv_import_chunks WHERE import_id = $1 AND seq = $2`, r.id, r.seq)
		if errors.Is(err, sql.ErrNoRows) {
			r.eof = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("customers: read chunk %d: %w", r.seq, err)
		}
		r.seq++
		r.buf = data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
