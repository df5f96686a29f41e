package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/keyless-dev/keyless/internal/store"
)

// listen runs db.Listen(channel, fn) in the background and returns the function that stops
// it and checks that it ended with the context's error.
func listen(t *testing.T, db *DB, channel string, fn func()) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- db.Listen(ctx, channel, fn) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestChannelNameFitsInAnIdentifier(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, schema, kind, want string }{
		{"a short schema is spelled out", "public", ChannelKeys, "keyless.public.keys"},
		{"a 40-byte schema is spelled out", "s234567890123456789012345678901234567890", ChannelRevocations,
			"keyless.s234567890123456789012345678901234567890.revocations"},
		{"a longer schema becomes its md5", "s2345678901234567890123456789012345678901", ChannelRevocations,
			"keyless.6c5bde7d22490370ed9dd357886a854a.revocations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := channelName(tt.schema, tt.kind)
			if got != tt.want {
				t.Errorf("channelName = %q, want %q", got, tt.want)
			}
			if len(got) > 63 {
				t.Errorf("channelName = %q: %d bytes, more than PostgreSQL's 63", got, len(got))
			}
		})
	}
}

// notified returns the channels (as change kinds) notified to conn, in order, up to the
// marker that conn sends itself: every notification committed before it has arrived.
func notified(t *testing.T, conn *pgx.Conn, schema string) []string {
	t.Helper()
	if _, err := conn.Exec(t.Context(), `NOTIFY "keyless.test.marker"`); err != nil {
		t.Fatalf("NOTIFY: %v", err)
	}
	kinds := map[string]string{
		channelName(schema, ChannelKeys): ChannelKeys, channelName(schema, ChannelRevocations): ChannelRevocations,
	}
	var got []string
	for {
		n, err := conn.WaitForNotification(t.Context())
		if err != nil {
			t.Fatalf("WaitForNotification: %v", err)
		}
		if n.Channel == "keyless.test.marker" {
			return got
		}
		kind, ok := kinds[n.Channel]
		if !ok {
			kind = "other: " + n.Channel
		}
		got = append(got, kind)
	}
}

// awaitNotified collects notifications until at least want have arrived (or about two
// seconds have passed). A loaded server has been seen to deliver a notification after
// the marker that followed it; waiting for the expected ones keeps a late delivery from
// being blamed on the next step, while an unexpected extra one still shows up.
func awaitNotified(t *testing.T, conn *pgx.Conn, schema string, want int) []string {
	t.Helper()
	got := notified(t, conn, schema)
	for i := 0; i < 100 && len(got) < want; i++ {
		time.Sleep(20 * time.Millisecond)
		got = append(got, notified(t, conn, schema)...)
	}
	return got
}

func TestWritesNotifyTheirChannelOncePerTransaction(t *testing.T) {
	t.Parallel()
	for _, schema := range []struct{ name, prefix string }{
		{"a short schema name", "keyless_test_"},
		{"a schema name longer than 40 bytes", "keyless_test_with_a_long_name_"},
	} {
		t.Run("in "+schema.name, func(t *testing.T) {
			t.Parallel()
			testNotifications(t, namedSchema(t, schema.prefix+randomHex(t, 8)))
		})
	}
}

