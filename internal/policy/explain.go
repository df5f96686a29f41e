package policy

import (
	"fmt"
	"strings"
)

// Trace explains a decision: per policy and statement, whether each element and each
// condition matched, and which statements decided. It marshals to JSON (audit events
// embed it) and renders as text with Text.
type Trace struct {
	Decision  Decision       `json:"decision"`
	Reason    string         `json:"reason"`
	DecidedBy []StatementRef `json:"decidedBy,omitempty"`
	Request   RequestTrace   `json:"request"`
	Policies  []PolicyTrace  `json:"policies"`
}

// RequestTrace is the part of the request a trace repeats (condition values appear per
// condition).
type RequestTrace struct {
	Principal *Principal `json:"principal,omitempty"`
	Action    string     `json:"action"`
	Resource  string     `json:"resource"`
}

// StatementRef names one statement of one policy.
type StatementRef struct {
	Kind      string `json:"kind"`
	Policy    string `json:"policy"`
	Statement int    `json:"statement"`
	Sid       string `json:"sid,omitempty"`
	Effect    Effect `json:"effect"`
}

func (r StatementRef) String() string {
	s := fmt.Sprintf("statement %d", r.Statement)
	if r.Sid != "" {
		s += fmt.Sprintf(" (Sid %q)", r.Sid)
	}
	return s + fmt.Sprintf(" of %s policy %q", r.Kind, r.Policy)
}

// PolicyTrace is the evaluation of one policy on its own.
type PolicyTrace struct {
	Kind       string           `json:"kind"`
	Name       string           `json:"name"`
	Decision   Decision         `json:"decision"`
	Statements []StatementTrace `json:"statements"`
}

// StatementTrace says whether a statement applies and why.
type StatementTrace struct {
	Index      int              `json:"index"`
	Sid        string           `json:"sid,omitempty"`
	Effect     Effect           `json:"effect"`
	Applies    bool             `json:"applies"`
	Principal  *ElementTrace    `json:"principal,omitempty"`
	Action     ElementTrace     `json:"action"`
	Resource   *ElementTrace    `json:"resource,omitempty"`
	Conditions []ConditionTrace `json:"conditions,omitempty"`
}

// ElementTrace is the outcome of Principal/NotPrincipal, Action/NotAction or
// Resource/NotResource. Matched is the element's verdict (for a Not element: the request
// is not in its list); Value is the listed value that matched the request, if any.
type ElementTrace struct {
	Element string `json:"element"`
	Matched bool   `json:"matched"`
	Value   string `json:"value,omitempty"`
}

// ConditionTrace is the outcome of one operator/key pair.
type ConditionTrace struct {
	Operator      string   `json:"operator"`
	Key           string   `json:"key"`
	Present       bool     `json:"present"`
	RequestValues []string `json:"requestValues"`
	PolicyValues  []string `json:"policyValues"`
	// ResolvedValues repeats PolicyValues with policy variables resolved, when there are any.
	ResolvedValues []string `json:"resolvedValues,omitempty"`
	Matched        bool     `json:"matched"`
}

// resolvedValues renders the condition's policy values with variables resolved, or nil
// when no value holds a variable.
func (c *ccond) resolvedValues(ctx Context) []string {
	vars := false
	for i := range c.strs {
		vars = vars || c.strs[i].nvars > 0
	}
	for i := range c.arns {
		vars = vars || c.arns[i].hasVars()
	}
	if !vars {
		return nil
	}
	out := make([]string, 0, len(c.strs)+len(c.arns))
	for i := range c.strs {
		out = append(out, c.strs[i].expand(ctx))
	}
	for i := range c.arns {
		out = append(out, c.arns[i].expand(ctx))
	}
	return out
}

// Explain evaluates req like Evaluate and returns the decision with a full trace.
func Explain(req *Request, policies ...*Policy) (Decision, *Trace) {
	t := &Trace{Request: requestTrace(req)}
	d, refs := explainSet(t, req, policies)
	t.Decision, t.DecidedBy = d, refs
	switch d {
	case ExplicitDeny:
		t.Reason = "explicitly denied by " + refs[0].String()
	case Allow:
		t.Reason = "allowed by " + refs[0].String()
	default:
		t.Reason = "implicitly denied: no statement allows the request"
	}
	return d, t
}

// ExplainWithSession is the explaining twin of EvaluateWithSession.
func ExplainWithSession(req *Request, identity, session []*Policy) (Decision, *Trace) {
	if len(session) == 0 {
		return Explain(req, identity...)
	}
	t := &Trace{Request: requestTrace(req)}
	id, idRefs := explainSet(t, req, identity)
	s, sRefs := explainSet(t, req, session)
	t.Decision = intersect(id, s)
	switch {
	case id == ExplicitDeny:
		t.DecidedBy = idRefs
		t.Reason = "explicitly denied by " + idRefs[0].String()
	case s == ExplicitDeny:
		t.DecidedBy = sRefs
		t.Reason = "explicitly denied by " + sRefs[0].String()
	case t.Decision == Allow:
		t.DecidedBy = append(idRefs, sRefs...)
		t.Reason = "allowed by " + idRefs[0].String() + " and by " + sRefs[0].String()
	case id == Allow:
		t.Reason = "implicitly denied: the role's policies allow the request but no session policy does"
	case s == Allow:
		t.Reason = "implicitly denied: a session policy allows the request but none of the role's policies does (a session policy cannot grant more)"
	default:
		t.Reason = "implicitly denied: no statement allows the request"
	}
	return t.Decision, t
}

func requestTrace(req *Request) RequestTrace {
	rt := RequestTrace{Action: req.Action, Resource: req.Resource}
	if req.Principal != (Principal{}) {
		p := req.Principal
		rt.Principal = &p
	}
	return rt
}

