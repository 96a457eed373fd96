package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/jobs"
)

// Each task gets a periodic job and runs by name with the given clock; an
// unknown name and a failing task are errors; a name used twice or a task
// without a period fails at wiring.
func TestHousekeeping(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var ran []string
	var seen time.Time
	boom := errors.New("boom")
	tasks := []jobs.Task{
		{Name: "a.purge", Every: time.Minute, Run: func(_ context.Context, now time.Time) error {
			ran, seen = append(ran, "a"), now
			return nil
		}},
		{Name: "b.purge", Every: time.Hour, Run: func(context.Context, time.Time) error { ran = append(ran, "b"); return boom }},
	}
	w, periodic, err := jobs.Housekeeping(func() time.Time { return at }, tasks...)
	if err != nil {
		t.Fatal(err)
	}
	if len(periodic) != 2 {
		t.Fatalf("%d periodic jobs, want 2", len(periodic))
	}
	run := func(name string) error {
		return w.Work(context.Background(), &river.Job[jobs.HousekeepingArgs]{
			JobRow: &rivertype.JobRow{}, Args: jobs.HousekeepingArgs{Task: name}})
	}
	if err := run("a.purge"); err != nil || len(ran) != 1 || !seen.Equal(at) {
		t.Fatalf("a.purge: err %v, ran %v, clock %v", err, ran, seen)
	}
	if err := run("b.purge"); !errors.Is(err, boom) {
		t.Fatalf("a failing task: %v", err)
	}
	if err := run("gone"); err == nil || !strings.Contains(err.Error(), `no housekeeping task "gone"`) {
		t.Fatalf("unknown task: %v", err)
	}
	if _, _, err := jobs.Housekeeping(nil, tasks[0], tasks[0]); err == nil {
		t.Fatal("a name used twice was accepted")
	}
	if _, _, err := jobs.Housekeeping(nil, jobs.Task{Name: "c", Run: tasks[0].Run}); err == nil {
		t.Fatal("a task without a period was accepted")
	}
}
