package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/store"
)

// openAt creates a database at path holding only the migrations up to version, as a
// node of that release would have left it.
func openAt(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	old := &DB{db: raw}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(t.Context(),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > version {
			break
		}
		if err := old.apply(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func TestLeanAuditMigrationUpgradesAnExistingDatabaseInPlace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyless.db")
	raw := openAt(t, path, 1)
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var before []store.AuditEvent
	for i := range 5 {
		id := fmt.Sprintf("e%d", i)
		// Two events share a time: the query breaks the tie by insertion order.
		e := store.AuditEvent{ID: id, Time: t0.Add(time.Duration(i/2) * time.Second), Name: "AssumeRoleWithWebIdentity",
			Source: "sts.amazonaws.com", Role: "deploy", Subject: "org/" + id, SessionID: "s" + id,
			Decision: store.DecisionAllow, Data: []byte(`{"eventID":"` + id + `"}`)}
		if _, err := raw.ExecContext(t.Context(), `INSERT INTO audit_events (event_id, event_time, name, source, role, subject, session_id, decision, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, store.Micros(e.Time), e.Name, e.Source, e.Role, e.Subject, e.SessionID, e.Decision, string(e.Data)); err != nil {
			t.Fatal(err)
		}
		before = append(before, e)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open of a database at schema 1: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	later := store.AuditEvent{ID: "e5", Time: t0.Add(2 * time.Second), Name: "PutObject", Decision: store.DecisionDeny,
		Data: []byte(`{"eventID":"e5"}`)}
	if err := db.AppendAudit(t.Context(), []store.AuditEvent{before[0], later}); err != nil {
		t.Fatalf("AppendAudit after the upgrade: %v", err)
	}
	got, err := db.QueryAudit(t.Context(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := append(before[:4:4], before[4], later)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events after the upgrade (-want +got):\n%s", diff)
	}
	var seqs []int64
	rows, err := db.db.QueryContext(t.Context(), `SELECT seq FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 2, 3, 4, 5, 6}, seqs); diff != "" {
		t.Errorf("seq after the upgrade (-want +got):\n%s", diff)
	}
}

func TestAuditQueriesReadTheTimeIndex(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "keyless.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var indexes []string
	rows, err := db.db.QueryContext(t.Context(),
		`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"audit_events_time", "sqlite_autoindex_audit_events_1"}, indexes); diff != "" {
		t.Errorf("indexes of audit_events (-want +got):\n%s", diff)
	}
	for _, where := range []string{"", " WHERE role = 'r'", " WHERE subject = 's' AND event_time >= 1", " WHERE name = 'n' AND decision = 'deny'"} {
		t.Run("the plan of a query"+where+" uses the time index and no sort", func(t *testing.T) {
			var plan string
			rows, err := db.db.QueryContext(t.Context(),
				`EXPLAIN QUERY PLAN SELECT data FROM audit_events`+where+` ORDER BY event_time, seq LIMIT 10`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan += detail + "\n"
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if want := "USING INDEX audit_events_time"; !strings.Contains(plan, want) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan:\n%swant a scan %s without a temporary b-tree", plan, want)
			}
		})
	}
}
