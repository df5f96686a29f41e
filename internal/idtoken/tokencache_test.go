package idtoken

import (
	"crypto/sha256"
	"testing"
	"time"
)

func TestTheTokenCacheStaysBoundedAndEvictsTheOldestFirst(t *testing.T) {
	t.Parallel()
	c := newTokenCache()
	now := time.Unix(1764417600, 0)
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8)}) }
	for i := range tokenCacheSize + 10 {
		c.put(key(i), &tokenEntry{id: &Identity{Subject: "s"}, until: now.Add(time.Hour)})
	}
	if got := len(c.entries); got != tokenCacheSize {
		t.Errorf("entries = %d, want %d", got, tokenCacheSize)
	}
	for _, tc := range []struct {
		name string
		i    int
		want bool
	}{
		{"the first entry was evicted", 0, false},
		{"the tenth entry was evicted", 9, false},
		{"the eleventh entry is kept", 10, true},
		{"the last entry is kept", tokenCacheSize + 9, true},
	} {
		if _, ok := c.get(key(tc.i), now); ok != tc.want {
			t.Errorf("%s: found = %v, want %v", tc.name, ok, tc.want)
		}
	}
}

func TestACachedEntryIsOnlyUsedWithinItsWindow(t *testing.T) {
	t.Parallel()
	c := newTokenCache()
	now := time.Unix(1764417600, 0)
	k := sha256.Sum256([]byte("k"))
	c.put(k, &tokenEntry{id: &Identity{}, validFrom: now.Add(-time.Minute), until: now.Add(time.Minute)})
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"inside the window it is used", now, true},
		{"at its start it is used", now.Add(-time.Minute), true},
		{"before its start it is not", now.Add(-time.Minute - time.Second), false},
		{"at its end it is not", now.Add(time.Minute), false},
	} {
		if _, ok := c.get(k, tc.at); ok != tc.want {
			t.Errorf("%s: found = %v, want %v", tc.name, ok, tc.want)
		}
	}
}
