package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

func s3ReadEvent(i int) *Event {
	e := New(time.Date(2026, 11, 29, 12, 0, 0, i*1000, time.UTC), SourceS3, "GetObject", "req", "deployer", "org/o/project/p")
	e.Keyless.SessionID = "s1"
	e.ReadOnly = true
	e.Keyless.Decision = &Decision{Effect: Allow, Reason: "allowed by the caller's policies"}
	return e
}

func fileLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}

func TestADeferredEventIsInTheFileWhenRecordDeferredReturns(t *testing.T) {
	w, cs, file, _ := newWriter(t)
	if err := w.RecordDeferred(t.Context(), s3ReadEvent(0)); err != nil {
		t.Fatalf("RecordDeferred: %v", err)
	}
	if n := fileLines(t, file); n != 1 {
		t.Fatalf("the file has %d lines right after RecordDeferred, want 1", n)
	}
	// ... and in the store within the defer window (polled: the machine may be slow).
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := cs.QueryAudit(t.Context(), store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deferred event is not in the store %v after it was recorded", 5*time.Second)
		}
		time.Sleep(DeferWindow / 2)
	}
	if n := fileLines(t, file); n != 1 {
		t.Errorf("the file has %d lines after the commit, want 1 (a deferred line is written once)", n)
	}
}

func TestAWaitedEventCommitsTheDeferredOnesQueuedBeforeIt(t *testing.T) {
	w, cs, _, _ := newWriter(t)
	for i := range 5 {
		if err := w.RecordDeferred(t.Context(), s3ReadEvent(i)); err != nil {
			t.Fatalf("RecordDeferred: %v", err)
		}
	}
	if err := w.Record(t.Context(), sampleEvent(0)); err != nil {
		t.Fatalf("Record: %v", err)
	}
	got, err := cs.QueryAudit(t.Context(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Errorf("when Record returned the store held %d events, want the 5 deferred ones and its own", len(got))
	}
}

// droppingStore accepts events and keeps none: a process that died before its commit.
type droppingStore struct{}

func (droppingStore) AppendAudit(context.Context, []store.AuditEvent) error { return nil }

func TestRecoverTailStoresTheEventsTheStoreLacks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	lost, err := NewWriter(WriterOptions{Store: droppingStore{}, File: file})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = lost.Run(ctx); close(done) }()
	deny := sampleEvent(9)
	deny.ErrorCode, deny.ErrorMessage = "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
	events := []*Event{s3ReadEvent(1), s3ReadEvent(2), sampleEvent(3), deny}
	for _, e := range events[:2] {
		if err := lost.RecordDeferred(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range events[2:] {
		if err := lost.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	lost.Close()

	db := openDB(t, dir)
	// The store already holds one of them: it must not be stored twice.
	if err := db.AppendAudit(t.Context(), []store.AuditEvent{indexFields(events[2])}); err != nil {
		t.Fatal(err)
	}
	// A torn last line, as a power loss can leave.
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"eventVersion":"1.08","userIdent`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	offered, skipped, err := RecoverTail(t.Context(), file, db, RecoverBytes)
	if err != nil {
		t.Fatalf("RecoverTail: %v", err)
	}
	if offered != 4 || skipped != 1 {
		t.Errorf("RecoverTail offered %d events and skipped %d lines, want 4 and 1", offered, skipped)
	}
	got, err := db.QueryAudit(t.Context(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var want []store.AuditEvent
	for _, e := range events {
		want = append(want, indexFields(e))
	}
	// Times come back to the millisecond (from the UUIDv7 event id).
	opts := []cmp.Option{cmpopts.IgnoreFields(store.AuditEvent{}, "Data"), cmpopts.EquateApproxTime(time.Millisecond),
		cmpopts.SortSlices(func(a, b store.AuditEvent) bool { return a.ID < b.ID })}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("store after RecoverTail (-want +got):\n%s", diff)
	}
}

func TestRecoverTailReadsOnlyTheTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	var data []byte
	var lines [][]byte
	for i := range 10 {
		line, err := s3ReadEvent(i).AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
		data = append(append(data, line...), '\n')
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dir)
	// The tail holds the last three lines and a part of the fourth from the end.
	tail := int64(len(lines[9]) + len(lines[8]) + len(lines[7]) + 3 + 10)
	offered, skipped, err := RecoverTail(t.Context(), file, db, tail)
	if err != nil {
		t.Fatal(err)
	}
	if offered != 3 || skipped != 0 {
		t.Errorf("offered %d, skipped %d; want the 3 whole lines of the tail and nothing skipped", offered, skipped)
	}
	// A window that starts exactly on a line holds that line.
	exact := int64(len(lines[9]) + len(lines[8]) + 2)
	if offered, skipped, err := RecoverTail(t.Context(), file, db, exact); err != nil || offered != 2 || skipped != 0 {
		t.Errorf("a window of exactly two lines: offered %d, skipped %d, err %v; want 2, 0, nil", offered, skipped, err)
	}
	if offered, _, err := RecoverTail(t.Context(), filepath.Join(dir, "missing.jsonl"), db, tail); err != nil || offered != 0 {
		t.Errorf("a missing file: offered %d, err %v; want 0, nil", offered, err)
	}
}

// indexFields is the store event the writer makes of e.
func indexFields(e *Event) store.AuditEvent {
	decision := store.DecisionAllow
	if e.ErrorCode != "" {
		decision = store.DecisionDeny
	}
	line, _ := e.AppendJSON(nil)
	return store.AuditEvent{ID: e.EventID, Time: e.time, Name: e.EventName, Source: e.EventSource, Role: e.role,
		Subject: e.subject, SessionID: e.Keyless.SessionID, Decision: decision, Data: line}
}

func startWriter(t *testing.T, opts WriterOptions) *Writer {
	t.Helper()
	w, err := NewWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; w.Close() })
	return w
}

