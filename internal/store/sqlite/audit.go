package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keyless-dev/keyless/internal/store"
)

// AppendAudit stores events in one transaction; an event whose id is already stored is
// skipped, so a retried batch does not duplicate events.
func (s *DB) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("sqlite: append audit: %w", err)
		}
		if !json.Valid(e.Data) {
			return fmt.Errorf("sqlite: append audit: %w: event %s data is not JSON", store.ErrInvalid, e.ID)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `
INSERT INTO audit_events (event_id, event_time, name, source, role, subject, session_id, decision, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	defer stmt.Close()
	for _, e := range events {
		if _, err := stmt.ExecContext(ctx, e.ID, store.Micros(e.Time), e.Name, e.Source, e.Role,
			e.Subject, e.SessionID, e.Decision, string(e.Data)); err != nil {
			return fmt.Errorf("sqlite: append audit event %s: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	return nil
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
