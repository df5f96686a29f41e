// Package cluster holds the tests of keyless that run real keylessd processes on
// loopback, driven with real SDK clients. It has no code of its own.
//
//   - cluster_test.go (issue 8): three nodes sharing one PostgreSQL and one upstream S3
//     store; see docs/deployment.md.
//   - crash_test.go, memory_test.go, bench_test.go (issue 6): one node on its embedded
//     SQLite store and fsbackend: SIGKILL mid-upload, peak RSS during four 1 GiB uploads,
//     and BenchmarkKeylessd; see docs/s3-performance.md. They need no PostgreSQL.
package cluster
