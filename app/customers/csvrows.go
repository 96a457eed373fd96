package customers

import (
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cartwheel/cartwheel/app/input"
)

// errRowTooLong is what rowLimiter returns once a row passes MaxRowBytes.
var errRowTooLong = errors.New("row too long")

// rowLimiter sits between the file and csv.Reader and fails once more than
// limit bytes were pulled since the last row ended, so a huge cell or line
// stops the read after about limit bytes instead of being held whole.
// (csv.Reader reads ahead by its 4 KB buffer, which only adds slack.)
type rowLimiter struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *rowLimiter) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// rowReader reads CSV rows with the limits applied, and words every
// problem for the merchant with the line (and column) it is on.
type rowReader struct {
	cr  *csv.Reader
	lim *rowLimiter
	// lastLine is the line the previous row ended on (0 before the first).
	lastLine int
}

func newRowReader(r io.Reader, sep rune) *rowReader {
	lim := &rowLimiter{r: r, limit: MaxRowBytes}
	cr := csv.NewReader(lim)
	cr.Comma = sep
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &rowReader{cr: cr, lim: lim}
}

// read returns the next row (reused by the next call). header names the
// columns in messages; nil while reading the header itself.
func (r *rowReader) read(header []string) ([]string, error) {
	rec, err := r.cr.Read()
	if err != nil {
		if errors.Is(err, errRowTooLong) {
			what := "the header line"
			if header != nil {
				what = "the row after line " + strconv.Itoa(r.lastLine)
			}
			return nil, importErr("%s is longer than %d MB; a row can hold at most %d MB (and a cell %d KB)", what,
				MaxRowBytes>>20, MaxRowBytes>>20, MaxCellBytes>>10)
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, errRowTooLong) {
				return nil, importErr("the row starting on line %d is longer than %d MB; a row can hold at most %d MB (and a cell %d KB)",
					pe.StartLine, MaxRowBytes>>20, MaxRowBytes>>20, MaxCellBytes>>10)
			}
			return nil, importErr("the file is not valid CSV at line %d: %v", pe.Line, pe.Err)
		}
		return nil, err
	}
	r.lim.n = 0
	for i, f := range rec {
		line, _ := r.cr.FieldPos(i)
		switch {
		case !utf8.ValidString(f):
			first, _ := r.cr.FieldPos(0)
			return nil, importErr("line %d is not UTF-8 text; save the file as \"CSV UTF-8\" and upload it again", first)
		case len(f) > MaxCellBytes:
			return nil, importErr("line %d, %s: the cell is longer than %d KB", line, columnName(header, i), MaxCellBytes>>10)
		case strings.IndexByte(f, 0) >= 0:
			return nil, importErr("line %d, %s %s; remove it and upload the file again", line, columnName(header, i), input.Problem(f))
		}
	}
	last := len(rec) - 1
	if last >= 0 {
		l, _ := r.cr.FieldPos(last)
		r.lastLine = l + strings.Count(rec[last], "\n")
	}
	return rec, nil
}

func columnName(header []string, i int) string {
	if i < len(header) && header[i] != "" {
		return "column " + strconv.Quote(truncateRunes(header[i], 40))
	}
	return "column " + strconv.Itoa(i+1)
}

// truncateRunes cuts s to at most n characters, marking the cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
