// Package storetest is the conformance suite that every store backend passes:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// open must return an empty store; the suite closes nothing (open registers its own
// t.Cleanup).
package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/store"
)

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("keys", func(t *testing.T) { t.Parallel(); runKeys(t, open) })
	t.Run("revocations", func(t *testing.T) { t.Parallel(); runRevocations(t, open) })
	t.Run("audit", func(t *testing.T) { t.Parallel(); runAudit(t, open) })
	t.Run("ping answers", func(t *testing.T) {
		t.Parallel()
		if err := open(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// t0 is a fixed instant with microsecond precision, the precision every backend keeps.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 123456000, time.UTC)

func sampleKey(id string, gen int64) store.Key {
	return store.Key{
		ID: id, Purpose: store.PurposeSigning, Algorithm: "ES256", Generation: gen,
		State: store.KeyActive, Material: []byte("sealed-" + id), CreatedAt: t0.Add(time.Duration(gen) * time.Hour),
	}
}

func runKeys(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("a created key reads back unchanged", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		want := sampleKey("k1", 1)
		want.State, want.RetiringAt, want.RetireAt = store.KeyRetiring, t0.Add(time.Minute), t0.Add(2*time.Hour)
		if err := s.CreateKey(t.Context(), want); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		got, err := s.GetKey(t.Context(), "k1")
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetKey (-want +got):\n%s", diff)
		}
	})
	t.Run("a missing key is ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.GetKey(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetKey = %v, want ErrNotFound", err)
		}
		_, err := s.UpdateKey(t.Context(), "nope", func(k store.Key) (store.Key, error) { return k, nil })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateKey = %v, want ErrNotFound", err)
		}
	})
	t.Run("creating a taken id or generation is ErrExists and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := sampleKey("k1", 1)
		if err := s.CreateKey(t.Context(), first); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		sameID := sampleKey("k1", 2)
		sameGen := sampleKey("k2", 1)
		for _, k := range []store.Key{sameID, sameGen} {
			if err := s.CreateKey(t.Context(), k); !errors.Is(err, store.ErrExists) {
				t.Errorf("CreateKey(%s, gen %d) = %v, want ErrExists", k.ID, k.Generation, err)
			}
		}
		other := sampleKey("k2", 1)
		other.Purpose = store.PurposeSealing
		if err := s.CreateKey(t.Context(), other); err != nil {
			t.Errorf("CreateKey of generation 1 for another purpose: %v", err)
		}
		got, err := s.ListKeys(t.Context(), store.PurposeSigning)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if diff := cmp.Diff([]store.Key{first}, got); diff != "" {
			t.Errorf("ListKeys (-want +got):\n%s", diff)
		}
	})
	t.Run("concurrent creators of one generation see exactly one success", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = s.CreateKey(t.Context(), sampleKey(fmt.Sprintf("k%d", i), 1)) })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrExists):
				t.Errorf("creator %d: %v", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d creators succeeded, want 1", ok)
		}
	})
	t.Run("invalid keys are refused", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bad := sampleKey("", 1)
		if err := s.CreateKey(t.Context(), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateKey without id = %v, want ErrInvalid", err)
		}
		bad = sampleKey("k", 1)
		bad.State = "dormant"
		if err := s.CreateKey(t.Context(), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateKey with unknown state = %v, want ErrInvalid", err)
		}
	})
	runKeyUpdates(t, open)
	t.Run("ListKeys orders by generation and filters by purpose", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var want []store.Key
		for _, g := range []int64{3, 1, 2} {
			k := sampleKey(fmt.Sprintf("sign-%d", g), g)
			if err := s.CreateKey(t.Context(), k); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			seal := sampleKey(fmt.Sprintf("seal-%d", g), g)
			seal.Purpose, seal.Algorithm = store.PurposeSealing, "A256GCM"
			if err := s.CreateKey(t.Context(), seal); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
		}
		for g := int64(1); g <= 3; g++ {
			want = append(want, sampleKey(fmt.Sprintf("sign-%d", g), g))
		}
		got, err := s.ListKeys(t.Context(), store.PurposeSigning)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListKeys (-want +got):\n%s", diff)
		}
	})
}

