package credentials

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// RevocationSource is the shared revocation list (the store).
type RevocationSource interface {
	ListRevocations(ctx context.Context) ([]store.Revocation, error)
}

// RevocationList is a node's cached copy of the shared revocation list. Checking a
// session costs two map lookups and no database read; Run refreshes the copy so that
// every node honours a revocation within the refresh interval.
type RevocationList struct {
	src  RevocationSource
	snap atomic.Pointer[revocationSnapshot]
	// loadedAt is when the copy was last refreshed successfully (unix nanoseconds).
	loadedAt atomic.Int64
	now      func() time.Time
}

type revocationSnapshot struct {
	sessions map[string]struct{}
	roles    map[string]time.Time // lower-cased role name -> sessions issued before this are revoked
}

// NewRevocationList returns an empty list over src; call Refresh or Run to fill it.
func NewRevocationList(src RevocationSource, now func() time.Time) *RevocationList {
	if now == nil {
		now = time.Now
	}
	l := &RevocationList{src: src, now: now}
	l.snap.Store(&revocationSnapshot{})
	return l
}

// Refresh reloads the list from its source.
func (l *RevocationList) Refresh(ctx context.Context) error {
	revs, err := l.src.ListRevocations(ctx)
	if err != nil {
		return fmt.Errorf("loading revocations: %w", err)
	}
	s := &revocationSnapshot{sessions: map[string]struct{}{}, roles: map[string]time.Time{}}
	for _, r := range revs {
		if r.SessionID != "" {
			s.sessions[r.SessionID] = struct{}{}
			continue
		}
		k := strings.ToLower(r.Role)
		if r.IssuedBefore.After(s.roles[k]) {
			s.roles[k] = r.IssuedBefore
		}
	}
	l.snap.Store(s)
	l.loadedAt.Store(l.now().UnixNano())
	return nil
}

// Run refreshes the list every interval until ctx ends. A failed refresh keeps the
// previous copy (see Age).
func (l *RevocationList) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			_ = l.Refresh(ctx) // Age reports how stale the copy is
		}
	}
}

// Age is how long ago the list was last refreshed successfully.
func (l *RevocationList) Age() time.Duration {
	at := l.loadedAt.Load()
	if at == 0 {
		return time.Duration(1<<63 - 1)
	}
	return l.now().Sub(time.Unix(0, at))
}

// Revoked reports whether sess was revoked, by its id or by a revocation of its role's
// sessions issued before a time.
func (l *RevocationList) Revoked(sess *Session) bool {
	s := l.snap.Load()
	if _, ok := s.sessions[sess.SessionID]; ok {
		return true
	}
	if len(s.roles) == 0 {
		return false
	}
	before, ok := s.roles[strings.ToLower(sess.RoleName())]
	return ok && sess.IssuedAt.Before(before)
}
