package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *Request
	}{
		{
			name: "an oidc-provider ARN is a Federated principal and lists are multi-valued",
			in: `{"principal":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com","action":"sts:AssumeRoleWithWebIdentity","resource":"arn:aws:iam::123456789012:role/ci",
			      "conditionKeys":{"token.actions.githubusercontent.com:sub":"repo:o/r:ref:refs/heads/main","AWS:TagKeys":["team","env"],"aws:PrincipalTag/x":[],"s3:max-keys":10,"aws:SecureTransport":true}}`,
			want: &Request{
				Principal: Principal{Type: "Federated", Value: githubProvider},
				Action:    "sts:AssumeRoleWithWebIdentity", Resource: roleARN,
				Context: Keys{"token.actions.githubusercontent.com:sub": {"repo:o/r:ref:refs/heads/main"}, "aws:tagkeys": {"team", "env"},
					"aws:principaltag/x": {}, "s3:max-keys": {"10"}, "aws:securetransport": {"true"}},
			},
		},
		{
			name: "a saml-provider ARN is Federated",
			in:   `{"principal":"arn:aws:iam::1:saml-provider/corp","action":"a:b","resource":"*"}`,
			want: &Request{Principal: Principal{Type: "Federated", Value: "arn:aws:iam::1:saml-provider/corp"}, Action: "a:b", Resource: "*", Context: Keys{}},
		},
		{
			name: "any other ARN is an AWS principal",
			in:   `{"principal":"arn:aws:iam::1:role/r","action":"a:b","resource":"*"}`,
			want: &Request{Principal: Principal{Type: "AWS", Value: "arn:aws:iam::1:role/r"}, Action: "a:b", Resource: "*", Context: Keys{}},
		},
		{
			name: "a principal object names its type",
			in:   `{"principal":{"Federated":"accounts.google.com"},"action":"a:b","resource":"*"}`,
			want: &Request{Principal: Principal{Type: "Federated", Value: "accounts.google.com"}, Action: "a:b", Resource: "*", Context: Keys{}},
		},
		{
			name: "the principal is optional",
			in:   `{"action":"s3:GetObject","resource":"arn:aws:s3:::b/k"}`,
			want: &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: Keys{}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRequestRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"no action", `{"resource":"*"}`, `request: "action" is required`},
		{"no resource", `{"action":"a:b"}`, `request: "resource" is required`},
		{"an unknown field", `{"action":"a:b","resource":"*","context":{}}`, `request: json: unknown field "context"`},
		{"a key given twice in different case", `{"action":"a:b","resource":"*","conditionKeys":{"a:B":"1","A:b":"2"}}`, `request: condition key "a:B" is given twice (keys are case-insensitive)`},
		{"an object as a key value", `{"action":"a:b","resource":"*","conditionKeys":{"a:b":{"x":1}}}`, `request: condition key "a:b": must be a string, number or boolean, or a list of them`},
		{"a principal object with two types", `{"principal":{"AWS":"1","Federated":"x"},"action":"a:b","resource":"*"}`, `request: "principal" object must have exactly one type with a string value, such as {"Federated": "accounts.google.com"}`},
		{"an unknown principal type", `{"principal":{"Role":"x"},"action":"a:b","resource":"*"}`, `request: unknown principal type "Role" (want AWS, Federated, Service or CanonicalUser)`},
		{"trailing data", `{"action":"a:b","resource":"*"} {}`, `request: trailing data after the JSON object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tc.in))
			if err == nil {
				t.Fatal("DecodeRequest accepted bad input")
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
		})
	}
}

func TestSplitARNKeepsVariablesWhole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		vars bool
		want []string
	}{
		{"six parts", "arn:aws:s3:::b/k", false, []string{"arn", "aws", "s3", "", "", "b/k"}},
		{"the sixth part keeps its colons", "arn:aws:logs:r:1:log-group:g:*", false, []string{"arn", "aws", "logs", "r", "1", "log-group:g:*"}},
		{"a variable's colon does not split", "arn:aws:iam::${aws:PrincipalAccount}:role/x", true, []string{"arn", "aws", "iam", "", "${aws:PrincipalAccount}", "role/x"}},
		{"without variables a ${ is plain text", "arn:aws:iam::${aws:x}:role/x", false, []string{"arn", "aws", "iam", "", "${aws", "x}:role/x"}},
		{"fewer parts", "arn:aws", false, []string{"arn", "aws"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var parts [6]string
			n := splitARN(tc.in, tc.vars, &parts)
			if diff := cmp.Diff(tc.want, parts[:n]); diff != "" {
				t.Errorf("splitARN (-want +got):\n%s", diff)
			}
		})
	}
}
