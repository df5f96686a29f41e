package sts

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/policy"
)

// tagTrust adds to the seed a statement allowing session tags (Project=site only) and a
// source identity.
const tagTrust = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
      "StringEquals": {"%[2]s:aud": "%[3]s"},
      "StringLike": {"%[2]s:sub": "org/%[3]s/project/%[4]s/user/*"}
    }
  }, {
    "Sid": "TagsAndSourceIdentity",
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
    "Action": ["sts:TagSession", "sts:SetSourceIdentity"],
    "Condition": {
      "StringEquals": {"%[2]s:aud": "%[3]s"},
      "StringEqualsIfExists": {"aws:RequestTag/Project": "site"}
    }
  }]
}`

func tags(kv ...string) map[string]any {
	pt := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		pt[kv[i]] = []string{kv[i+1]}
	}
	return map[string]any{"principal_tags": pt, "transitive_tag_keys": []string{"Project"}}
}

func TestSessionTagsAndSourceIdentityNeedTheirActionsAndAreSealedIntoTheSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{trust: tagTrust})
	good := f.claims()
	t.Run("tags allowed by sts:TagSession are sealed and reported", func(t *testing.T) {
		t.Parallel()
		out, err := f.assume(t.Context(), f.token(with(good, tagsClaim, tags("Project", "site", "Team", "web"))))
		if err != nil {
			t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
		}
		//lint:ignore SA1019 STS still sends PackedPolicySize with session tags
		if out.PackedPolicySize == nil {
			t.Error("PackedPolicySize is absent, want it with session tags")
		}
		sess, err := f.sealer.Open(aws.ToString(out.Credentials.SessionToken))
		if err != nil {
			t.Fatal(err)
		}
		want := []any{[]credentials.Tag{{Key: "Project", Value: "site"}, {Key: "Team", Value: "web"}}, []string{"Project"}}
		if diff := cmp.Diff(want, []any{sess.Tags, sess.TransitiveTagKeys}); diff != "" {
			t.Errorf("sealed tags (-want +got):\n%s", diff)
		}
	})
	t.Run("tags the trust policy's conditions refuse are access denied", func(t *testing.T) {
		t.Parallel()
		_, err := f.assume(t.Context(), f.token(with(good, tagsClaim, tags("Project", "other"))))
		want := apiError{"AccessDenied", msgNotAuthorized, 403}
		if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
	t.Run("a source identity allowed by sts:SetSourceIdentity is returned and sealed", func(t *testing.T) {
		t.Parallel()
		out, err := f.assume(t.Context(), f.token(with(good, sourceIdentityClaim, "alice@example.com")))
		if err != nil {
			t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
		}
		sess, err := f.sealer.Open(aws.ToString(out.Credentials.SessionToken))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"alice@example.com", "alice@example.com"}, []string{aws.ToString(out.SourceIdentity), sess.SourceIdentity}); diff != "" {
			t.Errorf("source identity in answer and session (-want +got):\n%s", diff)
		}
	})
	t.Run("a malformed source identity is a validation error", func(t *testing.T) {
		t.Parallel()
		_, err := f.assume(t.Context(), f.token(with(good, sourceIdentityClaim, "a:b")))
		want := apiError{"ValidationError", `1 validation error detected: Value 'a:b' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, 400}
		if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
	t.Run("more than 50 tags are an invalid identity token", func(t *testing.T) {
		t.Parallel()
		var kv []string
		for i := range 51 {
			kv = append(kv, fmt.Sprintf("k%d", i), "v")
		}
		_, err := f.assume(t.Context(), f.token(with(good, tagsClaim, tags(kv...))))
		want := apiError{"InvalidIdentityToken", "The claim https://aws.amazon.com/tags of the web identity token is invalid", 400}
		if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
	t.Run("tags too large for a session token are a packed policy too large", func(t *testing.T) {
		t.Parallel()
		kv := []string{"Project", "site"}
		for i := range 20 {
			kv = append(kv, fmt.Sprintf("key%02d%s", i, randomText(100)), randomText(256))
		}
		_, err := f.assume(t.Context(), f.token(with(good, tagsClaim, tags(kv...))))
		got := sdkError(t, err)
		if got.Code != "PackedPolicyTooLarge" || got.Status != 400 ||
			!strings.HasPrefix(got.Message, "Packed policy consumes ") || !strings.HasSuffix(got.Message, "% of allotted space, please use smaller policy.") {
			t.Errorf("error %+v, want PackedPolicyTooLarge 400 with the percentage", got)
		}
	})
}

func randomText(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

// addRole configures one more role with the given trust policy (trustTmpl's arguments)
// through SetConfig, as a SIGHUP reload does.
func (f *fixture) addRole(t *testing.T, name, trustTmplText string) string {
	t.Helper()
	trust := fmt.Sprintf(trustTmplText, account, f.host, org, project)
	compiled, err := policy.ParseAndCompile([]byte(trust), policy.KindTrust)
	if err != nil {
		t.Fatalf("trust policy of %s: %v", name, err)
	}
	cfg := *f.cfg
	cfg.Roles = append(slices.Clone(f.cfg.Roles), config.Role{Name: name, Path: "/", MaxSessionDuration: config.Duration(time.Hour),
		TrustPolicy: config.PolicySource{JSON: []byte(trust), Compiled: compiled}})
	f.cfg = &cfg
	if err := f.h.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	return "arn:aws:iam::" + account + ":role/" + name
}

func oneCondition(cond string) string {
	return `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
  "Action": "sts:AssumeRoleWithWebIdentity", "Condition": ` + cond + `}]}`
}

func TestTrustPoliciesSeeEveryClaimAndTheGlobalKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tests := []struct {
		name  string
		cond  string
		allow bool
	}{
		{"a custom claim is a provider key", `{"StringEquals": {"%[2]s:oidc.circleci.com/vcs-ref": "refs/heads/main"}}`, true},
		{"a custom claim with another value does not match", `{"StringEquals": {"%[2]s:oidc.circleci.com/vcs-ref": "refs/heads/dev"}}`, false},
		{"an array claim is multi-valued", `{"ForAnyValue:StringEquals": {"%[2]s:oidc.circleci.com/context-ids": "ctx-2"}}`, true},
		{"a boolean claim reads false", `{"StringEquals": {"%[2]s:oidc.circleci.com/ssh-rerun": "false"}}`, true},
		{"aud is the matched client id", `{"StringEquals": {"%[2]s:aud": "%[3]s"}}`, true},
		{"sts:RoleSessionName is the requested name", `{"StringLike": {"sts:RoleSessionName": "circleci-deploy-session-*"}}`, true},
		{"aws:FederatedProvider is the provider ARN", `{"StringEquals": {"aws:FederatedProvider": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"}}`, true},
		{"aws:SourceIp is the peer address", `{"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}`, true},
		{"aws:SourceIp outside the range does not match", `{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`, false},
		{"aws:SecureTransport is false over plain HTTP", `{"Bool": {"aws:SecureTransport": "false"}}`, true},
		{"aws:SecureTransport true does not match plain HTTP", `{"Bool": {"aws:SecureTransport": "true"}}`, false},
		{"aws:UserAgent is the client's", `{"StringLike": {"aws:UserAgent": "*aws-sdk-go-v2*"}}`, true},
		{"aws:EpochTime is now", fmt.Sprintf(`{"NumericEquals": {"aws:EpochTime": "%d"}}`, f.now().Unix()), true},
		{"aws:CurrentTime is now", fmt.Sprintf(`{"DateEquals": {"aws:CurrentTime": "%s"}}`, f.now().Format(time.RFC3339)), true},
		{"a tag key is absent without tags", `{"Null": {"aws:TagKeys": "true"}}`, true},
		{"a claim named with capitals is found by its lower-case name", `{"StringEquals": {"%[2]s:repository_name": "Site"}}`, true},
		{"a claim named with capitals is found by its own name", `{"StringEquals": {"%[2]s:Repository_Name": "Site"}}`, true},
		{"a claim named with capitals keeps its value's case", `{"StringEquals": {"%[2]s:Repository_Name": "site"}}`, false},
	}
	arns := make([]string, len(tests))
	for i, tc := range tests {
		arns[i] = f.addRole(t, fmt.Sprintf("Role%d", i), oneCondition(tc.cond))
	}
	tok := f.token(with(f.claims(), "Repository_Name", "Site"))
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.assume(t.Context(), tok, func(in *awssts.AssumeRoleWithWebIdentityInput) { in.RoleArn = aws.String(arns[i]) })
			if tc.allow && err != nil {
				t.Fatalf("denied: %v", err)
			}
			if !tc.allow && sdkError(t, err).Code != "AccessDenied" {
				t.Fatalf("error %v, want AccessDenied", err)
			}
		})
	}
}

