package keys_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyless-dev/keyless/internal/keys"
)

func TestLoadOrCreateSecretFile(t *testing.T) {
	t.Parallel()
	t.Run("a missing file is created with 32 random bytes in hex and mode 0600", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "mint-secret")
		secret, err := keys.LoadOrCreateSecretFile(path)
		if err != nil {
			t.Fatalf("LoadOrCreateSecretFile: %v", err)
		}
		if b, err := hex.DecodeString(string(secret)); err != nil || len(b) != 32 {
			t.Errorf("secret is not 32 bytes in hex (len %d, %v)", len(secret), err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %o, want 600", fi.Mode().Perm())
		}
		again, err := keys.LoadOrCreateSecretFile(path)
		if err != nil || string(again) != string(secret) {
			t.Errorf("second load returned a different secret (err %v)", err)
		}
	})
	t.Run("an existing file is used as it is, trimmed", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "s")
		if err := os.WriteFile(path, []byte("  hunter2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := keys.LoadOrCreateSecretFile(path)
		if err != nil || string(got) != "hunter2" {
			t.Errorf("got %q, %v; want hunter2", got, err)
		}
	})
	t.Run("an empty file is an error", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "s")
		if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.LoadOrCreateSecretFile(path); err == nil {
			t.Error("empty secret file accepted")
		}
	})
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	t.Parallel()
	t.Run("a missing master key is created with 32 bytes and mode 0600 and then reused", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		k1, err := keys.LoadOrCreateMasterKey(path)
		if err != nil || len(k1) != keys.MasterKeySize {
			t.Fatalf("LoadOrCreateMasterKey = %d bytes, %v", len(k1), err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %o, want 600", fi.Mode().Perm())
		}
		k2, err := keys.LoadOrCreateMasterKey(path)
		if err != nil || string(k1) != string(k2) {
			t.Errorf("second load returned another key (err %v)", err)
		}
	})
	t.Run("a master key of the wrong size is refused", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.LoadOrCreateMasterKey(path); err == nil {
			t.Error("5-byte master key accepted")
		}
	})
}
