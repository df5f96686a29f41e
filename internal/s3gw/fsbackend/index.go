package fsbackend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// schema is the whole index. Keys are BLOBs (always bound as []byte) so that comparisons
// and ORDER BY are byte-wise; files lists an object's data files in order, or is empty
// when the object (at most inlineMax bytes) is kept in data.
const schema = `
CREATE TABLE IF NOT EXISTS buckets (
	name    TEXT PRIMARY KEY,
	created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
	bucket   TEXT NOT NULL,
	key      BLOB NOT NULL,
	size     INTEGER NOT NULL,
	etag     TEXT NOT NULL,
	modified INTEGER NOT NULL,
	parts    INTEGER NOT NULL,
	meta     TEXT NOT NULL,
	files    TEXT NOT NULL,
	data     BLOB,
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
	upload_id TEXT PRIMARY KEY,
	bucket    TEXT NOT NULL,
	key       BLOB NOT NULL,
	initiated INTEGER NOT NULL,
	meta      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
	upload_id TEXT NOT NULL,
	number    INTEGER NOT NULL,
	file      TEXT NOT NULL,
	size      INTEGER NOT NULL,
	etag      TEXT NOT NULL,
	modified  INTEGER NOT NULL,
	checksums TEXT NOT NULL,
	PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
PRAGMA user_version = 1;
`

