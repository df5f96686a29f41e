package fsbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// versionBody is version v of a test object: small ones are inline, large ones files.
func versionBody(v, size int) []byte {
	head := []byte(strconv.Itoa(v) + ":")
	return append(head, bytes.Repeat([]byte{byte(v)}, size)...)
}

func bodyVersion(t *testing.T, body []byte) int {
	t.Helper()
	head, _, ok := bytes.Cut(body, []byte(":"))
	v, err := strconv.Atoi(string(head))
	if !ok || err != nil {
		t.Fatalf("body %.20q is no version", body)
	}
	return v
}

func TestReadsAfterAChangeSeeTheChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, size := range []int{100, 64 << 10} { // inline, then file-backed
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			b := newTestBackend(t)
			for v := range 5 {
				want := versionBody(v, size)
				put(t, b, "b", "k", want)
				if info, got := get(t, b, "b", "k", nil); !bytes.Equal(got, want) || info.ETag != md5hex(want) {
					t.Fatalf("after writing version %d a GET read version %d", v, bodyVersion(t, got))
				}
				if info, err := b.HeadObject(ctx, "b", "k"); err != nil || info.ETag != md5hex(want) {
					t.Fatalf("after writing version %d HEAD has etag %s (err %v)", v, info.ETag, err)
				}
			}
			// a copy onto the key, a delete and a multipart completion drop it too
			put(t, b, "b", "src", versionBody(10, size))
			if _, err := b.CopyObject(ctx, "b", "src", "b", "k", nil, s3gw.CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, got := get(t, b, "b", "k", nil); bodyVersion(t, got) != 10 {
				t.Fatalf("after a copy onto the key a GET read version %d", bodyVersion(t, got))
			}
			if err := b.DeleteObject(ctx, "b", "k"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.GetObject(ctx, "b", "k", nil); !errors.Is(err, s3gw.ErrNoSuchKey) {
				t.Fatalf("after a delete GetObject = %v, want ErrNoSuchKey", err)
			}
			if _, err := b.HeadObject(ctx, "b", "k"); !errors.Is(err, s3gw.ErrNoSuchKey) {
				t.Fatalf("after a delete HeadObject = %v, want ErrNoSuchKey", err)
			}
			put(t, b, "b", "k", versionBody(20, size))
			get(t, b, "b", "k", nil) // cached again
			id, err := b.CreateMultipartUpload(ctx, "b", "k", s3gw.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			part := versionBody(30, size)
			p, err := b.UploadPart(ctx, "b", "k", id, 1, bytes.NewReader(part), s3gw.PartOptions{Size: int64(len(part))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.CompleteMultipartUpload(ctx, "b", "k", id, []s3gw.CompletedPart{{Number: 1, ETag: p.ETag}}); err != nil {
				t.Fatal(err)
			}
			if _, got := get(t, b, "b", "k", nil); bodyVersion(t, got) != 30 {
				t.Fatalf("after a multipart completion a GET read version %d", bodyVersion(t, got))
			}
		})
	}
}

// A reader that starts after a write returned must never read an older version, while
// other readers keep filling the cache with what they read.
func TestConcurrentReadersNeverSeeAVersionOlderThanTheLastAcknowledged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, size := range []int{100, 40 << 10} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			b := newTestBackend(t)
			put(t, b, "b", "hot", versionBody(0, size))
			var acked atomic.Int64
			const versions = 60
			var wg sync.WaitGroup
			wg.Go(func() {
				for v := 1; v <= versions; v++ {
					data := versionBody(v, size)
					if _, err := b.PutObject(ctx, "b", "hot", bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data))}); err != nil {
						t.Errorf("PutObject: %v", err)
						return
					}
					acked.Store(int64(v))
				}
			})
			for range 4 {
				wg.Go(func() {
					for acked.Load() < versions {
						floor := acked.Load()
						_, r, err := b.GetObject(ctx, "b", "hot", nil)
						if err != nil {
							t.Errorf("GetObject: %v", err)
							return
						}
						got, err := io.ReadAll(r)
						_ = r.Close()
						if err != nil {
							t.Errorf("reading: %v", err)
							return
						}
						if v := bodyVersion(t, got); int64(v) < floor {
							t.Errorf("a read that began after version %d was acknowledged returned version %d", floor, v)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestObjectCacheStoresOnlyRowsReadWhileNothingChanged(t *testing.T) {
	t.Parallel()
	info := s3gw.ObjectInfo{Key: "k", Size: 3}
	inline := stored{inline: []byte("abc")}
	tests := []struct {
		name     string
		between  func(c *objectCache) // runs between sampling the generation and put
		withData bool
		st       stored
		cached   bool
	}{
		{name: "a row read while nothing changed is stored", between: func(*objectCache) {}, withData: true, st: inline, cached: true},
		{name: "a row read across another key's change is stored", between: func(c *objectCache) {
			other := otherStripeKey(c, "k")
			c.begin([]objectRef{{"b", other}})
			c.end([]objectRef{{"b", other}})
		}, withData: true, st: inline, cached: true},
		{name: "a row read across its own change is not stored", between: func(c *objectCache) {
			c.begin([]objectRef{{"b", "k"}})
			c.end([]objectRef{{"b", "k"}})
		}, withData: true, st: inline},
		{name: "a row read across a change of a key of its stripe is not stored", between: func(c *objectCache) {
			same := sameStripeKey(c, "k")
			c.begin([]objectRef{{"b", same}, {"b", "k"}}) // two keys of one stripe in one transaction
			c.end([]objectRef{{"b", same}, {"b", "k"}})
		}, withData: true, st: inline},
		{name: "a row read while a key of its stripe changes is not stored", between: func(c *objectCache) {
			c.begin([]objectRef{{"b", sameStripeKey(c, "k")}})
		}, withData: true, st: inline},
		{name: "a row read during a change is not stored", between: func(c *objectCache) {
			c.begin([]objectRef{{"b", "k"}})
		}, withData: true, st: inline},
		{name: "an inline row read without its bytes is not stored", between: func(*objectCache) {}, st: stored{}},
		{name: "a file-backed row read without data is stored", between: func(*objectCache) {},
			st: stored{segs: []segment{{id: "0123456789abcdef0123456789abcdef", size: 3}}}, cached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newObjectCache(10, 1<<20)
			gen := c.generation("b", "k")
			tt.between(c)
			c.put(gen, "b", "k", info, tt.st, tt.withData)
			if _, _, ok := c.get("b", "k"); ok != tt.cached {
				t.Errorf("cached = %v, want %v", ok, tt.cached)
			}
		})
	}
}

func TestObjectCacheStaysWithinItsBounds(t *testing.T) {
	t.Parallel()
	const maxBytes = 20000
	c := newObjectCache(8, maxBytes)
	check := func(when string) {
		t.Helper()
		total := 0
		for ref, e := range c.m {
			if e.size != entrySize(ref.bucket, ref.key, e.info, e.st) {
				t.Fatalf("%s: entry %s has size %d, entrySize says %d", when, ref.key, e.size, entrySize(ref.bucket, ref.key, e.info, e.st))
			}
			total += e.size
		}
		if total != c.bytes {
			t.Fatalf("%s: byte count %d, entries hold %d", when, c.bytes, total)
		}
		if len(c.m) > 8 || c.bytes > maxBytes {
			t.Fatalf("%s: the cache holds %d entries and %d bytes (bounds 8 and %d)", when, len(c.m), c.bytes, maxBytes)
		}
	}
	for i := range 100 {
		c.put(c.generation("b", strconv.Itoa(i)), "b", strconv.Itoa(i), s3gw.ObjectInfo{}, stored{inline: make([]byte, 50)}, true)
		check(fmt.Sprintf("after %d puts", i+1))
	}
	for i := range 50 { // storing a key the cache holds already (two readers of one key)
		c.put(c.generation("b", strconv.Itoa(90+i%10)), "b", strconv.Itoa(90+i%10), s3gw.ObjectInfo{}, stored{inline: make([]byte, 60)}, true)
		check(fmt.Sprintf("after %d puts of held keys", i+1))
	}
	c.put(c.generation("b", "big"), "b", "big", s3gw.ObjectInfo{}, stored{inline: make([]byte, 1500)}, true)
	if _, _, ok := c.get("b", "big"); ok {
		t.Error("an entry over a sixteenth of the byte bound was stored")
	}
	meta := s3gw.ObjectInfo{Metadata: s3gw.Metadata{User: map[string]string{"blob": string(make([]byte, 1500))}}}
	c.put(c.generation("b", "meta"), "b", "meta", meta, stored{segs: []segment{{id: "0123456789abcdef0123456789abcdef", size: 1}}}, false)
	if _, _, ok := c.get("b", "meta"); ok {
		t.Error("an entry whose user metadata is over a sixteenth of the byte bound was stored")
	}
	check("at the end")
}

func TestADataFileRemovedBehindTheIndexIsAnErrorNotALoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	put(t, b, "b", "big", versionBody(1, 64<<10)) // file-backed
	get(t, b, "b", "big", nil)                    // and cached
	_, st, err := b.lookupIndex(ctx, b.rdb, "b", "big", false)
	if err != nil || len(st.segs) != 1 {
		t.Fatalf("lookup: %v, %d segments", err, len(st.segs))
	}
	if err := os.Remove(b.filePath(st.segs[0].id)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, r, err := b.GetObject(ctx, "b", "big", nil)
		if r != nil {
			r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("GetObject of an object whose data file is gone = %v, want a corrupt-store error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("GetObject of an object whose data file is gone did not return")
	}
}

// sameStripeKey and otherStripeKey find a key whose generation stripe is (is not) key's.
func sameStripeKey(c *objectCache, key string) string {
	want := c.stripe(objectRef{"b", key})
	for i := 0; ; i++ {
		k := "s" + strconv.Itoa(i)
		if k != key && c.stripe(objectRef{"b", k}) == want {
			return k
		}
	}
}

func otherStripeKey(c *objectCache, key string) string {
	want := c.stripe(objectRef{"b", key})
	for i := 0; ; i++ {
		k := "o" + strconv.Itoa(i)
		if c.stripe(objectRef{"b", k}) != want {
			return k
		}
	}
}
