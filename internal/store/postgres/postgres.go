// Package postgres is the shared store backend for several keyless nodes: PostgreSQL through
// a pgx connection pool, with the schema migrations embedded as SQL and applied under an
// advisory lock, and change notifications (LISTEN/NOTIFY) so that every node picks up new
// keys and revocations at once.
//
// The database URL is a libpq URL or keyword/value string, as pgx parses it (pool_max_conns,
// connect_timeout, sslmode, search_path, ... included). The tables live in the first schema
// of search_path (public by default), so several deployments, or test runs, can share one
// database in separate schemas.
//
// Every call is bounded: connecting times out (connect_timeout, 5s by default), Ping gives
// up after 3s, Open's migrations after 2 minutes, and any other call after 15s, even when
// the context has no deadline. When the server is unreachable calls fail with an error;
// the pool reconnects by itself when it is back.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyless-dev/keyless/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Default bounds; see the package comment.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultPingTimeout    = 3 * time.Second
	DefaultCallTimeout    = 15 * time.Second
	// migrateTimeout bounds Open's migrations, the wait for another node's included.
	migrateTimeout = 2 * time.Minute
)

// DB is a store.Store on one PostgreSQL schema. It is safe for concurrent use, also by
// several processes (nodes) sharing the database.
type DB struct {
	pool   *pgxpool.Pool
	opts   options
	schema string // the schema holding the tables (current_schema() at Open)
}

var _ store.Store = (*DB)(nil)

// options are the bounds of a DB; tests shorten them.
type options struct {
	pingTimeout time.Duration
	callTimeout time.Duration
	// listenRetry and listenRetryMax bound the back-off of Listen between reconnections.
	listenRetry, listenRetryMax time.Duration
}

func defaultOptions() options {
	return options{
		pingTimeout: DefaultPingTimeout, callTimeout: DefaultCallTimeout,
		listenRetry: 100 * time.Millisecond, listenRetryMax: 2 * time.Second,
	}
}

// Open connects to the database at url and applies the embedded migrations not yet applied.
// Nodes opening one database at once serialise on an advisory lock, so each migration is
// applied exactly once.
func Open(ctx context.Context, url string) (*DB, error) {
	return open(ctx, url, defaultOptions())
}

func open(ctx context.Context, url string, opts options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors quote the URL, password included: do not wrap them.
		return nil, errors.New("postgres: bad database url")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "keyless"
	}
	cfg.PingTimeout = opts.pingTimeout
	// Find connections broken during an outage sooner than the default minute.
	cfg.HealthCheckPeriod = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &DB{pool: pool, opts: opts}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers, giving up after a few seconds.
func (s *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.pingTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every connection of the pool. Listen calls must have returned first.
func (s *DB) Close() error {
	s.pool.Close()
	return nil
}

// Schema is the schema that holds the tables.
func (s *DB) Schema() string { return s.schema }

// bound limits one call to the call timeout, so that nothing waits forever on a pool whose
// connections hang.
func (s *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.callTimeout)
}

// rollback ends tx if it is still open (after Commit it does nothing), bounded even when
// ctx has already ended.
func (s *DB) rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.callTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

func loadMigrations() ([]store.Migration, error) {
	ms, err := store.Migrations(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// migrate applies the migrations newer than those recorded in schema_migrations, all in
// one transaction holding an advisory lock on (keyless.migrate, schema): nodes starting at
// once wait for the first, then find nothing left to do. DDL is transactional in
// PostgreSQL, so a failed migration leaves the schema as it was.
func (s *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer s.rollback(ctx, tx)
	var schema pgtype.Text
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if !schema.Valid {
		return errors.New("postgres: migrate: no schema of search_path exists")
	}
	s.schema = schema.String
	if _, err := tx.Exec(ctx,
		`SELECT pg_advisory_xact_lock(hashtext('keyless.migrate'), hashtext($1))`, s.schema); err != nil {
		return fmt.Errorf("postgres: migrate: advisory lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrations table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + m.Name)
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// ts converts t for a timestamptz column: the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t.UTC(), Valid: !t.IsZero()}
}

// fromTS is the inverse of ts.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// refused marks PostgreSQL's data exceptions (class 22: a NUL byte or invalid UTF-8 in a
// string, a time out of range, ...) as store.ErrInvalid: retrying cannot help.
func refused(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return err
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