func runKeyUpdates(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("UpdateKey stores what fn returns", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.CreateKey(t.Context(), sampleKey("k1", 1)); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		want := sampleKey("k1", 1)
		want.State, want.RetiringAt, want.RetireAt = store.KeyRetiring, t0.Add(time.Hour), t0.Add(3*time.Hour)
		got, err := s.UpdateKey(t.Context(), "k1", func(old store.Key) (store.Key, error) {
			old.State, old.RetiringAt, old.RetireAt = want.State, want.RetiringAt, want.RetireAt
			return old, nil
		})
		if err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UpdateKey result (-want +got):\n%s", diff)
		}
		stored, err := s.GetKey(t.Context(), "k1")
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if diff := cmp.Diff(want, stored); diff != "" {
			t.Errorf("stored key (-want +got):\n%s", diff)
		}
	})
	t.Run("an error from fn aborts the update and is returned", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		want := sampleKey("k1", 1)
		if err := s.CreateKey(t.Context(), want); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		boom := errors.New("boom")
		_, err := s.UpdateKey(t.Context(), "k1", func(old store.Key) (store.Key, error) {
			old.State = store.KeyRetired
			return old, boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("UpdateKey = %v, want fn's error", err)
		}
		_, err = s.UpdateKey(t.Context(), "k1", func(old store.Key) (store.Key, error) {
			old.Generation = 7
			return old, nil
		})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpdateKey changing the generation = %v, want ErrInvalid", err)
		}
		got, err := s.GetKey(t.Context(), "k1")
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("key after aborted updates (-want +got):\n%s", diff)
		}
	})
	t.Run("concurrent updates are serialised and none is lost", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		k := sampleKey("k1", 1)
		k.Material = []byte{}
		k.Material = append(k.Material, 'x')
		if err := s.CreateKey(t.Context(), k); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		const n = 8
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := s.UpdateKey(t.Context(), "k1", func(old store.Key) (store.Key, error) {
					old.Material = append(old.Material, 'y')
					return old, nil
				})
				if err != nil {
					t.Errorf("UpdateKey: %v", err)
				}
			})
		}
		wg.Wait()
		got, err := s.GetKey(t.Context(), "k1")
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if len(got.Material) != n+1 {
			t.Errorf("material has %d bytes after %d appends to 1, want %d", len(got.Material), n, n+1)
		}
	})
}

func runRevocations(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("revocations list sessions then roles, repeated ones merged", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		in := []store.Revocation{
			{Role: "deploy", IssuedBefore: t0, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour), Reason: "leak"},
			{SessionID: "s-2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			{SessionID: "s-1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Reason: "ops"},
			{SessionID: "s-1", CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(30 * time.Minute)},
			{Role: "deploy", IssuedBefore: t0.Add(time.Hour), CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(13 * time.Hour)},
			{Role: "deploy", IssuedBefore: t0.Add(-time.Hour), CreatedAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(time.Hour)},
		}
		for _, r := range in {
			if err := s.Revoke(t.Context(), r); err != nil {
				t.Fatalf("Revoke(%+v): %v", r, err)
			}
		}
		want := []store.Revocation{
			{SessionID: "s-1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Reason: "ops"},
			{SessionID: "s-2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			{Role: "deploy", IssuedBefore: t0.Add(time.Hour), CreatedAt: t0, ExpiresAt: t0.Add(13 * time.Hour), Reason: "leak"},
		}
		got, err := s.ListRevocations(t.Context())
		if err != nil {
			t.Fatalf("ListRevocations: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListRevocations (-want +got):\n%s", diff)
		}
	})
	t.Run("prune deletes only expired revocations", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, r := range []store.Revocation{
			{SessionID: "old", ExpiresAt: t0.Add(-time.Second)},
			{SessionID: "edge", ExpiresAt: t0},
			{Role: "r", IssuedBefore: t0, ExpiresAt: t0.Add(time.Hour)},
		} {
			if err := s.Revoke(t.Context(), r); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		}
		n, err := s.PruneRevocations(t.Context(), t0)
		if err != nil || n != 1 {
			t.Fatalf("PruneRevocations = %d, %v; want 1, nil", n, err)
		}
		got, err := s.ListRevocations(t.Context())
		if err != nil {
			t.Fatalf("ListRevocations: %v", err)
		}
		want := []store.Revocation{
			{SessionID: "edge", ExpiresAt: t0},
			{Role: "r", IssuedBefore: t0, ExpiresAt: t0.Add(time.Hour)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after prune (-want +got):\n%s", diff)
		}
	})
	t.Run("malformed revocations are refused", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for name, r := range map[string]store.Revocation{
			"neither session nor role": {ExpiresAt: t0},
			"both session and role":    {SessionID: "s", Role: "r", IssuedBefore: t0, ExpiresAt: t0},
			"role without time":        {Role: "r", ExpiresAt: t0},
			"no expiry":                {SessionID: "s"},
		} {
			if err := s.Revoke(t.Context(), r); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Revoke with %s = %v, want ErrInvalid", name, err)
			}
		}
	})
}

