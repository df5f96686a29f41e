package policy

import "strings"

// flavor is the CI or identity platform behind a federated principal; it decides the
// shape of `sub` and which claim keys AWS provides.
type flavor uint8

const (
	flavorGeneric flavor = iota
	flavorGitHub
	flavorCircleCI
	flavorGitLab
	flavorGoogle
	flavorCognito
	flavorSocial // www.amazon.com, graph.facebook.com
	flavorOCI
	flavorSAML
)

// provider is a federated principal seen from the condition keys it produces.
type provider struct {
	value  string // the Federated principal as written
	prefix string // condition key prefix, e.g. token.actions.githubusercontent.com
	flavor flavor
}

// providerOf interprets a Federated principal value.
func providerOf(v string) provider {
	p := provider{value: v, prefix: v}
	var parts [6]string
	if splitARN(v, false, &parts) == 6 && parts[2] == "iam" {
		switch {
		case strings.HasPrefix(parts[5], "oidc-provider/"):
			p.prefix = strings.TrimPrefix(parts[5], "oidc-provider/")
		case strings.HasPrefix(parts[5], "saml-provider/"):
			p.prefix, p.flavor = "SAML", flavorSAML
			return p
		}
	}
	host := p.prefix
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	switch {
	case host == "token.actions.githubusercontent.com" ||
		strings.HasPrefix(host, "token.actions.") && strings.HasSuffix(host, ".ghe.com") ||
		strings.HasSuffix(p.prefix, "/_services/token"):
		p.flavor = flavorGitHub
	case host == "oidc.circleci.com" || strings.Contains(p.prefix, "/-/oidc/org/"):
		p.flavor = flavorCircleCI // keyless's own issuer mints CircleCI-shaped tokens
	case host == "gitlab.com" || strings.HasPrefix(host, "gitlab."):
		p.flavor = flavorGitLab
	case host == "accounts.google.com":
		p.flavor = flavorGoogle
	case host == "cognito-identity.amazonaws.com":
		p.flavor = flavorCognito
	case host == "www.amazon.com" || host == "graph.facebook.com":
		p.flavor = flavorSocial
	case strings.HasPrefix(host, "idcs-") && strings.Contains(host, "oraclecloud.com"):
		p.flavor = flavorOCI
	}
	return p
}

// awsProvidesClaim reports whether AWS itself offers <prefix>:<claim> as a condition key
// during AssumeRoleWithWebIdentity (AWS-WIRE.md 4.2 and 11). claim is lower-case.
func (p provider) awsProvidesClaim(claim string) bool {
	switch claim {
	case "aud", "sub", "amr", "azp":
		return p.flavor != flavorSocial
	}
	switch p.flavor {
	case flavorGoogle:
		return claim == "oaud"
	case flavorSocial:
		return claim == "app_id" || claim == "id" || claim == "user_id"
	case flavorGitHub:
		switch claim {
		case "actor", "actor_id", "job_workflow_ref", "repository", "repository_id", "workflow",
			"ref", "environment", "enterprise_id":
			return true
		}
	case flavorCircleCI:
		// Only CircleCI's own issuer: AWS offers these keys for oidc.circleci.com, not for
		// another issuer (keyless's own included) that mints CircleCI-shaped tokens.
		if !strings.HasPrefix(p.prefix, "oidc.circleci.com/") {
			return false
		}
		switch claim {
		case "oidc.circleci.com/project-id", "oidc.circleci.com/vcs-origin", "oidc.circleci.com/vcs-ref",
			"oidc.circleci.com/context-ids", "oidc.circleci.com/ssh-rerun":
			return true
		}
	case flavorOCI:
		return true // AWS documents OCI keys without a list we can check; do not guess
	}
	return false
}

// neverSentByFederated reports whether a global key is never in the request context of
// AssumeRoleWithWebIdentity (it describes an AWS principal or a later session).
// lkey is lower-case.
func neverSentByFederated(lkey string) bool {
	switch lkey {
	case "aws:principalarn", "aws:principalaccount", "aws:principalorgid", "aws:principalorgpaths",
		"aws:principalisawsservice", "aws:principalservicename", "aws:principalservicenameslist",
		"aws:username", "aws:userid", "aws:multifactorauthpresent", "aws:multifactorauthage",
		"aws:tokenissuetime", "aws:sourceidentity", "aws:viaawsservice", "aws:calledvia",
		"aws:calledviafirst", "aws:calledvialast", "aws:sourcearn", "aws:sourceaccount",
		"aws:sourceorgid", "aws:sourceorgpaths", "aws:ec2instancesourcevpc", "aws:ec2instancesourceprivateipv4":
		return true
	}
	return strings.HasPrefix(lkey, "aws:principaltag/")
}

// multiValuedKey reports whether a key is documented as multi-valued (ArrayOf...), so that
// it needs ForAnyValue:/ForAllValues:. lkey is lower-case.
func multiValuedKey(lkey string) bool {
	switch lkey {
	case "aws:tagkeys", "sts:transitivetagkeys", "aws:principalservicenameslist", "aws:calledvia",
		"aws:principalorgpaths", "aws:sourceorgpaths":
		return true
	}
	return strings.HasSuffix(lkey, ":amr") || strings.HasSuffix(lkey, ":oidc.circleci.com/context-ids")
}

