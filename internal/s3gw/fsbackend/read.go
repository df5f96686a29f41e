package fsbackend

import (
	"context"
	"crypto/md5"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
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

// fill copies body into f through one pooled buffer, hashing it, and checks its length
// (when size >= 0) and MD5 (when wantMD5 is set). Only io.EOF ends a body; any other
// Read error (io.ErrUnexpectedEOF included) fails the write.
func (b *Backend) fill(ctx context.Context, f *os.File, body io.Reader, size int64, wantMD5 []byte) (writeResult, error) {
	bp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bp)
	buf := *bp
	h := md5.New()
	if size >= 0 {
		body = io.LimitReader(body, size+1)
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return writeResult{}, err
		}
		n, rerr := readFull(body, buf)
		if n > 0 {
			h.Write(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				return writeResult{}, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return writeResult{}, fmt.Errorf("read body: %w", rerr)
		}
	}
	if size >= 0 && total != size {
		return writeResult{}, fmt.Errorf("%d bytes, want %d: %w", min(total, size+1), size, ErrBodyLength)
	}
	sum := h.Sum(nil)
	if wantMD5 != nil && string(sum) != string(wantMD5) {
		return writeResult{}, s3gw.ErrBadDigest
	}
	return writeResult{size: total, md5: sum}, nil
}

// readFull reads until buf is full or r fails; unlike io.ReadFull it passes io.EOF and
// every other error through unchanged.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// lookup reads one object's row: its info and data files.
func (b *Backend) lookup(ctx context.Context, q querier, bucket, key string) (s3gw.ObjectInfo, []segment, error) {
	var (
		info        s3gw.ObjectInfo
		modified    int64
		meta, files string
		size        int64
		etag        string
		parts       int
	)
	err := q.QueryRowContext(ctx,
		`SELECT size, etag, modified, parts, meta, files FROM objects WHERE bucket = ? AND key = ?`,
		bucket, []byte(key)).Scan(&size, &etag, &modified, &parts, &meta, &files)
	if errors.Is(err, sql.ErrNoRows) {
		if err := bucketExists(ctx, q, bucket); err != nil {
			return info, nil, err
		}
		return info, nil, fmt.Errorf("fsbackend: %q: %w", key, s3gw.ErrNoSuchKey)
	}
	if err != nil {
		return info, nil, fmt.Errorf("fsbackend: read index: %w", err)
	}
	segs, err := decodeSegments(files)
	if err != nil {
		return info, nil, fmt.Errorf("fsbackend: %w", err)
	}
	m, sums, err := decodeMeta(meta)
	if err != nil {
		return info, nil, fmt.Errorf("fsbackend: %w", err)
	}
	info = s3gw.ObjectInfo{
		Key: key, Size: size, ETag: etag, LastModified: fromNanos(modified),
		Metadata: m, Checksums: sums, PartsCount: parts,
	}
	return info, segs, nil
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
	for {
		info, segs, err := b.lookup(ctx, b.rdb, bucket, key)
		if err != nil {
			return info, nil, err
		}
		first, last, err := resolveRange(rng, info.Size)
		if err != nil {
			return info, nil, err
		}
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
		if err := ctx.Err(); err != nil {
			return info, nil, err
		}
	}
}

// objectReader streams a byte range across an object's data files.
type objectReader struct {
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
	if !r.freed {
		r.freed = true
		r.b.unpin(r.ids)
	}
	return err
}
