package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/storetest"
)

// baseURL is the database the tests use, from KEYLESS_TEST_POSTGRES_URL (see
// scripts/start-postgres.sh); without it the test is skipped.
func baseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KEYLESS_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("KEYLESS_TEST_POSTGRES_URL is not set (scripts/start-postgres.sh starts a server)")
	}
	return u
}

// withParam adds a connection parameter to a URL or keyword/value connection string.
func withParam(conn, key, value string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			panic(err) // the tests' own URL
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return conn + " " + key + "=" + value
}

// freshSchema creates an empty schema that the test (and only it) uses, dropped when the
// test ends, and returns the connection string that selects it.
func freshSchema(t testing.TB) string {
	t.Helper()
	return namedSchema(t, "keyless_test_"+randomHex(t, 8))
}

func namedSchema(t testing.TB, name string) string {
	t.Helper()
	base := baseURL(t)
	admin := func(sql string) {
		t.Helper()
		ctx := context.WithoutCancel(t.Context())
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to the test database: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	admin("CREATE SCHEMA " + ident)
	t.Cleanup(func() { admin("DROP SCHEMA " + ident + " CASCADE") })
	return withParam(base, "search_path", name)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// openDB opens conn with opts and closes it when the test ends (before its schema goes).
func openDB(t testing.TB, conn string, opts options) *DB {
	t.Helper()
	db, err := open(t.Context(), conn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	baseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openDB(t, freshSchema(t), defaultOptions())
	})
}

func TestOpenByManyNodesAtOnceAppliesEachMigrationOnce(t *testing.T) {
	t.Parallel()
	conn := freshSchema(t)
	const nodes = 6
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), conn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: Open: %v", i, err)
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%d %s", m.Version, m.Name))
	}
	rows, err := dbs[0].pool.Query(t.Context(), `SELECT version || ' ' || name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
	again := openDB(t, conn, defaultOptions()) // reopening is a no-op
	if err := again.Ping(t.Context()); err != nil {
		t.Errorf("Ping after reopening: %v", err)
	}
}

func TestOpenRefusesWithoutLeakingTheURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url string }{
		{"a malformed port", "postgres://keyless:hunter2-secret@127.0.0.1:notaport/db"},
		{"an unknown scheme", "mysql://keyless:hunter2-secret@127.0.0.1/db"},
	}
	for _, tt := range tests {
		t.Run("a url with "+tt.name+" is refused without its password", func(t *testing.T) {
			t.Parallel()
			db, err := Open(t.Context(), tt.url)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestOpenFailsWhenTheSearchPathNamesNoSchema(t *testing.T) {
	t.Parallel()
	conn := withParam(baseURL(t), "search_path", "keyless_test_missing_"+randomHex(t, 4))
	db, err := Open(t.Context(), conn)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded")
	}
	if !strings.Contains(err.Error(), "no schema") {
		t.Errorf("Open = %v, want an error about the schema", err)
	}
}

func TestTimesKeepMicrosecondsAndZero(t *testing.T) {
	t.Parallel()
	db := openDB(t, freshSchema(t), defaultOptions())
	k := store.Key{ID: "k", Purpose: store.PurposeSealing, Algorithm: "A256GCM", Generation: 1,
		State: store.KeyActive, Material: []byte{1}, CreatedAt: store.FromMicros(1764417600123457)}
	if err := db.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	got, err := db.GetKey(t.Context(), "k")
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	if !got.CreatedAt.Equal(k.CreatedAt) || got.CreatedAt.Location() != k.CreatedAt.Location() {
		t.Errorf("CreatedAt = %v, want %v (UTC)", got.CreatedAt, k.CreatedAt)
	}
	if !got.RetireAt.IsZero() || !got.RetiringAt.IsZero() {
		t.Errorf("zero times read back as %v and %v", got.RetiringAt, got.RetireAt)
	}
	if _, err := db.GetKey(t.Context(), "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetKey(other) = %v, want ErrNotFound", err)
	}
}
