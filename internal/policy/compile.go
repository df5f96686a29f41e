package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Policy is a compiled policy: wildcards pre-compiled, condition keys lower-cased, values
// pre-parsed, variables pre-split. It is immutable and safe for concurrent use.
type Policy struct {
	name       string
	kind       Kind
	version    string
	statements []cstatement
}

// Kind returns the kind the policy was compiled as.
func (p *Policy) Kind() Kind { return p.kind }

// Name returns the name used in traces: the one given to Named, else the document's Id.
func (p *Policy) Name() string { return p.name }

// Named returns a copy of p that traces call name (for example the file it came from).
func (p *Policy) Named(name string) *Policy {
	c := *p
	c.name = name
	return &c
}

type cstatement struct {
	index        int
	sid          string
	deny         bool
	principal    *principalMatcher // nil: no Principal element
	notPrincipal bool
	actions      []pattern
	notAction    bool
	resources    []arnPattern // nil: no Resource element (trust policies)
	notResource  bool
	conds        []ccond
}

type principalMatcher struct {
	wildcard bool
	entries  []principalEntry
}

type principalEntry struct {
	typ     string
	value   string
	account string // set when value names a whole account (ID or :root ARN)
}

type ccond struct {
	op        operator
	key       string
	lkey      string
	raw       []string
	strs      []pattern
	arns      []arnPattern
	nums      []float64
	times     []time.Time
	nets      []netip.Prefix
	bins      [][]byte
	nullTrue  bool
	nullFalse bool
}

// Compile validates doc as a policy of the given kind and compiles it. Problems are
// returned as a *ValidationError.
func Compile(doc *Document, kind Kind) (*Policy, error) {
	p, problems := build(doc, kind)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return p, nil
}

// ParseAndCompile parses data and compiles it as a policy of the given kind.
func ParseAndCompile(data []byte, kind Kind) (*Policy, error) {
	doc, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return Compile(doc, kind)
}

// builder compiles one document and collects its problems.
type builder struct {
	kind     Kind
	vars     bool
	problems []Problem
	st       *Statement
}

func (b *builder) add(field, format string, args ...any) {
	b.problems = append(b.problems, Problem{Statement: b.st.Index, Sid: b.st.Sid, Field: field, Message: fmt.Sprintf(format, args...)})
}

func build(d *Document, kind Kind) (*Policy, []Problem) {
	b := &builder{kind: kind, vars: d.Version == Version2012}
	p := &Policy{name: d.ID, kind: kind, version: d.Version}
	if kind < KindIdentity || kind > KindResource {
		return nil, []Problem{{Statement: -1, Message: fmt.Sprintf("unknown policy kind %v", kind)}}
	}
	if len(d.Statements) == 0 {
		b.problems = append(b.problems, Problem{Statement: -1, Field: "Statement", Message: "must not be empty"})
	}
	if msg := checkText(d.ID); msg != "" {
		b.problems = append(b.problems, Problem{Statement: -1, Field: "Id", Message: msg})
	}
	sids := map[string]int{}
	for i := range d.Statements {
		b.st = &d.Statements[i]
		if prev, dup := sids[b.st.Sid]; dup && b.st.Sid != "" {
			b.add("Sid", "duplicate Sid (also statement %d)", prev)
		}
		sids[b.st.Sid] = b.st.Index
		p.statements = append(p.statements, b.statement())
	}
	return p, b.problems
}

func (b *builder) statement() cstatement {
	st := b.st
	cs := cstatement{index: st.Index, sid: st.Sid, deny: st.Effect == EffectDeny}
	if msg := checkText(st.Sid); msg != "" {
		b.add("Sid", "%s", msg)
	} else if b.kind != KindResource && strings.IndexFunc(st.Sid, notAlnum) >= 0 {
		b.add("Sid", "%q: IAM accepts only letters and digits in a Sid", st.Sid)
	}
	if st.Effect != EffectAllow && st.Effect != EffectDeny {
		b.add("Effect", "must be \"Allow\" or \"Deny\"")
	}
	b.principals(&cs)
	cs.actions, cs.notAction = b.actions()
	cs.resources, cs.notResource = b.resources()
	for _, c := range st.Conditions {
		if cc, ok := b.condition(c); ok {
			cs.conds = append(cs.conds, cc)
		}
	}
	return cs
}

func notAlnum(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}

func (b *builder) principals(cs *cstatement) {
	st := b.st
	elem, field := st.Principal, "Principal"
	if st.NotPrincipal != nil {
		elem, field, cs.notPrincipal = st.NotPrincipal, "NotPrincipal", true
	}
	switch {
	case elem == nil && (b.kind == KindTrust || b.kind == KindResource):
		b.add("Principal", "missing: a %s policy statement must name a Principal", b.kind)
		return
	case elem == nil:
		return
	case b.kind == KindIdentity || b.kind == KindSession:
		b.add(field, "not allowed in an %s policy (only trust and resource policies name principals)", b.kind)
		return
	}
	m := &principalMatcher{wildcard: elem.Wildcard}
	for _, e := range elem.Entries {
		for _, v := range e.Values {
			if msg := checkPrincipal(e.Type, v); msg != "" {
				b.add(field+"."+e.Type, "%s", msg)
				continue
			}
			if msg := checkText(v); msg != "" {
				b.add(field+"."+e.Type, "%s", msg)
			}
			pe := principalEntry{typ: e.Type, value: v}
			if e.Type == "AWS" {
				pe.account = accountOf(v)
			}
			m.entries = append(m.entries, pe)
		}
	}
	cs.principal = m
}

