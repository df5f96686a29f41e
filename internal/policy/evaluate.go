package policy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
)

// Principal is the caller of a request: a type (AWS, Federated, Service, CanonicalUser)
// and a value (an ARN, account ID, identity provider or service name).
type Principal struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Context holds a request's condition keys. Lookup receives the key in lower case and
// reports the key's values and whether it is present (a present key may have no values).
// Implementations must be safe for concurrent reads and should not allocate.
type Context interface {
	Lookup(key string) (values []string, present bool)
}

// Keys is a map-backed Context whose keys are stored lower-cased. A single-valued key
// holds one value; a multi-valued key any number, including none.
type Keys map[string][]string

// Set stores values under key (case-insensitively).
func (k Keys) Set(key string, values ...string) {
	if values == nil {
		values = []string{}
	}
	k[strings.ToLower(key)] = values
}

// Lookup implements Context.
func (k Keys) Lookup(key string) ([]string, bool) {
	v, ok := k[key]
	if !ok && strings.ToLower(key) != key {
		v, ok = k[strings.ToLower(key)]
	}
	return v, ok
}

// Request is what a policy is evaluated against. Callers can reuse one value: evaluation
// neither keeps nor modifies it.
type Request struct {
	Principal Principal // ignored by identity and session policies
	Action    string
	Resource  string
	Context   Context // may be nil: no condition keys
}

// Decision is the outcome of evaluating a request.
type Decision uint8

