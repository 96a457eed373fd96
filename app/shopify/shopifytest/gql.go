package shopifytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// This file holds a small GraphQL reader: enough of the language (operations,
// aliases, arguments with literals and variables, inline fragments, named
// fragments, directives skipped) to dispatch on root fields, price a query
// and return only the fields the client selected — so a client that forgets
// to select a field gets nothing back, as it would from Shopify.

// Field is one selected field. For an inline fragment or a fragment spread
// Name is empty and On (type condition) or Spread is set.
type Field struct {
	Alias, Name string
	// Args holds the arguments with variables already substituted; enum
	// values are plain strings, numbers float64 (from variables) or int64
	// (from literals). Use the Arg* helpers.
	Args map[string]any
	// argVars names the variable an argument came from, for error messages.
	argVars    map[string]string
	Selections []*Field
	On         string // inline fragment type condition
	Spread     string // named fragment spread
	Line, Col  int
}

// Key is the response key: the alias if any, else the name.
func (f *Field) Key() string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// ArgVar returns the variable name an argument was given through, or "".
func (f *Field) ArgVar(name string) string { return f.argVars[name] }

// ArgString returns a string (or enum) argument, "" if absent.
func (f *Field) ArgString(name string) string {
	s, _ := f.Args[name].(string)
	return s
}

// ArgInt returns an integer argument and whether it was given.
func (f *Field) ArgInt(name string) (int, bool) {
	switch v := f.Args[name].(type) {
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	}
	return 0, false
}

// ArgMap returns an input-object argument, nil if absent.
func (f *Field) ArgMap(name string) map[string]any {
	m, _ := f.Args[name].(map[string]any)
	return m
}

// ArgList returns a list argument, nil if absent.
func (f *Field) ArgList(name string) []any {
	l, _ := f.Args[name].([]any)
	return l
}

type operation struct {
	kind       string // query | mutation
	name       string
	selections []*Field
}

type document struct {
	ops       []*operation
	fragments map[string]*Field // name → fragment (On + Selections)
}

type varRef string

type enumValue string

// parseError mirrors graphql-ruby's message shape, which Shopify returns.
type parseError struct {
	msg       string
	line, col int
}

func (e *parseError) Error() string { return e.msg }

type token struct {
	kind      byte // 'n' name, 'i' int, 'f' float, 's' string, 'p' punctuator, 0 EOF
	val       string
	line, col int
}

func lex(src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	adv := func(n int) {
		for k := 0; k < n && i < len(src); k++ {
			if src[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			adv(1)
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				adv(1)
			}
		case strings.HasPrefix(src[i:], "..."):
			toks = append(toks, token{'p', "...", line, col})
			adv(3)
		case strings.ContainsRune("!$():=@[]{}|&", rune(c)):
			toks = append(toks, token{'p', string(c), line, col})
			adv(1)
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{'n', src[i:j], line, col})
			adv(j - i)
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			kind := byte('i')
			for j < len(src) && strings.IndexByte("0123456789.eE+-", src[j]) >= 0 {
				if strings.IndexByte(".eE", src[j]) >= 0 {
					kind = 'f'
				}
				j++
			}
			toks = append(toks, token{kind, src[i:j], line, col})
			adv(j - i)
		case strings.HasPrefix(src[i:], `"""`):
			end := strings.Index(src[i+3:], `"""`)
			if end < 0 {
				return nil, &parseError{fmt.Sprintf("Parse error on unterminated string at [%d, %d]", line, col), line, col}
			}
			toks = append(toks, token{'s', src[i+3 : i+3+end], line, col})
			adv(end + 6)
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, &parseError{fmt.Sprintf("Parse error on unterminated string at [%d, %d]", line, col), line, col}
			}
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				s = src[i+1 : j]
			}
			toks = append(toks, token{'s', s, line, col})
			adv(j + 1 - i)
		default:
			return nil, &parseError{fmt.Sprintf("Parse error on %q at [%d, %d]", string(c), line, col), line, col}
		}
	}
	toks = append(toks, token{0, "", line, col})
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != 0 {
		p.pos++
	}
	return t
}

func (p *parser) errAt(t token) error {
	what := t.val
	if t.kind == 0 {
		what = "end of file"
	}
	return &parseError{fmt.Sprintf("Parse error on %q at [%d, %d]", what, t.line, t.col), t.line, t.col}
}

func (p *parser) isPunct(v string) bool { t := p.peek(); return t.kind == 'p' && t.val == v }

func (p *parser) expect(v string) error {
	t := p.next()
	if t.kind != 'p' || t.val != v {
		return p.errAt(t)
	}
	return nil
}

func (p *parser) name() (token, error) {
	t := p.next()
	if t.kind != 'n' {
		return t, p.errAt(t)
	}
	return t, nil
}

