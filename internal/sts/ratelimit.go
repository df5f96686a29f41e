package sts

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterEntries bounds each limiter map; idle entries are evicted first.
const maxLimiterEntries = 16384

// limiters holds one token bucket per key (a source address, a role), bounded in number.
// An entry idle long enough for its bucket to have refilled is indistinguishable from a
// new one, so evicting it loses nothing.
type limiters struct {
	mu  sync.Mutex
	max int
	m   map[string]*limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiters(max int) *limiters {
	return &limiters{max: max, m: make(map[string]*limiterEntry)}
}

// burst lets a key spend one second's worth of calls at once (at least one).
func burst(perSecond float64) int {
	return int(max(1, math.Ceil(perSecond)))
}

// allow takes one token from key's bucket, refilled at perSecond (0 or less: no limit).
func (l *limiters) allow(key string, perSecond float64, now time.Time) bool {
	if perSecond <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil || float64(e.lim.Limit()) != perSecond {
		if e == nil && len(l.m) >= l.max {
			l.evict(now, perSecond)
		}
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(perSecond), burst(perSecond))}
		l.m[key] = e
	}
	e.last = now
	return e.lim.AllowN(now, 1)
}

// evict drops entries whose buckets are full again; if that frees too little, it drops
// arbitrary entries down to three quarters of the bound (favouring an attacker's
// fresh addresses over none at all is not possible without more state).
func (l *limiters) evict(now time.Time, perSecond float64) {
	refill := time.Duration(float64(burst(perSecond)) / perSecond * float64(time.Second))
	for k, e := range l.m {
		if now.Sub(e.last) > refill {
			delete(l.m, k)
		}
	}
	if len(l.m) < l.max {
		return
	}
	for k := range l.m {
		if len(l.m) < l.max*3/4 {
			break
		}
		delete(l.m, k)
	}
}

func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
