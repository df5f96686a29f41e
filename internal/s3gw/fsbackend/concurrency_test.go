package fsbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

func TestConcurrentWritersToOneKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	const writers = 16
	versions := map[string][]byte{} // etag -> body
	for i := range writers {
		data := partData(64<<10+i*1000, byte(i))
		versions[md5hex(data)] = data
	}
	var wg sync.WaitGroup
	for _, data := range versions {
		wg.Go(func() {
			if _, err := b.PutObject(ctx, "b", "contended", bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data))}); err != nil {
				t.Errorf("PutObject: %v", err)
			}
		})
	}
	for range 4 { // readers racing the writers only ever see whole versions
		wg.Go(func() {
			for range 50 {
				info, r, err := b.GetObject(ctx, "b", "contended", nil)
				if errors.Is(err, s3gw.ErrNoSuchKey) {
					continue
				}
				if err != nil {
					t.Errorf("GetObject: %v", err)
					return
				}
				got, err := io.ReadAll(r)
				_ = r.Close()
				if err != nil || md5hex(got) != info.ETag || versions[info.ETag] == nil {
					t.Errorf("a reader saw %d bytes (err %v) that are not one whole version", len(got), err)
				}
			}
		})
	}
	wg.Wait()
	info, got := get(t, b, "b", "contended", nil)
	if want := versions[info.ETag]; want == nil || !bytes.Equal(got, want) {
		t.Errorf("final object (%d bytes, etag %s) is not one of the written versions", len(got), info.ETag)
	}
	if n := countDataFiles(t, b); n != 1 {
		t.Errorf("%d data files, want 1: replaced versions were not removed", n)
	}
}

func TestIfNoneMatchIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	const writers = 16
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		won, lost  int
		winnerETag string
	)
	for i := range writers {
		wg.Go(func() {
			data := append(partData(inlineMax, byte(i)), fmt.Sprintf("writer %d", i)...) // a data file each
			info, err := b.PutObject(ctx, "b", "once", bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data)), IfNoneMatch: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
				winnerETag = info.ETag
			case errors.Is(err, s3gw.ErrPreconditionFailed):
				lost++
			default:
				t.Errorf("PutObject: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != writers-1 {
		t.Fatalf("%d won, %d lost; want 1 and %d", won, lost, writers-1)
	}
	if info, _ := get(t, b, "b", "once", nil); info.ETag != winnerETag {
		t.Errorf("stored etag %s, winner's %s", info.ETag, winnerETag)
	}
	if n := countDataFiles(t, b); n != 1 {
		t.Errorf("%d data files, want 1: losers' files were not removed", n)
	}
}

// failingReader returns n bytes of data, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'z'
	}
	r.n -= k
	return k, nil
}

func TestFailedWritesCommitNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	errSig := errors.New("chunk signature mismatch")
	tests := []struct {
		name string
		body io.Reader
		opts s3gw.PutOptions
		want error
	}{
		{"a body that fails midway", &failingReader{n: 3 << 20, err: errSig}, s3gw.PutOptions{Size: -1}, errSig},
		{"a body that ends early with ErrUnexpectedEOF", &failingReader{n: 100, err: io.ErrUnexpectedEOF}, s3gw.PutOptions{Size: -1}, io.ErrUnexpectedEOF},
		{"a body whose Content-MD5 does not match", bytes.NewReader(partData(2<<20, 5)), s3gw.PutOptions{Size: 2 << 20, ContentMD5: make([]byte, 16)}, s3gw.ErrBadDigest},
		{"a Content-MD5 of the wrong length", bytes.NewReader([]byte("abc")), s3gw.PutOptions{Size: 3, ContentMD5: []byte{1}}, s3gw.ErrBadDigest},
		{"a body shorter than its length", bytes.NewReader([]byte("abc")), s3gw.PutOptions{Size: 4}, ErrBodyLength},
		{"a body longer than its length", bytes.NewReader([]byte("abcde")), s3gw.PutOptions{Size: 4}, ErrBodyLength},
	}
	for _, tc := range tests {
		t.Run(tc.name+" leaves the previous version and no file behind", func(t *testing.T) {
			t.Parallel()
			b := newTestBackend(t)
			previous := partData(inlineMax+10, 9) // a data file
			prev := put(t, b, "b", "k", previous)
			uid, err := b.CreateMultipartUpload(ctx, "b", "k", s3gw.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.PutObject(ctx, "b", "k", tc.body, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("PutObject: %v, want %v", err, tc.want)
			}
			info, got := get(t, b, "b", "k", nil)
			if !bytes.Equal(got, previous) || info.ETag != prev.ETag {
				t.Errorf("after the failed put: %d bytes, not the previous version", len(got))
			}
			if n := countDataFiles(t, b); n != 1 {
				t.Errorf("%d data files, want 1", n)
			}
			// The same body through UploadPart.
			body := tc.body
			if s, ok := body.(io.Seeker); ok {
				_, _ = s.Seek(0, io.SeekStart)
			} else if fr, ok := body.(*failingReader); ok {
				body = &failingReader{n: 10, err: fr.err}
			}
			_, err = b.UploadPart(ctx, "b", "k", uid, 1, body, s3gw.PartOptions{Size: tc.opts.Size, ContentMD5: tc.opts.ContentMD5})
			if !errors.Is(err, tc.want) {
				t.Errorf("UploadPart: %v, want %v", err, tc.want)
			}
			res, err := b.ListParts(ctx, "b", "k", uid, s3gw.PartsQuery{})
			if err != nil || len(res.Parts) != 0 || countDataFiles(t, b) != 1 {
				t.Errorf("after the failed part: parts %v (err %v), %d data files", res.Parts, err, countDataFiles(t, b))
			}
		})
	}
}

func TestCancelledWriteCommitsNothing(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.PutObject(ctx, "b", "k", bytes.NewReader([]byte("x")), s3gw.PutOptions{Size: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("PutObject with a cancelled context: %v", err)
	}
	if n := countDataFiles(t, b); n != 0 {
		t.Errorf("%d data files, want 0", n)
	}
}

func TestReaderKeepsItsVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	v1 := partData(3<<20, 1)
	put(t, b, "b", "k", v1)
	_, r, err := b.GetObject(ctx, "b", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	put(t, b, "b", "k", []byte("v2"))
	if err := b.DeleteObject(ctx, "b", "k"); err != nil {
		t.Fatal(err)
	}
	if n := countDataFiles(t, b); n != 1 {
		t.Errorf("%d data files while a reader is open, want 1 (v1 kept for it)", n)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(head, rest...), v1) {
		t.Errorf("the open reader did not read v1 whole (err %v)", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countDataFiles(t, b); n != 0 {
		t.Errorf("%d data files after the reader closed, want 0", n)
	}
}

func TestOrphansCollectedOnStart(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "objects")
	b := openAt(t, root)
	if err := b.CreateBucket(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	keep := put(t, b, "b", "keep", []byte("kept"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(root, dataDir, "ab", "ab"+fmt.Sprintf("%030x", 7))
	foreign := filepath.Join(root, dataDir, "ab", "notes.txt")
	for _, p := range []string{orphan, foreign} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half a write"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b = openAt(t, root)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan still there: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file fsbackend did not name was touched: %v", err)
	}
	if info, got := get(t, b, "b", "keep", nil); string(got) != "kept" || info.ETag != keep.ETag {
		t.Errorf("referenced object damaged: %q", got)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "objects")
	openAt(t, root)
	if b, err := New(context.Background(), root, Options{}); err == nil {
		_ = b.Close()
		t.Fatal("a second New on an open root succeeded")
	}
}

func TestRootIsPrivate(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "objects")
	b := openAt(t, root)
	if err := b.CreateBucket(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	info := put(t, b, "b", "k", []byte("x"))
	for _, p := range []string{root, filepath.Join(root, "index.db")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", p, st.Mode().Perm())
		}
	}
	sum := md5.Sum([]byte("x"))
	if info.ETag != fmt.Sprintf("%x", sum) {
		t.Errorf("etag %s", info.ETag)
	}
}