func TestAWSCompatibleKeysOnlyHidesCustomClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{awsKeysOnly: true,
		trust: oneCondition(`{"StringEquals": {"%[2]s:oidc.circleci.com/vcs-ref": "refs/heads/main"}}`)})
	_, err := f.assume(t.Context(), f.token(f.claims()))
	if got := sdkError(t, err); got.Code != "AccessDenied" {
		t.Fatalf("error %+v, want AccessDenied: the claim is no key with aws_compatible_keys_only", got)
	}
}

func TestDevModeExplainsDenialsToTheCallerAndProductionDoesNot(t *testing.T) {
	t.Parallel()
	otherSub := "org/" + org + "/project/other/user/" + goodUser
	for _, dev := range []bool{true, false} {
		f := newFixture(t, fixtureOptions{dev: dev})
		_, err := f.assume(t.Context(), f.token(with(f.claims(), "sub", otherSub)))
		got := sdkError(t, err).Message
		want := msgNotAuthorized
		if dev {
			want += fmt.Sprintf(` (keyless dev mode: statement 0: StringLike on %s:sub failed: got %q, want "org/%s/project/%s/user/*")`,
				f.host, otherSub, org, project)
		}
		if got != want {
			t.Errorf("dev %v: message\n%s\nwant\n%s", dev, got, want)
		}
	}
}

