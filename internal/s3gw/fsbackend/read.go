package fsbackend

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// validKey accepts what S3 does: 1..1024 bytes of UTF-8. NUL is refused because S3's
// XML listings cannot carry it. Keys are only ever index values, never paths, so "..",
// "/", "%2e" and the like are ordinary characters.
func validKey(key string) error {
	if key == "" || len(key) > maxKeyLen || !utf8.ValidString(key) {
		return fmt.Errorf("fsbackend: key of %d bytes: %w", len(key), s3gw.ErrInvalidKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return fmt.Errorf("fsbackend: key with NUL: %w", s3gw.ErrInvalidKey)
		}
	}
	return nil
}

// stored is where an object's bytes are: data files, or inline in the index.
type stored struct {
	segs   []segment
	inline []byte // read only when asked for
}

const (
	lookupQuery     = `SELECT size, etag, modified, parts, meta, files, NULL FROM objects WHERE bucket = ? AND key = ?`
	lookupDataQuery = `SELECT size, etag, modified, parts, meta, files, data FROM objects WHERE bucket = ? AND key = ?`
)

// lookup reads one object's row: its info and where its bytes are (inline bytes only
// withData; a cached row may have them anyway). Outside a transaction (q is the reader
// pool) the row comes from the object cache when it holds it, and goes into it.
func (b *Backend) lookup(ctx context.Context, q querier, bucket, key string, withData bool) (s3gw.ObjectInfo, stored, error) {
	if q != querier(b.rdb) {
		return b.lookupIndex(ctx, q, bucket, key, withData)
	}
	if info, st, ok := b.cache.get(bucket, key); ok {
		return info, st, nil
	}
	gen := b.cache.generation(bucket, key)
	info, st, err := b.lookupIndex(ctx, q, bucket, key, withData)
	if err == nil {
		b.cache.put(gen, bucket, key, info, st, withData)
	}
	return info, st, err
}

// lookupIndex is lookup's query.
func (b *Backend) lookupIndex(ctx context.Context, q querier, bucket, key string, withData bool) (s3gw.ObjectInfo, stored, error) {
	var (
		info        s3gw.ObjectInfo
		st          stored
		modified    int64
		meta, files string
	)
	query := lookupQuery
	if withData {
		query = lookupDataQuery
	}
	err := q.QueryRowContext(ctx, query, bucket, []byte(key)).Scan(
		&info.Size, &info.ETag, &modified, &info.PartsCount, &meta, &files, &st.inline)
	if errors.Is(err, sql.ErrNoRows) {
		if err := bucketExists(ctx, q, bucket); err != nil {
			return info, st, err
		}
		return info, st, fmt.Errorf("fsbackend: %q: %w", key, s3gw.ErrNoSuchKey)
	}
	if err != nil {
		return info, st, fmt.Errorf("fsbackend: read index: %w", err)
	}
	if st.segs, err = decodeSegments(files); err != nil {
		return info, st, fmt.Errorf("fsbackend: %w", err)
	}
	if info.Metadata, info.Checksums, err = decodeMeta(meta); err != nil {
		return info, st, fmt.Errorf("fsbackend: %w", err)
	}
	info.Key, info.LastModified = key, fromNanos(modified)
	return info, st, nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// resolveRange checks rng against size and returns the first and last byte to serve
// (last clamped to the end). A nil rng is the whole object (last = size-1).
func resolveRange(rng *s3gw.Range, size int64) (first, last int64, err error) {
	if rng == nil {
		return 0, size - 1, nil
	}
	if rng.First < 0 || rng.Last < rng.First || rng.First >= size {
		return 0, 0, fmt.Errorf("fsbackend: bytes %d-%d of %d: %w", rng.First, rng.Last, size, s3gw.ErrInvalidRange)
	}
	return rng.First, min(rng.Last, size-1), nil
}

// openObject opens bucket/key (bytes first..last) for reading. Its data files are pinned
// until the reader is closed, so a concurrent overwrite or delete cannot remove them; if
// they were removed between the index read and the pin, the row is stale: read it again.
func (b *Backend) openObject(ctx context.Context, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, *objectReader, error) {
	var missing string // the data file found missing on the previous turn
	for {
		info, st, err := b.lookup(ctx, b.rdb, bucket, key, true)
		if err != nil {
			return info, nil, err
		}
		if missing != "" && slices.ContainsFunc(st.segs, func(s segment) bool { return s.id == missing }) {
			// The index still names the file it named before: not a concurrent change but
			// a file removed behind the index's back. Reading again would loop for ever.
			return info, nil, fmt.Errorf("fsbackend: corrupt store: %q names data file %s, which is missing", key, missing)
		}
		first, last, err := resolveRange(rng, info.Size)
		if err != nil {
			return info, nil, err
		}
		if len(st.segs) == 0 {
			if int64(len(st.inline)) != info.Size {
				return info, nil, fmt.Errorf("fsbackend: corrupt index: %q has %d inline bytes, size %d", key, len(st.inline), info.Size)
			}
			return info, &objectReader{mem: bytes.NewReader(st.inline[first : last+1]), left: last - first + 1}, nil
		}
		segs := st.segs
		ids := segmentIDs(segs)
		b.pin(ids)
		r := &objectReader{b: b, ids: ids, segs: segs, left: last - first + 1}
		err = r.seek(first)
		if err == nil {
			return info, r, nil
		}
		b.unpin(ids)
		if !errors.Is(err, os.ErrNotExist) {
			return info, nil, fmt.Errorf("fsbackend: open object data: %w", err)
		}
		missing = segs[r.i].id
		b.cache.drop(bucket, key) // the row was stale: read it again from the index
		if err := ctx.Err(); err != nil {
			return info, nil, err
		}
	}
}

// objectReader streams a byte range across an object's data files, or of its inline
// bytes (mem).
type objectReader struct {
	mem   *bytes.Reader
	b     *Backend
	ids   []string
	segs  []segment
	i     int      // current segment
	f     *os.File // open file of segs[i], nil between segments
	left  int64    // bytes still to serve
	freed bool
}

// seek opens the segment holding byte off (the first one for an empty object).
func (r *objectReader) seek(off int64) error {
	if len(r.segs) == 0 {
		return nil
	}
	r.i = 0
	for r.i < len(r.segs)-1 && off >= r.segs[r.i].size {
		off -= r.segs[r.i].size
		r.i++
	}
	f, err := os.Open(r.b.filePath(r.segs[r.i].id))
	if err != nil {
		return err
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			_ = f.Close()
			return err
		}
	}
	r.f = f
	return nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.mem != nil {
		n, err := r.mem.Read(p)
		r.left -= int64(n)
		return n, err
	}
	for {
		if r.left <= 0 {
			return 0, io.EOF
		}
		if r.f == nil {
			if r.i >= len(r.segs) {
				return 0, fmt.Errorf("fsbackend: object data shorter than its index entry: %w", io.ErrUnexpectedEOF)
			}
			f, err := os.Open(r.b.filePath(r.segs[r.i].id))
			if err != nil {
				return 0, fmt.Errorf("fsbackend: open object data: %w", err)
			}
			r.f = f
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.f.Read(p)
		r.left -= int64(n)
		if err == io.EOF {
			_ = r.f.Close()
			r.f = nil
			r.i++
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Close closes the open file and lets removed data files go.
func (r *objectReader) Close() error {
	var err error
	if r.f != nil {
		err = r.f.Close()
		r.f = nil
	}
	if !r.freed && r.b != nil {
		r.freed = true
		r.b.unpin(r.ids)
	}
	return err
}
