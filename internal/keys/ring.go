// Package keys holds keyless's signing keys (JWS keys of the CI token issuer) and sealing
// keys (AEAD keys for session tokens) and rotates them.
//
// Both kinds share one life cycle, kept in a store.Keys:
//
//	active --rotation--> retiring --grace over--> retired
//
// A rotation adds a key of the next generation and demotes the older active keys to retiring.
// The new key is published at once but used only one refresh interval later, once every node
// has loaded it (so no node meets a kid it cannot verify or open); until then the previous
// key goes on signing or sealing. A retiring key stays published (signing) or able to open
// (sealing) for its grace: the longest lifetime of anything it produced, plus clock skew, plus
// two refresh intervals. Nothing the ring produced is ever orphaned.
//
// Key material is sealed under a master key before it reaches the store and is never logged.
package keys

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// Skew is the clock skew allowed to verifiers (IAM allows five minutes past exp).
const Skew = 5 * time.Minute

// DefaultRefresh is how often Maintain reloads the ring from the store by default.
const DefaultRefresh = time.Minute

// ErrUnknownKey reports a kid that the ring does not hold (or no longer publishes).
var ErrUnknownKey = errors.New("keys: unknown key id")

// Options configure a ring.
type Options struct {
	Store     store.Keys
	MasterKey []byte // 32 bytes; see LoadOrCreateMasterKey
	// Algorithm of new keys: RS256 (default) or ES256 for signing rings, A256GCM for sealing.
	// When it differs from the active key's, the ring rotates at once.
	Algorithm string
	// RotateEvery is the scheduled rotation period; 0 rotates only on demand.
	RotateEvery time.Duration
	// MaxLifetime is the longest lifetime of anything a key produces (a token, a session).
	MaxLifetime time.Duration
	// Refresh is how often Maintain reloads keys written by other nodes (DefaultRefresh if 0).
	Refresh time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// entry is one decoded key; value is *signingKey or SealingKey.
type entry struct {
	meta  store.Key // Material cleared
	value any
}

type snapshot struct {
	entries []*entry // by generation, retired keys left out
	maxGen  int64    // the highest generation stored, retired keys included
}

// inUse is the key to sign or seal with at now: the newest live key created at least
// ready ago, so that every node (each reloading every Refresh) already publishes it or can
// open what it sealed. If no key is that old (first start, or a rotation right after it),
// the oldest live key: the one most likely to be known everywhere.
func (s *snapshot) inUse(now time.Time, ready time.Duration) *entry {
	for i := len(s.entries) - 1; i >= 0; i-- {
		if e := s.entries[i]; live(e, now) && !e.meta.CreatedAt.After(now.Add(-ready)) {
			return e
		}
	}
	for _, e := range s.entries {
		if live(e, now) {
			return e
		}
	}
	return nil
}

// current is the active key with the highest generation (the newest key), or nil.
func (s *snapshot) current() *entry {
	for i := len(s.entries) - 1; i >= 0; i-- {
		if s.entries[i].meta.State == store.KeyActive {
			return s.entries[i]
		}
	}
	return nil
}

// live reports whether e is still published (or may still open what it sealed) at now.
func live(e *entry, now time.Time) bool {
	switch e.meta.State {
	case store.KeyActive:
		return true
	case store.KeyRetiring:
		return now.Before(e.meta.RetireAt)
	}
	return false
}

// codec generates and decodes the material of one kind of key.
type codec interface {
	purpose() store.KeyPurpose
	validAlgorithm(alg string) bool
	// generate makes a new key and returns its id and plaintext material.
	generate(alg string) (id string, plain []byte, err error)
	decode(meta store.Key, plain []byte) (any, error)
}

// ring is the life-cycle machinery shared by SigningRing and SealingRing.
type ring struct {
	opts   Options
	codec  codec
	master cipher.AEAD
	snap   atomic.Pointer[snapshot]
	mu     sync.Mutex // serialises reloads and the decoded-key cache
	cache  map[string]*entry
}

func newRing(ctx context.Context, opts Options, c codec) (*ring, error) {
	if opts.Store == nil {
		return nil, errors.New("keys: no key store")
	}
	if !c.validAlgorithm(opts.Algorithm) {
		return nil, fmt.Errorf("keys: unsupported %s algorithm %q", c.purpose(), opts.Algorithm)
	}
	if opts.MaxLifetime <= 0 {
		return nil, errors.New("keys: max lifetime must be positive")
	}
	if opts.RotateEvery < 0 {
		return nil, errors.New("keys: negative rotation period")
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	aead, err := masterAEAD(opts.MasterKey)
	if err != nil {
		return nil, err
	}
	r := &ring{opts: opts, codec: c, master: aead, cache: map[string]*entry{}}
	if err := r.Tick(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Grace is how long a key stays published (or able to open) after its demotion: the
// longest lifetime of what it produced, the verifiers' skew, one Refresh during which the
// new key is not used yet (see inUse) and one more for a node that is late to notice.
func (r *ring) Grace() time.Duration { return r.opts.MaxLifetime + Skew + 2*r.opts.Refresh }

// inUse is the key to sign or seal with now, or nil.
func (r *ring) inUse() *entry { return r.snap.Load().inUse(r.opts.Now(), r.opts.Refresh) }

// MaxLifetime is the longest lifetime the ring was configured for.
func (r *ring) MaxLifetime() time.Duration { return r.opts.MaxLifetime }

// Algorithm is the algorithm of new keys.
func (r *ring) Algorithm() string { return r.opts.Algorithm }

// Reload reads every key of the ring's purpose from the store.
func (r *ring) Reload(ctx context.Context) error {
	// Reading under the lock keeps a slow, older read from replacing a newer snapshot.
	r.mu.Lock()
	defer r.mu.Unlock()
	ks, err := r.opts.Store.ListKeys(ctx, r.codec.purpose())
	if err != nil {
		return fmt.Errorf("keys: load %s keys: %w", r.codec.purpose(), err)
	}
	s := &snapshot{}
	seen := map[string]bool{}
	for _, k := range ks {
		seen[k.ID] = true
		s.maxGen = max(s.maxGen, k.Generation)
		if k.State == store.KeyRetired {
			delete(r.cache, k.ID)
			continue
		}
		e, ok := r.cache[k.ID]
		if !ok {
			plain, err := open(r.master, k)
			if err != nil {
				return fmt.Errorf("keys: load: %w", err)
			}
			v, err := r.codec.decode(k, plain)
			if err != nil {
				return fmt.Errorf("keys: load key %s: %w", k.ID, err)
			}
			e = &entry{value: v}
			r.cache[k.ID] = e
		}
		meta := k
		meta.Material = nil
		e = &entry{meta: meta, value: e.value}
		s.entries = append(s.entries, e)
	}
	for id := range r.cache {
		if !seen[id] {
			delete(r.cache, id)
		}
	}
	r.snap.Store(s)
	return nil
}

// Keys lists the ring's keys (material omitted) as last loaded, by generation.
func (r *ring) Keys() []store.Key {
	s := r.snap.Load()
	out := make([]store.Key, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.meta)
	}
	return out
}

// Rotate makes a new active key and starts the retirement of the previous ones. When
// several nodes rotate at once, one new key wins (insert-if-absent on the generation).
func (r *ring) Rotate(ctx context.Context) error {
	if err := r.Reload(ctx); err != nil {
		return err
	}
	if err := r.create(ctx, r.snap.Load().maxGen+1); err != nil {
		return err
	}
	return r.settle(ctx)
}

// create stores a new active key of generation gen, which the caller derived from the same
// snapshot as its decision to create one. If another node stored that generation first,
// its key wins (insert-if-absent) and this is not an error.
func (r *ring) create(ctx context.Context, gen int64) error {
	id, plain, err := r.codec.generate(r.opts.Algorithm)
	if err != nil {
		return fmt.Errorf("keys: generate %s key: %w", r.codec.purpose(), err)
	}
	k := store.Key{ID: id, Purpose: r.codec.purpose(), Algorithm: r.opts.Algorithm, Generation: gen,
		State: store.KeyActive, CreatedAt: r.opts.Now().UTC().Truncate(time.Microsecond)}
	if k.Material, err = seal(r.master, k, plain); err != nil {
		return err
	}
	switch err := r.opts.Store.CreateKey(ctx, k); {
	case errors.Is(err, store.ErrExists):
		r.opts.Logger.InfoContext(ctx, "another node created this key generation first",
			"purpose", k.Purpose, "generation", gen)
	case err != nil:
		return fmt.Errorf("keys: store new key: %w", err)
	default:
		r.opts.Logger.InfoContext(ctx, "new key", "purpose", k.Purpose, "kid", id,
			"alg", k.Algorithm, "generation", gen)
	}
	return nil
}

// settle demotes every active key but the newest to retiring, retires the keys whose grace
// is over, and reloads.
func (r *ring) settle(ctx context.Context) error {
	if err := r.Reload(ctx); err != nil {
		return err
	}
	now := r.opts.Now().UTC().Truncate(time.Microsecond)
	s := r.snap.Load()
	cur := s.current()
	changed := false
	for _, e := range s.entries {
		var next store.KeyState
		switch {
		case e.meta.State == store.KeyActive && e != cur:
			next = store.KeyRetiring
		case e.meta.State == store.KeyRetiring && !now.Before(e.meta.RetireAt):
			next = store.KeyRetired
		default:
			continue
		}
		if err := r.transition(ctx, e.meta.ID, next, now); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return r.Reload(ctx)
	}
	return nil
}

// transition moves key id to state next (idempotently: a key already past it is left alone).
func (r *ring) transition(ctx context.Context, id string, next store.KeyState, now time.Time) error {
	_, err := r.opts.Store.UpdateKey(ctx, id, func(k store.Key) (store.Key, error) {
		switch {
		case next == store.KeyRetiring && k.State == store.KeyActive:
			k.State, k.RetiringAt, k.RetireAt = store.KeyRetiring, now, now.Add(r.Grace())
		case next == store.KeyRetired && k.State == store.KeyRetiring:
			// The private key is destroyed: a retired key never signs or opens anything again.
			k.State, k.Material = store.KeyRetired, []byte{0}
		}
		return k, nil
	})
	if err != nil {
		return fmt.Errorf("keys: %s key %s: %w", next, id, err)
	}
	r.opts.Logger.InfoContext(ctx, "key state", "purpose", r.codec.purpose(), "kid", id, "state", next)
	return nil
}

// Tick is one maintenance step at Now: reload; create the first key if there is none;
// rotate if the active key is older than RotateEvery or of another algorithm; settle states.
func (r *ring) Tick(ctx context.Context) error {
	if err := r.Reload(ctx); err != nil {
		return err
	}
	s := r.snap.Load()
	cur := s.current()
	now := r.opts.Now()
	if cur == nil || cur.meta.Algorithm != r.opts.Algorithm ||
		r.opts.RotateEvery > 0 && !now.Before(cur.meta.CreatedAt.Add(r.opts.RotateEvery)) {
		if err := r.create(ctx, s.maxGen+1); err != nil {
			return err
		}
	}
	return r.settle(ctx)
}

// Maintain runs Tick every Refresh interval until ctx ends; errors are logged and retried at
// the next tick. It returns ctx's error.
func (r *ring) Maintain(ctx context.Context) error {
	t := time.NewTicker(r.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := r.Tick(ctx); err != nil {
				r.opts.Logger.ErrorContext(ctx, "key maintenance failed", "purpose", r.codec.purpose(), "err", err)
			}
		}
	}
}
