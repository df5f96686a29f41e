package fsbackend

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// patternReader yields n bytes without allocating.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n))
	for i := range p[:k] {
		p[i] = byte(i)
	}
	r.n -= int64(k)
	return k, nil
}

// TestLargeWritesStream checks that a 64 MiB PutObject and UploadPart allocate a few
// MiB, not the object: bodies stream through a bounded set of pooled buffers. Not
// parallel, so that no other test's allocations are counted.
func TestLargeWritesStream(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	ctx := context.Background()
	b := newTestBackend(t)
	uid, err := b.CreateMultipartUpload(ctx, "b", "mp", s3gw.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	const limit = 8 << 20
	calls := map[string]func() error{
		"PutObject": func() error {
			_, err := b.PutObject(ctx, "b", "large", &patternReader{n: size}, s3gw.PutOptions{Size: size})
			return err
		},
		"UploadPart": func() error {
			_, err := b.UploadPart(ctx, "b", "mp", uid, 1, &patternReader{n: size}, s3gw.PartOptions{Size: -1})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name+" of 64 MiB allocates less than 8 MiB", func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if err := call(); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Errorf("allocated %d bytes", got)
			}
		})
	}
}
