package main

// tokenCmd is replaced by `keyless token mint|decode|verify` (issue 3).
type tokenCmd struct{}
