package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Task is a small periodic clean-up owned by a domain package (expired rate
// limit buckets, checkout claims, raw webhook bodies): a name, how often it
// runs, and the function that does it. Every task runs through one job kind,
// so a domain adds a clean-up without its own args, worker and schedule.
type Task struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context, now time.Time) error
}

// HousekeepingArgs runs the named task.
type HousekeepingArgs struct {
	Task string `json:"task"`
}

// Kind names the job in River.
func (HousekeepingArgs) Kind() string { return "jobs.housekeeping" }

// HousekeepingWorker runs HousekeepingArgs.
type HousekeepingWorker struct {
	river.WorkerDefaults[HousekeepingArgs]
	tasks map[string]Task
	now   func() time.Time
}

// Housekeeping returns the worker of the tasks (register it with
// river.AddWorker) and their periodic jobs (inserted by the elected leader,
// so N instances run each once). Two tasks of one name are a wiring mistake
// and fail at start-up.
func Housekeeping(now func() time.Time, tasks ...Task) (*HousekeepingWorker, []*river.PeriodicJob, error) {
	if now == nil {
		now = time.Now
	}
	w := &HousekeepingWorker{tasks: make(map[string]Task, len(tasks)), now: now}
	periodic := make([]*river.PeriodicJob, 0, len(tasks))
	for _, t := range tasks {
		if _, dup := w.tasks[t.Name]; dup || t.Name == "" || t.Every <= 0 || t.Run == nil {
			return nil, nil, fmt.Errorf("jobs: housekeeping task %q: needs a unique name, a period and a function", t.Name)
		}
		w.tasks[t.Name] = t
		args := HousekeepingArgs{Task: t.Name}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(t.Every),
			func() (river.JobArgs, *river.InsertOpts) { return args, nil }, nil))
	}
	return w, periodic, nil
}

// Work runs the task; an unknown name (a job queued by another version) is
// an error, so it shows in the job metrics rather than passing silently.
func (w *HousekeepingWorker) Work(ctx context.Context, j *river.Job[HousekeepingArgs]) error {
	t, ok := w.tasks[j.Args.Task]
	if !ok {
		return fmt.Errorf("jobs: no housekeeping task %q", j.Args.Task)
	}
	if err := t.Run(ctx, w.now()); err != nil {
		return fmt.Errorf("jobs: housekeeping %s: %w", t.Name, err)
	}
	return nil
}
