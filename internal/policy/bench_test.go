package policy

import "testing"

// trustPolicy is a typical CircleCI trust policy with three conditions.
const benchTrustPolicy = `{"Version":"2012-10-17","Statement":[{
  "Sid":"CircleCI",
  "Effect":"Allow",
  "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{
    "StringEquals":{"oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:aud":"f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"},
    "StringLike":{"oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:sub":"org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/*/user/*/vcs-origin/github.com/my-org/*/vcs-ref/refs/heads/main"},
    "Bool":{"oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:oidc.circleci.com/ssh-rerun":"false"}}}]}`

func benchTrustRequest() *Request {
	keys := Keys{}
	keys.Set("oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:aud", "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d")
	keys.Set("oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:sub", "org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/0b1f3c1e-7c3e-4b4f-9f3d-2f8e5a6c7d8e/user/5d9c6a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a/vcs-origin/github.com/my-org/site/vcs-ref/refs/heads/main")
	keys.Set("oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:oidc.circleci.com/ssh-rerun", "false")
	return &Request{
		Principal: Principal{Type: "Federated", Value: "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Resource:  "arn:aws:iam::123456789012:role/CircleCI-OIDC-Role",
		Context:   keys,
	}
}

func BenchmarkEvaluateTrust(b *testing.B) {
	p, err := ParseAndCompile([]byte(benchTrustPolicy), KindTrust)
	if err != nil {
		b.Fatal(err)
	}
	req := benchTrustRequest()
	if got := Evaluate(req, p); got != Allow {
		b.Fatalf("Evaluate = %v, want Allow", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(req, p)
	}
}

func BenchmarkParseAndCompile(b *testing.B) {
	data := []byte(benchTrustPolicy)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAndCompile(data, KindTrust); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluateTrustDenied(b *testing.B) {
	p, err := ParseAndCompile([]byte(benchTrustPolicy), KindTrust)
	if err != nil {
		b.Fatal(err)
	}
	req := benchTrustRequest()
	keys := Keys{}
	for k, v := range req.Context.(Keys) {
		keys[k] = v
	}
	keys.Set("oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d:sub", "org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/0b1f3c1e-7c3e-4b4f-9f3d-2f8e5a6c7d8e/user/5d9c6a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a/vcs-origin/github.com/my-org/site/vcs-ref/refs/heads/feature")
	req.Context = keys
	if got := Evaluate(req, p); got != ImplicitDeny {
		b.Fatalf("Evaluate = %v, want ImplicitDeny", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(req, p)
	}
}

func BenchmarkExplainTrust(b *testing.B) {
	p, err := ParseAndCompile([]byte(benchTrustPolicy), KindTrust)
	if err != nil {
		b.Fatal(err)
	}
	req := benchTrustRequest()
	b.ReportAllocs()
	for b.Loop() {
		Explain(req, p)
	}
}
