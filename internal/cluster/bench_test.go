package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkKeylessd measures a keylessd process (SQLite store, fsbackend) from a load
// generator on the same machine: an aws-sdk-go-v2 client with STS session credentials
// and the SDK's default checksums, over HTTP on loopback. Sub-benchmarks:
//
//	PUT-4KiB-c16, GET-4KiB-c16   16 concurrent callers, new keys / 256 existing keys
//	PUT-64MiB-c4                 4 concurrent PutObjects of a 64 MiB file on the data disk
//	copy-64MiB-c4                the baseline: 4 concurrent copies of that file on the same
//	                             disk (io.Copy, the kernel's copy_file_range, then fsync)
//
// Each reports ops/s, MB/s (from SetBytes), gw-cpu-us/op (the node's
// process_cpu_seconds_total from /-/metrics over the run, per operation) and
// client-cpu-us/op (this process's user+system CPU). KEYLESS_BENCH_S3_EVENTS sets the
// node's audit.s3_events (default all). Run explicitly; see docs/s3-performance.md.
func BenchmarkKeylessd(b *testing.B) {
	if testing.Short() {
		b.Skip("starts keylessd")
	}
	events := os.Getenv("KEYLESS_BENCH_S3_EVENTS")
	if events == "" {
		events = "all"
	}
	benchNode(b, startGateway(b, events))
}

// BenchmarkKeylessdHTTPS is BenchmarkKeylessd against a node serving HTTPS (tls.cert_file,
// a certificate made by the benchmark), the way production clients reach keyless: the
// SDK then signs no payload hash (UNSIGNED-PAYLOAD) and sends PutObject bodies as
// STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer, its default checksum.
func BenchmarkKeylessdHTTPS(b *testing.B) {
	if testing.Short() {
		b.Skip("starts keylessd")
	}
	events := os.Getenv("KEYLESS_BENCH_S3_EVENTS")
	if events == "" {
		events = "all"
	}
	benchNode(b, startGatewayTLS(b, events))
}

func benchNode(b *testing.B, p *proc) {
	creds := sessionCreds(b, p, "bench")
	// 16 callers on one host: keep their connections (the SDK's default keeps 10).
	keep := func(tr *http.Transport) { tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 64, 64 }
	client := s3.New(s3Client(p, creds).Options(), func(o *s3.Options) {
		if p.roots != nil {
			o.HTTPClient = p.sdkHTTPClient(keep)
		} else {
			o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(keep)
		}
	})
	small := make([]byte, 4<<10)
	for i := range small {
		small[i] = byte(i * 7)
	}
	b.Run("PUT-4KiB-c16", func(b *testing.B) {
		b.SetBytes(int64(len(small)))
		var seq atomic.Int64
		runOps(b, p, 16, func(ctx context.Context) error {
			key := fmt.Sprintf("small/%d/%d", b.N, seq.Add(1))
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(small)})
			return err
		})
	})
	b.Run("GET-4KiB-c16", func(b *testing.B) {
		const keys = 256
		for i := range keys {
			if _, err := client.PutObject(b.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("get/%d", i)),
				Body: bytes.NewReader(small)}); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(small)))
		var seq atomic.Int64
		runOps(b, p, 16, func(ctx context.Context) error {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("get/%d", seq.Add(1)%keys))})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			n, err := io.Copy(io.Discard, out.Body)
			if err == nil && n != int64(len(small)) {
				err = fmt.Errorf("read %d bytes", n)
			}
			return err
		})
	})
	const large = 64 << 20
	src := filepath.Join(p.dir, "large.src")
	writeGenFile(b, src, large)
	b.Run("PUT-64MiB-c4", func(b *testing.B) {
		b.SetBytes(large)
		var seq atomic.Int64
		runOps(b, p, 4, func(ctx context.Context) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			// Four keys overwritten in turn: the data on disk stays at four objects.
			key := fmt.Sprintf("large/%d", seq.Add(1)%4)
			_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f})
			return err
		})
	})
	b.Run("copy-64MiB-c4", func(b *testing.B) {
		b.SetBytes(large)
		var seq atomic.Int64
		runOps(b, p, 4, func(context.Context) error {
			return copyFile(src, fmt.Sprintf("%s.copy%d", src, seq.Add(1)))
		})
	})
}

// runOps runs op b.N times from workers goroutines and reports ops/s and the CPU the
// node and this process spent per operation.
func runOps(b *testing.B, p *proc, workers int, op func(ctx context.Context) error) {
	b.Helper()
	ctx := b.Context()
	gw0, err := cpuSeconds(p)
	if err != nil {
		b.Fatal(err)
	}
	self0 := selfCPU()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	gw1, err := cpuSeconds(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric((gw1-gw0)*1e6/float64(b.N), "gw-cpu-us/op")
	b.ReportMetric((selfCPU()-self0).Seconds()*1e6/float64(b.N), "client-cpu-us/op")
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeGenFile writes size generated bytes to path and fsyncs it.
func writeGenFile(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, newGenBody(0x5ca1e, size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// copyFile copies src to dst, fsyncs dst and removes it: what a file-backed PutObject
// costs the disk, with nothing on top.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(dst)
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}
