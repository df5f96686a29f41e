package idtoken

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCacheSize bounds the verified-token cache. SDKs present the same token file on
// every refresh and retry, so a small cache of recent tokens answers those without a
// signature check; a flood of distinct tokens only turns entries over.
const tokenCacheSize = 1024

// tokenCache remembers tokens that verified, keyed by the SHA-256 of the raw token,
// each until the earliest of its exp and the end of the freshness of the key that
// verified it (so a key that is rotated out of the provider's key set stops vouching
// for cached tokens once the set would have been fetched again). Entries are evicted
// first in, first out. Failures are never cached. The Identity of an entry is shared by
// every caller and is never modified.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*tokenEntry
	order   [][sha256.Size]byte // ring of keys, oldest at next once full
	next    int
}

type tokenEntry struct {
	id        *Identity
	validFrom time.Time // no earlier than any time check of the token allows
	until     time.Time // exclusive
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: make(map[[sha256.Size]byte]*tokenEntry, tokenCacheSize)}
}

// get returns the identity cached for key when now is within its window.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*tokenEntry, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || now.Before(e.validFrom) || !now.Before(e.until) {
		return nil, false
	}
	return e, true
}

// put caches e under key, evicting the oldest entry once full.
func (c *tokenCache) put(key [sha256.Size]byte, e *tokenEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		c.entries[key] = e
		return
	}
	if len(c.order) < tokenCacheSize {
		c.order = append(c.order, key)
	} else {
		delete(c.entries, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % tokenCacheSize
	}
	c.entries[key] = e
}
