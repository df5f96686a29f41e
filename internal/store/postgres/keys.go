package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyless-dev/keyless/internal/store"
)

const keyColumns = `id, purpose, algorithm, generation, state, material, created_at, retiring_at, retire_at`

func scanKey(row pgx.Row) (store.Key, error) {
	var (
		k                           store.Key
		purpose, state              string
		created, retiring, retireAt pgtype.Timestamptz
	)
	if err := row.Scan(&k.ID, &purpose, &k.Algorithm, &k.Generation, &state, &k.Material,
		&created, &retiring, &retireAt); err != nil {
		return store.Key{}, err
	}
	k.Purpose, k.State = store.KeyPurpose(purpose), store.KeyState(state)
	k.CreatedAt, k.RetiringAt, k.RetireAt = fromTS(created), fromTS(retiring), fromTS(retireAt)
	return k, nil
}

// CreateKey inserts k unless its id, or its purpose and generation, are taken. Of several
// nodes inserting one generation at once exactly one succeeds: INSERT ... ON CONFLICT DO
// NOTHING waits for a concurrent insert of the same unique value to commit or abort.
func (s *DB) CreateKey(ctx context.Context, k store.Key) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("postgres: create key: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		k.ID, string(k.Purpose), k.Algorithm, k.Generation, string(k.State), k.Material,
		ts(k.CreatedAt), ts(k.RetiringAt), ts(k.RetireAt))
	if err != nil {
		return fmt.Errorf("postgres: create key %s: %w", k.ID, refused(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create key %s (%s generation %d): %w", k.ID, k.Purpose, k.Generation, store.ErrExists)
	}
	return nil
}

// GetKey returns the key with this id.
func (s *DB) GetKey(ctx context.Context, id string) (store.Key, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = $1`, id))
	if err != nil {
		return store.Key{}, notFound(err, "get key "+id)
	}
	return k, nil
}

// ListKeys returns every key of this purpose by generation.
func (s *DB) ListKeys(ctx context.Context, purpose store.KeyPurpose) ([]store.Key, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx,
		`SELECT `+keyColumns+` FROM keys WHERE purpose = $1 ORDER BY generation`, string(purpose))
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	ks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Key, error) { return scanKey(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return ks, nil
}

// UpdateKey applies fn to the stored key inside one transaction that holds the key's row
// lock (SELECT ... FOR UPDATE), so concurrent updates, from any node, are serialised.
func (s *DB) UpdateKey(ctx context.Context, id string, fn func(old store.Key) (store.Key, error)) (store.Key, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Key{}, fmt.Errorf("postgres: update key %s: %w", id, err)
	}
	defer s.rollback(ctx, tx)
	old, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return store.Key{}, notFound(err, "update key "+id)
	}
	k, err := fn(old)
	if err != nil {
		return store.Key{}, err
	}
	if k.ID != old.ID || k.Purpose != old.Purpose || k.Generation != old.Generation {
		return store.Key{}, fmt.Errorf("postgres: update key %s: %w: id, purpose and generation are fixed", id, store.ErrInvalid)
	}
	if err := k.Validate(); err != nil {
		return store.Key{}, fmt.Errorf("postgres: update key: %w", err)
	}
	if _, err := tx.Exec(ctx,
		`UPDATE keys SET algorithm = $1, state = $2, material = $3, created_at = $4, retiring_at = $5, retire_at = $6 WHERE id = $7`,
		k.Algorithm, string(k.State), k.Material, ts(k.CreatedAt), ts(k.RetiringAt), ts(k.RetireAt), id); err != nil {
		return store.Key{}, fmt.Errorf("postgres: update key %s: %w", id, refused(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Key{}, fmt.Errorf("postgres: update key %s: %w", id, err)
	}
	return k, nil
}
