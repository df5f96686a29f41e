//lint:file-ignore SA1019 the issue asks for feature/s3/manager (in go.mod); its successor, feature/s3/transfermanager, is not a dependency

package cluster_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// upload is one PutObject the crash test attempted: its key and generated body.
type upload struct {
	key       string
	seed      uint64
	size      int64
	multipart bool
}

const (
	crashPartSize  = 5 << 20 // the transfer manager's part size (S3's minimum)
	inlineMax      = 32 << 10
	crashAcks      = 240 // acknowledged uploads before the kill
	crashMultipart = 3   // of which at least this many multipart ones
	crashWorkers   = 16
)

// crashUpload is the i-th upload of worker w: six in ten small (inline, 0..32 KiB),
// three file-backed (32 KiB + 1 .. 1 MiB), one a multipart upload of 11 MiB (three
// parts) through the transfer manager.
func crashUpload(w, i int) upload {
	seed := uint64(w)<<32 | uint64(i)
	u := upload{key: fmt.Sprintf("crash/%02d/%05d", w, i), seed: seed}
	r := splitmix(seed, 1<<40)
	switch i % 10 {
	case 6, 7, 8:
		u.size = inlineMax + 1 + int64(r%(1<<20-inlineMax))
	case 9:
		u.size, u.multipart = 2*crashPartSize+1<<20, true
	default:
		u.size = int64(r % (inlineMax + 1))
	}
	if i < 2 { // the boundaries: the largest inline object and the smallest file-backed one
		u.size = inlineMax + int64(i)
	}
	return u
}

// crashRun is the bookkeeping of the uploads: which were attempted, which acknowledged.
type crashRun struct {
	mu        sync.Mutex
	tried     map[string]upload
	acked     map[string]upload
	multiAcks int
	killed    atomic.Bool
	enough    chan struct{}
	once      sync.Once
}

func (c *crashRun) try(u upload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tried[u.key] = u
}

func (c *crashRun) ack(u upload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked[u.key] = u
	if u.multipart {
		c.multiAcks++
	}
	if len(c.acked) >= crashAcks && c.multiAcks >= crashMultipart {
		c.once.Do(func() { close(c.enough) })
	}
}

// TestCrashKeepsAcknowledgedUploads is issue 6's crash test at the process level: a
// keylessd on its embedded store is killed with SIGKILL in the middle of many
// concurrent uploads by the SDK with STS session credentials (small inline objects,
// file-backed ones, multipart ones through the transfer manager). After a restart on
// the same data_dir, every upload that got a 200 reads back byte-identical; ListObjectsV2
// lists nothing else but uploads whose answer the kill cut off, and those only whole
// (docs/fsbackend.md, "Guarantees after a crash"); and no orphaned data file survives
// the restart.
func TestCrashKeepsAcknowledgedUploads(t *testing.T) {
	t.Parallel()
	p := startGateway(t, "all")
	creds := sessionCreds(t, p, "crash-test")
	run := &crashRun{tried: map[string]upload{}, acked: map[string]upload{}, enough: make(chan struct{})}
	uploadUntilKilled(t, p, creds, run)
	t.Logf("killed after %d acknowledged uploads (%d multipart) of %d attempted", len(run.acked), run.multiAcks, len(run.tried))
	if len(run.tried) == len(run.acked) {
		t.Fatal("the kill cut off no upload: it was not in the middle of the uploads")
	}

	p.start()
	listed := listAll(t, p, creds)
	client := s3Client(p, creds)
	t.Run("every acknowledged upload reads back byte-identical", func(t *testing.T) {
		for key, u := range run.acked {
			if _, ok := listed[key]; !ok {
				t.Errorf("%s (%d bytes) was acknowledged but is not listed", key, u.size)
				continue
			}
			checkObject(t, client, u)
		}
	})
	t.Run("nothing is listed but whole uploads whose answer the kill cut off", func(t *testing.T) {
		inFlight := 0
		for key, size := range listed {
			u, ok := run.tried[key]
			switch {
			case !ok:
				t.Errorf("%s is listed but was never uploaded", key)
			case size != u.size:
				t.Errorf("%s is listed with %d bytes, was written with %d", key, size, u.size)
			default:
				if _, acked := run.acked[key]; !acked {
					inFlight++
					checkObject(t, client, u)
				}
			}
		}
		t.Logf("%d listed objects, %d of them from uploads that got no answer", len(listed), inFlight)
	})
	t.Run("no orphaned data file survives the restart", func(t *testing.T) {
		want := dataFilesOf(run.tried, listed) + pendingParts(t, client)
		if got := countDataFiles(t, filepath.Join(p.dir, "data", "objects", "data")); got != want {
			t.Errorf("%d data files on disk, want %d (file-backed objects, multipart objects' parts, pending parts)", got, want)
		}
	})
}