// accountOf returns the account an AWS principal value names as a whole: a bare account
// ID or arn:PARTITION:iam::ACCOUNT:root.
func accountOf(v string) string {
	if isAccountID(v) {
		return v
	}
	var parts [6]string
	if splitARN(v, false, &parts) == 6 && parts[2] == "iam" && parts[5] == "root" {
		return parts[4]
	}
	return ""
}

func (b *builder) actions() ([]pattern, bool) {
	list, field, not := b.st.Action, "Action", false
	if b.st.NotAction != nil {
		list, field, not = b.st.NotAction, "NotAction", true
	}
	var out []pattern
	for _, a := range list {
		if msg := checkAction(a); msg != "" {
			b.add(field, "%s", msg)
			continue
		}
		if b.kind == KindTrust && !strings.HasPrefix(strings.ToLower(a), "sts:") {
			b.add(field, "%q: a trust policy may only name sts: actions (such as sts:AssumeRoleWithWebIdentity)", a)
			continue
		}
		p, _ := compilePattern(a, true, false)
		out = append(out, p)
	}
	return out, not
}

func (b *builder) resources() ([]arnPattern, bool) {
	list, field, not := b.st.Resource, "Resource", false
	if b.st.NotResource != nil {
		list, field, not = b.st.NotResource, "NotResource", true
	}
	switch {
	case list == nil && b.kind != KindTrust:
		b.add("Resource", "missing: an %s policy statement needs Resource or NotResource", b.kind)
		return nil, false
	case list != nil && b.kind == KindTrust:
		b.add(field, "not allowed in a trust policy (the resource is the role itself)")
		return nil, false
	case list == nil:
		return nil, false
	}
	out := make([]arnPattern, 0, len(list))
	for _, r := range list {
		if msg := checkResource(r, b.vars); msg != "" {
			b.add(field, "%s", msg)
			continue
		}
		if msg := checkText(r); msg != "" {
			b.add(field, "%s", msg)
			continue
		}
		p, err := compileARN(r, b.vars)
		if err != nil {
			b.add(field, "%q: %v", r, err)
			continue
		}
		out = append(out, p)
	}
	return out, not
}

func (b *builder) condition(c Condition) (ccond, bool) {
	field := "Condition." + c.Operator + "." + c.Key
	op, err := parseOperator(c.Operator)
	if err != nil {
		b.add("Condition."+c.Operator, "%v", err)
		return ccond{}, false
	}
	cc := ccond{op: op, key: c.Key, lkey: strings.ToLower(c.Key), raw: c.Values}
	ok := true
	bad := func(format string, args ...any) {
		b.add(field, format, args...)
		ok = false
	}
	if svc, name, found := strings.Cut(c.Key, ":"); !found || svc == "" || name == "" {
		bad("%q is not a condition key: want service:name (for example aws:SourceIp)", c.Key)
	} else if hasVariable(c.Key) {
		bad("policy variables are not allowed in condition keys")
	}
	vars := b.vars && op.fam.allowsVariables()
	for _, v := range c.Values {
		if msg := checkText(v); msg != "" {
			bad("%s", msg)
			continue
		}
		if msg := cc.addValue(v, vars); msg != "" {
			bad("%s", msg)
		}
	}
	return cc, ok
}

// addValue pre-parses one policy value for the condition's operator family.
func (cc *ccond) addValue(v string, vars bool) string {
	switch cc.op.fam {
	case famString, famStringFold, famLike:
		p, err := compilePattern(v, cc.op.fam == famLike, vars)
		if err != nil {
			return fmt.Sprintf("%q: %v", v, err)
		}
		cc.strs = append(cc.strs, p)
	case famBool:
		if _, ok := parseBool(v); !ok && !(vars && hasVariable(v)) {
			return fmt.Sprintf("%q is not a boolean (want true or false)", v)
		}
		p, err := compilePattern(v, false, vars)
		if err != nil {
			return fmt.Sprintf("%q: %v", v, err)
		}
		cc.strs = append(cc.strs, p)
	case famARN:
		p, err := compileARN(v, vars)
		if err != nil {
			return fmt.Sprintf("%q: %v", v, err)
		}
		cc.arns = append(cc.arns, p)
	case famNumeric:
		f, ok := parseNumber(v)
		if !ok {
			return fmt.Sprintf("%q is not a number", v)
		}
		cc.nums = append(cc.nums, f)
	case famDate:
		t, ok := parseDate(v)
		if !ok {
			return fmt.Sprintf("%q is not a date (want ISO 8601, such as 2026-01-02T15:04:05Z, or epoch seconds)", v)
		}
		cc.times = append(cc.times, t)
	case famIP:
		n, ok := parsePrefix(v)
		if !ok {
			return fmt.Sprintf("%q is not an IP address or CIDR", v)
		}
		cc.nets = append(cc.nets, n)
	case famBinary:
		bs, ok := decodeBase64(v)
		if !ok {
			return fmt.Sprintf("%q is not base64", v)
		}
		cc.bins = append(cc.bins, bs)
	case famNull:
		t, ok := parseBool(v)
		if !ok {
			return fmt.Sprintf("%q: Null takes true (key absent) or false (key present)", v)
		}
		cc.nullTrue = cc.nullTrue || t
		cc.nullFalse = cc.nullFalse || !t
	}
	return ""
}
