package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/keyless-dev/keyless/internal/store"
)

// auditRowsPerInsert is the most events one INSERT statement carries (9 parameters
// each, well under SQLite's limit of 32766). Batches are inserted in chunks of powers of
// two (64, 32, ..., 1), so that only seven statements exist, each prepared once per
// connection and reused.
const auditRowsPerInsert = 64

// auditStmts holds the prepared INSERT statements, by rows per statement.
type auditStmts struct {
	mu    sync.Mutex
	byLen map[int]*sql.Stmt
}

func (a *auditStmts) get(ctx context.Context, db *sql.DB, rows int) (*sql.Stmt, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st, ok := a.byLen[rows]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, insertAuditSQL(rows))
	if err != nil {
		return nil, err
	}
	if a.byLen == nil {
		a.byLen = map[int]*sql.Stmt{}
	}
	a.byLen[rows] = st
	return st, nil
}

func (a *auditStmts) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range a.byLen {
		_ = st.Close()
	}
	a.byLen = nil
}

// AppendAudit stores events in one transaction, many rows per INSERT statement; an event
// whose id is already stored is skipped, so a retried batch does not duplicate events.
// The transaction commits in WAL mode with synchronous=NORMAL: a committed batch
// survives a crash of the process but not necessarily a power loss; the audit writer
// makes events durable by syncing its JSON-lines file before anyone is answered
// (package audit).
func (s *DB) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	for _, e := range events {
		if !validJSON(e.Data) {
			return fmt.Errorf("sqlite: append audit: %w: event %s data is not JSON", store.ErrInvalid, e.ID)
		}
	}
	return s.AppendTrustedAudit(ctx, events)
}

// AppendTrustedAudit is AppendAudit without checking that each event's data is JSON:
// for a caller that produced the data with a JSON encoder itself, like the audit
// writer, which marshals every event it records (package audit). Everything else about
// the events is still validated.
func (s *DB) AppendTrustedAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("sqlite: append audit: %w", err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	args := make([]any, 0, 9*min(len(events), auditRowsPerInsert))
	for len(events) > 0 {
		n := auditRowsPerInsert
		for n > len(events) {
			n /= 2
		}
		st, err := s.audit.get(ctx, s.db, n)
		if err != nil {
			return fmt.Errorf("sqlite: append audit: %w", err)
		}
		args = args[:0]
		// The data is passed as a string without copying it (the driver copies it into
		// SQLite when binding); nothing writes to e.Data during the call.
		for _, e := range events[:n] {
			args = append(args, e.ID, store.Micros(e.Time), e.Name, e.Source, e.Role,
				e.Subject, e.SessionID, e.Decision, unsafe.String(unsafe.SliceData(e.Data), len(e.Data)))
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: append %d audit events from %s: %w", n, events[0].ID, err)
		}
		events = events[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	return nil
}

// insertAuditSQL is the INSERT of n audit events.
func insertAuditSQL(n int) string {
	const (
		head = `INSERT INTO audit_events (event_id, event_time, name, source, role, subject, session_id, decision, data) VALUES `
		row  = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
		tail = ` ON CONFLICT (event_id) DO NOTHING`
	)
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+2) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// QueryAudit returns the events matching q, oldest first.
func (s *DB) QueryAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if !q.Since.IsZero() {
		add("event_time >= ?", store.Micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("event_time < ?", store.Micros(q.Until))
	}
	for _, f := range []struct{ col, v string }{
		{"name", q.Name}, {"role", q.Role}, {"subject", q.Subject}, {"decision", q.Decision},
	} {
		if f.v != "" {
			add(f.col+" = ?", f.v)
		}
	}
	query := `SELECT event_id, event_time, name, source, role, subject, session_id, decision, data FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY event_time, seq"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query audit: %w", err)
	}
	defer rows.Close()
	var es []store.AuditEvent
	for rows.Next() {
		var (
			e    store.AuditEvent
			t    int64
			data string
		)
		if err := rows.Scan(&e.ID, &t, &e.Name, &e.Source, &e.Role, &e.Subject, &e.SessionID, &e.Decision, &data); err != nil {
			return nil, fmt.Errorf("sqlite: query audit: %w", err)
		}
		e.Time, e.Data = store.FromMicros(t), json.RawMessage(data)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query audit: %w", err)
	}
	return es, nil
}
