package policy

import (
	"testing"
)

func mustCompile(t testing.TB, kind Kind, doc string) *Policy {
	t.Helper()
	p, err := ParseAndCompile([]byte(doc), kind)
	if err != nil {
		t.Fatalf("ParseAndCompile(%s): %v", doc, err)
	}
	return p
}

const (
	githubProvider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
	roleARN        = "arn:aws:iam::123456789012:role/ci"
)

func TestEvaluateIdentityPolicies(t *testing.T) {
	t.Parallel()
	allowGet := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::site/*"}]}`
	tests := []struct {
		name     string
		policies []string
		action   string
		resource string
		ctx      Keys
		want     Decision
	}{
		{"an action wildcard allows a matching action", []string{allowGet}, "s3:GetObject", "arn:aws:s3:::site/index.html", nil, Allow},
		{"action names are case-insensitive", []string{allowGet}, "S3:getobject", "arn:aws:s3:::site/index.html", nil, Allow},
		{"an action outside the wildcard is implicitly denied", []string{allowGet}, "s3:PutObject", "arn:aws:s3:::site/index.html", nil, ImplicitDeny},
		{"a resource star spans slashes", []string{allowGet}, "s3:GetObject", "arn:aws:s3:::site/a/b/c", nil, Allow},
		{"resources are case-sensitive", []string{allowGet}, "s3:GetObject", "arn:aws:s3:::Site/index.html", nil, ImplicitDeny},
		{"a resource of another service does not match", []string{allowGet}, "s3:GetObject", "arn:aws:iam::123456789012:role/site/x", nil, ImplicitDeny},
		{"an action question mark matches one character", []string{`{"Statement":{"Effect":"Allow","Action":"s3:GetObjec?","Resource":"*"}}`}, "s3:GetObject", "x", nil, Allow},
		{"the action star matches every action", []string{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`}, "iam:CreateUser", "arn:aws:iam::1:user/x", nil, Allow},
		{"a resource question mark matches one character", []string{`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b?/k"}}`}, "s3:GetObject", "arn:aws:s3:::b1/k", nil, Allow},
		{"a resource glob in the region segment matches any region", []string{`{"Statement":{"Effect":"Allow","Action":"sns:Publish","Resource":"arn:aws:sns:*:123456789012:t"}}`}, "sns:Publish", "arn:aws:sns:eu-west-1:123456789012:t", nil, Allow},
		{"NotAction with Allow allows every other action", []string{`{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}`}, "s3:PutObject", "arn:aws:s3:::b/k", nil, Allow},
		{"NotAction with Allow does not allow a listed action", []string{`{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}`}, "iam:CreateUser", "arn:aws:iam::1:user/x", nil, ImplicitDeny},
		{"NotAction with Deny denies every other action", []string{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"s3:GetObject","Resource":"*"}]}`}, "s3:PutObject", "arn:aws:s3:::b/k", nil, ExplicitDeny},
		{"NotAction with Deny leaves a listed action alone", []string{`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"s3:GetObject","Resource":"*"}]}`}, "s3:GetObject", "arn:aws:s3:::b/k", nil, Allow},
		{"NotResource allows every other resource", []string{`{"Statement":{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"}}`}, "s3:GetObject", "arn:aws:s3:::site/k", nil, Allow},
		{"NotResource does not allow a listed resource", []string{`{"Statement":{"Effect":"Allow","Action":"s3:*","NotResource":["arn:aws:s3:::secret","arn:aws:s3:::secret/*"]}}`}, "s3:GetObject", "arn:aws:s3:::secret/k", nil, ImplicitDeny},
		{"an explicit deny wins over an allow in the same policy", []string{`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`}, "s3:DeleteObject", "arn:aws:s3:::b/k", nil, ExplicitDeny},
		{"an explicit deny in one policy wins over an allow in another", []string{allowGet, `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}`}, "s3:GetObject", "arn:aws:s3:::site/k", one("aws:securetransport", "false"), ExplicitDeny},
		{"a deny whose condition fails does not apply", []string{allowGet, `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}`}, "s3:GetObject", "arn:aws:s3:::site/k", one("aws:securetransport", "true"), Allow},
		{"a second policy can allow what the first does not", []string{allowGet, `{"Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::site/*"}}`}, "s3:PutObject", "arn:aws:s3:::site/k", nil, Allow},
		{"a resource variable resolves from the request", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}`}, "s3:GetObject", "arn:aws:s3:::home/alice/x", one("aws:username", "alice"), Allow},
		{"a resource variable does not match another user's prefix", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}`}, "s3:GetObject", "arn:aws:s3:::home/bob/x", one("aws:username", "alice"), ImplicitDeny},
		{"a resource with an unresolved variable matches nothing", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}`}, "s3:GetObject", "arn:aws:s3:::home//x", nil, ImplicitDeny},
		{"a resource variable default applies when the key is missing", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:PrincipalTag/team, 'shared'}/*"}}`}, "s3:GetObject", "arn:aws:s3:::home/shared/x", nil, Allow},
		{"no policy at all is an implicit deny", nil, "s3:GetObject", "arn:aws:s3:::b/k", nil, ImplicitDeny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ps []*Policy
			for _, doc := range tc.policies {
				ps = append(ps, mustCompile(t, KindIdentity, doc))
			}
			req := &Request{Action: tc.action, Resource: tc.resource}
			if tc.ctx != nil {
				req.Context = tc.ctx
			}
			if got := Evaluate(req, ps...); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
			if got, tr := Explain(req, ps...); got != tc.want || tr.Decision != tc.want {
				t.Errorf("Explain = %v (trace %v), want %v", got, tr.Decision, tc.want)
			}
		})
	}
}

func TestEvaluateTrustPrincipals(t *testing.T) {
	t.Parallel()
	trust := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":` + principal + `,"Action":"sts:AssumeRoleWithWebIdentity"}}`
	}
	federated := Principal{Type: "Federated", Value: githubProvider}
	tests := []struct {
		name      string
		doc       string
		principal Principal
		want      Decision
	}{
		{"a Federated principal matches its provider", trust(`{"Federated":"` + githubProvider + `"}`), federated, Allow},
		{"a Federated principal does not match another provider", trust(`{"Federated":"arn:aws:iam::123456789012:oidc-provider/gitlab.com"}`), federated, ImplicitDeny},
		{"a principal type must match", trust(`{"AWS":"` + githubProvider + `"}`), federated, ImplicitDeny},
		{"a principal list matches any entry", trust(`{"Federated":["accounts.google.com","` + githubProvider + `"]}`), federated, Allow},
		{"Principal star matches anyone", trust(`"*"`), federated, Allow},
		{"AWS star matches anyone, like Principal star", trust(`{"AWS":"*"}`), federated, Allow},
		{"Federated star matches any federated principal", trust(`{"Federated":"*"}`), federated, Allow},
		{"Federated star does not match an AWS principal", trust(`{"Federated":"*"}`), Principal{Type: "AWS", Value: roleARN}, ImplicitDeny},
		{"an AWS account ID matches principals of that account", trust(`{"AWS":"123456789012"}`), Principal{Type: "AWS", Value: "arn:aws:iam::123456789012:role/other"}, Allow},
		{"an AWS root ARN matches principals of that account", trust(`{"AWS":"arn:aws:iam::123456789012:root"}`), Principal{Type: "AWS", Value: "arn:aws:sts::123456789012:assumed-role/r/s"}, Allow},
		{"an AWS account ID does not match another account", trust(`{"AWS":"123456789012"}`), Principal{Type: "AWS", Value: "arn:aws:iam::999999999999:role/other"}, ImplicitDeny},
		{"an AWS role ARN matches only that role", trust(`{"AWS":"arn:aws:iam::123456789012:role/a"}`), Principal{Type: "AWS", Value: "arn:aws:iam::123456789012:role/b"}, ImplicitDeny},
		{"a missing request principal matches no named principal", trust(`{"Federated":"` + githubProvider + `"}`), Principal{}, ImplicitDeny},
		{"NotPrincipal with Deny denies everyone not listed", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"},{"Effect":"Deny","NotPrincipal":{"Federated":"` + githubProvider + `"},"Action":"sts:*"}]}`, Principal{Type: "Federated", Value: "accounts.google.com"}, ExplicitDeny},
		{"NotPrincipal with Deny leaves a listed principal alone", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"},{"Effect":"Deny","NotPrincipal":{"Federated":"` + githubProvider + `"},"Action":"sts:*"}]}`, federated, Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustCompile(t, KindTrust, tc.doc)
			req := &Request{Principal: tc.principal, Action: "sts:AssumeRoleWithWebIdentity", Resource: roleARN}
			if got := Evaluate(req, p); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
			if got, _ := Explain(req, p); got != tc.want {
				t.Errorf("Explain = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateWithSession(t *testing.T) {
	t.Parallel()
	role := `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::site/*"},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::site/keep/*"}]}`
	readOnly := `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`
	denyAll := `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`
	tests := []struct {
		name     string
		session  []string
		action   string
		resource string
		want     Decision
	}{
		{"both the role and the session policy allow", []string{readOnly}, "s3:GetObject", "arn:aws:s3:::site/a", Allow},
		{"the session policy does not allow what the role allows", []string{readOnly}, "s3:PutObject", "arn:aws:s3:::site/a", ImplicitDeny},
		{"the session policy cannot grant more than the role", []string{readOnly}, "s3:GetObject", "arn:aws:s3:::other/a", ImplicitDeny},
		{"an explicit deny in the session policy wins", []string{readOnly, denyAll}, "s3:GetObject", "arn:aws:s3:::site/a", ExplicitDeny},
		{"an explicit deny in the role wins over a session allow", []string{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`}, "s3:DeleteObject", "arn:aws:s3:::site/keep/x", ExplicitDeny},
		{"without session policies the role decides", nil, "s3:PutObject", "arn:aws:s3:::site/a", Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			identity := []*Policy{mustCompile(t, KindIdentity, role)}
			var session []*Policy
			for _, s := range tc.session {
				session = append(session, mustCompile(t, KindSession, s))
			}
			req := &Request{Action: tc.action, Resource: tc.resource}
			if got := EvaluateWithSession(req, identity, session); got != tc.want {
				t.Errorf("EvaluateWithSession = %v, want %v", got, tc.want)
			}
			if got, tr := ExplainWithSession(req, identity, session); got != tc.want || tr.Decision != tc.want {
				t.Errorf("ExplainWithSession = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	p := mustCompile(t, KindTrust, benchTrustPolicy)
	req := benchTrustRequest()
	if got := Evaluate(req, p); got != Allow {
		t.Fatalf("Evaluate = %v, want Allow", got)
	}
	deny := *req
	deny.Context = Keys{}
	if got := Evaluate(&deny, p); got != ImplicitDeny {
		t.Fatalf("Evaluate without keys = %v, want ImplicitDeny", got)
	}
	for name, r := range map[string]*Request{"allow": req, "deny": &deny} {
		if allocs := testing.AllocsPerRun(100, func() { Evaluate(r, p) }); allocs != 0 {
			t.Errorf("Evaluate (%s path) allocates %v times per call, want 0", name, allocs)
		}
	}
}

func TestKeysLookupIgnoresCase(t *testing.T) {
	t.Parallel()
	k := Keys{}
	k.Set("AWS:TagKeys")
	k.Set("Aws:UserName", "alice")
	tests := []struct {
		key         string
		wantValues  []string
		wantPresent bool
	}{
		{"aws:username", []string{"alice"}, true},
		{"AWS:USERNAME", []string{"alice"}, true},
		{"aws:tagkeys", []string{}, true},
		{"aws:sourceip", nil, false},
	}
	for _, tc := range tests {
		t.Run("lookup of "+tc.key, func(t *testing.T) {
			t.Parallel()
			got, present := k.Lookup(tc.key)
			if present != tc.wantPresent || len(got) != len(tc.wantValues) || (len(got) > 0 && got[0] != tc.wantValues[0]) {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.key, got, present, tc.wantValues, tc.wantPresent)
			}
		})
	}
}
