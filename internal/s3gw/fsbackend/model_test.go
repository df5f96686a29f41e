package fsbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// refList is ListObjects by the book, over a sorted key list.
func refList(keys []string, q s3gw.ListQuery) page {
	var p page
	count := 0
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, q.Prefix) || k <= q.Marker {
			continue
		}
		name, isCP := k, false
		if q.Delimiter != "" {
			if i := strings.Index(k[len(q.Prefix):], q.Delimiter); i >= 0 {
				name, isCP = k[:len(q.Prefix)+i+len(q.Delimiter)], true
				if seen[name] || name <= q.Marker {
					continue
				}
				seen[name] = true
			}
		}
		if count == q.MaxKeys {
			p.Truncated = true
			break
		}
		count++
		p.Next = name
		if isCP {
			p.Prefixes = append(p.Prefixes, name)
		} else {
			p.Keys = append(p.Keys, name)
		}
	}
	if !p.Truncated {
		p.Next = ""
	}
	return p
}

// TestModel runs random puts, overwrites, copies and deletes against a map and checks
// every object and random listings against it.
func TestModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "/", "é", "+", "%", " ", "..", "z/", "a/"}
	randKey := func() string {
		var sb strings.Builder
		for range 1 + rng.IntN(5) {
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		return sb.String()
	}
	model := map[string][]byte{}
	for i := range 400 {
		key := randKey()
		switch op := rng.IntN(10); {
		case op < 6:
			data := bytes.Repeat([]byte{byte(i)}, rng.IntN(2*inlineMax))
			put(t, b, "b", key, data)
			model[key] = data
		case op < 8:
			src := randKey()
			_, err := b.CopyObject(ctx, "b", src, "b", key, nil, s3gw.CopyOptions{})
			if _, ok := model[src]; ok != (err == nil) || err != nil && !errors.Is(err, s3gw.ErrNoSuchKey) {
				t.Fatalf("CopyObject(%q -> %q): %v, source in model %v", src, key, err, ok)
			}
			if err == nil {
				model[key] = model[src]
			}
		default:
			if err := b.DeleteObject(ctx, "b", key); err != nil {
				t.Fatal(err)
			}
			delete(model, key)
		}
	}
	keys := make([]string, 0, len(model))
	for k, data := range model {
		keys = append(keys, k)
		if _, got := get(t, b, "b", k, nil); !bytes.Equal(got, data) {
			t.Errorf("%q: %d bytes, model has %d", k, len(got), len(data))
		}
	}
	sort.Strings(keys)
	if n := countDataFiles(t, b); n > len(keys) {
		t.Errorf("%d data files for %d objects: replaced versions left behind", n, len(keys))
	}
	for i := range 300 {
		q := s3gw.ListQuery{MaxKeys: 1 + rng.IntN(8)}
		if rng.IntN(2) == 0 {
			q.Prefix = randKey()[:1]
		}
		if rng.IntN(2) == 0 {
			q.Delimiter = []string{"/", "a", "é", "/a"}[rng.IntN(4)]
		}
		if rng.IntN(2) == 0 {
			q.Marker = randKey()
		}
		t.Run(fmt.Sprintf("listing %d agrees with the model", i), func(t *testing.T) {
			got := listNames(t, b, q)
			if diff := cmp.Diff(refList(keys, q), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListObjects(%+v) (-model +got):\n%s", q, diff)
			}
		})
	}
}
