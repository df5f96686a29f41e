// Package fsbackend is keyless's embedded object store: an s3gw.Backend on a local
// directory. docs/fsbackend.md describes the design and its guarantees.
//
// Keys are never turned into file paths. Object data lives in files named by a random
// 128-bit id (root/data/<2 hex>/<32 hex>), or, for objects of at most 32 KiB, inline in
// the index; the key -> data mapping, bucket list, multipart uploads and parts live in
// one SQLite index (root/index.db, modernc.org/sqlite, WAL, synchronous=FULL), where keys
// are BLOBs so that ORDER BY key is binary order.
//
// A write streams the body into a new data file (bounded buffers, MD5 on the way), checks
// its length and Content-MD5, fsyncs the file and its directory, and only then commits
// the index row that makes it visible. Index commits from concurrent writers are grouped
// into one SQLite transaction (one WAL fsync for the group). Files that lost their last
// reference are removed after the commit (or when their last reader closes), or, if the
// process dies first, by the orphan collection that New runs on start (any data file no
// index row names).
package fsbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyless-dev/keyless/internal/s3gw"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options configure a Backend.
type Options struct {
	// Now is the clock for LastModified and Initiated; time.Now when nil.
	Now func() time.Time
	// Logger receives start-up and cleanup messages; slog.Default() when nil.
	Logger *slog.Logger
}

// Backend is an s3gw.Backend on a local directory. It is safe for concurrent use by
// one process; New takes an exclusive lock on the root so that a second process fails.
type Backend struct {
	root   string
	now    func() time.Time
	log    *slog.Logger
	rdb    *stmtDB // readers (WAL allows many)
	wdb    *stmtDB // the single writer connection, used by the committer
	commit *committer
	cache  *objectCache
	lock   *os.File
	bufs   sync.Pool // *[]byte of copyBufSize

	pinMu   sync.Mutex
	pins    map[string]int  // data file id -> open readers
	doomed  map[string]bool // unreferenced files to remove when their last reader closes
	closeMu sync.Once
}

var _ s3gw.Backend = (*Backend)(nil)

const (
	maxKeyLen   = 1024
	copyBufSize = 1 << 20
	dataDir     = "data"
)

// New opens (creating it, mode 0700) the store at root, takes its lock, applies the
// index schema and removes orphans: data files left by writes that were interrupted
// before their index commit, or whose removal after a commit did not happen.
func New(ctx context.Context, root string, opts Options) (*Backend, error) {
	if root == "" {
		return nil, errors.New("fsbackend: empty root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: root: %w", err)
	}
	if err := makeDirs(root); err != nil {
		return nil, fmt.Errorf("fsbackend: create root: %w", err)
	}
	lock, err := lockRoot(root)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		root:   root,
		now:    opts.Now,
		log:    opts.Logger,
		lock:   lock,
		cache:  newObjectCache(cacheMaxEntries, cacheMaxBytes),
		pins:   map[string]int{},
		doomed: map[string]bool{},
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.bufs.New = func() any { buf := make([]byte, copyBufSize); return &buf }
	if err := b.open(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	if err := syncDir(root); err != nil { // the index files' entries
		_ = b.Close()
		return nil, fmt.Errorf("fsbackend: sync root: %w", err)
	}
	if err := b.collectOrphans(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// makeDirs creates root, root/data and its 256 fan-out directories, and fsyncs each
// parent, so that a data file is durable once it and its own directory are fsynced.
func makeDirs(root string) error {
	data := filepath.Join(root, dataDir)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(data, fmt.Sprintf("%02x", i)), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	for _, d := range []string{data, root} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	_ = syncDir(filepath.Dir(root)) // best effort: root's own entry
	return nil
}

// Close closes the index and releases the lock. Readers still open may finish; no call
// may start after Close.
func (b *Backend) Close() error {
	var errs []error
	b.closeMu.Do(func() {
		if b.rdb != nil {
			errs = append(errs, b.rdb.Close())
		}
		if b.wdb != nil {
			errs = append(errs, b.wdb.Close())
		}
		if b.lock != nil {
			errs = append(errs, b.lock.Close())
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fsbackend: close: %w", err)
	}
	return nil
}

// newID returns a fresh random data file id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// validID reports whether name looks like a data file id (so orphan collection never
// removes a file it did not create).
func validID(name string) bool {
	if len(name) != 32 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

func (b *Backend) filePath(id string) string {
	return filepath.Join(b.root, dataDir, id[:2], id)
}

// collectOrphans removes every data file that no object or part references. It runs
// before the Backend serves anything, so no write is in flight.
func (b *Backend) collectOrphans(ctx context.Context) error {
	live, err := b.referencedIDs(ctx)
	if err != nil {
		return err
	}
	ids, err := dataFiles(b.root)
	if err != nil {
		return fmt.Errorf("fsbackend: orphans: %w", err)
	}
	removed := 0
	for _, id := range ids {
		if live[id] {
			continue
		}
		if err := os.Remove(b.filePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fsbackend: orphans: %w", err)
		}
		removed++
	}
	if removed > 0 {
		b.log.InfoContext(ctx, "fsbackend: removed orphaned data files", "count", removed)
	}
	return nil
}

// dataFiles lists the ids of the data files under root.
func dataFiles(root string) ([]string, error) {
	dirs, err := os.ReadDir(filepath.Join(root, dataDir))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, dataDir, d.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if validID(f.Name()) && f.Name()[:2] == d.Name() {
				ids = append(ids, f.Name())
			}
		}
	}
	return ids, nil
}

// syncDir fsyncs a directory so that a file created or removed in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// pin marks ids as being read so that a concurrent replacement defers their removal.
func (b *Backend) pin(ids []string) {
	b.pinMu.Lock()
	for _, id := range ids {
		b.pins[id]++
	}
	b.pinMu.Unlock()
}

func (b *Backend) unpin(ids []string) {
	b.pinMu.Lock()
	defer b.pinMu.Unlock()
	for _, id := range ids {
		b.pins[id]--
		if b.pins[id] > 0 {
			continue
		}
		delete(b.pins, id)
		if b.doomed[id] {
			delete(b.doomed, id)
			b.removeLocked(id)
		}
	}
}

// release removes data files no longer referenced by the index, now or when the last
// reader of each closes. All files of one call go under one lock, so a reader that pins
// a version either sees all of its files or none (and retries).
func (b *Backend) release(ids []string) {
	if len(ids) == 0 {
		return
	}
	b.pinMu.Lock()
	defer b.pinMu.Unlock()
	for _, id := range ids {
		if b.pins[id] > 0 {
			b.doomed[id] = true
			continue
		}
		b.removeLocked(id)
	}
}

func (b *Backend) removeLocked(id string) {
	if err := os.Remove(b.filePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Left for the orphan collection at the next start.
		b.log.Warn("fsbackend: remove data file", "id", id, "err", err)
	}
}
