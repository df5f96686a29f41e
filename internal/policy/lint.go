package policy

import (
	"fmt"
	"strings"
)

// Severity ranks lint findings.
type Severity uint8

// Severities: an error admits callers the author did not mean to admit (or cannot work);
// a warning is a likely mistake; info is advice.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityError
)

func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// MarshalText renders the severity as info, warning or error.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses info, warning or error.
func (s *Severity) UnmarshalText(b []byte) error {
	for _, c := range []Severity{SeverityInfo, SeverityWarning, SeverityError} {
		if string(b) == c.String() {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", b)
}

// Lint rule identifiers.
const (
	RuleFederatedWithoutCondition = "federated-without-condition"
	RuleMissingAud                = "missing-aud-condition"
	RuleMissingSub                = "missing-sub-condition"
	RuleWildcardSub               = "wildcard-sub"
	RuleStringLikeWithoutWildcard = "stringlike-without-wildcard"
	RuleStringEqualsWithWildcard  = "stringequals-with-wildcard"
	RuleForAllValuesInAllow       = "forallvalues-in-allow"
	RuleIfExistsOnAbsentKey       = "ifexists-on-absent-key"
	RulePrincipalWildcard         = "principal-wildcard"
	RuleKeyNotProvidedByAWS       = "key-not-provided-by-aws"
	RuleCircleCISSHRerun          = "circleci-ssh-rerun"
	RuleSingleValueOperator       = "single-value-operator-on-multivalued-key"
	RuleVariablesNeedVersion      = "variables-need-version"
)

// Finding is one lint result.
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	Statement int      `json:"statement"` // -1 for the document
	Sid       string   `json:"sid,omitempty"`
	Message   string   `json:"message"`
	Fix       string   `json:"fix"`
}

// LintOptions tunes Lint.
type LintOptions struct {
	// Kind of the document; zero detects it (trust when a statement names a principal).
	Kind Kind
	// AWSCompatibleKeysOnly mirrors the server switch of the same name: conditions on keys
	// AWS does not provide become errors instead of warnings.
	AWSCompatibleKeysOnly bool
}

// Lint looks for trust-policy mistakes that let unintended callers in, and for conditions
// that cannot work as written. It expects a parsed document (validation problems are
// Validate's business) and returns findings in statement order.
func Lint(doc *Document, opts LintOptions) []Finding {
	l := &linter{opts: opts, doc: doc, findings: []Finding{}}
	if l.opts.Kind == 0 {
		l.opts.Kind = doc.DetectKind()
	}
	if doc.Version != Version2012 && documentHasVariables(doc) {
		l.findings = append(l.findings, Finding{
			Rule: RuleVariablesNeedVersion, Severity: SeverityWarning, Statement: -1,
			Message: "the policy uses ${...} but its Version is not 2012-10-17, so the variables are literal text",
			Fix:     `add "Version": "2012-10-17"`,
		})
	}
	for i := range doc.Statements {
		l.statement(&doc.Statements[i])
	}
	return l.findings
}

type linter struct {
	doc      *Document
	opts     LintOptions
	findings []Finding
	st       *Statement
}

func (l *linter) add(rule string, sev Severity, msg, fix string) {
	l.findings = append(l.findings, Finding{Rule: rule, Severity: sev, Statement: l.st.Index, Sid: l.st.Sid, Message: msg, Fix: fix})
}

func documentHasVariables(doc *Document) bool {
	for _, st := range doc.Statements {
		for _, r := range append(append([]string{}, st.Resource...), st.NotResource...) {
			if hasVariable(r) {
				return true
			}
		}
		for _, c := range st.Conditions {
			for _, v := range c.Values {
				if hasVariable(v) {
					return true
				}
			}
		}
	}
	return false
}

func (l *linter) statement(st *Statement) {
	l.st = st
	allow := st.Effect == EffectAllow
	if allow && st.Principal != nil {
		l.principalWildcard(st.Principal)
	}
	for _, c := range st.Conditions {
		l.condition(c, allow)
	}
	if !allow || st.Principal == nil {
		return
	}
	for _, e := range st.Principal.Entries {
		if e.Type != "Federated" {
			continue
		}
		for _, v := range e.Values {
			if p := providerOf(v); p.flavor != flavorSAML && v != "*" {
				l.federated(p)
			}
		}
	}
}

func (l *linter) principalWildcard(p *Principals) {
	wild := p.Wildcard
	for _, e := range p.Entries {
		for _, v := range e.Values {
			wild = wild || v == "*"
		}
	}
	if !wild {
		return
	}
	msg := "Principal \"*\" lets anyone, in any account, match this Allow statement"
	if len(l.st.Conditions) > 0 {
		msg += "; only its conditions stand between the role and the whole internet"
	}
	l.add(RulePrincipalWildcard, SeverityError, msg,
		`name the principal: {"Federated": "arn:aws:iam::ACCOUNT:oidc-provider/HOST"} for CI jobs, or an account or role ARN`)
}

// condition applies the rules that concern one operator/key pair on its own.
func (l *linter) condition(c Condition, allow bool) {
	op, err := parseOperator(c.Operator)
	if err != nil {
		return
	}
	lkey := strings.ToLower(c.Key)
	for _, v := range c.Values {
		switch {
		case op.fam == famLike && !isWild(v) && !hasVariable(v):
			l.add(RuleStringLikeWithoutWildcard, SeverityInfo,
				fmt.Sprintf("%s %s %q has no wildcard, so it is an exact match", op.name, c.Key, v),
				"use "+strings.Replace(op.name, "Like", "Equals", 1)+" to say so")
		case (op.fam == famString || op.fam == famStringFold) && isWild(v):
			l.add(RuleStringEqualsWithWildcard, SeverityWarning,
				fmt.Sprintf("%s %s %q: StringEquals treats * and ? literally, so this only matches a value containing them", op.name, c.Key, v),
				"use "+strings.Replace(strings.Replace(op.name, "EqualsIgnoreCase", "Like", 1), "Equals", "Like", 1)+" if a wildcard is meant")
		}
	}
	if allow && op.set == setAll {
		l.add(RuleForAllValuesInAllow, SeverityWarning,
			fmt.Sprintf("%s %s in an Allow is true when the key is missing or empty, so a request without %s passes", op.name, c.Key, c.Key),
			fmt.Sprintf("add {\"Null\": {%q: \"false\"}} to the statement, or use ForAnyValue:", c.Key))
	}
	if op.set == setNone && op.fam != famNull && multiValuedKey(lkey) {
		l.add(RuleSingleValueOperator, SeverityWarning,
			fmt.Sprintf("%s is multi-valued but %s compares single values", c.Key, op.name),
			fmt.Sprintf("use ForAnyValue:%s or ForAllValues:%s", op.name, op.name))
	}
}

// federated applies the trust-policy rules for one federated principal of an Allow.
func (l *linter) federated(p provider) {
	st := l.st
	if len(st.Conditions) == 0 {
		l.add(RuleFederatedWithoutCondition, SeverityError,
			fmt.Sprintf("any token from %s can assume this role: the statement has no Condition", p.prefix),
			fmt.Sprintf("add {\"StringEquals\": {\"%s:aud\": \"AUDIENCE\"}, \"StringLike\": {\"%s:sub\": \"...\"}}", p.prefix, p.prefix))
		return
	}
	var hasAud, hasSub, sshGuard bool
	prefix := strings.ToLower(p.prefix) + ":"
	for _, c := range st.Conditions {
		op, err := parseOperator(c.Operator)
		if err != nil {
			continue
		}
		lkey := strings.ToLower(c.Key)
		claim, own := strings.CutPrefix(lkey, prefix)
		positive := !op.negated && op.fam != famNull && op.set != setAll
		switch {
		case own && claim == "aud" && positive:
			hasAud = true
		case own && claim == "sub" && positive:
			hasSub = true
			if op.fam == famLike {
				for _, v := range c.Values {
					if sev, msg, risky := subRisk(p.flavor, v); risky {
						l.add(RuleWildcardSub, sev, fmt.Sprintf("%s %s %q %s", op.name, c.Key, v, msg),
							"pin the owner/project and the branch in the pattern, for example "+subExample(p))
					}
				}
			}
		case own && claim == "oidc.circleci.com/ssh-rerun":
			sshGuard = sshGuard || excludesRerun(op, c.Values)
		}
		l.keyAvailability(p, op, c.Key, lkey, own, claim)
	}
	if !hasAud && p.flavor != flavorSocial {
		l.add(RuleMissingAud, SeverityWarning,
			fmt.Sprintf("no condition on %s:aud: any audience the provider issues to is accepted by this statement", p.prefix),
			fmt.Sprintf("add {\"StringEquals\": {\"%s:aud\": \"AUDIENCE\"}}", p.prefix))
	}
	if !hasSub && p.flavor != flavorSocial {
		l.add(RuleMissingSub, SeverityError,
			fmt.Sprintf("no positive condition on %s:sub: every project, repository, branch and fork that can get a token from %s can assume this role", p.prefix, p.prefix),
			fmt.Sprintf("add {\"StringLike\": {\"%s:sub\": %q}}", p.prefix, subExample(p)))
	}
	if p.flavor == flavorCircleCI && !sshGuard && !l.deniesRerun(p) {
		l.add(RuleCircleCISSHRerun, SeverityInfo,
			"CircleCI jobs re-run with SSH get a token too; this role does not exclude those interactive sessions",
			fmt.Sprintf("add {\"Bool\": {\"%s:oidc.circleci.com/ssh-rerun\": \"false\"}} (keyless; AWS since February 2026)", p.prefix))
	}
}

// excludesRerun reports whether a condition on ssh-rerun admits only non-rerun sessions.
func excludesRerun(op operator, vals []string) bool {
	if op.ifExists || op.set == setAll {
		return false
	}
	want := "false"
	if op.negated {
		want = "true"
	}
	for _, v := range vals {
		if !strings.EqualFold(v, want) {
			return false
		}
	}
	return op.fam == famBool || op.fam == famString || op.fam == famStringFold
}

// deniesRerun reports whether a Deny statement of the document blocks ssh-rerun sessions.
// The linter sees one statement at a time, so it checks its siblings here.
func (l *linter) deniesRerun(p provider) bool {
	key := strings.ToLower(p.prefix) + ":oidc.circleci.com/ssh-rerun"
	for _, st := range l.doc.Statements {
		if st.Effect != EffectDeny {
			continue
		}
		for _, c := range st.Conditions {
			op, err := parseOperator(c.Operator)
			if err != nil || strings.ToLower(c.Key) != key || op.negated || op.set != setNone {
				continue
			}
			for _, v := range c.Values {
				if strings.EqualFold(v, "true") && (op.fam == famBool || op.fam == famString || op.fam == famStringFold) {
					return true
				}
			}
		}
	}
	return false
}

// keyAvailability reports keys a federated caller never sends, and provider keys that AWS
// does not provide.
func (l *linter) keyAvailability(p provider, op operator, key, lkey string, own bool, claim string) {
	switch {
	case neverSentByFederated(lkey) && op.ifExists:
		l.add(RuleIfExistsOnAbsentKey, SeverityWarning,
			fmt.Sprintf("%s %s is always true for web identity callers: AssumeRoleWithWebIdentity never carries %s", op.name, key, key),
			"drop the condition, or test a key the token provides (such as "+p.prefix+":sub)")
	case neverSentByFederated(lkey):
		l.add(RuleKeyNotProvidedByAWS, SeverityError,
			fmt.Sprintf("%s is never present when a web identity caller assumes a role, so %s %s decides as if it were missing", key, op.name, key),
			"test a key the token provides (such as "+p.prefix+":sub)")
	case own && claim == "iss":
		l.add(RuleKeyNotProvidedByAWS, SeverityError,
			fmt.Sprintf("%s does not exist: the issuer is pinned by the principal, there is no :iss key", key),
			"drop the condition")
	case own && !p.awsProvidesClaim(claim):
		sev := SeverityWarning
		if l.opts.AWSCompatibleKeysOnly {
			sev = SeverityError
		}
		effect := "the key is missing there, so this Allow never applies"
		if op.ifExists || op.negated || op.set == setAll {
			effect = "the key is missing there, so this condition passes for every caller"
		}
		l.add(RuleKeyNotProvidedByAWS, sev,
			fmt.Sprintf("%s works with keyless (every claim is a key) but AWS does not provide it for %s: %s", key, p.prefix, effect),
			"on AWS, restrict with :sub, or pass the claim as a session tag and test aws:RequestTag/KEY")
	case op.ifExists && !own && !strings.HasPrefix(lkey, "aws:") && !strings.HasPrefix(lkey, "sts:"):
		l.add(RuleIfExistsOnAbsentKey, SeverityWarning,
			fmt.Sprintf("%s %s is always true for callers from %s, which never send that key", op.name, key, p.prefix),
			"use the key prefix "+p.prefix+": or drop IfExists")
	}
}

func subExample(p provider) string {
	switch p.flavor {
	case flavorGitHub:
		return "repo:OWNER/REPO:ref:refs/heads/main"
	case flavorCircleCI:
		return "org/ORG_ID/project/PROJECT_ID/user/*/vcs-origin/github.com/OWNER/REPO/vcs-ref/refs/heads/main"
	case flavorGitLab:
		return "project_path:GROUP/PROJECT:ref_type:branch:ref:main"
	}
	return "SUBJECT"
}

// String renders the finding on two lines: where and what, then the fix.
func (f Finding) String() string {
	where := "policy"
	if f.Statement >= 0 {
		where = fmt.Sprintf("statement %d", f.Statement)
		if f.Sid != "" {
			where += fmt.Sprintf(" (Sid %q)", f.Sid)
		}
	}
	return fmt.Sprintf("%s [%s] %s: %s\n    fix: %s", f.Severity, f.Rule, where, f.Message, f.Fix)
}
