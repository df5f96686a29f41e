package fsbackend

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// page is a ListResult reduced to names.
type page struct {
	Keys      []string
	Prefixes  []string
	Truncated bool
	Next      string
}

func listNames(t *testing.T, b *Backend, q s3gw.ListQuery) page {
	t.Helper()
	res, err := b.ListObjects(context.Background(), "b", q)
	if err != nil {
		t.Fatalf("ListObjects(%+v): %v", q, err)
	}
	p := page{Prefixes: res.CommonPrefixes, Truncated: res.IsTruncated, Next: res.NextMarker}
	for _, o := range res.Objects {
		p.Keys = append(p.Keys, o.Key)
	}
	return p
}

func TestListObjects(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t)
	keys := []string{
		"a", "a/1", "a/2", "a/b/1", "a/b/2", "b", "c/1", "c/2", "d", "é", "Z", "a+", "a-", "a\u00ff",
	}
	for _, k := range keys {
		put(t, b, "b", k, []byte(k))
	}
	tests := []struct {
		name string
		q    s3gw.ListQuery
		want page
	}{
		{"everything is listed in binary order", s3gw.ListQuery{MaxKeys: 1000},
			page{Keys: []string{"Z", "a", "a+", "a-", "a/1", "a/2", "a/b/1", "a/b/2", "a\u00ff", "b", "c/1", "c/2", "d", "é"}}},
		{"max-keys truncates and names the last key", s3gw.ListQuery{MaxKeys: 3},
			page{Keys: []string{"Z", "a", "a+"}, Truncated: true, Next: "a+"}},
		{"a marker lists strictly after it", s3gw.ListQuery{Marker: "a/2", MaxKeys: 3},
			page{Keys: []string{"a/b/1", "a/b/2", "a\u00ff"}, Truncated: true, Next: "a\u00ff"}},
		{"a prefix limits the keys", s3gw.ListQuery{Prefix: "a/", MaxKeys: 1000},
			page{Keys: []string{"a/1", "a/2", "a/b/1", "a/b/2"}}},
		{"a delimiter rolls keys into common prefixes", s3gw.ListQuery{Delimiter: "/", MaxKeys: 1000},
			page{Keys: []string{"Z", "a", "a+", "a-", "a\u00ff", "b", "d", "é"}, Prefixes: []string{"a/", "c/"}}},
		{"prefix and delimiter list one level", s3gw.ListQuery{Prefix: "a/", Delimiter: "/", MaxKeys: 1000},
			page{Keys: []string{"a/1", "a/2"}, Prefixes: []string{"a/b/"}}},
		{"a common prefix counts as one key against max-keys", s3gw.ListQuery{Delimiter: "/", MaxKeys: 5},
			page{Keys: []string{"Z", "a", "a+", "a-"}, Prefixes: []string{"a/"}, Truncated: true, Next: "a/"}},
		{"a common prefix as marker continues after all its keys", s3gw.ListQuery{Delimiter: "/", Marker: "a/", MaxKeys: 2},
			page{Keys: []string{"a\u00ff", "b"}, Truncated: true, Next: "b"}},
		{"a marker before the prefix starts at the prefix", s3gw.ListQuery{Prefix: "c/", Marker: "a", MaxKeys: 1000},
			page{Keys: []string{"c/1", "c/2"}}},
		{"a marker after the prefix lists nothing", s3gw.ListQuery{Prefix: "a/", Marker: "b", MaxKeys: 1000},
			page{}},
		{"a prefix matching nothing lists nothing", s3gw.ListQuery{Prefix: "zz", MaxKeys: 1000},
			page{}},
		{"a multi-byte delimiter works", s3gw.ListQuery{Delimiter: "/b/", MaxKeys: 1000},
			page{Keys: []string{"Z", "a", "a+", "a-", "a/1", "a/2", "a\u00ff", "b", "c/1", "c/2", "d", "é"}, Prefixes: []string{"a/b/"}}},
		{"max-keys 0 lists nothing", s3gw.ListQuery{MaxKeys: 0},
			page{}},
		{"a page that ends exactly at the last key is not truncated", s3gw.ListQuery{Prefix: "c/", MaxKeys: 2},
			page{Keys: []string{"c/1", "c/2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := listNames(t, b, tc.q)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListObjects(%+v) (-want +got):\n%s", tc.q, diff)
			}
		})
	}
}

func TestListObjectsPagesThroughEverything(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t)
	for i := range 50 {
		put(t, b, "b", string(rune('a'+i%5))+"/"+string(rune('a'+i/5)), nil)
	}
	tests := []struct {
		name  string
		delim string
		want  int
	}{
		{"paging with a delimiter returns each prefix once", "/", 5},
		{"paging without a delimiter returns each key once", "", 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			marker, seen := "", map[string]int{}
			for range 100 {
				p := listNames(t, b, s3gw.ListQuery{Delimiter: tc.delim, Marker: marker, MaxKeys: 2})
				for _, n := range append(p.Keys, p.Prefixes...) {
					seen[n]++
				}
				if !p.Truncated {
					break
				}
				marker = p.Next
			}
			if len(seen) != tc.want {
				t.Errorf("saw %d names, want %d: %v", len(seen), tc.want, seen)
			}
			for n, c := range seen {
				if c != 1 {
					t.Errorf("%q listed %d times", n, c)
				}
			}
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "b"},
		{"a/", "a0"},
		{"a\xff", "b"},
		{"\xff\xff", ""},
	}
	for _, tc := range tests {
		if got := prefixEnd(tc.in); got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
