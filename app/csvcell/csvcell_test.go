package csvcell

import "testing"

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"Ada":               "Ada",
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+SUM(A1)":          "'+SUM(A1)",
		"-2+3":              "-2+3",
		"@cmd":              "'@cmd",
		"\t=1":              "'\t=1",
		"+1 (555) 010-0100": "+1 (555) 010-0100",
		"ada@example.com":   "ada@example.com",
		"-ada@example.com":  "'-ada@example.com",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}