func auditEvent(id string, at time.Duration, role, subject, decision string) store.AuditEvent {
	return store.AuditEvent{
		ID: id, Time: t0.Add(at), Name: "AssumeRoleWithWebIdentity", Source: "sts.amazonaws.com",
		Role: role, Subject: subject, SessionID: "sess-" + id, Decision: decision,
		Data: []byte(`{"eventID":"` + id + `"}`),
	}
}

func runAudit(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	put := auditEvent("e5", 5*time.Second, "", "", store.DecisionAllow)
	put.Name, put.Source = "PutObject", "s3.amazonaws.com"
	events := []store.AuditEvent{
		auditEvent("e1", time.Second, "deploy", "org/a", store.DecisionAllow),
		auditEvent("e2", 2*time.Second, "deploy", "org/b", store.DecisionDeny),
		auditEvent("e3", 2*time.Second, "admin", "org/a", store.DecisionAllow),
		auditEvent("e4", 4*time.Second, "admin", "org/b", store.DecisionDeny),
		put,
	}
	if err := s.AppendAudit(t.Context(), events[:3]); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if err := s.AppendAudit(t.Context(), events[1:]); err != nil {
		t.Fatalf("AppendAudit overlapping batch: %v", err)
	}
	bad := auditEvent("e6", 6*time.Second, "deploy", "org/a", store.DecisionAllow)
	bad.Data = []byte("{not json")
	err := s.AppendAudit(t.Context(), []store.AuditEvent{auditEvent("e7", 7*time.Second, "deploy", "org/a", "allow"), bad})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendAudit with a bad event = %v, want ErrInvalid", err)
	}
	tests := []struct {
		name string
		q    store.AuditQuery
		want []store.AuditEvent
	}{
		{"no filter returns every event once, oldest first, and none of a refused batch", store.AuditQuery{}, events},
		{"since is inclusive and until exclusive", store.AuditQuery{Since: t0.Add(2 * time.Second), Until: t0.Add(5 * time.Second)}, events[1:4]},
		{"role filters", store.AuditQuery{Role: "admin"}, events[2:4]},
		{"subject filters", store.AuditQuery{Subject: "org/b"}, []store.AuditEvent{events[1], events[3]}},
		{"decision filters", store.AuditQuery{Decision: store.DecisionDeny}, []store.AuditEvent{events[1], events[3]}},
		{"name filters", store.AuditQuery{Name: "PutObject"}, events[4:]},
		{"filters combine", store.AuditQuery{Role: "deploy", Decision: store.DecisionAllow}, events[:1]},
		{"limit keeps the oldest", store.AuditQuery{Limit: 2}, events[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.QueryAudit(t.Context(), tt.q)
			if err != nil {
				t.Fatalf("QueryAudit: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("QueryAudit (-want +got):\n%s", diff)
			}
		})
	}
}
