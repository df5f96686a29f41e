package fsbackend

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSegmentsRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		segs []segment
	}{
		{"no segments encode as the empty string", nil},
		{"one segment round-trips", []segment{{id: newID(), size: 0}}},
		{"many segments keep their order and sizes", []segment{{id: newID(), size: 5 << 20}, {id: newID(), size: 1}, {id: newID(), size: 1 << 40}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeSegments(encodeSegments(tc.segs))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.segs, got, cmp.AllowUnexported(segment{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"x:1", "../../etc/passwd:1", "00000000000000000000000000000000:-1", "00000000000000000000000000000000"} {
		if _, err := decodeSegments(bad); err == nil {
			t.Errorf("decodeSegments(%q) accepted a corrupt list", bad)
		}
	}
}

// FuzzDecodeSegments: whatever an index row holds, decoding never panics, and what it
// accepts names only id-shaped files and re-encodes to an equivalent list.
func FuzzDecodeSegments(f *testing.F) {
	f.Add("")
	f.Add("0123456789abcdef0123456789abcdef:10 fedcba9876543210fedcba9876543210:0")
	f.Add("../x:1")
	f.Fuzz(func(t *testing.T, v string) {
		segs, err := decodeSegments(v)
		if err != nil {
			return
		}
		for _, s := range segs {
			if !validID(s.id) || s.size < 0 {
				t.Fatalf("accepted segment %+v", s)
			}
		}
		again, err := decodeSegments(encodeSegments(segs))
		if err != nil || len(again) != len(segs) {
			t.Fatalf("re-decode: %v, %d vs %d", err, len(again), len(segs))
		}
	})
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openAt(t, filepath.Join(t.TempDir(), "objects"))
	errOdd := errors.New("odd")
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := b.commit.do(ctx, func(ctx context.Context, tx querier) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO buckets (name, created) VALUES (?, 0)`, fmt.Sprintf("b%02d", i)); err != nil {
					return err
				}
				if i%2 == 1 {
					return errOdd // after its insert: the savepoint must undo it, and only it
				}
				return nil
			})
			if want := i%2 == 1; errors.Is(err, errOdd) != want {
				t.Errorf("op %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := b.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, bi := range got {
		names = append(names, bi.Name)
	}
	var want []string
	for i := 0; i < n; i += 2 {
		want = append(want, fmt.Sprintf("b%02d", i))
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("committed buckets (-want +got):\n%s", diff)
	}
}
