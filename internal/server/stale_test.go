package server

import (
	"context"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/store"
)

type noRevocations struct{}

func (noRevocations) ListRevocations(context.Context) ([]store.Revocation, error) { return nil, nil }

func TestSessionsAreRefusedOnceTheRevocationListIsTooOldToTrust(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	list := credentials.NewRevocationList(noRevocations{}, func() time.Time { return now })
	s := &Server{}
	stale := s.revocationsStale(&parts{revoked: list})
	if stale() == nil {
		t.Fatal("a list never loaded must not be trusted")
	}
	if err := list.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after time.Duration
		stale bool
	}{{0, false}, {maxRevocationAge, false}, {maxRevocationAge + time.Second, true}} {
		now = now.Add(tt.after)
		if got := stale() != nil; got != tt.stale {
			t.Errorf("%s after the last refresh: stale = %v, want %v", tt.after, got, tt.stale)
		}
		now = now.Add(-tt.after)
	}
}
