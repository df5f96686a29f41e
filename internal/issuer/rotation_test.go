package issuer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/keys"
)

// verifyFresh verifies token with a new go-oidc provider (no cached keys) at the fake now.
func verifyFresh(t *testing.T, f *fixture, token string) error {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), f.srv.URL+"/-/oidc/org/"+org)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	_, err = p.Verifier(&oidc.Config{ClientID: org, Now: f.clock.Now}).Verify(t.Context(), token)
	return err
}

// TestRotationNeverOrphansATokenAndSurvivesRestart rotates the keys on schedule and on
// demand under a fake clock and checks with go-oidc, over HTTP, that every token verifies
// until it expires, that the JWKS keeps each key while tokens signed by it live, and that a
// restart loses no key.
func TestRotationNeverOrphansATokenAndSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, keys.ES256)
	first := f.jwksKids(t)
	if len(first) != 1 {
		t.Fatalf("a fresh issuer publishes %d keys, want 1", len(first))
	}

	// A 24h token signed just before the scheduled rotation (rotate_every 24h).
	f.clock.Advance(24*time.Hour - time.Minute)
	long := f.mint(t, map[string]any{"org_id": org, "ttl": "24h"})
	f.clock.Advance(time.Minute)
	if err := f.ring.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	second := f.jwksKids(t)
	if len(second) != 2 || second[1] != first[0] {
		t.Fatalf("JWKS after the scheduled rotation = %v, want a new key then %v", second, first)
	}
	afterSchedule := f.mint(t, map[string]any{"org_id": org})

	// An on-demand rotation (keylessd keys rotate), then a restart.
	if err := f.ring.Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	afterDemand := f.mint(t, map[string]any{"org_id": org, "ttl": "10m"})
	before := f.jwksKids(t)
	f.restart(t)
	if diff := cmp.Diff(before, f.jwksKids(t)); diff != "" {
		t.Errorf("JWKS across a restart (-before +after):\n%s", diff)
	}
	for name, tok := range map[string]string{"long": long, "after schedule": afterSchedule, "after demand": afterDemand} {
		if err := verifyFresh(t, f, tok); err != nil {
			t.Errorf("after rotations and a restart, the %s token does not verify: %v", name, err)
		}
	}

	// The long token lives until 24h after it was signed; its key stays published till then.
	f.clock.Advance(24*time.Hour - 2*time.Minute)
	if err := f.ring.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if !slices.Contains(f.jwksKids(t), first[0]) {
		t.Errorf("the first key left the JWKS while a token it signed was still valid")
	}
	if err := verifyFresh(t, f, long); err != nil {
		t.Errorf("the long token does not verify a minute before it expires: %v", err)
	}

	// Past every token's expiry and the grace, the first two keys are gone (the third is
	// retiring after another scheduled rotation).
	f.clock.Advance(24 * time.Hour)
	if err := f.ring.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if got := f.jwksKids(t); len(got) != 2 || slices.Contains(got, first[0]) || slices.Contains(got, second[0]) {
		t.Errorf("JWKS long after the rotations = %v, want two keys newer than %v", got, second)
	}
	if err := verifyFresh(t, f, long); err == nil {
		t.Errorf("an expired token still verifies")
	}
	if err := verifyFresh(t, f, f.mint(t, map[string]any{"org_id": org})); err != nil {
		t.Errorf("a fresh token does not verify: %v", err)
	}
}
