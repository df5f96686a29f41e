package s3backend_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// BenchmarkProxiedObjects measures PutObject and GetObject through the backend to an
// upstream keylessd (fsbackend) on loopback, in one process.
func BenchmarkProxiedObjects(b *testing.B) {
	be := newBackend(b, startUpstream(b))
	ctx := context.Background()
	if err := be.CreateBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	for _, size := range []int64{4 << 10, 1 << 20, 16 << 20} {
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run("PutObject/"+name, func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if _, err := be.PutObject(ctx, "bench", name, &patternReader{n: size}, s3gw.PutOptions{Size: size}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("GetObject/"+name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				_, rc, err := be.GetObject(ctx, "bench", name, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
