package fsbackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// ListBuckets returns every bucket by name.
func (b *Backend) ListBuckets(ctx context.Context) ([]s3gw.BucketInfo, error) {
	rows, err := b.rdb.QueryContext(ctx, `SELECT name, created FROM buckets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: list buckets: %w", err)
	}
	var out []s3gw.BucketInfo
	for rows.Next() {
		var bi s3gw.BucketInfo
		var created int64
		if err := rows.Scan(&bi.Name, &created); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("fsbackend: list buckets: %w", err)
		}
		bi.Created = fromNanos(created)
		out = append(out, bi)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("fsbackend: list buckets: %w", err)
	}
	return out, nil
}

// CreateBucket creates name. Bucket names are index values only (never paths); the
// gateway validates them.
func (b *Backend) CreateBucket(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("fsbackend: empty bucket name")
	}
	created := b.now().UnixNano()
	err := b.commit.do(ctx, func(ctx context.Context, tx querier) error {
		err := bucketExists(ctx, tx, name)
		if err == nil {
			return fmt.Errorf("fsbackend: bucket %q: %w", name, s3gw.ErrBucketAlreadyOwnedByYou)
		}
		if !errors.Is(err, s3gw.ErrNoSuchBucket) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO buckets (name, created) VALUES (?, ?)`, name, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("fsbackend: create bucket: %w", err)
	}
	return nil
}

// DeleteBucket removes an empty bucket. Multipart uploads in progress do not keep it
// alive: they are aborted with it.
func (b *Backend) DeleteBucket(ctx context.Context, name string) error {
	var parts []string
	err := b.commit.do(ctx, func(ctx context.Context, tx querier) error {
		parts = nil
		if err := bucketExists(ctx, tx, name); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM objects WHERE bucket = ? LIMIT 1`, name).Scan(&one)
		if err == nil {
			return fmt.Errorf("fsbackend: bucket %q: %w", name, s3gw.ErrBucketNotEmpty)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		parts, err = deleteParts(ctx, tx,
			`DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?) RETURNING file`, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE bucket = ?`, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM buckets WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("fsbackend: delete bucket: %w", err)
	}
	b.release(parts)
	return nil
}

// deleteParts runs a DELETE ... RETURNING file and collects the files.
func deleteParts(ctx context.Context, tx querier, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var files []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			_ = rows.Close()
			return nil, err
		}
		files = append(files, f)
	}
	return files, closeRows(rows)
}

// HeadBucket returns the bucket.
func (b *Backend) HeadBucket(ctx context.Context, name string) (s3gw.BucketInfo, error) {
	var created int64
	err := b.rdb.QueryRowContext(ctx, `SELECT created FROM buckets WHERE name = ?`, name).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return s3gw.BucketInfo{}, fmt.Errorf("fsbackend: bucket %q: %w", name, s3gw.ErrNoSuchBucket)
	}
	if err != nil {
		return s3gw.BucketInfo{}, fmt.Errorf("fsbackend: head bucket: %w", err)
	}
	return s3gw.BucketInfo{Name: name, Created: fromNanos(created)}, nil
}
