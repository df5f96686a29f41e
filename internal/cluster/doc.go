// Package cluster holds the multi-node test of keyless (issue 8): real keylessd
// processes on loopback sharing one PostgreSQL and one upstream S3 store, driven with
// real SDK clients. It has no code of its own; see cluster_test.go and
// docs/deployment.md.
package cluster