// The statements of the write path, prepared on the writer connection when the index
// opens (inside a transaction the only connection is taken, so nothing can be prepared
// there); other statements in a transaction run unprepared.
const (
	qSavepoint    = `SAVEPOINT op`
	qRollbackTo   = `ROLLBACK TO op`
	qRelease      = `RELEASE op`
	qBucketExists = `SELECT 1 FROM buckets WHERE name = ?`
	qObjectFiles  = `SELECT files FROM objects WHERE bucket = ? AND key = ?`
	qDeleteObject = `DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING files`
	qPutObject    = `INSERT OR REPLACE INTO objects (bucket, key, size, etag, modified, parts, meta, files, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

var writeQueries = []string{qSavepoint, qRollbackTo, qRelease, qBucketExists, qObjectFiles, qDeleteObject, qPutObject}

// open opens the index: one writer connection (synchronous=FULL: a commit is on disk
// when it returns) and a pool of readers.
func (b *Backend) open(ctx context.Context) error {
	path := filepath.Join(b.root, "index.db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("fsbackend: create index: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsbackend: create index: %w", err)
	}
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)"
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("fsbackend: open index: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	b.wdb = newStmtDB(wdb)
	if _, err := wdb.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("fsbackend: index schema: %w", err)
	}
	for _, q := range writeQueries {
		if _, err := b.wdb.stmt(ctx, q); err != nil {
			return fmt.Errorf("fsbackend: prepare %q: %w", q, err)
		}
	}
	rdb, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("fsbackend: open index: %w", err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	b.rdb = newStmtDB(rdb)
	b.commit = &committer{db: b.wdb, cache: b.cache}
	return nil
}

// referencedIDs returns every data file id the index names.
func (b *Backend) referencedIDs(ctx context.Context) (map[string]bool, error) {
	live := map[string]bool{}
	rows, err := b.rdb.QueryContext(ctx, `SELECT files FROM objects`)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: orphans: %w", err)
	}
	for rows.Next() {
		var files string
		if err := rows.Scan(&files); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("fsbackend: orphans: %w", err)
		}
		segs, err := decodeSegments(files)
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("fsbackend: orphans: %w", err)
		}
		for _, s := range segs {
			live[s.id] = true
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("fsbackend: orphans: %w", err)
	}
	rows, err = b.rdb.QueryContext(ctx, `SELECT file FROM parts`)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: orphans: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("fsbackend: orphans: %w", err)
		}
		live[id] = true
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("fsbackend: orphans: %w", err)
	}
	return live, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// segment is one data file of an object: single-part objects have one, multipart
// objects one per part (parts are never copied together on Complete).
type segment struct {
	id   string
	size int64
}

func encodeSegments(segs []segment) string {
	var sb strings.Builder
	for i, s := range segs {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(s.id)
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatInt(s.size, 10))
	}
	return sb.String()
}

func decodeSegments(v string) ([]segment, error) {
	if v == "" {
		return nil, nil
	}
	fields := strings.Fields(v)
	segs := make([]segment, 0, len(fields))
	for _, f := range fields {
		id, n, ok := strings.Cut(f, ":")
		size, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || !validID(id) || size < 0 {
			return nil, fmt.Errorf("corrupt index: file list %q", v)
		}
		segs = append(segs, segment{id: id, size: size})
	}
	return segs, nil
}

func segmentIDs(segs []segment) []string {
	ids := make([]string, len(segs))
	for i, s := range segs {
		ids[i] = s.id
	}
	return ids
}

// storedMeta is the JSON in objects.meta and uploads.meta.
type storedMeta struct {
	Metadata  s3gw.Metadata     `json:"m"`
	Checksums map[string]string `json:"c,omitempty"`
}

func encodeMeta(m s3gw.Metadata, checksums map[string]string) string {
	buf, err := json.Marshal(storedMeta{Metadata: m, Checksums: checksums})
	if err != nil {
		panic(fmt.Sprintf("fsbackend: encode metadata: %v", err)) // strings only: cannot fail
	}
	return string(buf)
}

func decodeMeta(v string) (s3gw.Metadata, map[string]string, error) {
	var sm storedMeta
	if err := json.Unmarshal([]byte(v), &sm); err != nil {
		return s3gw.Metadata{}, nil, fmt.Errorf("corrupt index: metadata: %w", err)
	}
	return sm.Metadata, sm.Checksums, nil
}

// committer groups index transactions: whoever arrives while no commit is running leads,
// and runs every operation queued meanwhile in one transaction (each in a savepoint, so
// one failing operation does not undo the others), so N concurrent writers pay for one
// WAL fsync. When done, the leader hands the lead to the first waiter of the next group.
type committer struct {
	db    *stmtDB
	cache *objectCache // told about every transaction that changes objects
	mu    sync.Mutex
	queue []*txOp
	busy  bool
}

type txOp struct {
	fn   func(ctx context.Context, tx querier) error
	ref  *objectRef // the object fn may change, if any
	err  error
	wake chan bool // false: done, err set; true: lead the next group
}

// do runs fn in a transaction and returns when that transaction is durable or failed.
// Once queued, fn runs even if ctx ends: the caller must not abandon data a commit may
// already reference.
func (c *committer) do(ctx context.Context, fn func(ctx context.Context, tx querier) error) error {
	return c.queueOp(ctx, &txOp{fn: fn, wake: make(chan bool, 1)})
}

// doObject is do for an fn that may change the objects row of bucket/key (and no other
// objects row): the object cache drops that key around the transaction.
func (c *committer) doObject(ctx context.Context, bucket, key string, fn func(ctx context.Context, tx querier) error) error {
	return c.queueOp(ctx, &txOp{fn: fn, ref: &objectRef{bucket, key}, wake: make(chan bool, 1)})
}

func (c *committer) queueOp(ctx context.Context, op *txOp) error {
	c.mu.Lock()
	c.queue = append(c.queue, op)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !lead && !<-op.wake {
		return op.err
	}
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()
	c.run(context.WithoutCancel(ctx), batch)
	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		c.mu.Unlock()
		next.wake <- true
	} else {
		c.busy = false
		c.mu.Unlock()
	}
	return op.err
}

func (c *committer) run(ctx context.Context, batch []*txOp) {
	err := c.runTx(ctx, batch)
	for _, op := range batch {
		if err != nil && op.err == nil {
			op.err = fmt.Errorf("fsbackend: index commit: %w", err)
		}
		op.wake <- false
	}
}

func (c *committer) runTx(ctx context.Context, batch []*txOp) error {
	var refs []objectRef
	for _, op := range batch {
		if op.ref != nil {
			refs = append(refs, *op.ref)
		}
	}
	if len(refs) > 0 && c.cache != nil {
		c.cache.begin(refs)
		defer c.cache.end(refs) // after the commit (or rollback) is done
	}
	sqlTx, err := c.db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := txQuerier{tx: sqlTx, s: c.db}
	for _, op := range batch {
		if _, err := tx.ExecContext(ctx, qSavepoint); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
		if op.err = op.fn(ctx, tx); op.err != nil {
			if _, err := tx.ExecContext(ctx, qRollbackTo); err != nil {
				_ = sqlTx.Rollback()
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, qRelease); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
	}
	return sqlTx.Commit()
}

// bucketExists reports whether name exists, read through q (a tx or the reader pool).
func bucketExists(ctx context.Context, q querier, name string) error {
	var one int
	err := q.QueryRowContext(ctx, qBucketExists, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("fsbackend: bucket %q: %w", name, s3gw.ErrNoSuchBucket)
	}
	if err != nil {
		return fmt.Errorf("fsbackend: bucket %q: %w", name, err)
	}
	return nil
}

// querier is what stmtDB and txQuerier (and *sql.DB and *sql.Tx) share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}
