package flows

// StepCounts is defined by the flowui branch's store.go; this copy goes at merge.
type StepCounts struct {
	Entered, Waiting, Sent, Opened, Clicked, Ordered int
	Skipped, Deferred                                map[string]int
}