// auditEvents reads the audit file.
func (f *fixture) auditEvents(t *testing.T) []map[string]any {
	t.Helper()
	file, err := os.Open(f.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestEveryCallIsAuditedWithTheDecisionAndTheTraceOfADenial(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	good := f.claims()
	out, err := f.assume(t.Context(), f.token(good))
	if err != nil {
		t.Fatal(err)
	}
	otherSub := "org/" + org + "/project/other/user/" + goodUser
	_, _ = f.assume(t.Context(), f.token(with(good, "sub", otherSub)))
	evs := f.auditEvents(t)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	provider := "arn:aws:iam::" + account + ":oidc-provider/" + f.host
	pick := func(ev map[string]any, path ...string) any {
		var v any = ev
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	allow, deny := evs[0], evs[1]
	got := []any{
		pick(allow, "eventName"), pick(allow, "userIdentity", "type"), pick(allow, "userIdentity", "principalId"),
		pick(allow, "requestParameters", "roleArn"), pick(allow, "requestParameters", "roleSessionName"),
		pick(allow, "responseElements", "credentials", "accessKeyId"), pick(allow, "responseElements", "credentials", "sessionToken"),
		pick(allow, "keyless", "decision", "effect"), pick(allow, "sourceIPAddress"), pick(allow, "recipientAccountId"),
		pick(deny, "errorCode"), pick(deny, "errorMessage"), pick(deny, "keyless", "decision", "effect"),
		pick(deny, "keyless", "decision", "trace", "decision"), pick(deny, "responseElements"),
	}
	want := []any{
		"AssumeRoleWithWebIdentity", "WebIdentityUser", provider + ":" + org + ":" + good["sub"].(string),
		roleARNs, session,
		aws.ToString(out.Credentials.AccessKeyId), "",
		"allow", "127.0.0.1", account,
		"AccessDenied", msgNotAuthorized, "deny",
		"ImplicitDeny", nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	if s, _ := pick(allow, "keyless", "sessionId").(string); s == "" {
		t.Error("the allowed call's event has no session id")
	}
	if r, _ := pick(deny, "keyless", "decision", "reason").(string); !strings.Contains(r, "StringLike on "+f.host+":sub failed") {
		t.Errorf("denial reason %q does not name the failed condition", r)
	}
}

// failingSink is an audit store that is down.
type failingSink struct{}

func (failingSink) Record(context.Context, *audit.Event) error {
	return errors.New("database unreachable")
}

func TestNoCredentialsAreIssuedWhenTheAuditEventCannotBeRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{sink: failingSink{}})
	out, err := f.assume(t.Context(), f.token(f.claims()))
	want := apiError{"ServiceUnavailable", "Service is unable to handle request.", 503}
	if diff := cmp.Diff(want, sdkError(t, err)); diff != "" || out != nil {
		t.Errorf("error (-want +got):\n%s\noutput %v, want none", diff, out)
	}
}

func TestRateLimitsPerSourceAddressAndPerRoleAnswerThrottling(t *testing.T) {
	t.Parallel()
	throttled := apiError{"Throttling", "Rate exceeded", 400}
	for _, opts := range []fixtureOptions{{perIP: 1}, {perRole: 1}} {
		f := newFixture(t, opts)
		tok := f.token(f.claims())
		if _, err := f.assume(t.Context(), tok); err != nil {
			t.Fatalf("%+v: first call: %v", opts, err)
		}
		_, err := f.assume(t.Context(), tok)
		if diff := cmp.Diff(throttled, sdkError(t, err)); diff != "" {
			t.Errorf("%+v: second call at the same instant (-want +got):\n%s", opts, diff)
		}
		f.setNow(f.now().Add(time.Second))
		if _, err := f.assume(t.Context(), tok); err != nil {
			t.Errorf("%+v: a second later: %v", opts, err)
		}
		if n := len(f.auditEvents(t)); n != 2 {
			t.Errorf("%+v: %d audit events, want 2 (throttled calls are not audited)", opts, n)
		}
	}
}

func TestLimiterMapsStayBounded(t *testing.T) {
	t.Parallel()
	l := newLimiters(8)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 100 {
		if !l.allow(fmt.Sprintf("10.0.0.%d", i), 1, t0) {
			t.Fatalf("a new key was refused")
		}
		if n := l.len(); n > 8 {
			t.Fatalf("%d entries after %d keys, want at most 8", n, i+1)
		}
	}
	// Idle entries whose buckets refilled are dropped first, and losslessly.
	l = newLimiters(2)
	l.allow("a", 1, t0)
	l.allow("b", 1, t0.Add(5*time.Second))
	l.allow("c", 1, t0.Add(5*time.Second))
	if l.allow("b", 1, t0.Add(5*time.Second)) {
		t.Error("b kept no state: a second call in the same instant was allowed")
	}
}

func TestSetConfigSwapsRolesAndProvidersForTheNextCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tok := f.token(f.claims())
	cfg := *f.cfg
	cfg.Providers = nil
	if err := f.h.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	_, err := f.assume(t.Context(), tok)
	want := apiError{"InvalidIdentityToken", "No OpenIDConnect provider found in your account for " + f.idp.URL(), 400}
	if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
		t.Errorf("after removing the provider (-want +got):\n%s", diff)
	}
	cfg = *f.cfg
	cfg.Roles = nil
	if err := f.h.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	_, err = f.assume(t.Context(), tok)
	if got := sdkError(t, err); got.Code != "AccessDenied" {
		t.Errorf("after removing the role: %+v, want AccessDenied", got)
	}
	if err := f.h.SetConfig(f.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := f.assume(t.Context(), tok); err != nil {
		t.Errorf("after restoring the configuration: %v", err)
	}
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	_, err := New(Options{})
	if err == nil || err.Error() != "sts: missing Config, Verifier, Sealer, Audit" {
		t.Errorf("New(Options{}) = %v, want every missing dependency named", err)
	}
}
