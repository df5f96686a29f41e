package credentials

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

func TestRevocationListRevokesBySessionAndByRoleIssuedBefore(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cut := t0.Add(30 * time.Minute)
	for _, r := range []store.Revocation{
		{SessionID: "revoked-session", CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)},
		{Role: "circleci-oidc-role", IssuedBefore: cut, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)},
	} {
		if err := db.Revoke(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	l := NewRevocationList(db, func() time.Time { return t0 })
	probe := func(id string, issued time.Time) *Session {
		return &Session{SessionID: id, RoleARN: "arn:aws:iam::123456789012:role/ci/CircleCI-OIDC-Role", IssuedAt: issued}
	}
	if l.Revoked(probe("revoked-session", cut)) {
		t.Fatal("an empty list revoked a session before its first refresh")
	}
	if err := l.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sess    *Session
		revoked bool
	}{
		{"the revoked session id is revoked", probe("revoked-session", cut.Add(time.Minute)), true},
		{"a session of the role issued before the cut is revoked (role names ignore case)", probe("other", cut.Add(-time.Second)), true},
		{"a session of the role issued at the cut is not", probe("other", cut), false},
		{"a session of another role is not", &Session{SessionID: "x", RoleARN: "arn:aws:iam::123456789012:role/Other", IssuedAt: t0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.Revoked(tt.sess); got != tt.revoked {
				t.Errorf("Revoked = %v, want %v", got, tt.revoked)
			}
		})
	}
	if l.Age() != 0 {
		t.Errorf("Age = %v right after a refresh at the same instant", l.Age())
	}
}

func BenchmarkRevokedMiss(b *testing.B) {
	l := NewRevocationList(nil, nil)
	l.snap.Store(&revocationSnapshot{sessions: map[string]struct{}{"a": {}}, roles: map[string]time.Time{"r": t0}})
	s := sampleSession()
	b.ReportAllocs()
	for b.Loop() {
		if l.Revoked(s) {
			b.Fatal("revoked")
		}
	}
}
