package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MasterKeySize is the size of the master key that seals keys at rest.
const MasterKeySize = 32

// LoadOrCreateSecretFile returns the secret in path, following PRODUCT.md's rule for secret
// files: an existing file is used as it is (surrounding white space trimmed; it must not be
// empty); a missing file is created with 32 random bytes in hex and mode 0600. Creation is
// atomic (write a temporary file, then link it into place), so concurrent starts agree.
func LoadOrCreateSecretFile(path string) ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("keys: secret file %s: %w", path, err)
	}
	secret, err := loadOrCreate(path, []byte(hex.EncodeToString(raw)))
	if err != nil {
		return nil, err
	}
	secret = bytes.TrimSpace(secret)
	if len(secret) == 0 {
		return nil, fmt.Errorf("keys: secret file %s is empty", path)
	}
	return secret, nil
}

// LoadOrCreateMasterKey returns the 32-byte master key in path, creating the file with 32
// random bytes and mode 0600 if it does not exist. A file of another size is an error:
// silently replacing it would make every sealed key unreadable.
func LoadOrCreateMasterKey(path string) ([]byte, error) {
	fresh := make([]byte, MasterKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("keys: master key %s: %w", path, err)
	}
	key, err := loadOrCreate(path, fresh)
	if err != nil {
		return nil, err
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("keys: master key %s holds %d bytes, want %d", path, len(key), MasterKeySize)
	}
	return key, nil
}

// loadOrCreate reads path, or creates it with content (mode 0600) if it does not exist.
func loadOrCreate(path string, content []byte) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	// CreateTemp already uses 0600; Chmod makes it explicit and survives odd umasks.
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	if _, err := tmp.Write(content); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	// Link fails if path appeared meanwhile; then the other writer's content wins.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	return b, nil
}
