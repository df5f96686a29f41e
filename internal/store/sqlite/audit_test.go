package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

func TestLargeAuditBatchesAreStoredWholeInOrderAndOnce(t *testing.T) {
	t.Parallel()
	db := open(t, filepath.Join(t.TempDir(), "keyless.db"))
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	event := func(i int) store.AuditEvent {
		id := fmt.Sprintf("e%03d", i)
		return store.AuditEvent{ID: id, Time: t0.Add(time.Duration(i) * time.Millisecond), Name: "AssumeRoleWithWebIdentity",
			Decision: store.DecisionAllow, Data: []byte(`{"eventID":"` + id + `"}`)}
	}
	for _, size := range []int{1, 3, 64, 100, 127, 200} {
		t.Run(fmt.Sprintf("a batch of %d", size), func(t *testing.T) {
			base := size * 1000
			var batch []store.AuditEvent
			for i := range size {
				batch = append(batch, event(base+i))
			}
			if err := db.AppendAudit(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
			// Appending again, with one new event, stores only the new one.
			if err := db.AppendAudit(t.Context(), append(batch, event(base+size))); err != nil {
				t.Fatal(err)
			}
			got, err := db.QueryAudit(t.Context(), store.AuditQuery{Since: t0.Add(time.Duration(base) * time.Millisecond),
				Until: t0.Add(time.Duration(base+size+1) * time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != size+1 {
				t.Fatalf("stored %d events, want %d", len(got), size+1)
			}
			for i, e := range got {
				if want := event(base + i).ID; e.ID != want || string(e.Data) != `{"eventID":"`+want+`"}` {
					t.Fatalf("event %d is %s %s, want %s", i, e.ID, e.Data, want)
				}
			}
		})
	}
}