// uploadUntilKilled runs crashWorkers uploaders until run has enough acknowledgements,
// then SIGKILLs p and waits for the uploaders to stop. A failure before the kill fails
// the test; after it, failures are the expected unanswered uploads.
func uploadUntilKilled(t *testing.T, p *proc, creds aws.Credentials, run *crashRun) {
	t.Helper()
	client := s3Client(p, creds)
	uploader := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize, u.Concurrency = crashPartSize, 2 })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			for i := 0; !run.killed.Load(); i++ {
				u := crashUpload(w, i)
				run.try(u)
				in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(u.key), Body: newGenBody(u.seed, u.size)}
				var err error
				if u.multipart {
					_, err = uploader.Upload(ctx, in)
				} else {
					_, err = client.PutObject(ctx, in)
				}
				if err != nil {
					if !run.killed.Load() {
						t.Errorf("upload of %s before the kill: %v", u.key, err)
						cancel()
					}
					return
				}
				run.ack(u)
			}
		})
	}
	select {
	case <-run.enough:
	case <-ctx.Done():
	case <-time.After(2 * time.Minute):
		t.Errorf("fewer than %d acknowledged uploads within 2 minutes", crashAcks)
	}
	run.killed.Store(true)
	p.kill()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// listAll lists the bucket with ListObjectsV2 (paged): key -> size.
func listAll(t *testing.T, p *proc, creds aws.Credentials) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	pages := s3.NewListObjectsV2Paginator(s3Client(p, creds), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListObjectsV2 after the restart: %v", err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return out
}

// checkObject reads u back and compares it with the generated body.
func checkObject(t *testing.T, client *s3.Client, u upload) {
	t.Helper()
	out, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(u.key)})
	if err != nil {
		t.Errorf("GetObject %s: %v", u.key, err)
		return
	}
	defer out.Body.Close()
	if err := sameAsGen(out.Body, u.seed, u.size); err != nil {
		t.Errorf("%s: %v", u.key, err)
	}
}

// dataFilesOf counts the data files the listed objects need: none for an inline one,
// one for a file-backed PutObject, one per part for a multipart one.
func dataFilesOf(tried map[string]upload, listed map[string]int64) int {
	n := 0
	for key := range listed {
		switch u := tried[key]; {
		case u.multipart:
			n += int((u.size + crashPartSize - 1) / crashPartSize)
		case u.size > inlineMax:
			n++
		}
	}
	return n
}

// pendingParts counts the parts of multipart uploads the kill left unfinished (the
// transfer manager could not abort them); fsbackend keeps them, as S3 does.
func pendingParts(t *testing.T, client *s3.Client) int {
	t.Helper()
	ups, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	n := 0
	for _, up := range ups.Uploads {
		parts, err := client.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(bucket), Key: up.Key, UploadId: up.UploadId})
		if err != nil {
			t.Fatalf("ListParts: %v", err)
		}
		n += len(parts.Parts)
	}
	return n
}

// countDataFiles counts the regular files under dir (fsbackend's data/<2 hex>/<32 hex>).
func countDataFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing data files: %v", err)
	}
	return n
}
