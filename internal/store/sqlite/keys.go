package sqlite

import (
	"context"
	"fmt"

	"github.com/keyless-dev/keyless/internal/store"
)

const keyColumns = `id, purpose, algorithm, generation, state, material, created_at, retiring_at, retire_at`

type scanner interface{ Scan(dest ...any) error }

func scanKey(row scanner) (store.Key, error) {
	var (
		k                           store.Key
		purpose, state              string
		created, retiring, retireAt int64
	)
	if err := row.Scan(&k.ID, &purpose, &k.Algorithm, &k.Generation, &state, &k.Material,
		&created, &retiring, &retireAt); err != nil {
		return store.Key{}, err
	}
	k.Purpose, k.State = store.KeyPurpose(purpose), store.KeyState(state)
	k.CreatedAt, k.RetiringAt, k.RetireAt = store.FromMicros(created), store.FromMicros(retiring), store.FromMicros(retireAt)
	return k, nil
}

// CreateKey inserts k unless its id, or its purpose and generation, are taken.
func (s *DB) CreateKey(ctx context.Context, k store.Key) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		k.ID, string(k.Purpose), k.Algorithm, k.Generation, string(k.State), k.Material,
		store.Micros(k.CreatedAt), store.Micros(k.RetiringAt), store.Micros(k.RetireAt))
	if err != nil {
		return fmt.Errorf("sqlite: create key %s: %w", k.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: create key %s: %w", k.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: create key %s (%s generation %d): %w", k.ID, k.Purpose, k.Generation, store.ErrExists)
	}
	return s.syncWAL(ctx, "create key")
}

// GetKey returns the key with this id.
func (s *DB) GetKey(ctx context.Context, id string) (store.Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, id))
	if err != nil {
		return store.Key{}, notFound(err, "get key "+id)
	}
	return k, nil
}

// ListKeys returns every key of this purpose by generation.
func (s *DB) ListKeys(ctx context.Context, purpose store.KeyPurpose) ([]store.Key, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+keyColumns+` FROM keys WHERE purpose = ? ORDER BY generation`, string(purpose))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var ks []store.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	return ks, nil
}

// UpdateKey applies fn to the stored key inside one write transaction.
func (s *DB) UpdateKey(ctx context.Context, id string, fn func(old store.Key) (store.Key, error)) (store.Key, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Key{}, fmt.Errorf("sqlite: update key %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	old, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, id))
	if err != nil {
		return store.Key{}, notFound(err, "update key "+id)
	}
	k, err := fn(old)
	if err != nil {
		return store.Key{}, err
	}
	if k.ID != old.ID || k.Purpose != old.Purpose || k.Generation != old.Generation {
		return store.Key{}, fmt.Errorf("sqlite: update key %s: %w: id, purpose and generation are fixed", id, store.ErrInvalid)
	}
	if err := k.Validate(); err != nil {
		return store.Key{}, fmt.Errorf("sqlite: update key: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE keys SET algorithm = ?, state = ?, material = ?, created_at = ?, retiring_at = ?, retire_at = ? WHERE id = ?`,
		k.Algorithm, string(k.State), k.Material, store.Micros(k.CreatedAt), store.Micros(k.RetiringAt),
		store.Micros(k.RetireAt), id); err != nil {
		return store.Key{}, fmt.Errorf("sqlite: update key %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Key{}, fmt.Errorf("sqlite: update key %s: %w", id, err)
	}
	return k, s.syncWAL(ctx, "update key")
}
