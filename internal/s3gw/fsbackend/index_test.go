package fsbackend

import (
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
