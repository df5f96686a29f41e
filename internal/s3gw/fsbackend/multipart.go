package fsbackend

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

const (
	maxPartNumber = 10000
	minPartSize   = 5 << 20
)

// CreateMultipartUpload starts an upload. Upload ids sort by creation time (hex
// nanoseconds, then 64 random bits), so ListMultipartUploads's (key, id) order is S3's
// (key, initiation) order.
func (b *Backend) CreateMultipartUpload(ctx context.Context, bucket, key string, meta s3gw.Metadata) (string, error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	now := b.now().UnixNano()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("%016x%s", uint64(now), hex.EncodeToString(rnd[:]))
	m := encodeMeta(meta, nil)
	err := b.commit.do(ctx, func(ctx context.Context, tx querier) error {
		if err := bucketExists(ctx, tx, bucket); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO uploads (upload_id, bucket, key, initiated, meta)
			VALUES (?, ?, ?, ?, ?)`, id, bucket, []byte(key), now, m)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("fsbackend: create upload: %w", err)
	}
	return id, nil
}

// upload reads an upload's metadata and initiation time.
func upload(ctx context.Context, q querier, bucket, key, uploadID string) (s3gw.Metadata, int64, error) {
	var meta string
	var initiated int64
	err := q.QueryRowContext(ctx, `SELECT meta, initiated FROM uploads
		WHERE upload_id = ? AND bucket = ? AND key = ?`, uploadID, bucket, []byte(key)).Scan(&meta, &initiated)
	if errors.Is(err, sql.ErrNoRows) {
		if err := bucketExists(ctx, q, bucket); err != nil {
			return s3gw.Metadata{}, 0, err
		}
		return s3gw.Metadata{}, 0, fmt.Errorf("fsbackend: upload %q: %w", uploadID, s3gw.ErrNoSuchUpload)
	}
	if err != nil {
		return s3gw.Metadata{}, 0, fmt.Errorf("fsbackend: read upload: %w", err)
	}
	m, _, err := decodeMeta(meta)
	if err != nil {
		return s3gw.Metadata{}, 0, fmt.Errorf("fsbackend: %w", err)
	}
	return m, initiated, nil
}

func checkPart(key string, part int) error {
	if err := validKey(key); err != nil {
		return err
	}
	if part < 1 || part > maxPartNumber {
		return fmt.Errorf("fsbackend: part number %d not in 1..%d: %w", part, maxPartNumber, s3gw.ErrInvalidPart)
	}
	return nil
}

// UploadPart stores one part in its own data file, replacing an earlier upload of the
// same number once committed.
func (b *Backend) UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, opts s3gw.PartOptions) (s3gw.PartInfo, error) {
	if err := checkPart(key, part); err != nil {
		return s3gw.PartInfo{}, err
	}
	if _, _, err := upload(ctx, b.rdb, bucket, key, uploadID); err != nil {
		return s3gw.PartInfo{}, err
	}
	w, err := b.writeFile(ctx, body, opts.Size, opts.ContentMD5)
	if err != nil {
		return s3gw.PartInfo{}, err
	}
	var sums map[string]string
	if opts.Checksums != nil {
		sums = opts.Checksums()
	}
	return b.commitPart(ctx, bucket, key, uploadID, part, w, sums)
}

// UploadPartCopy stores bytes rng (all when nil) of srcBucket/srcKey as a part.
func (b *Backend) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, part int, srcBucket, srcKey string, rng *s3gw.Range) (s3gw.PartInfo, error) {
	if err := checkPart(key, part); err != nil {
		return s3gw.PartInfo{}, err
	}
	if err := validKey(srcKey); err != nil {
		return s3gw.PartInfo{}, err
	}
	if _, _, err := upload(ctx, b.rdb, bucket, key, uploadID); err != nil {
		return s3gw.PartInfo{}, err
	}
	src, r, err := b.openObject(ctx, srcBucket, srcKey, rng)
	if err != nil {
		return s3gw.PartInfo{}, err
	}
	defer r.Close()
	size := src.Size
	if rng != nil {
		size = r.left
	}
	w, err := b.writeFile(ctx, r, size, nil)
	if err != nil {
		return s3gw.PartInfo{}, err
	}
	return b.commitPart(ctx, bucket, key, uploadID, part, w, nil)
}

func (b *Backend) commitPart(ctx context.Context, bucket, key, uploadID string, part int, w writeResult, sums map[string]string) (s3gw.PartInfo, error) {
	info := s3gw.PartInfo{
		Number: part, ETag: hex.EncodeToString(w.md5), Size: w.size,
		LastModified: fromNanos(b.now().UnixNano()), Checksums: sums,
	}
	sumsJSON, err := json.Marshal(sums)
	if err != nil {
		return s3gw.PartInfo{}, fmt.Errorf("fsbackend: encode checksums: %w", err)
	}
	var old string
	err = b.commit.do(ctx, func(ctx context.Context, tx querier) error {
		old = ""
		if _, _, err := upload(ctx, tx, bucket, key, uploadID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT file FROM parts WHERE upload_id = ? AND number = ?`,
			uploadID, part).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO parts
			(upload_id, number, file, size, etag, modified, checksums) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			uploadID, part, w.id, w.size, info.ETag, info.LastModified.UnixNano(), string(sumsJSON))
		return err
	})
	if err != nil {
		_ = os.Remove(b.filePath(w.id))
		return s3gw.PartInfo{}, fmt.Errorf("fsbackend: upload part %d: %w", part, err)
	}
	if old != "" {
		b.release([]string{old})
	}
	return info, nil
}

