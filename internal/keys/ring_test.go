package keys_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

// clock is a fake clock shared by the rings of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var master = []byte("0123456789abcdef0123456789abcdef")

func signingOptions(db store.Keys, c *clock) keys.Options {
	return keys.Options{Store: db, MasterKey: master, Algorithm: keys.ES256, RotateEvery: 24 * time.Hour,
		MaxLifetime: time.Hour, Refresh: time.Minute, Now: c.Now}
}

func kids(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// verifies reports whether token's signature checks out against the ring's published keys.
func verifies(t *testing.T, r *keys.SigningRing, token string) bool {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatalf("ParseSigned: %v", err)
	}
	for _, k := range r.JWKS().Keys {
		if k.KeyID == jws.Signatures[0].Header.KeyID {
			_, err := jws.Verify(k.Key)
			return err == nil
		}
	}
	return false
}

func TestSigningRingRotation(t *testing.T) {
	t.Parallel()
	c := newClock()
	path := filepath.Join(t.TempDir(), "keyless.db")
	db := openDB(t, path)
	opts := signingOptions(db, c)
	r, err := keys.NewSigningRing(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewSigningRing: %v", err)
	}
	old, oldKid, err := r.Sign([]byte(`{"n":1}`))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}

	c.Advance(23 * time.Hour)
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if _, kid, _ := r.Sign([]byte(`{}`)); kid != oldKid {
		t.Errorf("the key rotated before rotate_every")
	}
	// A token signed at the last moment before rotation lives one MaxLifetime more.
	c.Advance(time.Hour - time.Second)
	last, _, err := r.Sign([]byte(`{"n":2}`))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	c.Advance(time.Second)
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	published := kids(r.JWKS())
	if len(published) != 2 || published[1] != oldKid {
		t.Fatalf("JWKS right after rotation = %v, want a new key, then %s", published, oldKid)
	}
	newKid := published[0]
	// The new key is published at once but signs only after one refresh interval, when
	// every node has loaded it; meanwhile the old key goes on signing.
	c.Advance(time.Minute - time.Second)
	late, kid, err := r.Sign([]byte(`{"n":3}`))
	if err != nil || kid != oldKid {
		t.Fatalf("Sign within a refresh interval of the rotation = %s, %v; want the old key %s", kid, err, oldKid)
	}
	c.Advance(time.Second)
	fresh, kid, err := r.Sign([]byte(`{"n":4}`))
	if err != nil || kid != newKid {
		t.Fatalf("Sign one refresh interval after the rotation = %s, %v; want the new key %s", kid, err, newKid)
	}
	for name, tok := range map[string]string{"first": old, "last before rotation": last, "late": late, "fresh": fresh} {
		if !verifies(t, r, tok) {
			t.Errorf("the %s token does not verify after rotation", name)
		}
	}

	// The old key stays published for the grace: max lifetime + skew + 2 refresh intervals,
	// counted from the rotation (one minute ago).
	grace := time.Hour + keys.Skew + 2*time.Minute
	if r.Grace() != grace {
		t.Errorf("Grace() = %v, want %v", r.Grace(), grace)
	}
	c.Advance(grace - time.Minute - time.Second)
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if !verifies(t, r, late) {
		t.Errorf("the last token of the old key stopped verifying within its grace")
	}
	if _, _, err := r.PublicKey(t.Context(), oldKid); err != nil {
		t.Errorf("PublicKey(old kid) within its grace: %v", err)
	}

	// A restart (new store handle, new ring) loses no key.
	restarted, err := keys.NewSigningRing(t.Context(), signingOptions(openDB(t, path), c))
	if err != nil {
		t.Fatalf("NewSigningRing after restart: %v", err)
	}
	if diff := cmp.Diff(kids(r.JWKS()), kids(restarted.JWKS())); diff != "" {
		t.Errorf("JWKS after restart (-before +after):\n%s", diff)
	}
	if !verifies(t, restarted, late) || !verifies(t, restarted, fresh) {
		t.Errorf("tokens signed before the restart do not verify after it")
	}
	if _, kid, _ := restarted.Sign([]byte(`{}`)); kid != newKid {
		t.Errorf("after restart signing kid = %s, want %s", kid, newKid)
	}

	c.Advance(time.Second)
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if diff := cmp.Diff([]string{newKid}, kids(r.JWKS())); diff != "" {
		t.Errorf("JWKS after the grace (-want +got):\n%s", diff)
	}
	if _, _, err := r.PublicKey(t.Context(), oldKid); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("PublicKey(old kid) after grace = %v, want ErrUnknownKey", err)
	}
	stored, err := db.GetKey(t.Context(), oldKid)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	if stored.State != store.KeyRetired || len(stored.Material) > 1 {
		t.Errorf("old key: state %s with %d bytes of material, want retired and destroyed", stored.State, len(stored.Material))
	}
}

func TestSigningRingJWKSNeverDropsALiveKey(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, filepath.Join(t.TempDir(), "keyless.db"))
	opts := signingOptions(db, c)
	opts.RotateEvery = 10 * time.Minute // rotate faster than tokens expire
	r, err := keys.NewSigningRing(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewSigningRing: %v", err)
	}
	type minted struct {
		token string
		exp   time.Time
	}
	var live []minted
	for step := range 200 {
		if err := r.Tick(t.Context()); err != nil {
			t.Fatalf("Tick: %v", err)
		}
		tok, _, err := r.Sign([]byte(`{}`))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		live = append(live, minted{tok, c.Now().Add(opts.MaxLifetime + keys.Skew)})
		if step%7 == 0 {
			if err := r.Rotate(t.Context()); err != nil { // on-demand rotations in between
				t.Fatalf("Rotate: %v", err)
			}
		}
		kept := live[:0]
		for _, m := range live {
			if c.Now().Before(m.exp) {
				if !verifies(t, r, m.token) {
					t.Fatalf("step %d: a token valid until %v no longer verifies at %v", step, m.exp, c.Now())
				}
				kept = append(kept, m)
			}
		}
		live = kept
		c.Advance(3 * time.Minute)
	}
	if n := len(r.JWKS().Keys); n > 20 {
		t.Errorf("JWKS holds %d keys: retiring keys are never retired", n)
	}
}

