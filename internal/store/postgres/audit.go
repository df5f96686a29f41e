package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyless-dev/keyless/internal/store"
)

// appendAudit inserts a whole batch in one statement (so in one transaction): the columns
// travel as arrays and unnest turns them back into rows, in batch order, so that seq keeps
// the insertion order. An event id already stored, by this node or another, is skipped.
const appendAudit = `
INSERT INTO audit_events (event_id, event_time, name, source, role, subject, session_id, decision, data)
SELECT id, t, name, source, role, subject, session_id, decision, data::json
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
    WITH ORDINALITY AS e (id, t, name, source, role, subject, session_id, decision, data, ord)
ORDER BY ord
ON CONFLICT (event_id) DO NOTHING`

// AppendAudit stores events in one transaction (group commit): all or none.
func (s *DB) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	var (
		ids, names, sources, roles = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		subjects, sessions         = make([]string, n), make([]string, n)
		decisions, data            = make([]string, n), make([]string, n)
		times                      = make([]time.Time, n)
	)
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("postgres: append audit: %w", err)
		}
		if !json.Valid(e.Data) {
			return fmt.Errorf("postgres: append audit: %w: event %s data is not JSON", store.ErrInvalid, e.ID)
		}
		ids[i], times[i], names[i], sources[i] = e.ID, e.Time.UTC(), e.Name, e.Source
		roles[i], subjects[i], sessions[i] = e.Role, e.Subject, e.SessionID
		decisions[i], data[i] = e.Decision, string(e.Data)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, appendAudit,
		ids, times, names, sources, roles, subjects, sessions, decisions, data); err != nil {
		return fmt.Errorf("postgres: append audit: %w", refused(err))
	}
	return nil
}

// QueryAudit returns the events matching q, oldest first. Each filter has an index that
// leads with its column and continues with (event_time, seq).
func (s *DB) QueryAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	query, args := auditQuery(q)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query audit: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AuditEvent, error) {
		var (
			e    store.AuditEvent
			data string
		)
		err := row.Scan(&e.ID, &e.Time, &e.Name, &e.Source, &e.Role, &e.Subject, &e.SessionID, &e.Decision, &data)
		e.Time, e.Data = e.Time.UTC(), json.RawMessage(data)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: query audit: %w", err)
	}
	return es, nil
}

// auditQuery is the SQL of q and its arguments.
func auditQuery(q store.AuditQuery) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if !q.Since.IsZero() {
		add("event_time >=", q.Since.UTC())
	}
	if !q.Until.IsZero() {
		add("event_time <", q.Until.UTC())
	}
	for _, f := range []struct{ col, v string }{
		{"name", q.Name}, {"role", q.Role}, {"subject", q.Subject}, {"decision", q.Decision},
	} {
		if f.v != "" {
			add(f.col+" =", f.v)
		}
	}
	query := `SELECT event_id, event_time, name, source, role, subject, session_id, decision, data::text FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY event_time, seq"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += " LIMIT $" + strconv.Itoa(len(args))
	}
	return query, args
}