// wildAt returns the index of the first '*' or '?' in s, or -1.
func wildAt(s string) int { return strings.IndexAny(s, "*?") }

func isWild(s string) bool { return wildAt(s) >= 0 }

// startsWild reports whether s begins with a wildcard, so that it admits any value.
func startsWild(s string) bool { return s != "" && (s[0] == '*' || s[0] == '?') }

// anyRef reports whether a glob over a git ref admits any branch or tag: "*", "refs/*",
// "refs/heads/*" and the like.
func anyRef(ref string) bool {
	i := wildAt(ref)
	if i < 0 {
		return false
	}
	head := ref[:i]
	return strings.HasPrefix("refs/heads/", head) || strings.HasPrefix("refs/tags/", head)
}

// subRisk describes what a StringLike `sub` pattern lets in: severity and message, or
// ok=false when the pattern is specific enough.
func subRisk(f flavor, v string) (Severity, string, bool) {
	if strings.Trim(v, "*?") == "" {
		return SeverityError, "admits any subject: every identity the provider issues tokens for", true
	}
	switch f {
	case flavorGitHub:
		return githubSubRisk(v)
	case flavorCircleCI:
		return circleSubRisk(v)
	case flavorGitLab:
		return gitlabSubRisk(v)
	}
	return 0, "", false
}

func githubSubRisk(v string) (Severity, string, bool) {
	rest, ok := strings.CutPrefix(v, "repo:")
	if !ok {
		if startsWild(v) {
			return SeverityError, "admits repositories of any owner", true
		}
		return 0, "", false
	}
	ownerRepo, ctx, hasCtx := strings.Cut(rest, ":")
	owner, repo, hasRepo := strings.Cut(ownerRepo, "/")
	switch {
	case isWild(owner) || !hasRepo:
		return SeverityError, "admits repositories of any owner (the owner part has a wildcard)", true
	case startsWild(repo):
		return SeverityWarning, "admits any repository of " + owner, true
	case isWild(repo):
		return SeverityWarning, "admits every repository of " + owner + " whose name matches " + repo, true
	case !hasCtx:
		return 0, "", false
	case startsWild(ctx):
		return SeverityWarning, "admits any branch, tag, environment and pull request of " + ownerRepo, true
	}
	kind, val, _ := strings.Cut(ctx, ":")
	switch {
	case kind == "ref" && anyRef(val):
		return SeverityWarning, "admits any branch or tag of " + ownerRepo, true
	case kind == "environment" && startsWild(val):
		return SeverityWarning, "admits any environment of " + ownerRepo, true
	}
	return 0, "", false
}

func circleSubRisk(v string) (Severity, string, bool) {
	rest, ok := strings.CutPrefix(v, "org/")
	if !ok {
		if startsWild(v) {
			return SeverityWarning, "admits any project of the organization", true
		}
		return 0, "", false
	}
	_, rest, hasProject := strings.Cut(rest, "/project/")
	project, rest, hasUser := strings.Cut(rest, "/user/")
	if !hasProject || !hasUser && isWild(project) || startsWild(project) {
		// the issuer is per organization, so this stays inside the organization
		return SeverityWarning, "admits any project of the organization", true
	}
	if isWild(project) {
		return SeverityWarning, "admits every project whose id matches " + project, true
	}
	user, rest, hasOrigin := strings.Cut(rest, "/vcs-origin/")
	if !hasOrigin {
		if strings.HasSuffix(user, "*") {
			return SeverityWarning, "admits any branch of the project (and tokens that carry no branch at all)", true
		}
		return 0, "", false
	}
	origin, ref, hasRef := strings.Cut(rest, "/vcs-ref/")
	if !hasRef {
		if strings.HasSuffix(origin, "*") {
			return SeverityWarning, "admits any branch of the project", true
		}
		return 0, "", false
	}
	if anyRef(ref) {
		return SeverityWarning, "admits any branch or tag of the project", true
	}
	return 0, "", false
}

func gitlabSubRisk(v string) (Severity, string, bool) {
	rest, ok := strings.CutPrefix(v, "project_path:")
	if !ok {
		if startsWild(v) {
			return SeverityError, "admits any project", true
		}
		return 0, "", false
	}
	path, ctx, hasCtx := strings.Cut(rest, ":")
	slash := strings.LastIndexByte(path, '/')
	switch {
	case slash < 0 || isWild(path[:slash]):
		return SeverityError, "admits projects of any group (the group part has a wildcard)", true
	case startsWild(path[slash+1:]):
		return SeverityWarning, "admits any project of " + path[:slash], true
	case !hasCtx:
		return 0, "", false
	case startsWild(ctx):
		return SeverityWarning, "admits any branch or tag of " + path, true
	}
	if _, ref, ok := strings.Cut(ctx, "ref:"); ok && startsWild(ref) {
		return SeverityWarning, "admits any branch or tag of " + path, true
	}
	return 0, "", false
}
