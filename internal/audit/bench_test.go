//go:build unix

package audit

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

func cpuNow(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stsEvent is shaped like an allowed AssumeRoleWithWebIdentity event.
func stsEvent(i int) *Event {
	e := sampleEvent(i % 60)
	e.UserIdentity = UserIdentity{Type: "WebIdentityUser", UserName: "org/o/project/p/user/u/vcs-origin/github.com/my-org/site/vcs-ref/refs/heads/main",
		PrincipalID:      "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/o:o:org/o/project/p/user/u",
		IdentityProvider: "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/o"}
	e.SourceIPAddress, e.UserAgent, e.AWSRegion, e.RecipientAccountID = "127.0.0.1", "Go-http-client/1.1", "us-east-1", "123456789012"
	e.RequestParameters = map[string]any{"roleArn": "arn:aws:iam::123456789012:role/CircleCI-OIDC-Role", "roleSessionName": "load"}
	e.ResponseElements = map[string]any{
		"credentials":     map[string]any{"accessKeyId": "ASIAEXAMPLE123456789", "sessionToken": "", "expiration": "Nov 29, 2026, 1:00:00 PM"},
		"assumedRoleUser": map[string]any{"assumedRoleId": "AROAEXAMPLE:load", "arn": "arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/load"},
		"provider":        "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/o", "audience": "o",
	}
	e.Resources = []Resource{{AccountID: "123456789012", Type: "AWS::IAM::Role", ARN: "arn:aws:iam::123456789012:role/CircleCI-OIDC-Role"}}
	return e
}

// BenchmarkRecord has 32 concurrent callers record events through the SQLite store and
// the synced JSON-lines file, and reports the process CPU per event and the events per
// commit.
func BenchmarkRecord(b *testing.B) {
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			w, cs, _, _ := newWriter(b)
			b.SetParallelism((callers + 1) / 2)
			b.ReportAllocs()
			start, commits := cpuNow(b), cs.commits.Load()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if err := w.Record(b.Context(), stsEvent(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuNow(b)-start)/float64(b.N)/1e3, "cpu-µs/op")
			b.ReportMetric(float64(b.N)/float64(cs.commits.Load()-commits), "events/commit")
		})
	}
}
