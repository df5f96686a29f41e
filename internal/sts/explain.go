package sts

import (
	"fmt"
	"strings"

	"github.com/keyless-dev/keyless/internal/policy"
)

// denyReason condenses a trust-policy trace into one line: the first condition that kept
// the best candidate statement from applying, or why no statement was a candidate.
func denyReason(action string, t *policy.Trace) string {
	prefix := ""
	switch action {
	case actionTagSession:
		prefix = "the token carries session tags, which needs sts:TagSession: "
	case actionSourceIdentity:
		prefix = "the token carries a source identity, which needs sts:SetSourceIdentity: "
	}
	if t.Decision == policy.ExplicitDeny {
		return prefix + t.Reason
	}
	var principalMiss string
	for _, p := range t.Policies {
		for _, s := range p.Statements {
			if s.Effect != policy.EffectAllow || !s.Action.Matched {
				continue
			}
			ref := statementName(s)
			if s.Principal != nil && !s.Principal.Matched {
				if principalMiss == "" {
					principalMiss = ref + " does not name the principal " + principalText(t)
				}
				continue
			}
			for _, c := range s.Conditions {
				if !c.Matched {
					return prefix + ref + ": " + conditionText(c)
				}
			}
		}
	}
	if principalMiss != "" {
		return prefix + principalMiss
	}
	return prefix + "no statement allows " + action
}

func statementName(s policy.StatementTrace) string {
	if s.Sid != "" {
		return fmt.Sprintf("statement %d (Sid %q)", s.Index, s.Sid)
	}
	return fmt.Sprintf("statement %d", s.Index)
}

func principalText(t *policy.Trace) string {
	if p := t.Request.Principal; p != nil {
		return fmt.Sprintf("{%q: %q}", p.Type, p.Value)
	}
	return "of the request"
}

func conditionText(c policy.ConditionTrace) string {
	if !c.Present {
		return fmt.Sprintf("%s on %s failed: the request has no such key (want %s)", c.Operator, c.Key, quoted(c.PolicyValues))
	}
	return fmt.Sprintf("%s on %s failed: got %s, want %s", c.Operator, c.Key, quoted(c.RequestValues), quoted(c.PolicyValues))
}

func quoted(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "[" + strings.Join(q, ", ") + "]"
}
