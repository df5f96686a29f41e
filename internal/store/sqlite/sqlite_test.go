package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
	"github.com/keyless-dev/keyless/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
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
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "keyless.db"))
	})
}

func TestOpenCreatesAPrivateFileAndReopens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyless.db")
	db := open(t, path)
	k := store.Key{ID: "k", Purpose: store.PurposeSealing, Algorithm: "A256GCM", Generation: 1,
		State: store.KeyActive, Material: []byte("m"), CreatedAt: store.FromMicros(1)}
	if err := db.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log next to the database: %v", err)
	}
	again := open(t, path) // a second handle runs the migrations again: a no-op
	if _, err := again.GetKey(t.Context(), "k"); err != nil {
		t.Errorf("GetKey through a second handle: %v", err)
	}
}
