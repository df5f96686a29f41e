package policy

import (
	"fmt"
	"strings"
	"testing"
)

const (
	ghKey     = "token.actions.githubusercontent.com"
	circleOrg = "oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	circleARN = "arn:aws:iam::123456789012:oidc-provider/" + circleOrg
	gitlabARN = "arn:aws:iam::123456789012:oidc-provider/gitlab.com"
)

// trustDoc builds a one-statement trust policy for principal with the given Condition JSON.
func trustDoc(principal, condition string) string {
	cond := ""
	if condition != "" {
		cond = `,"Condition":` + condition
	}
	return `{"Version":"2012-10-17","Statement":[{"Sid":"CI","Effect":"Allow","Principal":{"Federated":"` + principal +
		`"},"Action":"sts:AssumeRoleWithWebIdentity"` + cond + `}]}`
}

// ghCond is a sound GitHub condition block with sub replaced.
func ghCond(op, sub string) string {
	if op == "StringEquals" {
		return fmt.Sprintf(`{"StringEquals":{"%s:aud":"sts.amazonaws.com","%s:sub":%q}}`, ghKey, ghKey, sub)
	}
	return fmt.Sprintf(`{"StringEquals":{"%s:aud":"sts.amazonaws.com"},%q:{"%s:sub":%q}}`, ghKey, op, ghKey, sub)
}

func circleCond(sub string, extra string) string {
	return fmt.Sprintf(`{"StringEquals":{"%s:aud":"f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"},"StringLike":{"%s:sub":%q}%s}`, circleOrg, circleOrg, sub, extra)
}

const circleNoRerun = `,"Bool":{"` + circleOrg + `:oidc.circleci.com/ssh-rerun":"false"}`

