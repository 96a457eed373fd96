package flows

import (
	"fmt"
	"time"
)

// parseClock reads "HH:MM" as minutes after midnight.
func parseClock(s string) (int, error) {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, fmt.Errorf("flows: %q is not a time of day like 09:00", s)
	}
	return h*60 + m, nil
}

// waitUntil is the wake time of a wait step entered at t: t + the wait,
// then moved forward to the first allowed weekday and time of day in loc.
func waitUntil(s *Step, t time.Time, loc *time.Location) time.Time {
	at := t.Add(s.Wait.D())
	if len(s.UntilDays) == 0 && s.UntilTime == "" {
		return at
	}
	mins := -1
	if m, err := parseClock(s.UntilTime); err == nil {
		mins = m
	}
	days := map[time.Weekday]bool{}
	for _, d := range s.UntilDays {
		days[time.Weekday(((d%7)+7)%7)] = true
	}
	local := at.In(loc)
	for i := 0; i < 8; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 0, 0, 0, 0, loc)
		if len(days) > 0 && !days[day.Weekday()] {
			continue
		}
		if mins < 0 { // any time of an allowed day
			if i == 0 {
				return at
			}
			return day
		}
		if cand := day.Add(time.Duration(mins) * time.Minute); !cand.Before(local) {
			return cand
		}
	}
	return at
}

// quietEnd reports whether t falls inside the quiet window [start, end) of
// loc (which may span midnight), and when that window ends.
func quietEnd(t time.Time, start, end string, loc *time.Location) (time.Time, bool) {
	if start == "" || end == "" {
		return time.Time{}, false
	}
	s, err1 := parseClock(start)
	e, err2 := parseClock(end)
	if err1 != nil || err2 != nil || s == e {
		return time.Time{}, false
	}
	l := t.In(loc)
	now := l.Hour()*60 + l.Minute()
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	at := func(d time.Time, m int) time.Time { return d.Add(time.Duration(m) * time.Minute) }
	if s < e { // e.g. 01:00–06:00
		if now >= s && now < e {
			return at(day, e), true
		}
		return time.Time{}, false
	}
	// Spans midnight, e.g. 21:00–08:00.
	if now >= s {
		return at(day.AddDate(0, 0, 1), e), true
	}
	if now < e {
		return at(day, e), true
	}
	return time.Time{}, false
}
