package main

// policyCmd is replaced by the policy tools (issue 2).
type policyCmd struct{}
