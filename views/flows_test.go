package views

import (
	"strings"
	"testing"
)

// The publish dialog lists the waiting customers per step and offers to
// move them only when someone waits; per-step numbers and the dev controls
// show when given.
func TestFlowEditorPublishDialogAndNumbers(t *testing.T) {
	f := FlowEditor{ID: 7, Name: "Cart", Href: "/app/flows/7", Status: "live", StatusTone: "Success", LiveVersion: 2,
		HasDraftEdit: true, CanGoLive: true, CanPause: true, CanTurnOff: true, Dev: true,
		Publish: &FlowPublishDialog{Waiting: []FlowWaiting{{Step: "wait-1", N: 1200}, {Step: "wait-2", N: 3}}, Total: 1203},
		Steps: []FlowStepView{{ID: "email-1", Type: "send_email", TypeLabel: "Send email", Numbers: "5 entered · 2 waiting · 3 sent",
			Problems: []string{"Choose the email template to send."}, EditHref: "/app/flows/7?step=email-1"}},
	}
	html := render(t, FlowEditorPage(testPage(false), f))
	for _, want := range []string{`id="publish-dialog"`, `<td>wait-1</td><td class="cw-Num">1,200</td>`, `name="move_waiting"`,
		`data-step-numbers>5 entered · 2 waiting · 3 sent`, `data-problem-dot`, "Choose the email template to send.",
		`data-dev-run="now"`, `data-dev-run="day"`, `data-action="pause"`, "Publish changes", "unpublished changes"} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %q", want)
		}
	}
	f.Publish = &FlowPublishDialog{}
	f.Dev = false
	f.Steps[0].Numbers = ""
	html = render(t, FlowEditorPage(testPage(false), f))
	for _, absent := range []string{`name="move_waiting"`, `data-step-numbers`, `data-dev-run`} {
		if strings.Contains(html, absent) {
			t.Errorf("%q shown without its data", absent)
		}
	}
}
