package cluster_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestKilledNodeKeepsTheEventsOfAnsweredReads: an allowed read's audit event is deferred
// (written to audit.jsonl before the answer, stored with a group commit up to 10 ms
// later, docs/audit.md). A node killed with SIGKILL right after answering reads must
// still hold every answered read's event once it has restarted: RecoverTail copies the
// file's tail into the store. A round counts as exercising the recovery when, before the
// restart, the store lacked some of the answered reads' events; the machine may be slow
// enough that a round does not, so up to five rounds run until one does.
func TestKilledNodeKeepsTheEventsOfAnsweredReads(t *testing.T) {
	t.Parallel()
	exercised := false
	for round := 1; round <= 5 && !exercised; round++ {
		p := startGateway(t, "all")
		creds := sessionCreds(t, p, "audit-crash")
		client := s3Client(p, creds)
		body := bytes.Repeat([]byte("k"), 4096)
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("hot"),
			Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		answered := readUntilKilled(t, p, client, 300)

		before := map[string]bool{}
		for _, e := range auditEvents(t, p) { // the store as the kill left it
			before[e.RequestID] = true
		}
		missing := 0
		for _, id := range answered {
			if !before[id] {
				missing++
			}
		}

		p.start()
		after := map[string]bool{}
		for _, e := range auditEvents(t, p) {
			if e.EventName == "GetObject" && e.Keyless.Decision != nil && e.Keyless.Decision.Effect == "allow" {
				after[e.RequestID] = true
			}
		}
		for _, id := range answered {
			if !after[id] {
				t.Errorf("round %d: the answered GetObject %s has no event in the store after the restart", round, id)
			}
		}
		t.Logf("round %d: %d reads answered before the kill; %d of their events were only in audit.jsonl at the kill",
			round, len(answered), missing)
		exercised = missing > 0
		p.kill()
		if t.Failed() {
			return
		}
	}
	if !exercised {
		t.Error("in five rounds the kill never caught an answered read whose event was not yet stored: the recovery went untested")
	}
}

// readUntilKilled runs 8 readers of "hot" and kills the node as soon as n reads have been
// answered; it returns the request ids of the answered reads.
func readUntilKilled(t *testing.T, p *proc, client *s3.Client, n int) []string {
	t.Helper()
	var (
		mu     sync.Mutex
		ids    []string
		killed atomic.Bool
		once   sync.Once
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 8 {
		wg.Go(func() {
			for !killed.Load() {
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("hot")})
				if err != nil {
					if !killed.Load() {
						t.Errorf("GetObject before the kill: %v", err)
						cancel()
					}
					return
				}
				_, err = io.Copy(io.Discard, out.Body)
				_ = out.Body.Close()
				if err != nil {
					return // cut off by the kill: not an answered read
				}
				id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
				mu.Lock()
				ids = append(ids, id)
				enough := len(ids) >= n
				mu.Unlock()
				if enough {
					once.Do(func() {
						killed.Store(true)
						p.kill()
					})
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	mu.Lock()
	defer mu.Unlock()
	return ids
}