func TestLintRules(t *testing.T) {
	t.Parallel()
	goodCircleSub := "org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/0b1f3c1e/user/*/vcs-origin/github.com/my-org/site/vcs-ref/refs/heads/main"
	tests := []struct {
		name  string
		doc   string
		opts  LintOptions
		rule  string
		fires bool
		sev   Severity
	}{
		{"a federated Allow without any Condition is an error", trustDoc(githubProvider, ""), LintOptions{}, RuleFederatedWithoutCondition, true, SeverityError},
		{"a federated Allow with conditions is not flagged as unconditioned", trustDoc(githubProvider, ghCond("StringEquals", "repo:o/r:ref:refs/heads/main")), LintOptions{}, RuleFederatedWithoutCondition, false, 0},
		{"a Deny without conditions is not flagged", `{"Statement":{"Effect":"Deny","Principal":{"Federated":"` + githubProvider + `"},"Action":"sts:*"}}`, LintOptions{}, RuleFederatedWithoutCondition, false, 0},
		{"no aud condition is a warning", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:sub":"repo:o/r:ref:refs/heads/main"}}`), LintOptions{}, RuleMissingAud, true, SeverityWarning},
		{"an aud condition satisfies the aud rule", trustDoc(githubProvider, ghCond("StringEquals", "repo:o/r:ref:refs/heads/main")), LintOptions{}, RuleMissingAud, false, 0},
		{"no sub condition is an error", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"sts.amazonaws.com"}}`), LintOptions{}, RuleMissingSub, true, SeverityError},
		{"a negated sub condition does not count as restricting sub", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"sts.amazonaws.com"},"StringNotLike":{"`+ghKey+`:sub":"repo:evil/*"}}`), LintOptions{}, RuleMissingSub, true, SeverityError},
		{"a sub condition in another case of the key counts", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"sts.amazonaws.com","TOKEN.actions.githubusercontent.com:SUB":"repo:o/r:ref:refs/heads/main"}}`), LintOptions{}, RuleMissingSub, false, 0},
		{"a GitHub sub of repo:* admits any owner", trustDoc(githubProvider, ghCond("StringLike", "repo:*")), LintOptions{}, RuleWildcardSub, true, SeverityError},
		{"a GitHub sub with a wildcard repository admits any repository of the owner", trustDoc(githubProvider, ghCond("StringLike", "repo:my-org/*")), LintOptions{}, RuleWildcardSub, true, SeverityWarning},
		{"a GitHub sub with a wildcard owner admits forks and other owners", trustDoc(githubProvider, ghCond("StringLike", "repo:*/site:ref:refs/heads/main")), LintOptions{}, RuleWildcardSub, true, SeverityError},
		{"a GitHub sub with any ref admits any branch", trustDoc(githubProvider, ghCond("StringLike", "repo:my-org/site:*")), LintOptions{}, RuleWildcardSub, true, SeverityWarning},
		{"a GitHub sub with refs/heads/* admits any branch", trustDoc(githubProvider, ghCond("StringLike", "repo:my-org/site:ref:refs/heads/*")), LintOptions{}, RuleWildcardSub, true, SeverityWarning},
		{"a GitHub sub with a release branch pattern is specific enough", trustDoc(githubProvider, ghCond("StringLike", "repo:my-org/site:ref:refs/heads/release-*")), LintOptions{}, RuleWildcardSub, false, 0},
		{"a GitHub sub pinned to main is fine", trustDoc(githubProvider, ghCond("StringLike", "repo:my-org/site:ref:refs/heads/main")), LintOptions{}, RuleWildcardSub, false, 0},
		{"a CircleCI sub with any project is a warning", trustDoc(circleARN, circleCond("org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/*", circleNoRerun)), LintOptions{}, RuleWildcardSub, true, SeverityWarning},
		{"a CircleCI v1 sub with a user wildcard admits any branch", trustDoc(circleARN, circleCond("org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/0b1f3c1e/user/*", circleNoRerun)), LintOptions{}, RuleWildcardSub, true, SeverityWarning},
		{"a CircleCI v2 sub pinned to main is fine", trustDoc(circleARN, circleCond(goodCircleSub, circleNoRerun)), LintOptions{}, RuleWildcardSub, false, 0},
		{"a GitLab sub with any project of the group is a warning", trustDoc(gitlabARN, `{"StringEquals":{"gitlab.com:aud":"x"},"StringLike":{"gitlab.com:sub":"project_path:grp/*"}}`), LintOptions{}, RuleWildcardSub, true, SeverityWarning},
		{"a GitLab sub with any group is an error", trustDoc(gitlabARN, `{"StringEquals":{"gitlab.com:aud":"x"},"StringLike":{"gitlab.com:sub":"project_path:*/app:ref_type:branch:ref:main"}}`), LintOptions{}, RuleWildcardSub, true, SeverityError},
		{"a GitLab sub pinned to a branch is fine", trustDoc(gitlabARN, `{"StringEquals":{"gitlab.com:aud":"x"},"StringLike":{"gitlab.com:sub":"project_path:grp/app:ref_type:branch:ref:main"}}`), LintOptions{}, RuleWildcardSub, false, 0},
		{"a sub of only wildcards admits anyone from any provider", trustDoc("accounts.google.com", `{"StringEquals":{"accounts.google.com:aud":"x"},"StringLike":{"accounts.google.com:sub":"*"}}`), LintOptions{}, RuleWildcardSub, true, SeverityError},
		{"StringLike without a wildcard is info", trustDoc(githubProvider, ghCond("StringLike", "repo:o/r:ref:refs/heads/main")), LintOptions{}, RuleStringLikeWithoutWildcard, true, SeverityInfo},
		{"StringLike with a wildcard is not flagged as exact", trustDoc(githubProvider, ghCond("StringLike", "repo:o/r:ref:refs/heads/release-*")), LintOptions{}, RuleStringLikeWithoutWildcard, false, 0},
		{"StringEquals with a star is a warning", trustDoc(githubProvider, ghCond("StringEquals", "repo:o/r:*")), LintOptions{}, RuleStringEqualsWithWildcard, true, SeverityWarning},
		{"StringEquals without wildcards is fine", trustDoc(githubProvider, ghCond("StringEquals", "repo:o/r:ref:refs/heads/main")), LintOptions{}, RuleStringEqualsWithWildcard, false, 0},
		{"ForAllValues in an Allow is a warning", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a"},"ForAllValues:StringLike":{"`+ghKey+`:sub":"repo:o/r:*"}}`), LintOptions{}, RuleForAllValuesInAllow, true, SeverityWarning},
		{"ForAllValues in a Deny is fine", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}}}`, LintOptions{}, RuleForAllValuesInAllow, false, 0},
		{"IfExists on a key a federated caller never sends is a warning", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a"},"StringLike":{"`+ghKey+`:sub":"repo:o/r:*"},"StringEqualsIfExists":{"aws:PrincipalTag/team":"x"}}`), LintOptions{}, RuleIfExistsOnAbsentKey, true, SeverityWarning},
		{"IfExists on a key of another provider is a warning", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a"},"StringLikeIfExists":{"gitlab.com:sub":"x"}}`), LintOptions{}, RuleIfExistsOnAbsentKey, true, SeverityWarning},
		{"IfExists on a key the call carries is fine", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a","`+ghKey+`:sub":"repo:o/r:ref:refs/heads/main"},"StringEqualsIfExists":{"aws:RequestTag/team":"x"}}`), LintOptions{}, RuleIfExistsOnAbsentKey, false, 0},
		{"Principal star in an Allow is an error", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}`, LintOptions{}, RulePrincipalWildcard, true, SeverityError},
		{"AWS star in an Allow is an error", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}}`, LintOptions{}, RulePrincipalWildcard, true, SeverityError},
		{"a named principal is fine", trustDoc(githubProvider, ghCond("StringEquals", "repo:o/r:ref:refs/heads/main")), LintOptions{}, RulePrincipalWildcard, false, 0},
		{"a claim AWS does not provide is a warning", trustDoc(gitlabARN, `{"StringEquals":{"gitlab.com:aud":"x","gitlab.com:sub":"project_path:g/p:ref_type:branch:ref:main","gitlab.com:namespace_path":"g"}}`), LintOptions{}, RuleKeyNotProvidedByAWS, true, SeverityWarning},
		{"a claim AWS does not provide is an error in AWS-compatible mode", trustDoc(gitlabARN, `{"StringEquals":{"gitlab.com:aud":"x","gitlab.com:sub":"project_path:g/p:ref_type:branch:ref:main","gitlab.com:namespace_path":"g"}}`), LintOptions{AWSCompatibleKeysOnly: true}, RuleKeyNotProvidedByAWS, true, SeverityError},
		{"a GitHub claim AWS provides since 2026 is fine", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a","`+ghKey+`:sub":"repo:o/r:ref:refs/heads/main","`+ghKey+`:repository":"o/r"}}`), LintOptions{}, RuleKeyNotProvidedByAWS, false, 0},
		{"a CircleCI claim AWS provides since 2026 is fine", trustDoc(circleARN, `{"StringEquals":{"`+circleOrg+`:aud":"x","`+circleOrg+`:oidc.circleci.com/vcs-ref":"refs/heads/main"},"StringLike":{"`+circleOrg+`:sub":"`+goodCircleSub+`"}`+circleNoRerun+`}`), LintOptions{}, RuleKeyNotProvidedByAWS, false, 0},
		{"a CircleCI claim on another issuer that mints CircleCI-shaped tokens (keyless's own) is a warning: AWS offers it only for oidc.circleci.com", trustDoc("arn:aws:iam::123456789012:oidc-provider/ci.example.com/-/oidc/org/o1", `{"StringEquals":{"ci.example.com/-/oidc/org/o1:aud":"o1"},"StringLike":{"ci.example.com/-/oidc/org/o1:sub":"org/o1/project/p1/user/*/vcs-origin/github.com/o/r/vcs-ref/refs/heads/main"},"ForAnyValue:StringEquals":{"ci.example.com/-/oidc/org/o1:oidc.circleci.com/context-ids":"prod"}}`), LintOptions{}, RuleKeyNotProvidedByAWS, true, SeverityWarning},
		{"an :iss condition is an error", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a","`+ghKey+`:sub":"repo:o/r:ref:refs/heads/main","`+ghKey+`:iss":"https://token.actions.githubusercontent.com"}}`), LintOptions{}, RuleKeyNotProvidedByAWS, true, SeverityError},
		{"a principal key never sent by web identity callers is an error", trustDoc(githubProvider, `{"StringEquals":{"`+ghKey+`:aud":"a","`+ghKey+`:sub":"repo:o/r:ref:refs/heads/main","aws:PrincipalAccount":"123456789012"}}`), LintOptions{}, RuleKeyNotProvidedByAWS, true, SeverityError},
		{"a CircleCI role without an ssh-rerun guard gets info", trustDoc(circleARN, circleCond(goodCircleSub, "")), LintOptions{}, RuleCircleCISSHRerun, true, SeverityInfo},
		{"a CircleCI role with Bool ssh-rerun false is fine", trustDoc(circleARN, circleCond(goodCircleSub, circleNoRerun)), LintOptions{}, RuleCircleCISSHRerun, false, 0},
		{"a CircleCI role with a Deny on ssh-rerun sessions is fine", `{"Version":"2012-10-17","Statement":[` + strings.TrimSuffix(strings.TrimPrefix(trustDoc(circleARN, circleCond(goodCircleSub, "")), `{"Version":"2012-10-17","Statement":[`), `]}`) +
			`,{"Effect":"Deny","Principal":{"Federated":"` + circleARN + `"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"Bool":{"` + circleOrg + `:oidc.circleci.com/ssh-rerun":"true"}}}]}`, LintOptions{}, RuleCircleCISSHRerun, false, 0},
		{"a GitHub role is not asked about ssh-rerun", trustDoc(githubProvider, ghCond("StringEquals", "repo:o/r:ref:refs/heads/main")), LintOptions{}, RuleCircleCISSHRerun, false, 0},
		{"a single-value operator on aws:TagKeys is a warning", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:TagKeys":"team"}}}}`, LintOptions{}, RuleSingleValueOperator, true, SeverityWarning},
		{"a set operator on aws:TagKeys is fine", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}}}`, LintOptions{}, RuleSingleValueOperator, false, 0},
		{"variables without Version 2012-10-17 are a warning", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}`, LintOptions{}, RuleVariablesNeedVersion, true, SeverityWarning},
		{"variables with Version 2012-10-17 are fine", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}`, LintOptions{}, RuleVariablesNeedVersion, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.doc, err)
			}
			var hits []Finding
			for _, f := range Lint(doc, tc.opts) {
				if f.Rule == tc.rule {
					hits = append(hits, f)
				}
			}
			if !tc.fires {
				if len(hits) > 0 {
					t.Errorf("rule %s fired: %+v", tc.rule, hits)
				}
				return
			}
			if len(hits) == 0 {
				t.Fatalf("rule %s did not fire; findings: %+v", tc.rule, Lint(doc, tc.opts))
			}
			if hits[0].Severity != tc.sev {
				t.Errorf("severity = %v, want %v (%s)", hits[0].Severity, tc.sev, hits[0].Message)
			}
			if hits[0].Fix == "" || hits[0].Message == "" {
				t.Errorf("finding without message or fix: %+v", hits[0])
			}
		})
	}
}

func TestLintCleanTrustPolicyHasNoFindings(t *testing.T) {
	t.Parallel()
	sub := "org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/0b1f3c1e/user/*/vcs-origin/github.com/my-org/site/vcs-ref/refs/heads/main"
	doc, err := Parse([]byte(trustDoc(circleARN, circleCond(sub, circleNoRerun))))
	if err != nil {
		t.Fatal(err)
	}
	if got := Lint(doc, LintOptions{AWSCompatibleKeysOnly: true}); len(got) != 0 {
		t.Errorf("Lint = %+v, want no findings", got)
	}
}
