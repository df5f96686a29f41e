// Package policy is the IAM policy language: it parses, validates, compiles, evaluates,
// explains and lints AWS policy documents, with AWS's semantics (docs/policy.md lists them
// and the few deliberate differences).
//
// Parse once, compile once, evaluate many times:
//
//	p, err := policy.ParseAndCompile(data, policy.KindTrust) // *ValidationError lists every problem
//	keys := policy.Keys{}
//	keys.Set("token.actions.githubusercontent.com:sub", "repo:o/r:ref:refs/heads/main")
//	req := &policy.Request{Principal: policy.Principal{Type: "Federated", Value: providerARN},
//		Action: "sts:AssumeRoleWithWebIdentity", Resource: roleARN, Context: keys}
//	switch policy.Evaluate(req, p) { // zero allocations
//	case policy.Allow:
//	}
//	decision, trace := policy.Explain(req, p) // trace.Text() for people, JSON for audit events
//
// A compiled *Policy is immutable and safe for concurrent use. The package does no I/O.
package policy