func storedCount(t *testing.T, db *sqlite.DB, name string) int {
	t.Helper()
	got, err := db.QueryAudit(t.Context(), store.AuditQuery{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(DeferWindow)
	}
}

func TestDeferredEventsWaitOutAStoreOutage(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	cs := &countingStore{DB: db}
	line, err := s3ReadEvent(0).AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := startWriter(t, WriterOptions{Store: cs, File: filepath.Join(dir, "audit.jsonl"), MaxUnstoredBytes: int64(3*len(line) + 1)})

	cs.fail.Store(true)
	accepted := 0
	for i := range 50 {
		err := w.RecordDeferred(t.Context(), s3ReadEvent(i))
		if errors.Is(err, ErrBacklog) {
			break
		}
		if err != nil {
			t.Fatalf("RecordDeferred during the outage: %v", err)
		}
		accepted++
		time.Sleep(2 * DeferWindow) // let the writer try (and fail) to commit it
	}
	if accepted == 0 || accepted >= 50 {
		t.Fatalf("during the outage %d deferred events were accepted; want a few, then ErrBacklog", accepted)
	}
	if err := w.Record(t.Context(), sampleEvent(0)); err == nil {
		t.Fatal("a durable Record succeeded while the store was failing")
	}

	// The store comes back; only reads arrive. The writer stores what waits on its own.
	cs.fail.Store(false)
	eventually(t, "a deferred event is accepted again after the outage", func() bool {
		return w.RecordDeferred(t.Context(), s3ReadEvent(100)) == nil
	})
	eventually(t, "every deferred event accepted during the outage is stored", func() bool {
		return storedCount(t, db, "GetObject") >= accepted+1
	})
	if n := storedCount(t, db, "AssumeRoleWithWebIdentity"); n != 0 {
		t.Errorf("the durable event refused during the outage was stored (%d)", n)
	}
}

func TestADeferredEventTheStoreRefusesDoesNotBlockLaterCommits(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	w := startWriter(t, WriterOptions{Store: &countingStore{DB: db}, File: filepath.Join(dir, "audit.jsonl")})
	invalid := New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), SourceS3, "", "req", "deployer", "sub") // no name
	if err := w.RecordDeferred(t.Context(), invalid); err != nil {
		t.Fatal(err)
	}
	if err := w.RecordDeferred(t.Context(), s3ReadEvent(1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * DeferWindow) // their commit fails (the store refuses the batch)
	for i := range 3 {
		if err := w.Record(t.Context(), sampleEvent(i)); err != nil {
			t.Fatalf("durable Record %d after a refused deferred event: %v", i, err)
		}
	}
	eventually(t, "the valid deferred event is stored and the invalid one dropped", func() bool {
		return storedCount(t, db, "GetObject") == 1
	})
	if n := storedCount(t, db, ""); n != 4 {
		t.Errorf("the store holds %d events, want the 3 durable ones and the valid deferred one", n)
	}
}

