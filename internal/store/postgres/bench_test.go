package postgres

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// benchEvent is an audit event of a realistic size (a CloudTrail-shaped record of ~700
// bytes).
func benchEvent(id string, at time.Time, role string) store.AuditEvent {
	data := `{"eventVersion":"1.08","eventID":"` + id + `","eventTime":"` + at.Format(time.RFC3339Nano) +
		`","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithWebIdentity","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"10.1.2.3","userAgent":"aws-sdk-go-v2/1.30.0 os/linux lang/go#1.26","requestParameters":` +
		`{"roleArn":"arn:aws:iam::000000000000:role/` + role + `","roleSessionName":"ci-run-1234","durationSeconds":3600},` +
		`"userIdentity":{"type":"WebIdentityUser","principalId":"https://token.actions.githubusercontent.com:` +
		`repo:org/app:ref:refs/heads/main","userName":"repo:org/app:ref:refs/heads/main","identityProvider":` +
		`"token.actions.githubusercontent.com"},"responseElements":{"credentials":{"accessKeyId":"ASIA` +
		strings.Repeat("X", 16) + `","expiration":"` + at.Add(time.Hour).Format(time.RFC3339) + `"}},` +
		`"readOnly":false,"eventType":"AwsApiCall","managementEvent":true}`
	return store.AuditEvent{ID: id, Time: at, Name: "AssumeRoleWithWebIdentity", Source: "sts.amazonaws.com",
		Role: role, Subject: "repo:org/app:ref:refs/heads/main", SessionID: "sess-" + id,
		Decision: store.DecisionAllow, Data: []byte(data)}
}

func benchBatch(seq, n int, at time.Time) []store.AuditEvent {
	events := make([]store.AuditEvent, n)
	for i := range events {
		events[i] = benchEvent(fmt.Sprintf("bench-%d-%d", seq, i), at.Add(time.Duration(i)*time.Microsecond),
			[]string{"deploy", "admin", "ci", "read"}[i%4])
	}
	return events
}

// BenchmarkAppendAudit measures one group commit of a batch of events: the time per
// AppendAudit call and the events stored per second.
func BenchmarkAppendAudit(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			db := openDB(b, freshSchema(b), defaultOptions())
			at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
			batches := make([][]store.AuditEvent, b.N)
			for i := range batches {
				batches[i] = benchBatch(i, n, at)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := db.AppendAudit(b.Context(), batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	b.Run("batch=64/parallel", func(b *testing.B) {
		db := openDB(b, freshSchema(b), defaultOptions())
		at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.AppendAudit(b.Context(), benchBatch(int(seq.Add(1)), 64, at)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkQueryAudit measures filtered queries over 20,000 stored events.
func BenchmarkQueryAudit(b *testing.B) {
	db := openDB(b, freshSchema(b), defaultOptions())
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i := range 20000 / 64 {
		if err := db.AppendAudit(b.Context(), benchBatch(i, 64, at.Add(time.Duration(i)*time.Second))); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.pool.Exec(b.Context(), `ANALYZE audit_events`); err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct {
		name string
		q    store.AuditQuery
	}{
		{"role limit 100", store.AuditQuery{Role: "admin", Limit: 100}},
		{"time range of one minute", store.AuditQuery{Since: at.Add(100 * time.Second), Until: at.Add(160 * time.Second)}},
		{"deny decisions (none)", store.AuditQuery{Decision: store.DecisionDeny}},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := db.QueryAudit(b.Context(), q.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