// storedPart is a parts row.
type storedPart struct {
	file string
	size int64
	etag string
}

// CompleteMultipartUpload checks the listed parts and commits them, in that order, as
// the object's data files (no bytes are copied). Parts not listed are removed.
func (b *Backend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []s3gw.CompletedPart) (s3gw.ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return s3gw.ObjectInfo{}, fmt.Errorf("fsbackend: complete with no parts: %w", s3gw.ErrInvalidPart)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return s3gw.ObjectInfo{}, fmt.Errorf("fsbackend: part %d after %d: %w",
				parts[i].Number, parts[i-1].Number, s3gw.ErrInvalidPartOrder)
		}
	}
	var (
		info    s3gw.ObjectInfo
		garbage []string
	)
	modified := b.now().UnixNano()
	err := b.commit.doObject(ctx, bucket, key, func(ctx context.Context, tx querier) error {
		var err error
		info, garbage, err = completeTx(ctx, tx, bucket, key, uploadID, parts, modified)
		return err
	})
	if err != nil {
		return s3gw.ObjectInfo{}, fmt.Errorf("fsbackend: complete upload: %w", err)
	}
	b.release(garbage)
	return info, nil
}

// completeTx is CompleteMultipartUpload's transaction; it returns the new object and
// the files nothing references any more (unlisted parts, the replaced version).
func completeTx(ctx context.Context, tx querier, bucket, key, uploadID string, parts []s3gw.CompletedPart, modified int64) (s3gw.ObjectInfo, []string, error) {
	meta, _, err := upload(ctx, tx, bucket, key, uploadID)
	if err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	stored, err := partRows(ctx, tx, uploadID)
	if err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	h := md5.New()
	segs := make([]segment, 0, len(parts))
	var size int64
	for i, p := range parts {
		sp, ok := stored[p.Number]
		if !ok || strings.Trim(p.ETag, `"`) != sp.etag {
			return s3gw.ObjectInfo{}, nil, fmt.Errorf("fsbackend: part %d: %w", p.Number, s3gw.ErrInvalidPart)
		}
		if i < len(parts)-1 && sp.size < minPartSize {
			return s3gw.ObjectInfo{}, nil, fmt.Errorf("fsbackend: part %d of %d bytes: %w", p.Number, sp.size, s3gw.ErrEntityTooSmall)
		}
		sum, err := hex.DecodeString(sp.etag)
		if err != nil {
			return s3gw.ObjectInfo{}, nil, fmt.Errorf("corrupt index: part etag %q", sp.etag)
		}
		h.Write(sum)
		segs = append(segs, segment{id: sp.file, size: sp.size})
		size += sp.size
		delete(stored, p.Number)
	}
	var garbage []string
	for _, sp := range stored {
		garbage = append(garbage, sp.file)
	}
	info := s3gw.ObjectInfo{
		Key: key, Size: size, ETag: hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)),
		LastModified: fromNanos(modified), Metadata: meta, PartsCount: len(parts),
	}
	var prev string
	err = tx.QueryRowContext(ctx, qObjectFiles, bucket, []byte(key)).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s3gw.ObjectInfo{}, nil, err
	}
	old, err := decodeSegments(prev)
	if err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	garbage = append(garbage, segmentIDs(old)...)
	if _, err := tx.ExecContext(ctx, qPutObject, bucket, []byte(key), size, info.ETag, modified, len(parts),
		encodeMeta(meta, nil), encodeSegments(segs), nil); err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM parts WHERE upload_id = ?`, uploadID); err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE upload_id = ?`, uploadID); err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	return info, garbage, nil
}