// The three possible outcomes; explicit deny wins over allow, allow over implicit deny.
const (
	ImplicitDeny Decision = iota
	Allow
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case ImplicitDeny:
		return "ImplicitDeny"
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// MarshalText renders the decision as Allow, ExplicitDeny or ImplicitDeny.
func (d Decision) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses Allow, ExplicitDeny or ImplicitDeny.
func (d *Decision) UnmarshalText(b []byte) error {
	for _, c := range []Decision{ImplicitDeny, Allow, ExplicitDeny} {
		if string(b) == c.String() {
			*d = c
			return nil
		}
	}
	return fmt.Errorf("unknown decision %q", b)
}

// Evaluate decides req against policies taken together: any matching Deny statement gives
// ExplicitDeny, else any matching Allow statement gives Allow, else ImplicitDeny. It does
// not allocate. Nil policies are skipped.
func Evaluate(req *Request, policies ...*Policy) Decision {
	allowed := false
	for _, p := range policies {
		if p == nil {
			continue
		}
		for i := range p.statements {
			st := &p.statements[i]
			if allowed && !st.deny {
				continue
			}
			if !st.applies(req) {
				continue
			}
			if st.deny {
				return ExplicitDeny
			}
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

// EvaluateWithSession decides req for a session whose role has the identity policies and
// whose caller passed the session policies: an explicit deny in either wins; otherwise the
// request is allowed only if both sets allow it. With no session policies the identity
// policies decide alone.
func EvaluateWithSession(req *Request, identity, session []*Policy) Decision {
	d := Evaluate(req, identity...)
	if len(session) == 0 || d == ExplicitDeny {
		return d
	}
	s := Evaluate(req, session...)
	return intersect(d, s)
}

func intersect(identity, session Decision) Decision {
	switch {
	case identity == ExplicitDeny || session == ExplicitDeny:
		return ExplicitDeny
	case identity == Allow && session == Allow:
		return Allow
	}
	return ImplicitDeny
}

// applies reports whether every element of the statement matches req.
func (s *cstatement) applies(req *Request) bool {
	if s.principal != nil && s.principal.match(req.Principal) < 0 != s.notPrincipal {
		return false
	}
	if matchActions(s.actions, req.Action) < 0 != s.notAction {
		return false
	}
	if s.resources != nil && matchResources(s.resources, req.Resource, req.Context) < 0 != s.notResource {
		return false
	}
	for i := range s.conds {
		if !s.conds[i].eval(req.Context) {
			return false
		}
	}
	return true
}

// match returns the index of the entry that matches p, len(entries) for the "*" element,
// or -1.
func (m *principalMatcher) match(p Principal) int {
	if m.wildcard {
		return len(m.entries)
	}
	for i := range m.entries {
		e := &m.entries[i]
		if e.typ == "AWS" && e.value == "*" {
			return i // {"AWS": "*"} is documented as equivalent to "*"
		}
		if e.typ != p.Type {
			continue
		}
		if e.value == "*" || e.value == p.Value {
			return i
		}
		if e.account != "" {
			var parts [6]string
			if p.Value == e.account || splitARN(p.Value, false, &parts) == 6 && parts[4] == e.account {
				return i
			}
		}
	}
	return -1
}

func matchActions(ps []pattern, action string) int {
	for i := range ps {
		if ps[i].match(action, nil, true) {
			return i
		}
	}
	return -1
}

func matchResources(ps []arnPattern, resource string, c Context) int {
	for i := range ps {
		if ps[i].match(resource, c) {
			return i
		}
	}
	return -1
}

func lookup(c Context, key string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	return c.Lookup(key)
}

// eval applies the condition to the request's values for its key.
func (c *ccond) eval(ctx Context) bool {
	vals, present := lookup(ctx, c.lkey)
	return c.evalValues(vals, present, ctx)
}

// evalValues implements AWS's rules: a missing key makes positive operators false and
// negated ones true, IfExists true, ForAnyValue false and ForAllValues true; values of one
// key are ORed for positive operators and NORed for negated ones.
func (c *ccond) evalValues(vals []string, present bool, ctx Context) bool {
	if c.op.fam == famNull {
		return (!present && c.nullTrue) || (present && c.nullFalse)
	}
	if !present {
		switch {
		case c.op.ifExists:
			return true
		case c.op.set == setAny:
			return false
		case c.op.set == setAll:
			return true
		}
		return c.op.negated
	}
	switch c.op.set {
	case setAny:
		for _, v := range vals {
			if c.anyValue(v, ctx) != c.op.negated {
				return true
			}
		}
		return false
	case setAll:
		for _, v := range vals {
			if c.anyValue(v, ctx) == c.op.negated {
				return false
			}
		}
		return true
	}
	hit := false
	for _, v := range vals {
		if c.anyValue(v, ctx) {
			hit = true
			break
		}
	}
	return hit != c.op.negated
}

// anyValue reports whether the request value v matches any policy value under the
// operator's base (positive) comparison.
func (c *ccond) anyValue(v string, ctx Context) bool {
	switch c.op.fam {
	case famString, famLike:
		for i := range c.strs {
			if c.strs[i].match(v, ctx, false) {
				return true
			}
		}
	case famStringFold, famBool:
		for i := range c.strs {
			if c.strs[i].match(v, ctx, true) {
				return true
			}
		}
	case famARN:
		for i := range c.arns {
			if c.arns[i].match(v, ctx) {
				return true
			}
		}
	case famNumeric:
		f, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, p := range c.nums {
			if compare(f, p, c.op.cmp) {
				return true
			}
		}
	case famDate:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, p := range c.times {
			if compare(t.Compare(p), 0, c.op.cmp) {
				return true
			}
		}
	case famIP:
		return c.anyNet(v)
	case famBinary:
		return c.anyBinary(v)
	}
	return false
}

func (c *ccond) anyNet(v string) bool {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, n := range c.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

func (c *ccond) anyBinary(v string) bool {
	for i, p := range c.bins {
		if v == c.raw[i] || v == base64.StdEncoding.EncodeToString(p) {
			return true
		}
	}
	got, ok := decodeBase64(v)
	if !ok {
		return false
	}
	for _, p := range c.bins {
		if bytes.Equal(got, p) {
			return true
		}
	}
	return false
}

type ordered interface{ ~int | ~float64 }

func compare[T ordered](a, b T, op cmpOp) bool {
	switch op {
	case cmpLt:
		return a < b
	case cmpLe:
		return a <= b
	case cmpGt:
		return a > b
	case cmpGe:
		return a >= b
	}
	return a == b
}
