package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// A256GCM is the sealing algorithm: AES-256-GCM with a 32-byte key.
const A256GCM = "A256GCM"

// DefaultMaxSessionLifetime bounds sessions sealed by a SealingRing whose
// Options.MaxLifetime is zero (the longest STS session, 12 hours).
const DefaultMaxSessionLifetime = 12 * time.Hour

// SealingKey is one session-sealing key.
type SealingKey struct {
	ID         string // kid, 16 random bytes in base64url
	Generation int64
	Key        []byte      // 32 bytes; do not modify
	AEAD       cipher.AEAD // AES-256-GCM with Key, ready to use
}

// SealingRing holds the AEAD keys that seal session tokens.
type SealingRing struct {
	*ring
}

// NewSealingRing loads the sealing keys, creating the first one if there is none.
// Algorithm defaults to A256GCM and MaxLifetime to DefaultMaxSessionLifetime.
func NewSealingRing(ctx context.Context, opts Options) (*SealingRing, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = A256GCM
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = DefaultMaxSessionLifetime
	}
	r, err := newRing(ctx, opts, sealingCodec{})
	if err != nil {
		return nil, err
	}
	return &SealingRing{ring: r}, nil
}

type sealingCodec struct{}

func (sealingCodec) purpose() store.KeyPurpose { return store.PurposeSealing }

func (sealingCodec) validAlgorithm(alg string) bool { return alg == A256GCM }

func (sealingCodec) generate(string) (string, []byte, error) {
	id := make([]byte, 16)
	key := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	return base64.RawURLEncoding.EncodeToString(id), key, nil
}

func (sealingCodec) decode(meta store.Key, plain []byte) (any, error) {
	if len(plain) != 32 {
		return nil, fmt.Errorf("sealing key has %d bytes, want 32", len(plain))
	}
	block, err := aes.NewCipher(plain)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return SealingKey{ID: meta.ID, Generation: meta.Generation, Key: plain, AEAD: aead}, nil
}

// Current returns the key to seal with.
func (r *SealingRing) Current() (SealingKey, error) {
	cur := r.inUse()
	if cur == nil {
		return SealingKey{}, fmt.Errorf("%w: no active sealing key", ErrUnknownKey)
	}
	return cur.value.(SealingKey), nil
}

// Lookup returns the key with this id if it may still open sessions (active, or retiring
// within its grace). It does not reload: a caller that gets ErrUnknownKey for a session
// sealed by a key that another node created moments ago may call Reload and retry.
func (r *SealingRing) Lookup(kid string) (SealingKey, error) {
	now := r.opts.Now()
	for _, e := range r.snap.Load().entries {
		if e.meta.ID == kid && live(e, now) {
			return e.value.(SealingKey), nil
		}
	}
	return SealingKey{}, fmt.Errorf("%w %q", ErrUnknownKey, kid)
}
