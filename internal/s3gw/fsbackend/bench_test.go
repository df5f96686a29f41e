package fsbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// benchParallelism * GOMAXPROCS goroutines run the 4 KiB benchmarks: 16 on 2 cores.
func benchParallelism() int { return max(1, 16/runtime.GOMAXPROCS(0)) }

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPutObject4KiB: durable 4 KiB PutObjects (file fsync, directory fsync,
// grouped index commit), 16 at a time.
func BenchmarkPutObject4KiB(b *testing.B) {
	be := newTestBackend(b)
	data := partData(4<<10, 1)
	var n atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			key := fmt.Sprintf("bench/%08d", n.Add(1))
			if _, err := be.PutObject(ctx, "b", key, bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b)
}

// BenchmarkGetObject4KiB: GetObject and read to the end of 1000 4 KiB objects, 16 at
// a time.
func BenchmarkGetObject4KiB(b *testing.B) {
	be := newTestBackend(b)
	data := partData(4<<10, 1)
	const objects = 1000
	for i := range objects {
		put(b, be, "b", fmt.Sprintf("bench/%08d", i), data)
	}
	var n atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		buf := make([]byte, 8<<10)
		for pb.Next() {
			key := fmt.Sprintf("bench/%08d", n.Add(1)%objects)
			_, r, err := be.GetObject(ctx, "b", key, nil)
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
			_ = r.Close()
		}
	})
	reportOps(b)
}

// BenchmarkLargeObject compares a durable PutObject of a file with copying that file
// on the same disk (io.Copy to a new file, then fsync), in the same run. Size:
// FSBACKEND_BENCH_MIB (default 256).
func BenchmarkLargeObject(b *testing.B) {
	size := int64(256) << 20
	if v := os.Getenv("FSBACKEND_BENCH_MIB"); v != "" {
		var mib int64
		if _, err := fmt.Sscan(v, &mib); err != nil || mib <= 0 {
			b.Fatalf("FSBACKEND_BENCH_MIB=%q", v)
		}
		size = mib << 20
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "source")
	writeSource(b, src, size)
	be := openAt(b, filepath.Join(dir, "objects"))
	if err := be.CreateBucket(context.Background(), "b"); err != nil {
		b.Fatal(err)
	}

	b.Run("copy-file-fsync", func(b *testing.B) { benchCopy(b, src, dir, size, false) })
	b.Run("copy-file-fsync-userspace", func(b *testing.B) { benchCopy(b, src, dir, size, true) })
	b.Run("PutObject", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			in, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := be.PutObject(context.Background(), "b", "large", in, s3gw.PutOptions{Size: size}); err != nil {
				b.Fatal(err)
			}
			_ = in.Close()
		}
	})
	b.Run("PutObject-body-verified-with-SHA256", func(b *testing.B) { // as the gateway's SigV4 body does
		b.SetBytes(size)
		for range b.N {
			in, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			body := io.TeeReader(in, sha256.New())
			if _, err := be.PutObject(context.Background(), "b", "large", body, s3gw.PutOptions{Size: size}); err != nil {
				b.Fatal(err)
			}
			_ = in.Close()
		}
	})
	b.Run("md5-only", func(b *testing.B) { // the ceiling of one PutObject stream: its MD5
		b.SetBytes(size)
		for range b.N {
			in, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(md5.New(), in); err != nil {
				b.Fatal(err)
			}
			_ = in.Close()
		}
	})
	b.Run("MultipartUpload-8MiB-parts-4-at-a-time", func(b *testing.B) { // what aws s3 cp does
		b.SetBytes(size)
		for range b.N {
			benchMultipart(b, be, src, size, 8<<20, 4)
		}
	})
	b.Run("GetObject", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			_, r, err := be.GetObject(context.Background(), "b", "large", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
			_ = r.Close()
		}
	})
}

// benchCopy is the baseline: io.Copy of src to a new file in dir, then fsync. io.Copy
// between two files uses copy_file_range (the kernel copies); userspace hides that and
// copies through a 1 MiB buffer, as a server reading a socket must.
func benchCopy(b *testing.B, src, dir string, size int64, userspace bool) {
	b.SetBytes(size)
	buf := make([]byte, 1<<20)
	for i := range b.N {
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("copy-%d", i))
		out, err := os.Create(dst)
		if err != nil {
			b.Fatal(err)
		}
		if userspace {
			_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf)
		} else {
			_, err = io.Copy(out, in)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := out.Sync(); err != nil {
			b.Fatal(err)
		}
		_ = out.Close()
		_ = in.Close()
		b.StopTimer()
		_ = os.Remove(dst)
		b.StartTimer()
	}
}

// benchMultipart uploads src as parts of partSize, conc at a time, and completes it.
func benchMultipart(b *testing.B, be *Backend, src string, size, partSize int64, conc int) {
	ctx := context.Background()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	uid, err := be.CreateMultipartUpload(ctx, "b", "large-mp", s3gw.Metadata{})
	if err != nil {
		b.Fatal(err)
	}
	n := int((size + partSize - 1) / partSize)
	parts := make([]s3gw.CompletedPart, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				off := int64(i) * partSize
				l := min(partSize, size-off)
				pi, err := be.UploadPart(ctx, "b", "large-mp", uid, i+1, io.NewSectionReader(in, off, l), s3gw.PartOptions{Size: l})
				if err != nil {
					b.Error(err)
					return
				}
				parts[i] = s3gw.CompletedPart{Number: i + 1, ETag: pi.ETag}
			}
		})
	}
	wg.Wait()
	if _, err := be.CompleteMultipartUpload(ctx, "b", "large-mp", uid, parts); err != nil {
		b.Fatal(err)
	}
}

func writeSource(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := partData(1<<20, 7)
	for written := int64(0); written < size; written += int64(len(chunk)) {
		chunk[0]++
		if _, err := f.Write(chunk[:min(int64(len(chunk)), size-written)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