func TestACutLastLineIsEndedBeforeTheNextLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(file, []byte(`{"eventVersion":"1.08","userIdent`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dir)
	w := startWriter(t, WriterOptions{Store: droppingStore{}, File: file})
	if err := w.RecordDeferred(t.Context(), s3ReadEvent(1)); err != nil {
		t.Fatal(err)
	}
	offered, skipped, err := RecoverTail(t.Context(), file, db, RecoverBytes)
	if err != nil {
		t.Fatal(err)
	}
	if offered != 1 || skipped != 1 {
		t.Errorf("after a cut line and one new event RecoverTail offered %d and skipped %d, want 1 and 1", offered, skipped)
	}
}

// pickyStore is the real store that fails (not as invalid) the batches refuse picks.
type pickyStore struct {
	*sqlite.DB
	mu     sync.Mutex
	refuse func([]store.AuditEvent) bool
}

func (s *pickyStore) AppendAudit(ctx context.Context, evs []store.AuditEvent) error {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse != nil && refuse(evs) {
		return errors.New("statement too large for the store")
	}
	return s.DB.AppendAudit(ctx, evs)
}

// AppendTrustedAudit is the method the writer uses (sqlite.DB has it).
func (s *pickyStore) AppendTrustedAudit(ctx context.Context, evs []store.AuditEvent) error {
	return s.AppendAudit(ctx, evs)
}

func (s *pickyStore) set(refuse func([]store.AuditEvent) bool) {
	s.mu.Lock()
	s.refuse = refuse
	s.mu.Unlock()
}

func TestRetriedEventsGoInSmallerChunksWhenLargeOnesFail(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	ps := &pickyStore{DB: db}
	w := startWriter(t, WriterOptions{Store: ps, File: filepath.Join(dir, "audit.jsonl")})
	ps.set(func([]store.AuditEvent) bool { return true }) // an outage
	for i := range 10 {
		if err := w.RecordDeferred(t.Context(), s3ReadEvent(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * DeferWindow)
	}
	// The store is back, but refuses any statement of more than two events.
	ps.set(func(evs []store.AuditEvent) bool { return len(evs) > 2 })
	for i := range 3 {
		if err := w.Record(t.Context(), sampleEvent(i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	eventually(t, "the ten deferred events are stored in chunks the store takes", func() bool {
		return storedCount(t, db, "GetObject") == 10
	})
}

func TestAStuckDeferredEventNeverLeavesTheRecoveryWindow(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	ps := &pickyStore{DB: db}
	const bound = 20000
	file := filepath.Join(dir, "audit.jsonl")
	w := startWriter(t, WriterOptions{Store: ps, File: file, MaxUnstoredBytes: bound})
	stuck := s3ReadEvent(0)
	ps.set(func(evs []store.AuditEvent) bool { // any batch holding the stuck event fails
		for _, e := range evs {
			if e.ID == stuck.EventID {
				return true
			}
		}
		return false
	})
	if err := w.RecordDeferred(t.Context(), stuck); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * DeferWindow)
	// Durable events keep being stored and written; the file grows past the stuck line.
	refused := false
	for i := 0; i < 200 && !refused; i++ {
		if err := w.Record(t.Context(), sampleEvent(i%60)); err != nil {
			t.Fatalf("Record: %v", err)
		}
		err := w.RecordDeferred(t.Context(), s3ReadEvent(i+1))
		refused = errors.Is(err, ErrBacklog)
		if err != nil && !refused {
			t.Fatal(err)
		}
	}
	if !refused {
		t.Fatalf("the file grew far past a stuck deferred event and RecordDeferred still accepted events (oldest %d, written %d, stored %d)", w.oldest.Load(), w.written.Load(), storedCount(t, db, ""))
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	// Everything after the stuck line is within the bound, plus the lines of one round.
	if offered, _, err := RecoverTail(t.Context(), file, droppingStore{}, 2*bound); err != nil || offered == 0 {
		t.Fatalf("RecoverTail: %v", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte(stuck.EventID))
	if back := fi.Size() - int64(at); back > 2*bound {
		t.Errorf("the stuck event's line is %d bytes from the end, more than RecoverTail's window of %d", back, 2*bound)
	}
}

// openDB opens a SQLite store in dir, closed with the test.
func openDB(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "keyless.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
