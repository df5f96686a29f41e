package fsbackend

import (
	"hash/maphash"
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
// end; both drop the key and move the key's generation on, so it is odd while a
// transaction that changes the key runs. A reader samples the key's generation before its
// query and stores what it read only if it is still that even value afterwards: a row read
// while, or before, the key changed is never stored after the change dropped it.
// Generations are kept per stripe of keys (a hash of the key picks one of genStripes), so
// the memory is fixed and writes to other keys rarely stop a key from being cached; keys
// that share a stripe only cache less. Entries are shared: callers treat the returned
// info's maps and inline bytes as read-only (s3gw never writes to them).
type objectCache struct {
	mu         sync.Mutex
	seed       maphash.Seed
	gens       [genStripes]uint64
	m          map[objectRef]*cachedObject
	bytes      int // estimated bytes held (entrySize)
	maxEntries int
	maxBytes   int
}

type objectRef struct{ bucket, key string }

type cachedObject struct {
	info s3gw.ObjectInfo
	st   stored
	size int
}

// entrySize estimates what an entry holds: its inline bytes, names, metadata (user
// metadata can be tens of KiB: S3 limits only the header) and segments, plus the
// structures around them.
func entrySize(bucket, key string, info s3gw.ObjectInfo, st stored) int {
	m := info.Metadata
	n := 256 + len(st.inline) + len(bucket) + len(key) + len(info.ETag) + 48*len(st.segs) +
		len(m.ContentType) + len(m.ContentEncoding) + len(m.ContentDisposition) + len(m.ContentLanguage) +
		len(m.CacheControl) + len(m.Expires)
	for k, v := range m.User {
		n += 32 + len(k) + len(v)
	}
	for k, v := range info.Checksums {
		n += 32 + len(k) + len(v)
	}
	return n
}

// Bounds of the cache: inline objects are at most 32 KiB, so the byte bound (of
// entrySize) is what limits a cache of small objects (keylessd's memory test allows
// 100 MiB in all).
const (
	cacheMaxEntries = 16384
	cacheMaxBytes   = 16 << 20
	genStripes      = 4096
)

func newObjectCache(maxEntries, maxBytes int) *objectCache {
	return &objectCache{m: make(map[objectRef]*cachedObject), seed: maphash.MakeSeed(), maxEntries: maxEntries, maxBytes: maxBytes}
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

// stripe is the generation slot of bucket/key.
func (c *objectCache) stripe(ref objectRef) int {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(ref.bucket)
	h.WriteByte(0)
	h.WriteString(ref.key)
	return int(h.Sum64() % genStripes)
}

// generation is sampled by a reader of bucket/key before it queries the index.
func (c *objectCache) generation(bucket, key string) uint64 {
	i := c.stripe(objectRef{bucket, key})
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[i]
}

// put stores a row read at generation gen, unless an object changed since (or was
// changing then), or the row lacks an inline object's bytes.
func (c *objectCache) put(gen uint64, bucket, key string, info s3gw.ObjectInfo, st stored, withData bool) {
	if len(st.segs) == 0 && !withData {
		return
	}
	n := entrySize(bucket, key, info, st)
	if n > c.maxBytes/16 {
		return
	}
	ref := objectRef{bucket, key}
	i := c.stripe(ref)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gens[i] || gen%2 == 1 {
		return
	}
	c.dropLocked(ref)        // a concurrent reader of the same key may have stored it already
	for other := range c.m { // evict arbitrary entries (map order is random) to make room
		if len(c.m) < c.maxEntries && c.bytes+n <= c.maxBytes {
			break
		}
		c.dropLocked(other)
	}
	c.m[ref] = &cachedObject{info: info, st: st, size: n}
	c.bytes += n
}

// begin and end bracket an index transaction that changes the objects refs.
func (c *objectCache) begin(refs []objectRef) { c.step(refs) }
func (c *objectCache) end(refs []objectRef)   { c.step(refs) }

func (c *objectCache) step(refs []objectRef) {
	stripes := make(map[int]bool, len(refs)) // each stripe moves once, even if two keys share it
	for _, ref := range refs {
		stripes[c.stripe(ref)] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range stripes {
		c.gens[i]++
	}
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
		c.bytes -= e.size
		delete(c.m, ref)
	}
}
