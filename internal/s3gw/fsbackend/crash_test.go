package fsbackend

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

const crashRootEnv = "FSBACKEND_CRASH_ROOT"

// content is the deterministic body of key at version v: 0..256 KiB of bytes derived
// from both, so any mix-up or truncation shows.
func content(key string, v int) []byte {
	seed := sha256.Sum256([]byte(fmt.Sprintf("%s|%d", key, v)))
	n := int(binary.BigEndian.Uint32(seed[:4]) % (256 << 10))
	out := make([]byte, 0, n+len(seed))
	for len(out) < n {
		out = append(out, seed[:]...)
		seed = sha256.Sum256(seed[:])
	}
	return out[:n]
}

// TestHelperProcess is the child of TestCrashKeepsAcknowledgedObjects: it writes until
// it is killed, printing "ok KEY" after each write returns.
func TestHelperProcess(t *testing.T) {
	root := os.Getenv(crashRootEnv)
	if root == "" {
		t.Skip("only runs as the crash test's child")
	}
	b, err := New(context.Background(), root, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	ack := func(key string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, "ok %s\n", key)
	}
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 { // far more than the parent waits for
				key := fmt.Sprintf("k/%d/%d", g, i)
				if i%3 == 0 {
					key = fmt.Sprintf("old/%d", (g*7+i)%20) // overwrite a pre-existing object
				}
				if err := childWrite(b, key, i); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				ack(key)
			}
		})
	}
	wg.Wait()
	os.Exit(4) // the parent should have killed us long before
}

// childWrite writes key's version 1, through a multipart upload one time in five.
func childWrite(b *Backend, key string, i int) error {
	ctx := context.Background()
	data := content(key, 1)
	if i%5 != 1 {
		_, err := b.PutObject(ctx, "b", key, bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data))})
		return err
	}
	uid, err := b.CreateMultipartUpload(ctx, "b", key, s3gw.Metadata{})
	if err != nil {
		return err
	}
	pi, err := b.UploadPart(ctx, "b", key, uid, 1, bytes.NewReader(data), s3gw.PartOptions{Size: int64(len(data))})
	if err != nil {
		return err
	}
	_, err = b.CompleteMultipartUpload(ctx, "b", key, uid, []s3gw.CompletedPart{{Number: 1, ETag: pi.ETag}})
	return err
}

// TestCrashKeepsAcknowledgedObjects SIGKILLs a writer mid-way, reopens the store and
// checks the guarantee fsbackend gives: every acknowledged object reads back
// byte-identical; an object whose write was not acknowledged may or may not be listed
// (its commit may have landed just before the kill), but anything listed is whole; no
// orphaned data file survives the reopen.
func TestCrashKeepsAcknowledgedObjects(t *testing.T) {
	if os.Getenv(crashRootEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "objects")
	b, err := New(ctx, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	for j := range 20 {
		key := fmt.Sprintf("old/%d", j)
		data := content(key, 0)
		if _, err := b.PutObject(ctx, "b", key, bytes.NewReader(data), s3gw.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	acked := runAndKill(t, root, 300)

	before, err := dataFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	b = openAt(t, root) // collects orphans
	for key := range acked {
		_, got := get(t, b, "b", key, nil)
		if !bytes.Equal(got, content(key, 1)) {
			t.Errorf("acknowledged %q: %d bytes, not the written version", key, len(got))
		}
	}
	res, err := b.ListObjects(ctx, "b", s3gw.ListQuery{MaxKeys: 1000})
	objects := res.Objects
	for err == nil && res.IsTruncated {
		res, err = b.ListObjects(ctx, "b", s3gw.ListQuery{MaxKeys: 1000, Marker: res.NextMarker})
		objects = append(objects, res.Objects...)
	}
	if err != nil {
		t.Fatal(err)
	}
	unacked, files := 0, 0
	for _, o := range objects {
		if o.Size > inlineMax || o.PartsCount > 0 {
			files++
		}
		_, got := get(t, b, "b", o.Key, nil)
		v1 := bytes.Equal(got, content(o.Key, 1))
		v0 := strings.HasPrefix(o.Key, "old/") && bytes.Equal(got, content(o.Key, 0))
		etag := md5hex(got)
		if o.PartsCount == 1 {
			etag = multipartETag(got)
		}
		if !v1 && !v0 || int64(len(got)) != o.Size || etag != o.ETag {
			t.Errorf("listed %q is not a whole written version (%d bytes, listed size %d)", o.Key, len(got), o.Size)
		}
		if !acked[o.Key] && !strings.HasPrefix(o.Key, "old/") {
			unacked++
		}
	}
	parts := pendingParts(t, b)
	t.Logf("%d acknowledged, %d listed, %d listed but unacknowledged; %d data files before reopening, %d parts pending",
		len(acked), len(objects), unacked, len(before), parts)
	if n := countDataFiles(t, b); n != files+parts {
		t.Errorf("%d data files for %d single-file objects and %d parts: orphans survived the reopen", n, files, parts)
	}
}

// pendingParts counts the parts of unfinished uploads in bucket b.
func pendingParts(t *testing.T, b *Backend) int {
	t.Helper()
	ctx := context.Background()
	ups, err := b.ListMultipartUploads(ctx, "b", s3gw.UploadsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range ups.Uploads {
		res, err := b.ListParts(ctx, "b", u.Key, u.UploadID, s3gw.PartsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		n += len(res.Parts)
	}
	return n
}

// runAndKill starts the child on root, SIGKILLs it after n acknowledgements and returns
// every key it acknowledged.
func runAndKill(t *testing.T, root string, n int) map[string]bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashRootEnv+"="+root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	r := bufio.NewReader(out)
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			break // a partial last line is not an acknowledgement
		}
		if err != nil {
			t.Fatal(err)
		}
		if key, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ok "); ok {
			acked[key] = true
		}
		if !killed && len(acked) >= n {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v\n%s", err, stderr.String())
	}
	if len(acked) < n {
		t.Fatalf("only %d acknowledgements", len(acked))
	}
	return acked
}
