package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/keyless-dev/keyless/internal/store"
)

// ErrUnsealed reports key material that the master key cannot open: a different master
// key, or a record that was tampered with or moved to another id.
var ErrUnsealed = errors.New("keys: cannot open key material with this master key")

// sealVersion prefixes sealed material: AES-256-GCM under the master key, random 12-byte
// nonce, the key's id, purpose and algorithm as additional data.
const sealVersion = 1

func masterAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("keys: master key has %d bytes, want %d", len(master), MasterKeySize)
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, fmt.Errorf("keys: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: master key: %w", err)
	}
	return aead, nil
}

func sealAD(k store.Key) []byte {
	return []byte(string(k.Purpose) + "\x00" + k.ID + "\x00" + k.Algorithm)
}

// seal encrypts plain for the record k (whose ID, Purpose and Algorithm are bound to it).
func seal(aead cipher.AEAD, k store.Key, plain []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keys: seal: %w", err)
	}
	return aead.Seal(out, out[1:], plain, sealAD(k)), nil
}

// open decrypts k.Material.
func open(aead cipher.AEAD, k store.Key) ([]byte, error) {
	m := k.Material
	if len(m) < 1+aead.NonceSize()+aead.Overhead() || m[0] != sealVersion {
		return nil, fmt.Errorf("key %s: %w", k.ID, ErrUnsealed)
	}
	ns := 1 + aead.NonceSize()
	plain, err := aead.Open(nil, m[1:ns], m[ns:], sealAD(k))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, ErrUnsealed)
	}
	return plain, nil
}
