package sqlite

import (
	"encoding/json"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	`{"eventVersion":"1.08","userIdentity":{"type":"WebIdentityUser"},"requestParameters":{"durationSeconds":3600,"tags":["a",true,null,-1.5e+3]},"readOnly":true}`,
	` [ ] `, `{}`, `""`, `0`, `-0.0e-0`, `true`, `null`, `"\u00e9\ud800\"\\\/\b\f\n\r\t"`, "\"caf\xc3\xa9 \xff\"",
	``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `01`, `1.`, `.1`, `1e`, `-`, `+1`, `tru`, `nul`,
	`"\x"`, `"\u12"`, "\"\x01\"", "\"\x7f\"", `{} {}`, `{}x`, `"abc`, `{"a":1}}`, `{1:2}`, strings.Repeat("[", 100) + strings.Repeat("]", 100),
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range jsonSeeds {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

func FuzzValidJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// auditJSON is shaped like an allowed AssumeRoleWithWebIdentity event.
const auditJSON = `{"eventVersion":"1.08","userIdentity":{"type":"WebIdentityUser","principalId":"arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/o:o:org/o/project/p/user/u","userName":"org/o/project/p/user/u","identityProvider":"arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/o"},"eventTime":"2026-11-29T12:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithWebIdentity","awsRegion":"us-east-1","sourceIPAddress":"127.0.0.1","userAgent":"Go-http-client/1.1","requestParameters":{"roleArn":"arn:aws:iam::123456789012:role/CircleCI-OIDC-Role","roleSessionName":"load"},"responseElements":{"assumedRoleUser":{"arn":"arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/load","assumedRoleId":"AROAEXAMPLE:load"},"audience":"o","credentials":{"accessKeyId":"ASIAEXAMPLE123456789","expiration":"Nov 29, 2026, 1:00:00 PM","sessionToken":""},"provider":"arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/o"},"requestID":"req","eventID":"019acf9a-b400-7a6b-8c7d-9e0f1a2b3c4d","readOnly":true,"resources":[{"accountId":"123456789012","type":"AWS::IAM::Role","ARN":"arn:aws:iam::123456789012:role/CircleCI-OIDC-Role"}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management","keyless":{"sessionId":"s1","role":"CircleCI-OIDC-Role","decision":{"effect":"allow","reason":"allowed by the trust policy of role CircleCI-OIDC-Role"}}}`

func BenchmarkValidJSON(b *testing.B) {
	for _, tc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"ours", validJSON}, {"encoding-json", json.Valid}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(auditJSON)))
			for b.Loop() {
				if !tc.valid([]byte(auditJSON)) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
