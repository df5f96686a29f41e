package s3gw_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/s3gw"
)

// noopBackend does no work: what the gateway costs on its own is what a handler over it
// costs.
type noopBackend struct{ s3gw.Backend }

var noopInfo = s3gw.ObjectInfo{Key: "k", Size: 4096, ETag: "0123456789abcdef0123456789abcdef", LastModified: time.Unix(1e9, 0)}

func (noopBackend) HeadBucket(ctx context.Context, name string) (s3gw.BucketInfo, error) {
	return s3gw.BucketInfo{Name: name}, nil
}

func (noopBackend) CreateBucket(ctx context.Context, name string) error { return nil }

func (noopBackend) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts s3gw.PutOptions) (s3gw.ObjectInfo, error) {
	_, err := io.Copy(io.Discard, body)
	return noopInfo, err
}

func (noopBackend) GetObject(ctx context.Context, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, io.ReadCloser, error) {
	return noopInfo, io.NopCloser(bytes.NewReader(make([]byte, 4096))), nil
}

func (noopBackend) HeadObject(ctx context.Context, bucket, key string) (s3gw.ObjectInfo, error) {
	return noopInfo, nil
}

// discardSink accepts every event (the event is still built: that is gateway work).
type discardSink struct{ n atomic.Int64 }

func (d *discardSink) Record(ctx context.Context, e *audit.Event) error {
	d.n.Add(1)
	return nil
}

// BenchmarkGatewayOverhead is the gateway's CPU per small request with a backend that
// does nothing: parse, SigV4 verification, token opening, policy evaluation, audit
// event, response. The request is signed once, outside the timer.
func BenchmarkGatewayOverhead(b *testing.B) {
	benchHandler(b, envOptions{backend: noopBackend{}})
}

// benchHandler runs signed GetObject and 4 KiB PutObject requests through the handler,
// in process.
func benchHandler(b *testing.B, o envOptions) {
	for _, tc := range []struct {
		name   string
		method string
		body   []byte
	}{{"GetObject", http.MethodGet, nil}, {"PutObject4KiB", http.MethodPut, make([]byte, 4096)}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, o)
			gw, err := s3gw.New(s3gw.Options{Config: e.cfg, Backend: e.backend, Sealer: e.sealer, Audit: &discardSink{}, Now: e.clock.now})
			if err != nil {
				b.Fatal(err)
			}
			if tc.method == http.MethodGet {
				if _, err := e.backend.PutObject(context.Background(), "site", "dir/object.bin", bytes.NewReader(make([]byte, 4096)), s3gw.PutOptions{Size: 4096}); err != nil {
					b.Fatal(err)
				}
			}
			_, creds := e.session("deployer", nil)
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:8700/site/dir/object.bin", nil)
			sum := sha256.Sum256(tc.body)
			hash := hex.EncodeToString(sum[:])
			req.Header.Set("X-Amz-Content-Sha256", hash)
			req.ContentLength = int64(len(tc.body))
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r := req.Clone(context.Background())
				r.Body = io.NopCloser(bytes.NewReader(tc.body))
				w := httptest.NewRecorder()
				gw.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkFSBackendAlone is fsbackend's own cost for the requests of
// BenchmarkGatewayOverhead; BenchmarkGatewayOverFS is the whole handler over it. The
// difference is the gateway's share.
func BenchmarkFSBackendAlone(b *testing.B) {
	e := newEnv(b, envOptions{fs: true})
	body := make([]byte, 4096)
	ctx := context.Background()
	if _, err := e.backend.PutObject(ctx, "site", "dir/object.bin", bytes.NewReader(body), s3gw.PutOptions{Size: 4096}); err != nil {
		b.Fatal(err)
	}
	b.Run("GetObject", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, rc, err := e.backend.GetObject(ctx, "site", "dir/object.bin", nil)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, rc)
			rc.Close()
		}
	})
	b.Run("PutObject4KiB", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := e.backend.PutObject(ctx, "site", "dir/object.bin", bytes.NewReader(body), s3gw.PutOptions{Size: 4096}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGatewayOverFS(b *testing.B) {
	benchHandler(b, envOptions{fs: true})
}

// BenchmarkSDK4KiB puts and gets 4 KiB objects through HTTP with the SDK client at
// concurrency 16, on fsbackend (the embedded default) and on the no-op backend.
func BenchmarkSDK4KiB(b *testing.B) {
	for _, backend := range []string{"fsbackend", "noop"} {
		for _, op := range []string{"PUT", "GET"} {
			b.Run(backend+"/"+op, func(b *testing.B) {
				o := envOptions{fs: backend == "fsbackend", events: "denied"}
				if backend == "noop" {
					o.backend = noopBackend{}
				}
				e := newEnv(b, o)
				tr := e.srv.Client().Transport.(*http.Transport).Clone()
				tr.MaxIdleConnsPerHost = 32
				_, creds := e.session("deployer", nil)
				c := e.client(creds)
				c = s3.New(c.Options(), func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: tr} })
				body := make([]byte, 4096)
				ctx := context.Background()
				for i := range 64 {
					if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("bench/" + strconv.Itoa(i)), Body: bytes.NewReader(body)}); err != nil {
						b.Fatal(err)
					}
				}
				var next atomic.Int64
				b.SetParallelism(8) // 8 x GOMAXPROCS(2) = 16 concurrent clients here
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						key := aws.String("bench/" + strconv.Itoa(int(next.Add(1)%64)))
						if op == "PUT" {
							if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: key, Body: bytes.NewReader(body)}); err != nil {
								b.Error(err)
								return
							}
							continue
						}
						out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: key})
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, out.Body)
						out.Body.Close()
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			})
		}
	}
}

// BenchmarkPresigned4KiB is BenchmarkSDK4KiB with a light client: URLs presigned once by
// the SDK, then plain net/http requests at concurrency 16, so that the two shared cores
// go to the server rather than to the SDK's middleware stack.
func BenchmarkPresigned4KiB(b *testing.B) {
	for _, op := range []string{"PUT", "GET"} {
		b.Run("fsbackend/"+op, func(b *testing.B) {
			e := newEnv(b, envOptions{fs: true, events: "denied"})
			_, creds := e.session("deployer", nil)
			c := e.client(creds)
			ps := s3.NewPresignClient(c)
			ctx := context.Background()
			body := make([]byte, 4096)
			urls := make([]string, 64)
			for i := range urls {
				key := aws.String("bench/" + strconv.Itoa(i))
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: key, Body: bytes.NewReader(body)}); err != nil {
					b.Fatal(err)
				}
				if op == "PUT" {
					r, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: key})
					if err != nil {
						b.Fatal(err)
					}
					urls[i] = r.URL
				} else {
					r, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: key})
					if err != nil {
						b.Fatal(err)
					}
					urls[i] = r.URL
				}
			}
			tr := e.srv.Client().Transport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = 32
			hc := &http.Client{Transport: tr}
			var next atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := urls[next.Add(1)%64]
					var req *http.Request
					if op == "PUT" {
						req, _ = http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
					} else {
						req, _ = http.NewRequest(http.MethodGet, u, nil)
					}
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
