package idtoken_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/idtoken"
)

func TestConditionKeys(t *testing.T) {
	t.Parallel()
	const host = "oidc.circleci.com/org/o1"
	id := &idtoken.Identity{
		ProviderHost: host,
		Subject:      "org/o1/project/p1/user/u1",
		Audience:     "o1",
		AZP:          "o1",
		AMR:          []string{"pwd"},
		Claims: map[string]any{
			"iss":                           "https://" + host,
			"aud":                           []any{"x", "o1"},
			"sub":                           "org/o1/project/p1/user/u1",
			"azp":                           "o1",
			"amr":                           []any{"pwd"},
			"exp":                           json.Number("1764417600"),
			"oidc.circleci.com/vcs-ref":     "refs/heads/main",
			"oidc.circleci.com/context-ids": []any{"c1", "c2", map[string]any{"x": 1}},
			"oidc.circleci.com/ssh-rerun":   false,
			"ratio":                         json.Number("0.5"),
			"nested":                        map[string]any{"a": "b"},
			"nothing":                       nil,
			"empty":                         []any{},
			"https://aws.amazon.com/tags":   map[string]any{"principal_tags": map[string]any{}},
		},
	}
	single := func(s string) idtoken.ConditionValue { return idtoken.ConditionValue{Values: []string{s}} }
	multi := func(s ...string) idtoken.ConditionValue {
		return idtoken.ConditionValue{Values: append([]string{}, s...), MultiValued: true}
	}
	awsKeys := map[string]idtoken.ConditionValue{
		host + ":aud":                           single("o1"),
		host + ":sub":                           single("org/o1/project/p1/user/u1"),
		host + ":azp":                           single("o1"),
		host + ":amr":                           multi("pwd"),
		host + ":oidc.circleci.com/vcs-ref":     single("refs/heads/main"),
		host + ":oidc.circleci.com/context-ids": multi("c1", "c2"),
		host + ":oidc.circleci.com/ssh-rerun":   single("false"),
	}
	all := map[string]idtoken.ConditionValue{
		host + ":iss":   single("https://" + host),
		host + ":exp":   single("1764417600"),
		host + ":ratio": single("0.5"),
		host + ":empty": multi(),
	}
	for k, v := range awsKeys {
		all[k] = v
	}
	tests := []struct {
		name              string
		awsCompatibleOnly bool
		want              map[string]idtoken.ConditionValue
	}{
		{name: "AWS-compatible mode gives only the keys AWS provides", awsCompatibleOnly: true, want: awsKeys},
		{name: "full mode gives every claim except objects, nulls and session tags", want: all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, id.ConditionKeys(tc.awsCompatibleOnly)); diff != "" {
				t.Errorf("ConditionKeys(%v) mismatch (-want +got):\n%s", tc.awsCompatibleOnly, diff)
			}
		})
	}
}

func TestGoogleConditionKeysUseAZPAsAud(t *testing.T) {
	t.Parallel()
	id := &idtoken.Identity{ProviderHost: "accounts.google.com", Subject: "1", Audience: "client", AZP: "app"}
	want := map[string]idtoken.ConditionValue{
		"accounts.google.com:aud":  {Values: []string{"app"}},
		"accounts.google.com:oaud": {Values: []string{"client"}},
		"accounts.google.com:azp":  {Values: []string{"app"}},
		"accounts.google.com:sub":  {Values: []string{"1"}},
	}
	if diff := cmp.Diff(want, id.ConditionKeys(true)); diff != "" {
		t.Errorf("ConditionKeys mismatch (-want +got):\n%s", diff)
	}
}

func TestAWSProvidesKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host, claim string
		want        bool
	}{
		{"oidc.example.com", "aud", true},
		{"oidc.example.com", "sub", true},
		{"oidc.example.com", "amr", true},
		{"oidc.example.com", "azp", true},
		{"oidc.example.com", "iss", false},
		{"oidc.example.com", "repository", false},
		{"token.actions.githubusercontent.com", "repository", true},
		{"token.actions.githubusercontent.com", "job_workflow_ref", true},
		{"token.actions.githubusercontent.com", "run_id", false},
		{"oidc.circleci.com/org/o1", "oidc.circleci.com/project-id", true},
		{"oidc.circleci.com/org/o1", "oidc.circleci.com/job-id", false},
		{"127.0.0.1:8700/-/oidc/org/o1", "oidc.circleci.com/project-id", false},
		{"accounts.google.com", "oaud", true},
		{"oidc.example.com", "oaud", false},
	}
	for _, tc := range tests {
		if got := idtoken.AWSProvidesKey(tc.host, tc.claim); got != tc.want {
			t.Errorf("AWSProvidesKey(%q, %q) = %v, want %v", tc.host, tc.claim, got, tc.want)
		}
	}
}

func TestErrorMessagesAreAWSs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  idtoken.Error
		want string
	}{
		{"unknown provider echoes iss", idtoken.Error{Kind: idtoken.KindUnknownProvider, Issuer: "https://auth.mozilla.auth0.com/"},
			"No OpenIDConnect provider found in your account for https://auth.mozilla.auth0.com/"},
		{"key unavailable has the double space", idtoken.Error{Kind: idtoken.KindKeyUnavailable},
			"Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"},
		{"bad signature shares it", idtoken.Error{Kind: idtoken.KindBadSignature}, idtoken.MsgKeyUnavailable},
		{"bad algorithm shares it", idtoken.Error{Kind: idtoken.KindBadAlgorithm}, idtoken.MsgKeyUnavailable},
		{"expired gives both epoch times", idtoken.Error{Kind: idtoken.KindExpired, Now: time.Unix(1704727025, 0), Expiry: time.Unix(1704574064, 0)},
			"Token expired: current date/time 1704727025 must be before the expiration date/time 1704574064"},
		{"incorrect audience", idtoken.Error{Kind: idtoken.KindIncorrectAudience}, "Incorrect token audience"},
		{"missing aud", idtoken.Error{Kind: idtoken.KindMissingClaim, Claim: "aud"}, "Missing a required claim: aud"},
	}
	for _, tc := range tests {
		if got := tc.err.Message(); got != tc.want {
			t.Errorf("%s: Message() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPolicyConditionKeysAreLowerCasedAndPreferTheLowerCaseClaim(t *testing.T) {
	t.Parallel()
	id := &idtoken.Identity{ProviderHost: "Git.Example.com/Org", Subject: "s", Audience: "a",
		Claims: map[string]any{"Env": "from-Env", "env": "from-env", "Repo": "Site", "sub": "s", "aud": "a"}}
	want := map[string]idtoken.ConditionValue{
		"git.example.com/org:aud":  {Values: []string{"a"}},
		"git.example.com/org:sub":  {Values: []string{"s"}},
		"git.example.com/org:env":  {Values: []string{"from-env"}},
		"git.example.com/org:repo": {Values: []string{"Site"}},
	}
	for range 20 { // map order varies: the lower-case name must win every time
		if diff := cmp.Diff(want, id.PolicyConditionKeys(false)); diff != "" {
			t.Fatalf("PolicyConditionKeys (-want +got):\n%s", diff)
		}
	}
}
