// Package input is the one place that decides whether text and numbers
// from outside (forms, query strings, JSON bodies, CSV files) are fit to
// reach the database: no NUL bytes (PostgreSQL text refuses them), valid
// UTF-8, bounded lengths, integers in range and finite floats. Handlers and
// domain validators call it instead of strconv and ad-hoc checks, so every
// entry point refuses the same things with the same words.
package input

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a problem with one named value, worded for the person who sent
// it ("name contains a NUL character"). Handlers answer it with a 4xx.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + " " + e.Msg
}

func errf(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Problem reports why s can't be stored as text, or "" when it can.
func Problem(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL character"
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	return ""
}

// CheckText refuses NUL bytes and invalid UTF-8 in s.
func CheckText(field, s string) error {
	if p := Problem(s); p != "" {
		return errf(field, "%s", p)
	}
	return nil
}

// Text checks s (CheckText), trims surrounding space and refuses more than
// max characters (max <= 0: no length limit).
func Text(field, s string, max int) (string, error) {
	if err := CheckText(field, s); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if max > 0 && utf8.RuneCountInString(s) > max {
		return "", errf(field, "is longer than %d characters", max)
	}
	return s, nil
}

// Int parses a whole number between min and max inclusive.
func Int(field, s string, min, max int64) (int64, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, errf(field, "must be a whole number from %d to %d", min, max)
	}
	return n, nil
}

// Float parses a finite number between min and max inclusive; NaN and
// infinities are refused (they pass every < and > comparison test).
func Float(field, s string, min, max float64) (float64, error) {
	s = strings.TrimSpace(s)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !Finite(f) || f < min || f > max {
		return 0, errf(field, "must be a number from %s to %s", fmtFloat(min), fmtFloat(max))
	}
	return f, nil
}

// Finite reports whether f is neither NaN nor an infinity.
func Finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ID parses a positive database id (path parameters, ids in forms).
func ID(field, s string) (int64, error) {
	return Int(field, s, 1, math.MaxInt64)
}

// Cursor parses a keyset cursor that is an id: "" is the first page (0),
// anything else must be a positive id.
func Cursor(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errf(field, "must be the id of the last row of the previous page (a positive whole number)")
	}
	return n, nil
}
