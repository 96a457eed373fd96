package segments

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// nested builds rules whose root holds a chain of groups levels deep.
func nested(levels int) string {
	leaf := `{"condition":{"field":"suppressed","op":"is"}}`
	var b strings.Builder
	b.WriteString(`{"version":1,"root":{"op":"and","items":[`)
	for i := 1; i < levels; i++ {
		b.WriteString(`{"group":{"op":"or","items":[`)
	}
	b.WriteString(leaf)
	for i := 1; i < levels; i++ {
		b.WriteString(`]}}`)
	}
	b.WriteString(`]}}`)
	return b.String()
}

// A hostile rule thousands of levels deep is refused by Parse itself (one
// linear scan), not after a quadratic decode.
func TestParseRefusesDeepNesting(t *testing.T) {
	deep := nested(3000)
	if len(deep) < 90_000 {
		t.Fatalf("fixture too small: %d bytes", len(deep))
	}
	_, err := Parse([]byte(deep))
	if err == nil || !strings.Contains(err.Error(), "at most 5 levels") {
		t.Fatalf("3000 levels: got %v, want ErrTooDeep", err)
	}
	// The deepest legal tree, with nested values in its conditions, parses.
	legal := strings.Replace(nested(MaxDepth), `{"condition":{"field":"suppressed","op":"is"}}`,
		`{"condition":{"field":"event","op":"did","event":"product_viewed","count":{"op":"at_least","n":2},"window":{"kind":"last_days","days":3},"values":["a"]}}`, 1)
	r, err := Parse([]byte(legal))
	if err != nil {
		t.Fatalf("5 levels: %v", err)
	}
	if err := Validate(r, 0, nil); err != nil {
		t.Fatalf("5 levels validate: %v", err)
	}
	// One level too many is refused the same way.
	if _, err := Parse([]byte(nested(MaxDepth + 1))); err == nil || !strings.Contains(err.Error(), "at most 5 levels") {
		t.Fatalf("6 levels: got %v", err)
	}
	// Brackets inside strings don't count.
	quoted := `{"version":1,"root":{"op":"and","items":[{"condition":{"field":"email_domain","op":"is","value":"` +
		strings.Repeat("[{", 50) + `\"x"}}]}}`
	if _, err := Parse([]byte(quoted)); err != nil {
		t.Fatalf("brackets in a string: %v", err)
	}
}

// Encoding is unchanged: a group is {"group":…}, a condition {"condition":…}.
func TestNodeJSONShape(t *testing.T) {
	r := Rules{Version: 1, Root: Group{Op: "and", Items: []Node{
		{Condition: &Condition{Field: FieldUnsubscribed, Op: "is"}},
		{Group: &Group{Op: "or", Items: []Node{{Condition: &Condition{Field: FieldSuppressed, Op: "is"}}}}},
	}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"root":{"op":"and","items":[{"condition":{"field":"unsubscribed","op":"is"}},{"group":{"op":"or","items":[{"condition":{"field":"suppressed","op":"is"}}]}}]}}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}

func BenchmarkParseDeep(b *testing.B) {
	deep := []byte(nested(3000))
	for i := 0; i < b.N; i++ {
		_, _ = Parse(deep)
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte(nested(1)))
	f.Add([]byte(nested(MaxDepth + 1)))
	f.Add([]byte(nested(40)))
	f.Add([]byte(`{"version":1,"root":{"op":"or","items":[{"condition":{"field":"event","op":"did","event":"product_viewed","count":{"op":"at_least","n":2},"window":{"kind":"between","from":"2024-01-01","to":"2024-02-01"},"filter":{"kind":"search_term","value":"x"}}}]}}`))
	f.Add([]byte(`{"version":1,"root":{"op":"and","items":[{"condition":{"field":"total_spent","op":"gte","number":1e308}},{"condition":{"field":"country","op":"in","values":["US","\u0000"]}}]}}`))
	f.Add([]byte(`{"version":1,"root":{"op":"and","items":[{"group":{},"condition":{}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever decodes must validate without panicking, and valid rules
		// must compile and summarise.
		if Validate(r, 0, nil) != nil {
			return
		}
		_ = Summary(r, Names{})
		if _, _, err := Compile(1, r, time.Now(), time.UTC); err != nil {
			t.Fatalf("valid rules do not compile: %v", err)
		}
	})
}
