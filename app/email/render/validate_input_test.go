package render

import (
	"strings"
	"testing"
)

// Text PostgreSQL can't store is refused by the template validator itself,
// whatever the caller (the admin form is guarded too).
func TestValidateRefusesUnstorableText(t *testing.T) {
	base := Template{Name: "Welcome", Locale: LocaleEN, Subject: "Hi", Blocks: []Block{{Type: BlockHeading, Text: "Hello"}}}
	for field, edit := range map[string]func(*Template){
		"name":      func(t *Template) { t.Name = "Wel\x00come" },
		"subject":   func(t *Template) { t.Subject = "Hi\xff" },
		"preheader": func(t *Template) { t.Preheader = "\x00" },
	} {
		tpl := base
		edit(&tpl)
		errs := Validate(tpl)
		if !strings.Contains(errs[field], "NUL") && !strings.Contains(errs[field], "UTF-8") {
			t.Errorf("%s: got %v", field, errs)
		}
	}
}
