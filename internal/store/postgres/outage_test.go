package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// call is one store operation, run against a database that is down or back.
type call struct {
	name string
	do   func(ctx context.Context, db *DB) error
}

func outageCalls() []call {
	key := store.Key{ID: "k1", Purpose: store.PurposeSigning, Algorithm: "ES256", Generation: 1,
		State: store.KeyActive, Material: []byte("sealed"), CreatedAt: store.FromMicros(1)}
	event := store.AuditEvent{ID: "e1", Time: store.FromMicros(2), Name: "AssumeRole", Data: []byte(`{}`)}
	return []call{
		{"Ping", func(ctx context.Context, db *DB) error { return db.Ping(ctx) }},
		{"GetKey", func(ctx context.Context, db *DB) error { _, err := db.GetKey(ctx, key.ID); return err }},
		{"ListKeys", func(ctx context.Context, db *DB) error { _, err := db.ListKeys(ctx, key.Purpose); return err }},
		{"UpdateKey", func(ctx context.Context, db *DB) error {
			_, err := db.UpdateKey(ctx, key.ID, func(k store.Key) (store.Key, error) { return k, nil })
			return err
		}},
		{"Revoke", func(ctx context.Context, db *DB) error {
			return db.Revoke(ctx, store.Revocation{SessionID: "s1", ExpiresAt: store.FromMicros(3)})
		}},
		{"ListRevocations", func(ctx context.Context, db *DB) error { _, err := db.ListRevocations(ctx); return err }},
		{"AppendAudit", func(ctx context.Context, db *DB) error { return db.AppendAudit(ctx, []store.AuditEvent{event}) }},
		{"QueryAudit", func(ctx context.Context, db *DB) error { _, err := db.QueryAudit(ctx, store.AuditQuery{}); return err }},
	}
}

// seed stores the key that the calls read and update.
func seed(t *testing.T, db *DB) {
	t.Helper()
	if err := db.CreateKey(t.Context(), store.Key{ID: "k1", Purpose: store.PurposeSigning, Algorithm: "ES256",
		Generation: 1, State: store.KeyActive, Material: []byte("sealed"), CreatedAt: store.FromMicros(1)}); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
}

// fastOptions shorten the bounds so that calls to a hanging server give up quickly.
func fastOptions() options {
	return options{pingTimeout: 200 * time.Millisecond, callTimeout: 300 * time.Millisecond,
		listenRetry: 10 * time.Millisecond, listenRetryMax: 50 * time.Millisecond}
}

// recovers runs c until it succeeds, at most once per pooled connection (each attempt on a
// connection broken during the outage discards it) plus one, and reports the last error.
func recovers(ctx context.Context, db *DB, c call) error {
	var err error
	for range db.pool.Config().MaxConns + 2 {
		if err = c.do(ctx, db); err == nil {
			return nil
		}
	}
	return err
}

func TestCallsFailWhileTheDatabaseIsDownAndRecoverAfter(t *testing.T) {
	t.Parallel()
	p, conn := startProxy(t, freshSchema(t))
	db := openDB(t, conn, fastOptions())
	ctx := t.Context()
	seed(t, db)
	// A node's revocation cache, reloaded on every notification (and on every reconnection).
	lists := make(chan []store.Revocation, 64)
	stopListening := listen(t, db, ChannelRevocations, func() {
		if rs, err := db.ListRevocations(ctx); err == nil {
			lists <- rs
		}
	})
	defer stopListening()
	<-lists // listening

	p.down()
	for _, c := range outageCalls() {
		// No deadline on ctx: the call's own bound (or a refused connection) ends it.
		err := c.do(ctx, db)
		t.Logf("%s: %v", c.name, err)
		if err == nil {
			t.Errorf("%s succeeded while the database was down", c.name)
		}
	}

	p.restart(false)
	for _, c := range outageCalls() {
		if err := recovers(ctx, db, c); err != nil {
			t.Errorf("%s after the database came back: %v", c.name, err)
		}
	}
	// The listener reconnected by itself: a revocation made now reaches it.
	if err := db.Revoke(ctx, store.Revocation{SessionID: "after", ExpiresAt: store.FromMicros(9)}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for rs := range lists {
		if len(rs) > 0 && rs[0].SessionID == "after" {
			break
		}
	}
}

func TestCallsToAHangingDatabaseGiveUp(t *testing.T) {
	t.Parallel()
	p, conn := startProxy(t, freshSchema(t))
	db := openDB(t, conn, fastOptions())
	ctx := t.Context()
	seed(t, db)
	p.down()
	p.restart(true) // accepts connections and never answers
	for _, c := range outageCalls() {
		err := c.do(ctx, db)
		t.Logf("%s: %v", c.name, err)
		if err == nil {
			t.Errorf("%s succeeded while the database hung", c.name)
		}
	}
	p.down()
	p.restart(false)
	for _, c := range outageCalls() {
		if err := recovers(ctx, db, c); err != nil {
			t.Errorf("%s after the database came back: %v", c.name, err)
		}
	}
}
