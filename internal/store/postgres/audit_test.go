package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyless-dev/keyless/internal/store"
)

func TestEachAuditFilterHasAnIndex(t *testing.T) {
	t.Parallel()
	db := openDB(t, freshSchema(t), defaultOptions())
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		q     store.AuditQuery
		index string
	}{
		{"a time range reads the time index", store.AuditQuery{Since: at, Until: at.Add(time.Hour)}, "audit_events_time"},
		{"no filter reads the time index in order", store.AuditQuery{Limit: 10}, "audit_events_time"},
		{"a role reads the role index", store.AuditQuery{Role: "deploy"}, "audit_events_role"},
		{"a subject reads the subject index", store.AuditQuery{Subject: "org/a"}, "audit_events_subject"},
		{"an event name reads the name index", store.AuditQuery{Name: "PutObject"}, "audit_events_name"},
		{"a decision reads the decision index", store.AuditQuery{Decision: store.DecisionDeny}, "audit_events_decision"},
		{"a role within a time range reads the role index", store.AuditQuery{Role: "deploy", Since: at}, "audit_events_role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, args := auditQuery(tt.q)
			plan := explain(t, db, query, args)
			if !strings.Contains(plan, tt.index) || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") {
				t.Errorf("plan does not read %s in order:\n%s", tt.index, plan)
			}
		})
	}
}

// explain returns the plan of query when sequential scans are all but forbidden: an index
// shows in it if one can serve the query.
func explain(t *testing.T, db *DB, query string, args []any) string {
	t.Helper()
	var plan []string
	err := pgx.BeginFunc(t.Context(), db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(t.Context(), "EXPLAIN "+query, args...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	return strings.Join(plan, "\n")
}

func TestAuditFromSeveralNodesLandsInOneTableOnce(t *testing.T) {
	t.Parallel()
	conn := freshSchema(t)
	a := openDB(t, conn, defaultOptions())
	b := openDB(t, conn, defaultOptions())
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ev := func(id string, sec int) store.AuditEvent {
		return store.AuditEvent{ID: id, Time: at.Add(time.Duration(sec) * time.Second), Name: "AssumeRole",
			Data: []byte(`{"eventID":"` + id + `"}`)}
	}
	ctx := context.WithoutCancel(t.Context())
	if err := a.AppendAudit(ctx, []store.AuditEvent{ev("a1", 1), ev("a2", 3)}); err != nil {
		t.Fatalf("node a: AppendAudit: %v", err)
	}
	// Node b retries a batch that node a also wrote in part: a2 is kept once.
	if err := b.AppendAudit(ctx, []store.AuditEvent{ev("a2", 3), ev("b1", 2)}); err != nil {
		t.Fatalf("node b: AppendAudit: %v", err)
	}
	got, err := a.QueryAudit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatalf("QueryAudit: %v", err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if want := "a1 b1 a2"; strings.Join(ids, " ") != want {
		t.Errorf("events from both nodes = %v, want %s", ids, want)
	}
}

func TestAuditBatchThatPostgresRefusesStoresNothing(t *testing.T) {
	t.Parallel()
	db := openDB(t, freshSchema(t), defaultOptions())
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		bad  func(e *store.AuditEvent)
	}{
		{"a NUL byte in a subject", func(e *store.AuditEvent) { e.Subject = "org/a\x00" }},
		{"invalid UTF-8 in a role", func(e *store.AuditEvent) { e.Role = "deploy\xff" }},
	}
	for i, tt := range tests {
		t.Run(tt.name+" refuses the whole batch as invalid", func(t *testing.T) {
			good := store.AuditEvent{ID: fmt.Sprintf("good-%d", i), Time: at, Name: "AssumeRole", Data: []byte(`{}`)}
			bad := good
			bad.ID = fmt.Sprintf("bad-%d", i)
			tt.bad(&bad)
			err := db.AppendAudit(t.Context(), []store.AuditEvent{good, bad})
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("AppendAudit = %v, want ErrInvalid", err)
			}
			got, err := db.QueryAudit(t.Context(), store.AuditQuery{})
			if err != nil {
				t.Fatalf("QueryAudit: %v", err)
			}
			if len(got) != 0 {
				t.Errorf("stored %d events of a refused batch", len(got))
			}
		})
	}
}
