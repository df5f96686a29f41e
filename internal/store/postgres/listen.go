package postgres

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change channels: a trigger on each table (migration 0002) notifies its channel on every
// committed insert, update or delete, whichever node or tool made it.
const (
	ChannelKeys        = "keys"        // signing and sealing keys: reload the key rings
	ChannelRevocations = "revocations" // revocations: refresh the revocation cache
)

// listenPing is how long Listen waits for a notification before it checks that its
// connection is still alive (a server that vanished without closing the connection sends
// nothing, and TCP keepalives take minutes).
const listenPing = 30 * time.Second

// channelName is the PostgreSQL channel of a change kind in this schema; it must match
// keyless_notify() in migrations/0002_notify.sql.
func channelName(schema, kind string) string {
	if len(schema) > 40 {
		sum := md5.Sum([]byte(schema))
		schema = hex.EncodeToString(sum[:])
	}
	return "keyless." + schema + "." + kind
}

// Listen calls fn each time the data behind channel (ChannelKeys or ChannelRevocations)
// changes, until ctx ends; it then returns ctx's error. It holds one connection of its own
// (outside the pool) and calls fn from its own goroutine, one call at a time; a slow fn
// delays later calls, it does not lose them (several changes may collapse into one call).
//
// fn is also called each time the listening connection is (re)established, the first time
// included: changes made while it was down were not notified, so the caller reloads then.
// While the database is unreachable Listen retries with a back-off of up to two seconds.
// Callers keep a periodic refresh as well, as a fallback for anything Listen cannot see.
func (s *DB) Listen(ctx context.Context, channel string, fn func()) error {
	if channel != ChannelKeys && channel != ChannelRevocations {
		return fmt.Errorf("postgres: listen: unknown channel %q", channel)
	}
	name := channelName(s.schema, channel)
	wait := s.opts.listenRetry
	for {
		connected, _ := s.listenOnce(ctx, name, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			wait = s.opts.listenRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, s.opts.listenRetryMax)
	}
}

// listenOnce connects, listens on name and calls fn until the connection fails or ctx ends.
// It reports whether it got as far as listening.
func (s *DB) listenOnce(ctx context.Context, name string, fn func()) (bool, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, err
	}
	fn()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, s.opts.pingTimeout)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true, err
			}
		case err != nil:
			return true, err
		case n.Channel == name:
			fn()
		}
	}
}