func partRows(ctx context.Context, q querier, uploadID string) (map[int]storedPart, error) {
	rows, err := q.QueryContext(ctx, `SELECT number, file, size, etag FROM parts WHERE upload_id = ?`, uploadID)
	if err != nil {
		return nil, err
	}
	out := map[int]storedPart{}
	for rows.Next() {
		var n int
		var sp storedPart
		if err := rows.Scan(&n, &sp.file, &sp.size, &sp.etag); err != nil {
			_ = rows.Close()
			return nil, err
		}
		out[n] = sp
	}
	return out, closeRows(rows)
}

// AbortMultipartUpload drops an upload and its parts.
func (b *Backend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := validKey(key); err != nil {
		return err
	}
	var files []string
	err := b.commit.do(ctx, func(ctx context.Context, tx querier) error {
		files = nil
		if _, _, err := upload(ctx, tx, bucket, key, uploadID); err != nil {
			return err
		}
		var err error
		if files, err = deleteParts(ctx, tx, `DELETE FROM parts WHERE upload_id = ? RETURNING file`, uploadID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM uploads WHERE upload_id = ?`, uploadID)
		return err
	})
	if err != nil {
		return fmt.Errorf("fsbackend: abort upload: %w", err)
	}
	b.release(files)
	return nil
}

// ListParts lists an upload's parts after q.Marker by number. MaxParts <= 0 or > 1000
// is 1000.
func (b *Backend) ListParts(ctx context.Context, bucket, key, uploadID string, q s3gw.PartsQuery) (s3gw.PartsResult, error) {
	if err := validKey(key); err != nil {
		return s3gw.PartsResult{}, err
	}
	meta, initiated, err := upload(ctx, b.rdb, bucket, key, uploadID)
	if err != nil {
		return s3gw.PartsResult{}, err
	}
	limit := q.MaxParts
	if limit <= 0 || limit > maxListKeys {
		limit = maxListKeys
	}
	rows, err := b.rdb.QueryContext(ctx, `SELECT number, size, etag, modified, checksums FROM parts
		WHERE upload_id = ? AND number > ? ORDER BY number LIMIT ?`, uploadID, q.Marker, limit+1)
	if err != nil {
		return s3gw.PartsResult{}, fmt.Errorf("fsbackend: list parts: %w", err)
	}
	res := s3gw.PartsResult{Metadata: meta, Initiated: fromNanos(initiated)}
	for rows.Next() {
		var p s3gw.PartInfo
		var modified int64
		var sums string
		if err := rows.Scan(&p.Number, &p.Size, &p.ETag, &modified, &sums); err != nil {
			_ = rows.Close()
			return s3gw.PartsResult{}, fmt.Errorf("fsbackend: list parts: %w", err)
		}
		p.LastModified = fromNanos(modified)
		if err := json.Unmarshal([]byte(sums), &p.Checksums); err != nil {
			_ = rows.Close()
			return s3gw.PartsResult{}, fmt.Errorf("fsbackend: list parts: corrupt checksums: %w", err)
		}
		res.Parts = append(res.Parts, p)
	}
	if err := closeRows(rows); err != nil {
		return s3gw.PartsResult{}, fmt.Errorf("fsbackend: list parts: %w", err)
	}
	if len(res.Parts) > limit {
		res.Parts = res.Parts[:limit]
		res.IsTruncated = true
		res.NextMarker = res.Parts[limit-1].Number
	}
	return res, nil
}
