package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// DefaultKeyCacheSize is the number of signing keys a Verifier keeps when NewVerifier is
// given a size <= 0.
const DefaultKeyCacheSize = 4096

// Verifier checks signatures. It caches signing keys per secret, date, region and service
// (a key is valid for one day), bounded in size and safe for concurrent use. The zero value
// is ready to use.
type Verifier struct {
	mu   sync.Mutex
	keys map[keyID][]byte
	max  int
}

// NewVerifier returns a Verifier caching at most cacheSize signing keys.
func NewVerifier(cacheSize int) *Verifier {
	return &Verifier{max: cacheSize}
}

// keyID names a signing key without keeping the secret itself.
type keyID struct {
	secret [sha256.Size]byte
	scope  Scope
}

// signingKey returns HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func (v *Verifier) signingKey(secret string, s Scope) []byte {
	id := keyID{secret: sha256.Sum256([]byte(secret)), scope: s}
	v.mu.Lock()
	k, ok := v.keys[id]
	v.mu.Unlock()
	if ok {
		return k
	}
	k = deriveKey(secret, s)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		v.keys = make(map[keyID][]byte)
	}
	limit := v.max
	if limit <= 0 {
		limit = DefaultKeyCacheSize
	}
	for old := range v.keys {
		if len(v.keys) < limit {
			break
		}
		delete(v.keys, old) // arbitrary eviction: keys are cheap to derive again
	}
	v.keys[id] = k
	return k
}

func deriveKey(secret string, s Scope) []byte {
	k := hmacSum([]byte("AWS4"+secret), s.Date)
	k = hmacSum(k, s.Region)
	k = hmacSum(k, s.Service)
	return hmacSum(k, terminator)
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