// explainSet evaluates one set of policies taken together, appends their traces to t and
// returns the set's decision with the statements that decided it.
func explainSet(t *Trace, req *Request, policies []*Policy) (Decision, []StatementRef) {
	var allows, denies []StatementRef
	for n, p := range policies {
		if p == nil {
			continue
		}
		name := p.name
		if name == "" {
			name = fmt.Sprintf("#%d", n+1)
		}
		pt := PolicyTrace{Kind: p.kind.String(), Name: name}
		var pAllow, pDeny bool
		for i := range p.statements {
			st := &p.statements[i]
			tr := st.explain(req)
			pt.Statements = append(pt.Statements, tr)
			if !tr.Applies {
				continue
			}
			ref := StatementRef{Kind: pt.Kind, Policy: name, Statement: st.index, Sid: st.sid, Effect: tr.Effect}
			if st.deny {
				pDeny = true
				denies = append(denies, ref)
			} else {
				pAllow = true
				allows = append(allows, ref)
			}
		}
		switch {
		case pDeny:
			pt.Decision = ExplicitDeny
		case pAllow:
			pt.Decision = Allow
		}
		t.Policies = append(t.Policies, pt)
	}
	switch {
	case len(denies) > 0:
		return ExplicitDeny, denies[:1]
	case len(allows) > 0:
		return Allow, allows[:1]
	}
	return ImplicitDeny, nil
}

// explain evaluates every element and condition of the statement (no short cut).
func (s *cstatement) explain(req *Request) StatementTrace {
	tr := StatementTrace{Index: s.index, Sid: s.sid, Effect: EffectAllow}
	if s.deny {
		tr.Effect = EffectDeny
	}
	ok := true
	if s.principal != nil {
		e := &ElementTrace{Element: "Principal"}
		if s.notPrincipal {
			e.Element = "NotPrincipal"
		}
		i := s.principal.match(req.Principal)
		if i >= 0 && i < len(s.principal.entries) {
			e.Value = s.principal.entries[i].typ + ":" + s.principal.entries[i].value
		} else if i >= 0 {
			e.Value = "*"
		}
		e.Matched = i >= 0 != s.notPrincipal
		ok = ok && e.Matched
		tr.Principal = e
	}
	tr.Action = ElementTrace{Element: "Action"}
	if s.notAction {
		tr.Action.Element = "NotAction"
	}
	if i := matchActions(s.actions, req.Action); i >= 0 {
		tr.Action.Value = s.actions[i].raw
		tr.Action.Matched = !s.notAction
	} else {
		tr.Action.Matched = s.notAction
	}
	ok = ok && tr.Action.Matched
	if s.resources != nil {
		e := &ElementTrace{Element: "Resource", Matched: s.notResource}
		if s.notResource {
			e.Element = "NotResource"
		}
		if i := matchResources(s.resources, req.Resource, req.Context); i >= 0 {
			e.Value, e.Matched = s.resources[i].raw, !s.notResource
		}
		ok = ok && e.Matched
		tr.Resource = e
	}
	for i := range s.conds {
		c := &s.conds[i]
		vals, present := lookup(req.Context, c.lkey)
		ct := ConditionTrace{
			Operator: c.op.name, Key: c.key, Present: present,
			RequestValues: append([]string{}, vals...), PolicyValues: c.raw,
			ResolvedValues: c.resolvedValues(req.Context),
			Matched:        c.evalValues(vals, present, req.Context),
		}
		ok = ok && ct.Matched
		tr.Conditions = append(tr.Conditions, ct)
	}
	tr.Applies = ok
	return tr
}

// Text renders the trace for people.
func (t *Trace) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "decision: %s\n", t.Decision)
	fmt.Fprintf(&b, "reason:   %s\n", t.Reason)
	fmt.Fprintf(&b, "request:  %s on %s", t.Request.Action, orDash(t.Request.Resource))
	if p := t.Request.Principal; p != nil {
		fmt.Fprintf(&b, " by %s %s", p.Type, p.Value)
	}
	b.WriteString("\n")
	for _, p := range t.Policies {
		fmt.Fprintf(&b, "\n%s policy %q: %s\n", p.Kind, p.Name, p.Decision)
		for _, s := range p.Statements {
			verdict := "does not apply"
			if s.Applies {
				verdict = "applies"
			}
			fmt.Fprintf(&b, "  statement %d", s.Index)
			if s.Sid != "" {
				fmt.Fprintf(&b, " (Sid %q)", s.Sid)
			}
			fmt.Fprintf(&b, " %s: %s\n", s.Effect, verdict)
			if s.Principal != nil {
				writeElement(&b, s.Principal)
			}
			writeElement(&b, &s.Action)
			if s.Resource != nil {
				writeElement(&b, s.Resource)
			}
			for _, c := range s.Conditions {
				req := "absent"
				if c.Present {
					req = quoteList(c.RequestValues)
				}
				fmt.Fprintf(&b, "    %s %s %s %s: request %s, policy %s",
					mark(c.Matched), "Condition", c.Operator, c.Key, req, quoteList(c.PolicyValues))
				if c.ResolvedValues != nil {
					fmt.Fprintf(&b, " = %s", quoteList(c.ResolvedValues))
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func writeElement(b *strings.Builder, e *ElementTrace) {
	fmt.Fprintf(b, "    %s %s", mark(e.Matched), e.Element)
	if e.Value != "" {
		fmt.Fprintf(b, " (listed: %s)", e.Value)
	}
	b.WriteString("\n")
}

func mark(ok bool) string {
	if ok {
		return "[match]   "
	}
	return "[no match]"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
