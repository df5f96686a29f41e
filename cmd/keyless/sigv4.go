package main

// sigv4Cmd is replaced by `keyless sigv4 explain` (issue 5).
type sigv4Cmd struct{}
