package segments

import (
	"time"

	"github.com/cartwheel/cartwheel/app/lifecycle"
)

// LifecycleRules are the rules of a segment of the customers at funnel
// level l (or further) for window w: rolling ("the last 30 days", which
// moves with the daily refresh) when w ends today, else fixed to w's days.
func LifecycleRules(l lifecycle.Level, w lifecycle.Window, now time.Time) Rules {
	win := &Window{Kind: "between", From: w.First.Format(time.DateOnly), To: w.Last.Format(time.DateOnly)}
	if LifecycleRolling(w, now) {
		win = &Window{Kind: "last_days", Days: lifecycle.WindowDays}
	}
	return Rules{Version: Version, Root: Group{Op: "and", Items: []Node{
		{Condition: &Condition{Field: FieldLifecycle, Op: "is", Value: l.Key(), Window: win}},
	}}}
}

// LifecycleRolling reports whether w is the window ending today.
func LifecycleRolling(w lifecycle.Window, now time.Time) bool {
	return lifecycle.WindowEnding(now, w.Loc).Last.Equal(w.Last)
}

// LifecycleName is a name for such a segment.
func LifecycleName(l lifecycle.Level, w lifecycle.Window, now time.Time) string {
	if LifecycleRolling(w, now) {
		return "Lifecycle: " + l.Label() + " (last 30 days)"
	}
	return "Lifecycle: " + l.Label() + " (" + w.First.Format(time.DateOnly) + " to " + w.Last.Format(time.DateOnly) + ")"
}
