package fsbackend

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// PutObject streams body into a new data file and commits it as bucket/key. The old
// version stays readable until the commit; on any error (body, length, Content-MD5,
// If-None-Match) nothing is committed and the new file is removed.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts s3gw.PutOptions) (s3gw.ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	if err := b.precheck(ctx, bucket, key, opts.IfNoneMatch); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	w, err := b.receive(ctx, body, opts.Size, opts.ContentMD5)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	var sums map[string]string
	if opts.Checksums != nil {
		sums = opts.Checksums()
	}
	info := s3gw.ObjectInfo{
		Key: key, Size: w.size, ETag: hex.EncodeToString(w.md5),
		Metadata: opts.Metadata, Checksums: sums,
	}
	return b.commitObject(ctx, bucket, info, w, opts.IfNoneMatch)
}

// precheck fails early, before a body is read, for a missing bucket or (with
// If-None-Match) an existing key. The commit checks both again.
func (b *Backend) precheck(ctx context.Context, bucket, key string, ifNoneMatch bool) error {
	if !ifNoneMatch {
		return bucketExists(ctx, b.rdb, bucket)
	}
	_, _, err := b.lookup(ctx, b.rdb, bucket, key, false)
	switch {
	case err == nil:
		return fmt.Errorf("fsbackend: %q exists: %w", key, s3gw.ErrPreconditionFailed)
	case errors.Is(err, s3gw.ErrNoSuchKey):
		return nil
	default:
		return err
	}
}

// commitObject makes w the data of bucket/info.Key in one index transaction and then
// removes the files of the version it replaced. On failure it removes w's file.
func (b *Backend) commitObject(ctx context.Context, bucket string, info s3gw.ObjectInfo, w writeResult, ifNoneMatch bool) (s3gw.ObjectInfo, error) {
	info.LastModified = fromNanos(b.now().UnixNano())
	meta := encodeMeta(info.Metadata, info.Checksums)
	segs := w.segments()
	files := encodeSegments(segs)
	var old []segment
	err := b.commit.doObject(ctx, bucket, info.Key, func(ctx context.Context, tx querier) error {
		old = nil
		if err := bucketExists(ctx, tx, bucket); err != nil {
			return err
		}
		var prev string
		err := tx.QueryRowContext(ctx, qObjectFiles, bucket, []byte(info.Key)).Scan(&prev)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case ifNoneMatch:
			return fmt.Errorf("fsbackend: %q exists: %w", info.Key, s3gw.ErrPreconditionFailed)
		default:
			if old, err = decodeSegments(prev); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, qPutObject, bucket, []byte(info.Key), info.Size, info.ETag, info.LastModified.UnixNano(),
			info.PartsCount, meta, files, w.inline)
		return err
	})
	if err != nil {
		for _, s := range segs {
			_ = os.Remove(b.filePath(s.id))
		}
		return s3gw.ObjectInfo{}, fmt.Errorf("fsbackend: put %q: %w", info.Key, err)
	}
	b.release(segmentIDs(old))
	return info, nil
}

// GetObject opens bucket/key, or bytes rng.First..min(rng.Last, size-1) of it. The
// returned info describes the whole object (Size is the object's size).
func (b *Backend) GetObject(ctx context.Context, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, io.ReadCloser, error) {
	if err := validKey(key); err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	info, r, err := b.openObject(ctx, bucket, key, rng)
	if err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	return info, r, nil
}

// HeadObject returns bucket/key's info.
func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (s3gw.ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	info, _, err := b.lookup(ctx, b.rdb, bucket, key, false)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	return info, nil
}

// DeleteObject removes bucket/key; a missing key is not an error.
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	if _, _, err := b.lookup(ctx, b.rdb, bucket, key, false); err != nil {
		if errors.Is(err, s3gw.ErrNoSuchKey) {
			return nil
		}
		return err
	}
	var old []segment
	err := b.commit.doObject(ctx, bucket, key, func(ctx context.Context, tx querier) error {
		old = nil
		var prev string
		err := tx.QueryRowContext(ctx, qDeleteObject, bucket, []byte(key)).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		old, err = decodeSegments(prev)
		return err
	})
	if err != nil {
		return fmt.Errorf("fsbackend: delete %q: %w", key, err)
	}
	b.release(segmentIDs(old))
	return nil
}

// CopyObject streams src into a new data file for dst (also when src is dst, the usual
// way to replace metadata). With meta nil the source's metadata is kept. Checksums are
// kept: the bytes are the same.
func (b *Backend) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta *s3gw.Metadata, opts s3gw.CopyOptions) (s3gw.ObjectInfo, error) {
	if err := validKey(srcKey); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	if err := validKey(dstKey); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	src, r, err := b.openObject(ctx, srcBucket, srcKey, nil)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	defer r.Close()
	if err := b.precheck(ctx, dstBucket, dstKey, opts.IfNoneMatch); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	w, err := b.receive(ctx, r, src.Size, nil)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	info := s3gw.ObjectInfo{
		Key: dstKey, Size: w.size, ETag: hex.EncodeToString(w.md5),
		Metadata: src.Metadata, Checksums: src.Checksums,
	}
	if meta != nil {
		info.Metadata = *meta
	}
	return b.commitObject(ctx, dstBucket, info, w, opts.IfNoneMatch)
}
