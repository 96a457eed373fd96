package input

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"  Buyers ", "Buyers", ""},
		{"a\x00b", "", "name contains a NUL character"},
		{"caf\xe9", "", "name is not valid UTF-8 text"},
		{strings.Repeat("é", 11), "", "name is longer than 10 characters"},
		{strings.Repeat("é", 10), strings.Repeat("é", 10), ""},
	} {
		got, err := Text("name", tc.in, 10)
		if tc.err != "" {
			var ie *Error
			if !errors.As(err, &ie) || err.Error() != tc.err {
				t.Errorf("Text(%q): err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Text(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestNumbers(t *testing.T) {
	if _, err := Int("days", "99999999999999999999", 1, 10); err == nil || !strings.Contains(err.Error(), "from 1 to 10") {
		t.Errorf("huge int: %v", err)
	}
	if n, err := Int("days", " 7 ", 1, 10); err != nil || n != 7 {
		t.Errorf("7: %d %v", n, err)
	}
	for _, s := range []string{"NaN", "nan", "Inf", "-Inf", "+Infinity", "1e400", "", "x", "-1", "101"} {
		if _, err := Float("weight", s, 0, 100); err == nil {
			t.Errorf("Float(%q) accepted", s)
		}
	}
	if f, err := Float("weight", "2.5", 0, 100); err != nil || f != 2.5 {
		t.Errorf("2.5: %v %v", f, err)
	}
	if Finite(math.NaN()) || Finite(math.Inf(-1)) || !Finite(0) {
		t.Error("Finite")
	}
	for _, s := range []string{"99999999999999999999", "-1", "0", "1e3", "\x00"} {
		if _, err := Cursor("after", s); err == nil {
			t.Errorf("Cursor(%q) accepted", s)
		}
	}
	if n, err := Cursor("after", ""); err != nil || n != 0 {
		t.Errorf("empty cursor: %d %v", n, err)
	}
	if n, err := ID("id", "42"); err != nil || n != 42 {
		t.Errorf("id: %d %v", n, err)
	}
}
