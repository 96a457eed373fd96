package render

import (
	"fmt"
	"strconv"
	"strings"
)

// tagID names one known merge tag.
type tagID uint8

const (
	tagNone tagID = iota
	tagFirstName
	tagLastName
	tagEmail
	tagShopName
	tagShopURL
	tagDiscountCode
	tagCartURL
	tagUnsubscribeURL
)

var tagNames = map[string]tagID{
	"first_name": tagFirstName, "last_name": tagLastName, "email": tagEmail,
	"shop_name": tagShopName, "shop_url": tagShopURL, "discount_code": tagDiscountCode,
	"cart_url": tagCartURL, "unsubscribe_url": tagUnsubscribeURL,
}

// KnownTags lists the merge tags templates may use.
func KnownTags() []string {
	return []string{"first_name", "last_name", "email", "shop_name", "shop_url", "discount_code", "cart_url", "unsubscribe_url"}
}

func tagIsURL(t tagID) bool {
	return t == tagShopURL || t == tagCartURL || t == tagUnsubscribeURL
}

// UnsubscribePlaceholder is what the footer's unsubscribe link holds when
// RenderData.UnsubscribeURL is empty: the tracker replaces it with the
// signed per-message link.
const UnsubscribePlaceholder = "{{ unsubscribe_url }}"

// seg is a literal (tag == tagNone) or a merge tag with its default.
type seg struct {
	lit string
	tag tagID
	def string
}

// TagError is a merge tag the parser refused.
type TagError struct {
	Tag    string // as written, e.g. "{{ foo }}"
	Reason string // "unknown", "filter", "unclosed", "syntax"
}

func (e *TagError) Error() string { return e.message("template") }

func (e *TagError) message(where string) string {
	switch e.Reason {
	case "unknown":
		return fmt.Sprintf("Unknown merge tag %s in %s. Known tags: %s.", e.Tag, where, strings.Join(KnownTags(), ", "))
	case "filter":
		return fmt.Sprintf("Merge tag %s in %s: only the default filter is supported, e.g. {{ first_name | default: \"there\" }}.", e.Tag, where)
	case "unclosed":
		return fmt.Sprintf("A merge tag in %s is not closed: %s… needs }}.", where, e.Tag)
	default:
		return fmt.Sprintf("Merge tag %s in %s is not written right; use {{ name }} or {{ name | default: \"text\" }}.", e.Tag, where)
	}
}

// parseTags splits s into literals and merge tags: {{ name }} and
// {{ name | default: "text" }} (single or double quotes). Anything else
// between {{ and }} is an error naming the tag.
func parseTags(s string) ([]seg, error) {
	var out []seg
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if s != "" {
				out = append(out, seg{lit: s})
			}
			return out, nil
		}
		if i > 0 {
			out = append(out, seg{lit: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			tag := s[i:]
			if len(tag) > 30 {
				tag = tag[:30]
			}
			return nil, &TagError{Tag: tag, Reason: "unclosed"}
		}
		raw := s[i : i+j+2]
		sg, err := parseTag(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, sg)
		s = s[i+j+2:]
	}
}

func parseTag(raw string) (seg, error) {
	body := strings.TrimSpace(raw[2 : len(raw)-2])
	name, filter, hasFilter := strings.Cut(body, "|")
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t\n\"'{}") {
		return seg{}, &TagError{Tag: raw, Reason: "syntax"}
	}
	id, ok := tagNames[name]
	if !ok {
		return seg{}, &TagError{Tag: "{{ " + name + " }}", Reason: "unknown"}
	}
	sg := seg{tag: id}
	if !hasFilter {
		return sg, nil
	}
	f := strings.TrimSpace(filter)
	rest, ok := strings.CutPrefix(f, "default")
	if !ok {
		return seg{}, &TagError{Tag: raw, Reason: "filter"}
	}
	rest = strings.TrimSpace(rest)
	rest, ok = strings.CutPrefix(rest, ":")
	if !ok {
		return seg{}, &TagError{Tag: raw, Reason: "syntax"}
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || (rest[0] != '"' && rest[0] != '\'') || rest[len(rest)-1] != rest[0] {
		return seg{}, &TagError{Tag: raw, Reason: "syntax"}
	}
	v := rest[1 : len(rest)-1]
	if strings.ContainsRune(v, rune(rest[0])) {
		return seg{}, &TagError{Tag: raw, Reason: "syntax"}
	}
	if rest[0] == '"' {
		if u, err := strconv.Unquote(rest); err == nil {
			v = u
		}
	}
	sg.def = v
	return sg, nil
}
