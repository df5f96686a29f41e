package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

// countingStore is the real SQLite store, counting commits.
type countingStore struct {
	*sqlite.DB
	commits atomic.Int64
	fail    atomic.Bool
}

func (c *countingStore) AppendAudit(ctx context.Context, evs []store.AuditEvent) error {
	if c.fail.Load() {
		return errors.New("database unreachable")
	}
	c.commits.Add(1)
	return c.DB.AppendAudit(ctx, evs)
}

// AppendTrustedAudit is the method the writer uses: its events are JSON it marshalled.
func (c *countingStore) AppendTrustedAudit(ctx context.Context, evs []store.AuditEvent) error {
	if c.fail.Load() {
		return errors.New("database unreachable")
	}
	c.commits.Add(1)
	return c.DB.AppendTrustedAudit(ctx, evs)
}

// plainStore offers only AppendAudit, like a backend that always checks event data.
type plainStore struct{ Appender }

func TestAStoreWithoutTheTrustedMethodStillGetsEveryEvent(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keyless.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w, err := NewWriter(WriterOptions{Store: plainStore{db}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		if err := w.Record(t.Context(), sampleEvent(i)); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	got, err := db.QueryAudit(t.Context(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("stored %d events, want 3", len(got))
	}
}

func newWriter(t testing.TB) (*Writer, *countingStore, string, context.CancelFunc) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "keyless.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs := &countingStore{DB: db}
	file := filepath.Join(dir, "audit.jsonl")
	w, err := NewWriter(WriterOptions{Store: cs, File: file})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; w.Close() })
	return w, cs, file, cancel
}

func sampleEvent(i int) *Event {
	e := New(time.Date(2026, 11, 29, 12, 0, i, 0, time.UTC), SourceSTS, "AssumeRoleWithWebIdentity", "req", "CircleCI-OIDC-Role", "org/o/project/p")
	e.Keyless.SessionID = "s1"
	e.Keyless.Decision = &Decision{Effect: Allow, Reason: "statement 0 allowed"}
	return e
}

func TestRecordedEventsAreInTheStoreAndTheFileWithCloudTrailNames(t *testing.T) {
	w, cs, file, _ := newWriter(t)
	deny := sampleEvent(1)
	deny.ErrorCode, deny.ErrorMessage = "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
	for _, e := range []*Event{sampleEvent(0), deny} {
		if err := w.Record(t.Context(), e); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	got, err := cs.QueryAudit(t.Context(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var decisions []string
	for _, e := range got {
		decisions = append(decisions, e.Decision+":"+e.Role+":"+e.SessionID)
	}
	if diff := cmp.Diff([]string{"allow:CircleCI-OIDC-Role:s1", "deny:CircleCI-OIDC-Role:s1"}, decisions); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
	f, _ := os.Open(file)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines int
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines, err)
		}
		for _, field := range []string{"eventTime", "eventSource", "eventName", "userIdentity", "requestParameters",
			"responseElements", "requestID", "eventID", "sourceIPAddress", "userAgent", "keyless"} {
			if _, ok := m[field]; !ok {
				t.Errorf("line %d lacks CloudTrail field %q", lines, field)
			}
		}
		lines++
	}
	if lines != 2 {
		t.Errorf("audit.jsonl has %d lines, want 2", lines)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("audit.jsonl mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestConcurrentRecordsShareCommits(t *testing.T) {
	w, cs, _, _ := newWriter(t)
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.Record(t.Context(), sampleEvent(i%60))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	got, _ := cs.QueryAudit(t.Context(), store.AuditQuery{})
	if len(got) != n {
		t.Errorf("stored %d events, want %d", len(got), n)
	}
	// Line buffers are reused between records: each stored event must still be its own.
	for _, e := range got {
		var data struct {
			EventID string `json:"eventID"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil || data.EventID != e.ID {
			t.Fatalf("event %s is stored with the data of %q (%v)", e.ID, data.EventID, err)
		}
	}
	if c := cs.commits.Load(); c >= n {
		t.Errorf("%d commits for %d events: no group commit happened", c, n)
	}
}

func TestAFailedCommitIsReportedToEveryWaiter(t *testing.T) {
	w, cs, _, _ := newWriter(t)
	cs.fail.Store(true)
	if err := w.Record(t.Context(), sampleEvent(0)); err == nil {
		t.Fatal("Record returned nil although the store refused the commit: the caller would answer an unaudited request")
	}
}

func TestRecordAfterStopFailsInsteadOfHanging(t *testing.T) {
	w, _, _, cancel := newWriter(t)
	cancel()
	<-w.stopped
	if err := w.Record(context.Background(), sampleEvent(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after stop = %v, want ErrClosed", err)
	}
}
