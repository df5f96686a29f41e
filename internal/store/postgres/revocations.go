package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyless-dev/keyless/internal/store"
)

// Revoke records r; a repeated revocation keeps the later times (GREATEST ignores NULL).
func (s *DB) Revoke(ctx context.Context, r store.Revocation) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	id := "s/" + r.SessionID
	if r.Role != "" {
		id = "r/" + r.Role
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `
INSERT INTO revocations (id, session_id, role, issued_before, created_at, expires_at, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET
    issued_before = GREATEST(revocations.issued_before, excluded.issued_before),
    expires_at = GREATEST(revocations.expires_at, excluded.expires_at)`,
		id, r.SessionID, r.Role, ts(r.IssuedBefore), ts(r.CreatedAt), ts(r.ExpiresAt), r.Reason)
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", refused(err))
	}
	return nil
}

// ListRevocations returns every stored revocation: sessions first, then roles, by name in
// byte order (COLLATE "C", whatever the database's collation).
func (s *DB) ListRevocations(ctx context.Context) ([]store.Revocation, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
SELECT session_id, role, issued_before, created_at, expires_at, reason
FROM revocations ORDER BY role <> '', session_id COLLATE "C", role COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list revocations: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Revocation, error) {
		var (
			r                        store.Revocation
			before, created, expires pgtype.Timestamptz
		)
		err := row.Scan(&r.SessionID, &r.Role, &before, &created, &expires, &r.Reason)
		r.IssuedBefore, r.CreatedAt, r.ExpiresAt = fromTS(before), fromTS(created), fromTS(expires)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list revocations: %w", err)
	}
	return rs, nil
}

// PruneRevocations deletes the revocations that expired before now.
func (s *DB) PruneRevocations(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM revocations WHERE expires_at < $1`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("postgres: prune revocations: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
