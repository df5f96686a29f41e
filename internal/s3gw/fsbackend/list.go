package fsbackend

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

const maxListKeys = 1000

// prefixEnd returns the smallest string greater than every string starting with p, or
// "" when there is none (p empty or all 0xff).
func prefixEnd(p string) string {
	for len(p) > 0 && p[len(p)-1] == 0xff {
		p = p[:len(p)-1]
	}
	if p == "" {
		return ""
	}
	return p[:len(p)-1] + string([]byte{p[len(p)-1] + 1})
}

// rollUp returns the common prefix key belongs to under (prefix, delim), if any.
func rollUp(key, prefix, delim string) (string, bool) {
	if delim == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delim)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delim)], true
}

// ListObjects lists keys after q.Marker under q.Prefix in binary order, rolling keys
// that share a prefix up to q.Delimiter into one common prefix. It reads the index in
// pages and jumps over each common prefix with one query, so a page costs O(MaxKeys)
// index reads however many keys a prefix holds. MaxKeys <= 0 returns an empty page;
// more than 1000 is 1000.
func (b *Backend) ListObjects(ctx context.Context, bucket string, q s3gw.ListQuery) (s3gw.ListResult, error) {
	var res s3gw.ListResult
	if err := bucketExists(ctx, b.rdb, bucket); err != nil {
		return res, err
	}
	maxKeys := min(q.MaxKeys, maxListKeys)
	if maxKeys <= 0 {
		return res, nil
	}
	lower := q.Prefix // keys >= lower
	if m := q.Marker + "\x00"; m > lower {
		lower = m
	}
	upper := prefixEnd(q.Prefix) // keys < upper, when set
	count := 0
	emit := func(name string) bool {
		if count == maxKeys {
			res.IsTruncated = true
			return false
		}
		count++
		res.NextMarker = name
		return true
	}
	for {
		page, err := b.listPage(ctx, bucket, lower, upper, maxKeys+1)
		if err != nil {
			return s3gw.ListResult{}, err
		}
		jumped := false
		for _, obj := range page {
			if cp, ok := rollUp(obj.Key, q.Prefix, q.Delimiter); ok {
				if cp > q.Marker {
					if !emit(cp) {
						return finish(res), nil
					}
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
				}
				if lower = prefixEnd(cp); lower == "" {
					return finish(res), nil
				}
				jumped = true
				break
			}
			if !emit(obj.Key) {
				return finish(res), nil
			}
			res.Objects = append(res.Objects, obj)
			lower = obj.Key + "\x00"
		}
		if !jumped && len(page) < maxKeys+1 {
			return finish(res), nil
		}
	}
}

func finish(res s3gw.ListResult) s3gw.ListResult {
	if !res.IsTruncated {
		res.NextMarker = ""
	}
	return res
}

// listPage reads up to limit objects with lower <= key (< upper when upper is set).
func (b *Backend) listPage(ctx context.Context, bucket, lower, upper string, limit int) ([]s3gw.ObjectInfo, error) {
	query := `SELECT key, size, etag, modified, parts, meta FROM objects
		WHERE bucket = ? AND key >= ? ORDER BY key LIMIT ?`
	args := []any{bucket, []byte(lower), limit}
	if upper != "" {
		query = `SELECT key, size, etag, modified, parts, meta FROM objects
			WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`
		args = []any{bucket, []byte(lower), []byte(upper), limit}
	}
	rows, err := b.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: list: %w", err)
	}
	var out []s3gw.ObjectInfo
	for rows.Next() {
		var (
			key      []byte
			info     s3gw.ObjectInfo
			modified int64
			meta     string
		)
		if err := rows.Scan(&key, &info.Size, &info.ETag, &modified, &info.PartsCount, &meta); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("fsbackend: list: %w", err)
		}
		info.Key = string(key)
		info.LastModified = fromNanos(modified)
		if info.Metadata, info.Checksums, err = decodeMeta(meta); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("fsbackend: list: %w", err)
		}
		out = append(out, info)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("fsbackend: list: %w", err)
	}
	return out, nil
}

// ListMultipartUploads lists uploads in progress by (key, upload id), after
// (KeyMarker, UploadIDMarker) as S3 defines them, with prefix and delimiter as in
// ListObjects. MaxUploads <= 0 or > 1000 is 1000.
func (b *Backend) ListMultipartUploads(ctx context.Context, bucket string, q s3gw.UploadsQuery) (s3gw.UploadsResult, error) {
	var res s3gw.UploadsResult
	if err := bucketExists(ctx, b.rdb, bucket); err != nil {
		return res, err
	}
	limit := q.MaxUploads
	if limit <= 0 || limit > maxListKeys {
		limit = maxListKeys
	}
	rows, err := b.rdb.QueryContext(ctx, `SELECT key, upload_id, initiated FROM uploads
		WHERE bucket = ? AND key >= ? ORDER BY key, upload_id`, bucket, []byte(max(q.Prefix, q.KeyMarker)))
	if err != nil {
		return res, fmt.Errorf("fsbackend: list uploads: %w", err)
	}
	defer rows.Close()
	count := 0
	lastCP := ""
	for rows.Next() {
		var (
			key       []byte
			u         s3gw.Upload
			initiated int64
		)
		if err := rows.Scan(&key, &u.UploadID, &initiated); err != nil {
			return s3gw.UploadsResult{}, fmt.Errorf("fsbackend: list uploads: %w", err)
		}
		u.Key, u.Initiated = string(key), fromNanos(initiated)
		if !strings.HasPrefix(u.Key, q.Prefix) {
			if u.Key > q.Prefix {
				break
			}
			continue
		}
		if u.Key < q.KeyMarker || (u.Key == q.KeyMarker && (q.UploadIDMarker == "" || u.UploadID <= q.UploadIDMarker)) {
			continue
		}
		cp, isCP := rollUp(u.Key, q.Prefix, q.Delimiter)
		if isCP && (cp == lastCP || cp <= q.KeyMarker) {
			continue
		}
		if count == limit {
			res.IsTruncated = true
			break
		}
		count++
		if isCP {
			lastCP = cp
			res.CommonPrefixes = append(res.CommonPrefixes, cp)
			res.NextKeyMarker, res.NextUploadIDMarker = cp, ""
			continue
		}
		res.Uploads = append(res.Uploads, u)
		res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.UploadID
	}
	if err := rows.Err(); err != nil {
		return s3gw.UploadsResult{}, fmt.Errorf("fsbackend: list uploads: %w", err)
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	return res, nil
}
