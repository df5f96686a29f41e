package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Policy language versions.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effect is a statement's Effect element.
type Effect string

// The two effects.
const (
	EffectAllow Effect = "Allow"
	EffectDeny  Effect = "Deny"
)

// Document is a parsed, not yet validated policy document. Element values keep the text
// the author wrote; Compile turns a Document into an evaluable Policy.
type Document struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a Document. A nil slice or pointer means the element is
// absent.
type Statement struct {
	Index        int
	Sid          string
	Effect       Effect
	Principal    *Principals
	NotPrincipal *Principals
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Conditions   []Condition
}

// Principals is a Principal or NotPrincipal element: "*" or typed lists of principals.
type Principals struct {
	Wildcard bool // the element is the string "*"
	Entries  []PrincipalEntry
}

// PrincipalEntry is one principal type with its values, for example
// {"Federated": ["arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]}.
type PrincipalEntry struct {
	Type   string // AWS, Federated, Service or CanonicalUser
	Values []string
}

// Condition is one operator/key pair of a Condition block, in document order.
type Condition struct {
	Operator string
	Key      string
	Values   []string
}

// Problem is one thing wrong with a policy document, located by statement and field.
type Problem struct {
	Statement int // -1 for the document itself
	Sid       string
	Field     string
	Message   string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.Statement >= 0 {
		fmt.Fprintf(&b, "statement %d", p.Statement)
		if p.Sid != "" {
			fmt.Fprintf(&b, " (Sid %q)", p.Sid)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a document.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid policy: " + strings.Join(msgs, "; ")
}

// ErrSyntax is returned (wrapped) when a policy is not well-formed JSON.
var ErrSyntax = errors.New("policy is not valid JSON")

// parser collects problems while it walks a document.
type parser struct {
	problems []Problem
}

func (p *parser) add(stmt int, sid, field, format string, args ...any) {
	p.problems = append(p.problems, Problem{Statement: stmt, Sid: sid, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Parse decodes a policy document strictly: unknown fields, wrong types, unknown condition
// operators, both Action and NotAction (or Principal/NotPrincipal, Resource/NotResource),
// and a missing Effect or Action are errors. Every problem is reported in one
// *ValidationError. Kind-specific rules are checked by Document.Validate.
func Parse(data []byte) (*Document, error) {
	root, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if root.kind != '{' {
		return nil, &ValidationError{Problems: []Problem{{Statement: -1, Message: "a policy must be a JSON object"}}}
	}
	var ps parser
	doc := &Document{}
	seen := map[string]bool{}
	var stmts *jvalue
	for i := range root.members {
		m := &root.members[i]
		if seen[m.name] {
			ps.add(-1, "", m.name, "duplicate element")
			continue
		}
		seen[m.name] = true
		switch m.name {
		case "Version":
			doc.Version = m.value.text
			if m.value.kind != '"' {
				ps.add(-1, "", "Version", "must be a string")
			} else if doc.Version != Version2012 && doc.Version != Version2008 {
				ps.add(-1, "", "Version", "must be %q or %q, not %q", Version2012, Version2008, doc.Version)
			}
		case "Id":
			doc.ID = m.value.text
			if m.value.kind != '"' {
				ps.add(-1, "", "Id", "must be a string")
			}
		case "Statement":
			stmts = &m.value
		default:
			ps.add(-1, "", m.name, "unknown element (want Version, Id, Statement)")
		}
	}
	switch {
	case stmts == nil:
		ps.add(-1, "", "Statement", "missing")
	case stmts.kind == '{':
		doc.Statements = append(doc.Statements, ps.statement(0, stmts))
	case stmts.kind == '[':
		if len(stmts.items) == 0 {
			ps.add(-1, "", "Statement", "must not be empty")
		}
		for i := range stmts.items {
			doc.Statements = append(doc.Statements, ps.statement(i, &stmts.items[i]))
		}
	default:
		ps.add(-1, "", "Statement", "must be an object or a list of objects")
	}
	if len(ps.problems) > 0 {
		return nil, &ValidationError{Problems: ps.problems}
	}
	return doc, nil
}

// statementFields lists the elements a statement may carry.
const statementFields = "Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition"

func (p *parser) statement(i int, v *jvalue) Statement {
	st := Statement{Index: i}
	if v.kind != '{' {
		p.add(i, "", "", "a statement must be a JSON object")
		return st
	}
	for _, m := range v.members { // the Sid first, so that every problem can name it
		if m.name == "Sid" && m.value.kind == '"' {
			st.Sid = m.value.text
		}
	}
	seen := map[string]bool{}
	for _, m := range v.members {
		if seen[m.name] {
			p.add(i, st.Sid, m.name, "duplicate element")
			continue
		}
		seen[m.name] = true
		p.field(&st, m)
	}
	p.exclusive(&st, seen, "Principal", "NotPrincipal", false)
	p.exclusive(&st, seen, "Action", "NotAction", true)
	p.exclusive(&st, seen, "Resource", "NotResource", false)
	if !seen["Effect"] {
		p.add(i, st.Sid, "Effect", "missing (want \"Allow\" or \"Deny\")")
	}
	return st
}

func (p *parser) exclusive(st *Statement, seen map[string]bool, a, b string, required bool) {
	switch {
	case seen[a] && seen[b]:
		p.add(st.Index, st.Sid, a, "a statement cannot have both %s and %s", a, b)
	case required && !seen[a] && !seen[b]:
		p.add(st.Index, st.Sid, a, "missing (a statement needs %s or %s)", a, b)
	}
}

func (p *parser) field(st *Statement, m member) {
	i, sid := st.Index, st.Sid
	switch m.name {
	case "Sid":
		if m.value.kind != '"' {
			p.add(i, sid, "Sid", "must be a string")
		}
	case "Effect":
		e := m.value.text
		if m.value.kind != '"' {
			p.add(i, sid, "Effect", "must be the string \"Allow\" or \"Deny\"")
			return
		}
		st.Effect = Effect(e)
		if st.Effect != EffectAllow && st.Effect != EffectDeny {
			p.add(i, sid, "Effect", "must be \"Allow\" or \"Deny\", not %q", e)
		}
	case "Principal", "NotPrincipal":
		pr := p.principals(i, sid, m)
		if m.name == "Principal" {
			st.Principal = pr
		} else {
			st.NotPrincipal = pr
		}
	case "Action", "NotAction", "Resource", "NotResource":
		list, msg := stringList(&m.value)
		if msg != "" {
			p.add(i, sid, m.name, "%s", msg)
			return
		}
		switch m.name {
		case "Action":
			st.Action = list
		case "NotAction":
			st.NotAction = list
		case "Resource":
			st.Resource = list
		default:
			st.NotResource = list
		}
	case "Condition":
		st.Conditions = p.conditions(i, sid, &m.value)
	default:
		p.add(i, sid, m.name, "unknown element (want one of %s)", statementFields)
	}
}

// stringList decodes IAM's "string or list of strings"; msg describes a wrong shape.
func stringList(v *jvalue) (list []string, msg string) {
	switch v.kind {
	case '"':
		return []string{v.text}, ""
	case '[':
		if len(v.items) == 0 {
			return nil, "must not be an empty list"
		}
		list = make([]string, 0, len(v.items))
		for _, it := range v.items {
			if it.kind != '"' {
				return nil, "must be a string or a list of strings"
			}
			list = append(list, it.text)
		}
		return list, ""
	}
	return nil, "must be a string or a list of strings"
}

func (p *parser) principals(i int, sid string, m member) *Principals {
	if m.value.kind == '"' {
		if m.value.text != "*" {
			p.add(i, sid, m.name, "a string %s must be \"*\"; use an object such as {\"AWS\": %q}", m.name, m.value.text)
			return nil
		}
		return &Principals{Wildcard: true}
	}
	if m.value.kind != '{' {
		p.add(i, sid, m.name, "must be \"*\" or an object with AWS, Federated, Service or CanonicalUser")
		return nil
	}
	if len(m.value.members) == 0 {
		p.add(i, sid, m.name, "must not be empty")
		return nil
	}
	pr := &Principals{}
	seen := map[string]bool{}
	for _, e := range m.value.members {
		field := m.name + "." + e.name
		switch e.name {
		case "AWS", "Federated", "Service", "CanonicalUser":
		default:
			p.add(i, sid, field, "unknown principal type (want AWS, Federated, Service or CanonicalUser)")
			continue
		}
		if seen[e.name] {
			p.add(i, sid, field, "duplicate principal type")
			continue
		}
		seen[e.name] = true
		list, msg := stringList(&e.value)
		if msg != "" {
			p.add(i, sid, field, "%s", msg)
			continue
		}
		pr.Entries = append(pr.Entries, PrincipalEntry{Type: e.name, Values: list})
	}
	return pr
}

func (p *parser) conditions(i int, sid string, v *jvalue) []Condition {
	if v.kind != '{' {
		p.add(i, sid, "Condition", "must be an object of operators")
		return nil
	}
	var out []Condition
	seenOp := map[string]bool{}
	for _, op := range v.members {
		field := "Condition." + op.name
		if _, err := parseOperator(op.name); err != nil {
			p.add(i, sid, field, "%v", err)
			continue
		}
		if seenOp[op.name] {
			p.add(i, sid, field, "duplicate operator")
			continue
		}
		seenOp[op.name] = true
		if op.value.kind != '{' || len(op.value.members) == 0 {
			p.add(i, sid, field, "must be a non-empty object of condition keys")
			continue
		}
		seenKey := map[string]bool{}
		for _, k := range op.value.members {
			lk := strings.ToLower(k.name)
			if seenKey[lk] {
				p.add(i, sid, field+"."+k.name, "duplicate condition key (keys are case-insensitive)")
				continue
			}
			seenKey[lk] = true
			vals, msg := conditionValues(&k.value)
			if msg != "" {
				p.add(i, sid, field+"."+k.name, "%s", msg)
				continue
			}
			out = append(out, Condition{Operator: op.name, Key: k.name, Values: vals})
		}
	}
	return out
}

// conditionValues decodes a condition value: a string, number or boolean, or a non-empty
// list of them (AWS accepts numbers and booleans and compares their text).
func conditionValues(v *jvalue) ([]string, string) {
	const shape = "must be a string, number or boolean, or a list of them"
	scalar := func(v *jvalue) bool { return v.kind == '"' || v.kind == '0' || v.kind == 't' || v.kind == 'f' }
	if v.kind == '[' {
		if len(v.items) == 0 {
			return nil, "must not be an empty list"
		}
		out := make([]string, 0, len(v.items))
		for i := range v.items {
			if !scalar(&v.items[i]) {
				return nil, shape
			}
			out = append(out, v.items[i].text)
		}
		return out, ""
	}
	if !scalar(v) {
		return nil, shape
	}
	return []string{v.text}, ""
}
