//go:build !race

package cluster_test

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	bigUploads = 4
	bigSize    = 1 << 30
	memLimit   = 100 << 20
)

// TestMemoryDuringFourConcurrent1GiBUploads is issue 6's memory check: four concurrent
// 1 GiB PutObjects through a keylessd process, by the SDK with session credentials and
// its default checksum settings over HTTP (over plain HTTP the SDK sends the payload's
// SHA-256 in x-amz-content-sha256, which the gateway verifies as the body streams, and
// no CRC32), bodies generated on the fly. The node's peak RSS (VmHWM, which the kernel
// keeps, so no peak between samples is missed) stays under 100 MiB, and each stored
// object has the right size, MD5 ETag and bytes.
// Not built with -race (the detector's own memory is not the gateway's); skipped with
// -short (4 GiB through HTTP: about a minute on two busy cores).
func TestMemoryDuringFourConcurrent1GiBUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 4 GiB through keylessd")
	}
	p := startGateway(t, "all")
	creds := sessionCreds(t, p, "memory-test")
	client := s3Client(p, creds)
	pid := p.pid()
	startRSS, _, err := memStatus(pid)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var sampled int64
	var sampler sync.WaitGroup
	sampler.Go(func() { sampled = sampleRSS(t, pid, stop) })
	start := time.Now()
	var wg sync.WaitGroup
	for i := range bigUploads {
		wg.Go(func() {
			_, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(bigKey(i)),
				Body: newGenBody(bigSeed(i), bigSize)})
			if err != nil {
				t.Errorf("PutObject %s: %v", bigKey(i), err)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	sampler.Wait()
	rss, hwm, err := memStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("4 x 1 GiB in %v (%.0f MB/s); keylessd RSS %d MiB at start, %d MiB after, highest sample %d MiB, VmHWM %d MiB",
		took.Round(time.Millisecond), float64(bigUploads*bigSize)/took.Seconds()/1e6, startRSS>>20, rss>>20, sampled>>20, hwm>>20)
	if t.Failed() {
		t.FailNow()
	}

	t.Run("the peak RSS stays under 100 MiB", func(t *testing.T) {
		if hwm >= memLimit {
			t.Errorf("VmHWM %d MiB, want under %d MiB", hwm>>20, memLimit>>20)
		}
	})
	t.Run("each object is stored whole with its MD5 ETag and reads back byte-identical", func(t *testing.T) {
		for i := range bigUploads {
			head, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(bigKey(i))})
			if err != nil {
				t.Fatalf("HeadObject %s: %v", bigKey(i), err)
			}
			if got := aws.ToInt64(head.ContentLength); got != bigSize {
				t.Errorf("%s: %d bytes, want %d", bigKey(i), got, bigSize)
			}
			if got, want := aws.ToString(head.ETag), genMD5(bigSeed(i), bigSize); got != want {
				t.Errorf("%s: ETag %s, want %s", bigKey(i), got, want)
			}
			out, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(bigKey(i))})
			if err != nil {
				t.Fatalf("GetObject %s: %v", bigKey(i), err)
			}
			err = sameAsGen(out.Body, bigSeed(i), bigSize)
			out.Body.Close()
			if err != nil {
				t.Errorf("%s: %v", bigKey(i), err)
			}
		}
	})
	// The 4 GiB go with the test's temporary folder; deleting them through the gateway
	// first shows that the node frees them.
	for i := range bigUploads {
		if _, err := client.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(bigKey(i))}); err != nil {
			t.Errorf("DeleteObject %s: %v", bigKey(i), err)
		}
	}
}

func bigKey(i int) string  { return "big/" + string(rune('a'+i)) }
func bigSeed(i int) uint64 { return 0xb16 + uint64(i) }

// genMD5 is the quoted hex MD5 of a generated body: the ETag of its single PutObject.
func genMD5(seed uint64, size int64) string {
	h := md5.New()
	if _, err := io.Copy(h, newGenBody(seed, size)); err != nil {
		panic(err) // a generated body cannot fail
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

// sampleRSS reads pid's VmRSS every 100 ms until stop and returns the highest.
func sampleRSS(t *testing.T, pid int, stop <-chan struct{}) int64 {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var high int64
	for {
		rss, _, err := memStatus(pid)
		if err != nil {
			t.Errorf("sampling RSS: %v", err)
			return high
		}
		high = max(high, rss)
		select {
		case <-stop:
			return high
		case <-tick.C:
		}
	}
}
