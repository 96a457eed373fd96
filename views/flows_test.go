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

// The trigger shows its runs; while an email is on its way the canvas
// polls the page for itself, and stops once nothing is sending.
func TestFlowCanvasTriggerNumbersAndPolling(t *testing.T) {
	f := FlowEditor{ID: 7, Name: "Checkout", Href: "/app/flows/7", Status: "live", StatusTone: "Success", LiveVersion: 1,
		TriggerNumbers: "3 entered · 1 waiting", Sending: true,
		Steps: []FlowStepView{{ID: "email-1", Type: "send_email", TypeLabel: "Send email", Numbers: "2 entered · 0 waiting · 1 sent · 1 sending"}}}
	html := render(t, FlowEditorPage(testPage(false), f))
	for _, want := range []string{`data-step-numbers>3 entered · 1 waiting`, `hx-get="/app/flows/7"`, `hx-trigger="every 1s"`, `hx-select="#flow-canvas"`, `data-sending`} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %q", want)
		}
	}
	f.Sending, f.TriggerNumbers = false, ""
	html = render(t, FlowEditorPage(testPage(false), f))
	if strings.Contains(html, `hx-trigger="every 1s"`) || strings.Contains(html, `data-sending`) || strings.Contains(html, "3 entered") {
		t.Error("the canvas polls, or shows trigger numbers, with nothing to show")
	}
}
