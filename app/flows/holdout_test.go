package flows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/signals"
)

// The holdout draw is a hash of the run's id: about the share over many
// runs, the same answer every time for a run, none at 0 %.
func TestHeldOutIsNearTheShareAndStable(t *testing.T) {
	for _, pct := range []int{0, 10, 25, 50} {
		held := 0
		const n = 20000
		for id := int64(1); id <= n; id++ {
			h := flows.HeldOut(id, pct)
			if h != flows.HeldOut(id, pct) {
				t.Fatalf("run %d: two answers", id)
			}
			if h {
				held++
			}
		}
		share := float64(held) * 100 / n
		if share < float64(pct)-1.5 || share > float64(pct)+1.5 {
			t.Errorf("%d %%: %.2f %% of %d runs held out", pct, share, n)
		}
	}
}

// A flow with a 30 % holdout: about 30 % of 300 entrants are held out,
// each as its id's draw says (recorded on the run at entry); held-out runs
// go through every step, waits included, and are sent nothing — each send
// step is logged skipped with reason "holdout" — while the others get both
// emails.
func TestFlowHoldoutSendsNothingToHeldOutRuns(t *testing.T) {
	v := newEng(t)
	def := flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 50, MaxLateness: dur("24h"), HoldoutPercent: 30,
		Steps: []flows.Step{
			{ID: "e1", Type: flows.StepSendEmail, TemplateID: v.tmpl},
			{ID: "w", Type: flows.StepWait, Wait: dur("1d")},
			{ID: "e2", Type: flows.StepSendEmail, TemplateID: v.tmpl},
		},
	}
	r := flows.RefSet{Templates: map[int64]bool{v.tmpl: true}}
	if p := flows.Validate(def, r); !p.Empty() {
		t.Fatalf("valid definition refused: %+v", p)
	}
	bad := def
	bad.HoldoutPercent = 51
	if p := flows.Validate(bad, r); len(p.Flow) != 1 || p.Flow[0] != "The holdout must be a whole number from 0 to 50 percent." {
		t.Fatalf("a 51 %% holdout: %+v", p)
	}
	flow := v.publish(def)
	const n = 300
	for i := range n {
		c := v.customer(fmt.Sprintf("h%d@example.com", i))
		v.signal(c, signals.CustomerCreated, "", "")
	}
	v.runDue()
	v.at(25 * time.Hour)
	v.runDue()
	var runs []struct {
		ID      int64  `db:"id"`
		Holdout bool   `db:"holdout"`
		Status  string `db:"status"`
		Emails  int    `db:"emails"`
		Skips   int    `db:"skips"`
	}
	if err := v.db.Select(&runs, `SELECT r.id, r.holdout, r.status,
			(SELECT count(*) FROM email_messages m WHERE m.flow_run_id = r.id) AS emails,
			(SELECT count(*) FROM flow_run_steps s WHERE s.run_id = r.id AND s.outcome = 'skipped' AND s.reason = 'holdout') AS skips
		FROM flow_runs r WHERE r.flow_id = $1`, flow); err != nil {
		t.Fatal(err)
	}
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	held := 0
	for _, r := range runs {
		if r.Holdout != flows.HeldOut(r.ID, 30) {
			t.Fatalf("run %d: holdout %v, its draw says %v", r.ID, r.Holdout, !r.Holdout)
		}
		if r.Status != "completed" {
			t.Fatalf("run %d is %s, want completed", r.ID, r.Status)
		}
		switch {
		case r.Holdout && (r.Emails != 0 || r.Skips != 2):
			t.Fatalf("held-out run %d: %d emails, %d holdout skips; want 0 and 2", r.ID, r.Emails, r.Skips)
		case !r.Holdout && (r.Emails != 2 || r.Skips != 0):
			t.Fatalf("mailed run %d: %d emails, %d holdout skips; want 2 and 0", r.ID, r.Emails, r.Skips)
		}
		if r.Holdout {
			held++
		}
	}
	if held < 60 || held > 120 {
		t.Fatalf("%d of %d runs held out at 30 %%", held, n)
	}
}
