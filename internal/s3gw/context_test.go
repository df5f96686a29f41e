package s3gw

import (
	"crypto/tls"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

func TestRequestContext(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 30, 0, time.UTC)
	sess := &credentials.Session{
		AccessKeyID: "ASIAEXAMPLE", RoleARN: "arn:aws:iam::123456789012:role/ci/deployer", RoleID: "AROAEXAMPLE",
		SessionName: "s1", Subject: "org/o/project/p", Provider: "arn:aws:iam::123456789012:oidc-provider/oidc.Example.com/org/o",
		Audience: "o", AMR: []string{"mfa", "pwd"}, Tags: []credentials.Tag{{Key: "Project", Value: "alpha"}},
		SourceIdentity: "alice", IssuedAt: now.Add(-time.Hour),
	}
	r := httptest.NewRequest("GET", "https://127.0.0.1/site?list-type=2&prefix=a/&delimiter=/", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.TLS = &tls.ConnectionState{}
	r.Header.Set("User-Agent", "aws-cli/2")
	q, _ := url.ParseQuery(r.URL.RawQuery)
	c := &call{r: r, now: now, st: &state{cfg: &config.Config{AccountID: "123456789012"}},
		req: &Request{Op: OpListObjectsV2, Bucket: "site", Query: q},
		p: &principal{accessKeyID: sess.AccessKeyID, session: sess, auth: &sigv4.Auth{Kind: sigv4.Header,
			Scope: sigv4.Scope{Region: "us-east-1"}, Time: now.Add(-1500 * time.Millisecond), PayloadHash: sigv4.UnsignedPayload}}}
	rc := requestContext{c}
	tests := []struct {
		key  string
		want []string // nil: absent
	}{
		{"aws:sourceip", []string{"192.0.2.7"}},
		{"aws:securetransport", []string{"true"}},
		{"aws:currenttime", []string{"2026-11-29T12:00:30Z"}},
		{"aws:epochtime", []string{"1795953630"}},
		{"aws:useragent", []string{"aws-cli/2"}},
		{"aws:requestedregion", []string{"us-east-1"}},
		{"aws:userid", []string{"AROAEXAMPLE:s1"}},
		{"aws:principalarn", []string{"arn:aws:iam::123456789012:role/ci/deployer"}},
		{"aws:principalaccount", []string{"123456789012"}},
		{"aws:principaltype", []string{"AssumedRole"}},
		{"aws:principaltag/project", []string{"alpha"}},
		{"aws:principaltag/team", nil},
		{"aws:tokenissuetime", []string{"2026-11-29T11:00:30Z"}},
		{"aws:federatedprovider", []string{"arn:aws:iam::123456789012:oidc-provider/oidc.Example.com/org/o"}},
		{"aws:sourceidentity", []string{"alice"}},
		{"oidc.example.com/org/o:aud", []string{"o"}},
		{"oidc.example.com/org/o:sub", []string{"org/o/project/p"}},
		{"oidc.example.com/org/o:amr", []string{"mfa", "pwd"}},
		{"other.example.com:sub", nil},
		{"s3:prefix", []string{"a/"}},
		{"s3:delimiter", []string{"/"}},
		{"s3:max-keys", nil},
		{"s3:x-amz-content-sha256", []string{"UNSIGNED-PAYLOAD"}},
		{"s3:signatureversion", []string{"AWS4-HMAC-SHA256"}},
		{"s3:authtype", []string{"REST-HEADER"}},
		{"s3:signatureage", []string{"1500"}},
		{"aws:unknown", nil},
	}
	for _, tc := range tests {
		t.Run(tc.key+" has its value", func(t *testing.T) {
			t.Parallel()
			got, ok := rc.Lookup(tc.key)
			if ok != (tc.want != nil) {
				t.Fatalf("present = %t, want %t", ok, tc.want != nil)
			}
			if diff := cmp.Diff(tc.want, got); ok && diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("an operator key is a User of the account", func(t *testing.T) {
		t.Parallel()
		oc := *c
		oc.p = &principal{accessKeyID: "AKIAOPERATOR", operator: &operator{}, auth: c.p.auth}
		got, _ := requestContext{&oc}.Lookup("aws:principaltype")
		arn, _ := requestContext{&oc}.Lookup("aws:principalarn")
		if diff := cmp.Diff([]string{"User", "arn:aws:iam::123456789012:user/keyless-operator/AKIAOPERATOR"}, append(got, arn...)); diff != "" {
			t.Errorf("operator keys (-want +got):\n%s", diff)
		}
	})
}