func parseDocument(src string) (*document, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	doc := &document{fragments: map[string]*Field{}}
	for p.peek().kind != 0 {
		t := p.peek()
		switch {
		case t.kind == 'p' && t.val == "{":
			sels, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			doc.ops = append(doc.ops, &operation{kind: "query", selections: sels})
		case t.kind == 'n' && (t.val == "query" || t.val == "mutation" || t.val == "subscription"):
			p.next()
			op := &operation{kind: t.val}
			if p.peek().kind == 'n' {
				op.name = p.next().val
			}
			if p.isPunct("(") {
				if err := p.skipBalanced("(", ")"); err != nil {
					return nil, err
				}
			}
			if err := p.skipDirectives(); err != nil {
				return nil, err
			}
			sels, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			op.selections = sels
			doc.ops = append(doc.ops, op)
		case t.kind == 'n' && t.val == "fragment":
			p.next()
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			if on, err := p.name(); err != nil || on.val != "on" {
				return nil, p.errAt(on)
			}
			typ, err := p.name()
			if err != nil {
				return nil, err
			}
			if err := p.skipDirectives(); err != nil {
				return nil, err
			}
			sels, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			doc.fragments[n.val] = &Field{On: typ.val, Selections: sels}
		default:
			return nil, p.errAt(t)
		}
	}
	if len(doc.ops) == 0 {
		return nil, &parseError{"No operations in query document", 1, 1}
	}
	return doc, nil
}

func (p *parser) skipBalanced(open, close string) error {
	depth := 0
	for {
		t := p.next()
		if t.kind == 0 {
			return p.errAt(t)
		}
		if t.kind == 'p' && t.val == open {
			depth++
		}
		if t.kind == 'p' && t.val == close {
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}

// Directives (@include, @skip, …) are accepted and ignored.
func (p *parser) skipDirectives() error {
	for p.isPunct("@") {
		p.next()
		if _, err := p.name(); err != nil {
			return err
		}
		if p.isPunct("(") {
			if err := p.skipBalanced("(", ")"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) selectionSet() ([]*Field, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var sels []*Field
	for !p.isPunct("}") {
		f, err := p.selection()
		if err != nil {
			return nil, err
		}
		sels = append(sels, f)
	}
	p.next()
	if len(sels) == 0 {
		return nil, p.errAt(p.toks[p.pos-1])
	}
	return sels, nil
}

func (p *parser) selection() (*Field, error) {
	start := p.peek()
	if p.isPunct("...") {
		p.next()
		f := &Field{Line: start.line, Col: start.col}
		if t := p.peek(); t.kind == 'n' && t.val != "on" {
			f.Spread = p.next().val
			return f, p.skipDirectives()
		}
		if t := p.peek(); t.kind == 'n' && t.val == "on" {
			p.next()
			typ, err := p.name()
			if err != nil {
				return nil, err
			}
			f.On = typ.val
		}
		if err := p.skipDirectives(); err != nil {
			return nil, err
		}
		sels, err := p.selectionSet()
		if err != nil {
			return nil, err
		}
		f.Selections = sels
		return f, nil
	}
	n, err := p.name()
	if err != nil {
		return nil, err
	}
	f := &Field{Name: n.val, Line: n.line, Col: n.col}
	if p.isPunct(":") {
		p.next()
		real, err := p.name()
		if err != nil {
			return nil, err
		}
		f.Alias, f.Name = f.Name, real.val
	}
	if p.isPunct("(") {
		p.next()
		f.Args = map[string]any{}
		for !p.isPunct(")") {
			an, err := p.name()
			if err != nil {
				return nil, err
			}
			if err := p.expect(":"); err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			f.Args[an.val] = v
		}
		p.next()
	}
	if err := p.skipDirectives(); err != nil {
		return nil, err
	}
	if p.isPunct("{") {
		sels, err := p.selectionSet()
		if err != nil {
			return nil, err
		}
		f.Selections = sels
	}
	return f, nil
}

func (p *parser) value() (any, error) {
	t := p.next()
	switch t.kind {
	case 'i':
		n, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, p.errAt(t)
		}
		return n, nil
	case 'f':
		n, err := strconv.ParseFloat(t.val, 64)
		if err != nil {
			return nil, p.errAt(t)
		}
		return n, nil
	case 's':
		return t.val, nil
	case 'n':
		switch t.val {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		return enumValue(t.val), nil
	case 'p':
		switch t.val {
		case "$":
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			return varRef(n.val), nil
		case "[":
			list := []any{}
			for !p.isPunct("]") {
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			p.next()
			return list, nil
		case "{":
			obj := map[string]any{}
			for !p.isPunct("}") {
				k, err := p.name()
				if err != nil {
					return nil, err
				}
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				obj[k.val] = v
			}
			p.next()
			return obj, nil
		}
	}
	return nil, p.errAt(t)
}

// resolveArgs returns a deep copy of f with variables substituted in its
// arguments and those of every sub-selection.
func resolveArgs(f *Field, vars map[string]any) *Field {
	out := *f
	out.Args = map[string]any{}
	out.argVars = map[string]string{}
	for k, v := range f.Args {
		if r, ok := v.(varRef); ok {
			out.argVars[k] = string(r)
		}
		out.Args[k] = resolveValue(v, vars)
	}
	out.Selections = make([]*Field, len(f.Selections))
	for i, s := range f.Selections {
		out.Selections[i] = resolveArgs(s, vars)
	}
	return &out
}

func resolveValue(v any, vars map[string]any) any {
	switch x := v.(type) {
	case varRef:
		return vars[string(x)]
	case enumValue:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveValue(e, vars)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = resolveValue(e, vars)
		}
		return out
	}
	return v
}

// cursorFor and parseCursor make opaque cursors like Shopify's (base64 JSON).
func cursorFor(id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"last_id":%d}`, id)))
}

func parseCursor(c string) (int64, bool) {
	raw, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	var v struct {
		LastID *int64 `json:"last_id"`
	}
	if json.Unmarshal(raw, &v) != nil || v.LastID == nil {
		return 0, false
	}
	return *v.LastID, true
}