func testNotifications(t *testing.T, conn string) {
	db := openDB(t, conn, defaultOptions())
	other := openDB(t, freshSchema(t), defaultOptions())
	listener, err := pgx.Connect(t.Context(), baseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listener.Close(context.WithoutCancel(t.Context())) })
	for _, ch := range []string{ChannelKeys, ChannelRevocations} {
		if _, err := listener.Exec(t.Context(), "LISTEN "+pgx.Identifier{channelName(db.Schema(), ch)}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := listener.Exec(t.Context(), `LISTEN "keyless.test.marker"`); err != nil {
		t.Fatal(err)
	}
	key := func(id string, gen int64) store.Key {
		return store.Key{ID: id, Purpose: store.PurposeSigning, Algorithm: "ES256", Generation: gen,
			State: store.KeyActive, Material: []byte("sealed"), CreatedAt: store.FromMicros(1)}
	}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		do   func(ctx context.Context) error
		want []string
	}{
		{"creating a key notifies keys", func(ctx context.Context) error { return db.CreateKey(ctx, key("k1", 1)) }, []string{ChannelKeys}},
		{"a refused duplicate key notifies nothing", func(ctx context.Context) error {
			if err := db.CreateKey(ctx, key("k2", 1)); !errors.Is(err, store.ErrExists) {
				return err
			}
			return nil
		}, nil},
		{"updating a key notifies keys", func(ctx context.Context) error {
			_, err := db.UpdateKey(ctx, "k1", func(k store.Key) (store.Key, error) { k.State = store.KeyRetiring; return k, nil })
			return err
		}, []string{ChannelKeys}},
		{"revoking notifies revocations", func(ctx context.Context) error {
			return db.Revoke(ctx, store.Revocation{SessionID: "s1", ExpiresAt: t0})
		}, []string{ChannelRevocations}},
		{"revoking again notifies revocations again", func(ctx context.Context) error {
			return db.Revoke(ctx, store.Revocation{Role: "deploy", IssuedBefore: t0, ExpiresAt: t0})
		}, []string{ChannelRevocations}},
		{"pruning nothing notifies nothing", func(ctx context.Context) error {
			_, err := db.PruneRevocations(ctx, t0)
			return err
		}, nil},
		{"pruning two revocations notifies once", func(ctx context.Context) error {
			_, err := db.PruneRevocations(ctx, t0.Add(time.Second))
			return err
		}, []string{ChannelRevocations}},
		{"appending audit events notifies nothing", func(ctx context.Context) error {
			return db.AppendAudit(ctx, []store.AuditEvent{{ID: "e1", Time: t0, Name: "AssumeRole", Data: []byte(`{}`)}})
		}, nil},
		{"writes in another schema notify nothing here", func(ctx context.Context) error {
			if err := other.CreateKey(ctx, key("k1", 1)); err != nil {
				return err
			}
			return other.Revoke(ctx, store.Revocation{SessionID: "s1", ExpiresAt: t0})
		}, nil},
	}
	for _, step := range steps {
		if err := step.do(t.Context()); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if diff := cmp.Diff(step.want, awaitNotified(t, listener, db.Schema(), len(step.want))); diff != "" {
			t.Errorf("%s: notifications (-want +got):\n%s", step.name, diff)
		}
	}
}

func TestListenCallsFnOnConnectAndOnEachChange(t *testing.T) {
	t.Parallel()
	db := openDB(t, freshSchema(t), defaultOptions())
	ctx := t.Context()
	// fn reloads, like a node's key ring: each call reports the generations it sees.
	seen := make(chan int, 64)
	stop := listen(t, db, ChannelKeys, func() {
		ks, err := db.ListKeys(ctx, store.PurposeSealing)
		if err != nil {
			t.Errorf("ListKeys: %v", err)
		}
		seen <- len(ks)
	})
	if n := <-seen; n != 0 {
		t.Errorf("first call saw %d keys, want 0", n)
	}
	for gen := int64(1); gen <= 3; gen++ {
		if err := db.CreateKey(ctx, store.Key{ID: "k" + string(rune('0'+gen)), Purpose: store.PurposeSealing,
			Algorithm: "A256GCM", Generation: gen, State: store.KeyActive, Material: []byte{1},
			CreatedAt: store.FromMicros(gen)}); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		if n := <-seen; n != int(gen) {
			t.Errorf("after creating generation %d fn saw %d keys", gen, n)
		}
	}
	stop()
}

func TestListenRefusesAnUnknownChannel(t *testing.T) {
	t.Parallel()
	db := openDB(t, freshSchema(t), defaultOptions())
	err := db.Listen(t.Context(), "audit", func() { t.Error("fn called") })
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Listen(audit) = %v, want an error about the channel", err)
	}
}
