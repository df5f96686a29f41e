package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// Revoke records r; a repeated revocation keeps the later times.
func (s *DB) Revoke(ctx context.Context, r store.Revocation) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sqlite: revoke: %w", err)
	}
	id := "s/" + r.SessionID
	if r.Role != "" {
		id = "r/" + r.Role
	}
	_, err := s.db.ExecContext(ctx, `
INSERT INTO revocations (id, session_id, role, issued_before, created_at, expires_at, reason)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    issued_before = MAX(issued_before, excluded.issued_before),
    expires_at = MAX(expires_at, excluded.expires_at)`,
		id, r.SessionID, r.Role, store.Micros(r.IssuedBefore), store.Micros(r.CreatedAt),
		store.Micros(r.ExpiresAt), r.Reason)
	if err != nil {
		return fmt.Errorf("sqlite: revoke: %w", err)
	}
	return s.syncWAL(ctx, "revoke")
}

// ListRevocations returns every stored revocation: sessions first, then roles, by name.
func (s *DB) ListRevocations(ctx context.Context) ([]store.Revocation, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT session_id, role, issued_before, created_at, expires_at, reason
FROM revocations ORDER BY role <> '', session_id, role`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list revocations: %w", err)
	}
	defer rows.Close()
	var rs []store.Revocation
	for rows.Next() {
		var (
			r                        store.Revocation
			before, created, expires int64
		)
		if err := rows.Scan(&r.SessionID, &r.Role, &before, &created, &expires, &r.Reason); err != nil {
			return nil, fmt.Errorf("sqlite: list revocations: %w", err)
		}
		r.IssuedBefore, r.CreatedAt, r.ExpiresAt = store.FromMicros(before), store.FromMicros(created), store.FromMicros(expires)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list revocations: %w", err)
	}
	return rs, nil
}

// PruneRevocations deletes the revocations that expired before now.
func (s *DB) PruneRevocations(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM revocations WHERE expires_at < ?`, store.Micros(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune revocations: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune revocations: %w", err)
	}
	return int(n), nil
}
