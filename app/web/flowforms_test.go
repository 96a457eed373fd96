package web

import (
	"testing"

	"github.com/cartwheel/cartwheel/app/flows"
)

func TestStepTreeEdits(t *testing.T) {
	d := flows.Definition{}
	s1, _ := newStep(&d, flows.StepSendEmail)
	if !insertStep(&d, s1, "", "", -1) || s1.ID != "email-1" {
		t.Fatalf("first step: %+v", d.Steps)
	}
	split, _ := newStep(&d, flows.StepCondition)
	if !insertStep(&d, split, "email-1", "", -1) || len(d.Steps) != 2 || len(d.Steps[1].Branches) != 2 {
		t.Fatalf("split after email-1: %+v", d.Steps)
	}
	inner, _ := newStep(&d, flows.StepSendEmail)
	if inner.ID != "email-2" || !insertStep(&d, inner, "", split.ID, 1) || d.Steps[1].Branches[1].Steps[0].ID != "email-2" {
		t.Fatalf("into the No branch: %+v", d.Steps[1])
	}
	w, _ := newStep(&d, flows.StepWait)
	if !insertStep(&d, w, "email-2", "", -1) || d.Steps[1].Branches[1].Steps[1].ID != "wait-1" || w.Wait.D() == 0 {
		t.Fatalf("after a nested step: %+v", d.Steps[1].Branches[1])
	}
	if insertStep(&d, w, "nope", "", -1) || insertStep(&d, w, "", split.ID, 2) {
		t.Fatal("inserted at a place that doesn't exist")
	}
	if _, ok := newStep(&d, "teleport"); ok {
		t.Fatal("unknown step type accepted")
	}
	if !deleteStep(&d, split.ID) || len(d.Steps) != 1 || d.Find("email-2") != nil {
		t.Fatalf("deleting a split takes its branches: %+v", d.Steps)
	}
	if deleteStep(&d, split.ID) {
		t.Fatal("deleted a step twice")
	}
}

func TestStepNumbersWords(t *testing.T) {
	got := stepNumbers(flows.StepSendEmail, flows.StepCounts{Entered: 1200, Waiting: 3, Sent: 1100, Opened: 500, Clicked: 40, Ordered: 7,
		Skipped: map[string]int{"smart sending": 2, "consent": 1}, Deferred: map[string]int{"quiet hours": 5}})
	want := "1,200 entered · 3 waiting · 1,100 sent · 500 opened · 40 clicked · 7 ordered · 1 skipped (consent) · 2 skipped (smart sending) · 5 deferred (quiet hours)"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := stepNumbers(flows.StepSendEmail, flows.StepCounts{Entered: 2, Sent: 1, Queued: 1}); got != "2 entered · 0 waiting · 1 sent · 1 sending · 0 opened · 0 clicked · 0 ordered" {
		t.Fatalf("with an email on its way: %s", got)
	}
}
