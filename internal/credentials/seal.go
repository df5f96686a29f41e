package credentials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"
)

// tokenVersion is the first byte of every sealed token; a new layout gets a new version.
const tokenVersion = 1

// Keys gives the sealing keys (32 bytes each, for AES-256-GCM). The keys package's
// ring provides them from the store, with rotation; tests use a fixed map.
type Keys interface {
	// SealingKey returns the key new tokens are sealed with.
	SealingKey() (kid string, key []byte, err error)
	// OpeningKey returns the key with this id if tokens sealed with it may still be
	// opened (active or retiring).
	OpeningKey(kid string) (key []byte, ok bool)
}

// Sealer seals and opens session tokens. It is safe for concurrent use.
type Sealer struct {
	keys Keys
	now  func() time.Time

	mu    sync.Mutex
	aeads map[string]cipher.AEAD // by kid; key material never changes for a kid

	// Deflate state is large (a writer is ~800 KiB): reuse it across calls.
	writers sync.Pool // *flate.Writer
	readers sync.Pool // flate reader (io.ReadCloser + flate.Resetter)
}

// NewSealer returns a Sealer over keys; now is the clock (time.Now when nil).
func NewSealer(keys Keys, now func() time.Time) *Sealer {
	if now == nil {
		now = time.Now
	}
	return &Sealer{keys: keys, now: now, aeads: make(map[string]cipher.AEAD)}
}

func (s *Sealer) aead(kid string, key []byte) (cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.aeads[kid]; ok {
		return a, nil
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("credentials: sealing key %s is %d bytes, want 32", kid, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s.aeads[kid] = a
	return a, nil
}

// Seal returns the session token for sess. A session policy and tags too large for a
// token give *PackedPolicyTooLargeError.
func (s *Sealer) Seal(sess *Session) (string, error) {
	kid, key, err := s.keys.SealingKey()
	if err != nil {
		return "", fmt.Errorf("getting sealing key: %w", err)
	}
	if len(kid) == 0 || len(kid) > 64 {
		return "", fmt.Errorf("credentials: sealing key id %q has a bad length", kid)
	}
	a, err := s.aead(kid, key)
	if err != nil {
		return "", err
	}
	plain, packed, err := s.encode(sess)
	if err != nil {
		return "", err
	}
	header := make([]byte, 0, 2+len(kid)+a.NonceSize())
	header = append(header, tokenVersion, byte(len(kid)))
	header = append(header, kid...)
	sealedLen := len(header) + a.NonceSize() + len(plain) + a.Overhead()
	if n := base64.RawURLEncoding.EncodedLen(sealedLen); n > MaxTokenLen {
		// Only the caller-chosen part (policy and tags) can make a token this large.
		fixed := n - base64.RawURLEncoding.EncodedLen(len(packed))
		budget := MaxTokenLen - fixed
		pct := 100
		if budget > 0 {
			pct = base64.RawURLEncoding.EncodedLen(len(packed)) * 100 / budget
		}
		return "", &PackedPolicyTooLargeError{Percent: max(pct, 101)}
	}
	out := make([]byte, len(header), sealedLen)
	copy(out, header)
	nonce := out[len(header) : len(header)+a.NonceSize()]
	out = out[:len(header)+a.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out = a.Seal(out, nonce, plain, header)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open checks and decodes a session token. An expired session is returned together
// with ErrExpired, so that callers can still audit who it was.
func (s *Sealer) Open(token string) (*Session, error) {
	if len(token) > MaxTokenLen || len(token) < 8 {
		return nil, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2 || raw[0] != tokenVersion {
		return nil, ErrMalformed
	}
	kidLen := int(raw[1])
	if kidLen == 0 || len(raw) < 2+kidLen {
		return nil, ErrMalformed
	}
	kid := string(raw[2 : 2+kidLen])
	key, ok := s.keys.OpeningKey(kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	a, err := s.aead(kid, key)
	if err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	header := raw[:2+kidLen]
	rest := raw[2+kidLen:]
	if len(rest) < a.NonceSize()+a.Overhead() {
		return nil, ErrMalformed
	}
	plain, err := a.Open(nil, rest[:a.NonceSize()], rest[a.NonceSize():], header)
	if err != nil {
		return nil, ErrMalformed
	}
	sess, err := s.decode(plain)
	if err != nil {
		return nil, ErrMalformed
	}
	if !s.now().Before(sess.Expiration) {
		return sess, ErrExpired
	}
	return sess, nil
}
