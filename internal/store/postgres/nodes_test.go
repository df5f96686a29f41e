package postgres

import (
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/store"
)

// clock is a fake clock shared by the nodes of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// node is one keyless node: its own pool on the shared database and its own key rings.
type node struct {
	db   *DB
	sign *keys.SigningRing
	seal *keys.SealingRing
}

// startNodes starts n nodes at once on the database of conn, as n processes would.
func startNodes(t *testing.T, conn string, n int, c *clock) []node {
	t.Helper()
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	nodes := make([]node, n)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			db, err := Open(t.Context(), conn)
			if err != nil {
				t.Errorf("node %d: Open: %v", i, err)
				return
			}
			t.Cleanup(func() { _ = db.Close() })
			opts := keys.Options{Store: db, MasterKey: master, RotateEvery: 24 * time.Hour,
				MaxLifetime: time.Hour, Refresh: 5 * time.Second, Now: c.Now}
			opts.Algorithm = keys.ES256
			sign, err := keys.NewSigningRing(t.Context(), opts)
			if err != nil {
				t.Errorf("node %d: NewSigningRing: %v", i, err)
				return
			}
			opts.Algorithm = keys.A256GCM
			seal, err := keys.NewSealingRing(t.Context(), opts)
			if err != nil {
				t.Errorf("node %d: NewSealingRing: %v", i, err)
				return
			}
			nodes[i] = node{db: db, sign: sign, seal: seal}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return nodes
}

func generations(t *testing.T, db *DB, purpose store.KeyPurpose) []int64 {
	t.Helper()
	ks, err := db.ListKeys(t.Context(), purpose)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	var gens []int64
	for _, k := range ks {
		gens = append(gens, k.Generation)
	}
	return gens
}

func TestNodesStartingAtOnceShareOneKeyOfEachPurpose(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	nodes := startNodes(t, freshSchema(t), 4, c)
	for _, p := range []store.KeyPurpose{store.PurposeSigning, store.PurposeSealing} {
		if got := generations(t, nodes[0].db, p); !slices.Equal(got, []int64{1}) {
			t.Errorf("%s key generations after 4 concurrent starts = %v, want [1]", p, got)
		}
	}
	_, signKid, err := nodes[0].sign.Sign([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	sealKey, err := nodes[0].seal.Current()
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes[1:] {
		if _, kid, _ := n.sign.Sign([]byte(`{}`)); kid != signKid {
			t.Errorf("node %d signs with %s, node 0 with %s", i+1, kid, signKid)
		}
		if k, _ := n.seal.Current(); k.ID != sealKey.ID {
			t.Errorf("node %d seals with %s, node 0 with %s", i+1, k.ID, sealKey.ID)
		}
	}
}

func TestNodesDueForRotationAtOnceAddOneGeneration(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	nodes := startNodes(t, freshSchema(t), 4, c)
	c.Advance(25 * time.Hour) // every node's active key is due
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			if err := n.sign.Tick(t.Context()); err != nil {
				t.Errorf("node %d: signing Tick: %v", i, err)
			}
			if err := n.seal.Tick(t.Context()); err != nil {
				t.Errorf("node %d: sealing Tick: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, p := range []store.KeyPurpose{store.PurposeSigning, store.PurposeSealing} {
		if got := generations(t, nodes[0].db, p); !slices.Equal(got, []int64{1, 2}) {
			t.Errorf("%s key generations after 4 concurrent rotations = %v, want [1 2]", p, got)
		}
	}
}

func TestNodesPickUpAnotherNodesRotationWhenNotified(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	nodes := startNodes(t, freshSchema(t), 3, c)
	// Nodes 1 and 2 reload their signing ring on every change, as the server wires it.
	type reload struct {
		node int
		kids []string
	}
	reloads := make(chan reload, 64)
	for i, n := range nodes[1:] {
		listen(t, n.db, ChannelKeys, func() {
			if err := n.sign.Reload(t.Context()); err != nil && t.Context().Err() == nil {
				t.Errorf("node %d: Reload: %v", i+1, err)
			}
			var kids []string
			for _, k := range n.sign.Keys() {
				kids = append(kids, k.ID)
			}
			reloads <- reload{node: i + 1, kids: kids}
		})
	}
	for range 2 {
		<-reloads // each listener's first call, once it listens
	}
	if err := nodes[0].sign.Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	ks := nodes[0].sign.Keys()
	newKid := ks[len(ks)-1].ID
	pending := map[int]bool{1: true, 2: true}
	for len(pending) > 0 {
		r := <-reloads
		if slices.Contains(r.kids, newKid) {
			delete(pending, r.node)
		}
	}
	// Notified, each node publishes the new key without having reloaded on its own.
	for i, n := range nodes[1:] {
		var kids []string
		for _, k := range n.sign.JWKS().Keys {
			kids = append(kids, k.KeyID)
		}
		if !slices.Contains(kids, newKid) {
			t.Errorf("node %d publishes %v, not the new key %s", i+1, kids, newKid)
		}
	}
}

func TestRevocationsReachEveryNodeWhenNotified(t *testing.T) {
	t.Parallel()
	conn := freshSchema(t)
	a := openDB(t, conn, defaultOptions())
	b := openDB(t, conn, defaultOptions())
	// Node b refreshes its revocation cache on every change, as the server wires it.
	lists := make(chan []store.Revocation, 64)
	listen(t, b, ChannelRevocations, func() {
		rs, err := b.ListRevocations(t.Context())
		if err != nil && t.Context().Err() == nil {
			t.Errorf("ListRevocations: %v", err)
		}
		lists <- rs
	})
	if rs := <-lists; len(rs) != 0 {
		t.Fatalf("node b starts with revocations %v", rs)
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	want := store.Revocation{Role: "deploy", IssuedBefore: at, CreatedAt: at, ExpiresAt: at.Add(time.Hour), Reason: "leak"}
	if err := a.Revoke(t.Context(), want); err != nil {
		t.Fatalf("node a: Revoke: %v", err)
	}
	if diff := cmp.Diff([]store.Revocation{want}, <-lists); diff != "" {
		t.Errorf("node b, notified, sees (-want +got):\n%s", diff)
	}
}
