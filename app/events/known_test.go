package events

import (
	"sort"
	"testing"
)

func TestKnownEventsSortedAndKnown(t *testing.T) {
	list := KnownEvents()
	if len(list) != len(schemas) || !sort.StringsAreSorted(list) {
		t.Fatalf("KnownEvents: %v", list)
	}
	for _, name := range list {
		if !KnownEvent(name) {
			t.Fatalf("%s listed but not known", name)
		}
	}
}
