package flows

import (
	"testing"
	"time"
)

func TestWaitUntil(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	mon := time.Date(2026, 3, 2, 10, 0, 0, 0, sh) // Monday 10:00
	cases := []struct {
		name string
		s    Step
		want time.Time
	}{
		{"plain", Step{Wait: Duration(36 * time.Hour)}, mon.Add(36 * time.Hour)},
		{"time later today", Step{UntilTime: "18:30"}, time.Date(2026, 3, 2, 18, 30, 0, 0, sh)},
		{"time passed today", Step{UntilTime: "09:00"}, time.Date(2026, 3, 3, 9, 0, 0, 0, sh)},
		{"weekday", Step{UntilDays: []int{5}, UntilTime: "09:00"}, time.Date(2026, 3, 6, 9, 0, 0, 0, sh)},
		{"same weekday passed", Step{UntilDays: []int{1}, UntilTime: "09:00"}, time.Date(2026, 3, 9, 9, 0, 0, 0, sh)},
		{"wait then weekday", Step{Wait: Duration(24 * time.Hour), UntilDays: []int{6, 0}}, time.Date(2026, 3, 7, 0, 0, 0, 0, sh)},
	}
	for _, c := range cases {
		if got := waitUntil(&c.s, mon.UTC(), sh); !got.Equal(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got.In(sh), c.want)
		}
	}
}

func TestQuietEnd(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	at := func(h, m int) time.Time { return time.Date(2026, 7, 1, h, m, 0, 0, ny) }
	cases := []struct {
		t          time.Time
		start, end string
		in         bool
		want       time.Time
	}{
		{at(22, 0), "21:00", "08:00", true, time.Date(2026, 7, 2, 8, 0, 0, 0, ny)},
		{at(3, 0), "21:00", "08:00", true, at(8, 0)},
		{at(8, 0), "21:00", "08:00", false, time.Time{}},
		{at(20, 59), "21:00", "08:00", false, time.Time{}},
		{at(2, 0), "01:00", "06:00", true, at(6, 0)},
		{at(7, 0), "01:00", "06:00", false, time.Time{}},
		{at(2, 0), "", "", false, time.Time{}},
	}
	for _, c := range cases {
		got, in := quietEnd(c.t, c.start, c.end, ny)
		if in != c.in || (in && !got.Equal(c.want)) {
			t.Errorf("%v in %s–%s: got %v %v, want %v %v", c.t, c.start, c.end, in, got, c.in, c.want)
		}
	}
}

func TestTreeNavigation(t *testing.T) {
	d := Definition{Steps: []Step{
		{ID: "a", Type: StepSendEmail},
		{ID: "split", Type: StepCondition, Branches: []Branch{
			{Steps: []Step{{ID: "y1"}, {ID: "y2"}}},
			{Steps: nil},
		}},
		{ID: "after"},
	}}
	tr := newTree(&d)
	if tr.first() != "a" || tr.next("a") != "split" || tr.branch("split", 0) != "y1" || tr.next("y1") != "y2" ||
		tr.next("y2") != "" || tr.branch("split", 1) != "" || tr.next("split") != "after" || tr.next("after") != "" {
		t.Fatal("navigation of the step tree is wrong")
	}
	if pick(7, "x", []Branch{{Percent: 100}, {Percent: 0}}) != 0 || pick(7, "x", []Branch{{Percent: 0}, {Percent: 100}}) != 1 {
		t.Fatal("random split ignores the percentages")
	}
}
