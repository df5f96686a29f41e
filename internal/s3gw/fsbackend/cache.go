package fsbackend

import (
	"sync"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// objectCache keeps recently read index rows (an object's info and where its bytes are,
// inline bytes included) so that reading a hot object costs no SQLite query: that query
// was a fifth of keylessd's CPU per 4 KiB GET (docs/s3-performance.md).
//
// It is coherent because this process is the index's only writer (New takes an exclusive
// lock on the root) and every change to the objects table goes through committer.doObject,
// which names the key it changes. Around such a transaction the committer calls begin and
// end; both drop the key and move gen on, so gen is odd while a transaction that changes
// objects runs. A reader samples gen before its query and stores what it read only if gen
// is still that even value afterwards: a row read while, or before, any object changed
// is never stored after the change dropped it. Entries are shared: callers treat the
// returned info's maps and inline bytes as read-only (s3gw never writes to them).
type objectCache struct {
	mu         sync.Mutex
	gen        uint64
	m          map[objectRef]*cachedObject
	bytes      int // inline bytes held
	maxEntries int
	maxBytes   int
}

type objectRef struct{ bucket, key string }

type cachedObject struct {
	info s3gw.ObjectInfo
	st   stored
}

// Bounds of the cache: inline objects are at most 32 KiB, so the byte bound is what
// limits a cache of small objects (keylessd's memory test allows 100 MiB in all).
const (
	cacheMaxEntries = 16384
	cacheMaxBytes   = 16 << 20
)

func newObjectCache(maxEntries, maxBytes int) *objectCache {
	return &objectCache{m: make(map[objectRef]*cachedObject), maxEntries: maxEntries, maxBytes: maxBytes}
}

// get returns the cached row of bucket/key. A row of an inline object is complete only
// with its bytes, which every stored inline row has.
func (c *objectCache) get(bucket, key string) (s3gw.ObjectInfo, stored, bool) {
	c.mu.Lock()
	e, ok := c.m[objectRef{bucket, key}]
	c.mu.Unlock()
	if !ok {
		return s3gw.ObjectInfo{}, stored{}, false
	}
	return e.info, e.st, true
}

// generation is sampled by a reader before it queries the index.
func (c *objectCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores a row read at generation gen, unless an object changed since (or was
// changing then), or the row lacks an inline object's bytes.
func (c *objectCache) put(gen uint64, bucket, key string, info s3gw.ObjectInfo, st stored, withData bool) {
	if len(st.segs) == 0 && !withData {
		return
	}
	n := len(st.inline)
	if n > c.maxBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || gen%2 == 1 {
		return
	}
	ref := objectRef{bucket, key}
	if old, ok := c.m[ref]; ok {
		c.bytes -= len(old.st.inline)
	}
	for ref := range c.m { // evict arbitrary entries (map order is random) to make room
		if len(c.m) < c.maxEntries && c.bytes+n <= c.maxBytes {
			break
		}
		c.bytes -= len(c.m[ref].st.inline)
		delete(c.m, ref)
	}
	c.m[ref] = &cachedObject{info: info, st: st}
	c.bytes += n
}

// begin and end bracket an index transaction that changes the objects refs.
func (c *objectCache) begin(refs []objectRef) { c.step(refs) }
func (c *objectCache) end(refs []objectRef)   { c.step(refs) }

func (c *objectCache) step(refs []objectRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, ref := range refs {
		c.dropLocked(ref)
	}
}

// drop forgets bucket/key (a reader found its data file gone: the row was stale).
func (c *objectCache) drop(bucket, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(objectRef{bucket, key})
}

func (c *objectCache) dropLocked(ref objectRef) {
	if e, ok := c.m[ref]; ok {
		c.bytes -= len(e.st.inline)
		delete(c.m, ref)
	}
}
