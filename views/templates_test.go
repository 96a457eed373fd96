package views

import (
	"reflect"
	"testing"
)

func TestReadableSubject(t *testing.T) {
	got := ReadableSubject(`Welcome to {{ shop_name }}, {{ first_name | default: "friend" }}! {{ x | default: 'y' }}`)
	want := []SubjectPart{{Text: "Welcome to "}, {Text: "Store name", Tag: true}, {Text: ", "},
		{Text: "First name, or 'friend'", Tag: true}, {Text: "! "}, {Text: "x, or 'y'", Tag: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadableSubject:\n got %#v\nwant %#v", got, want)
	}
	if got := ReadableSubject("No tags"); !reflect.DeepEqual(got, []SubjectPart{{Text: "No tags"}}) {
		t.Errorf("no tags: %#v", got)
	}
}