func TestSigningRingAcrossNodes(t *testing.T) {
	t.Parallel()
	t.Run("nodes starting at once create a single first key", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		db := openDB(t, filepath.Join(t.TempDir(), "keyless.db"))
		const n = 4
		rings := make([]*keys.SigningRing, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := keys.NewSigningRing(t.Context(), signingOptions(db, c))
				if err != nil {
					t.Errorf("NewSigningRing: %v", err)
				}
				rings[i] = r
			})
		}
		wg.Wait()
		ks, err := db.ListKeys(t.Context(), store.PurposeSigning)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if len(ks) != 1 {
			t.Errorf("%d keys after %d concurrent starts, want 1", len(ks), n)
		}
	})
	t.Run("a node learns of another node's rotation when it reloads or meets the new kid", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		db := openDB(t, filepath.Join(t.TempDir(), "keyless.db"))
		a, err := keys.NewSigningRing(t.Context(), signingOptions(db, c))
		if err != nil {
			t.Fatal(err)
		}
		b, err := keys.NewSigningRing(t.Context(), signingOptions(db, c))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Rotate(t.Context()); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		kid := a.JWKS().Keys[0].KeyID
		if _, _, err := b.PublicKey(t.Context(), kid); err != nil {
			t.Errorf("node b: PublicKey(new kid) = %v, want a reload that finds it", err)
		}
		c.Advance(time.Minute)
		for name, r := range map[string]*keys.SigningRing{"a": a, "b": b} {
			if err := r.Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, got, _ := r.Sign([]byte(`{}`)); got != kid {
				t.Errorf("node %s signs with %s a refresh interval after the rotation, want %s", name, got, kid)
			}
		}
	})
}

func TestSigningRingAlgorithmChangeRotates(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, filepath.Join(t.TempDir(), "keyless.db"))
	if _, err := keys.NewSigningRing(t.Context(), signingOptions(db, c)); err != nil {
		t.Fatal(err)
	}
	opts := signingOptions(db, c)
	opts.Algorithm = keys.RS256
	r, err := keys.NewSigningRing(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{keys.ES256, keys.RS256}, r.Algorithms()); diff != "" {
		t.Errorf("Algorithms after switching to RS256 (-want +got):\n%s", diff)
	}
	c.Advance(opts.Refresh)
	tok, _, err := r.Sign([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("new token is not RS256: %v", err)
	}
	if got := jws.Signatures[0].Header.Algorithm; got != keys.RS256 {
		t.Errorf("alg = %s, want RS256", got)
	}
	for _, k := range r.JWKS().Keys {
		if !k.IsPublic() || k.Use != "sig" || k.Algorithm == "" || k.KeyID == "" {
			t.Errorf("published key %s: public %v, use %q, alg %q", k.KeyID, k.IsPublic(), k.Use, k.Algorithm)
		}
	}
}

func TestRingRefusesAnotherMasterKey(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, filepath.Join(t.TempDir(), "keyless.db"))
	if _, err := keys.NewSigningRing(t.Context(), signingOptions(db, c)); err != nil {
		t.Fatal(err)
	}
	opts := signingOptions(db, c)
	opts.MasterKey = []byte("ffffffffffffffffffffffffffffffff")
	if _, err := keys.NewSigningRing(t.Context(), opts); !errors.Is(err, keys.ErrUnsealed) {
		t.Errorf("NewSigningRing with another master key = %v, want ErrUnsealed", err)
	}
}

func TestSealingRing(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, filepath.Join(t.TempDir(), "keyless.db"))
	opts := keys.Options{Store: db, MasterKey: master, RotateEvery: 24 * time.Hour, Now: c.Now}
	r, err := keys.NewSealingRing(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewSealingRing: %v", err)
	}
	k1, err := r.Current()
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, k1.AEAD.NonceSize())
	sealed := k1.AEAD.Seal(nil, nonce, []byte("session"), nil)
	if err := r.Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if k, _ := r.Current(); k.ID != k1.ID {
		t.Errorf("a new sealing key is used before every node can have loaded it")
	}
	c.Advance(keys.DefaultRefresh)
	k2, _ := r.Current()
	if k2.ID == k1.ID || k2.Generation != k1.Generation+1 || len(k2.Key) != 32 {
		t.Errorf("after rotation: current %s gen %d (%d bytes), was %s gen %d", k2.ID, k2.Generation, len(k2.Key), k1.ID, k1.Generation)
	}
	c.Advance(keys.DefaultMaxSessionLifetime)
	old, err := r.Lookup(k1.ID)
	if err != nil {
		t.Fatalf("Lookup(old) within grace: %v", err)
	}
	if plain, err := old.AEAD.Open(nil, nonce, sealed, nil); err != nil || string(plain) != "session" {
		t.Errorf("old key cannot open what it sealed: %v", err)
	}
	c.Advance(keys.Skew + keys.DefaultRefresh)
	if err := r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(k1.ID); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("Lookup(old) after grace = %v, want ErrUnknownKey", err)
	}
}
