package fsbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// fakeClock ticks one second per call.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openAt(t testing.TB, root string) *Backend {
	t.Helper()
	clock := &fakeClock{t: t0}
	b, err := New(context.Background(), root, Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// newTestBackend returns a Backend on a fresh root with bucket "b".
func newTestBackend(t testing.TB) *Backend {
	t.Helper()
	b := openAt(t, filepath.Join(t.TempDir(), "objects"))
	if err := b.CreateBucket(context.Background(), "b"); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return b
}

func put(t testing.TB, b *Backend, bucket, key string, data []byte) s3gw.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(context.Background(), bucket, key, bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return info
}

func get(t testing.TB, b *Backend, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, []byte) {
	t.Helper()
	info, r, err := b.GetObject(context.Background(), bucket, key, rng)
	if err != nil {
		t.Fatalf("GetObject(%q): %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return info, data
}

func md5hex(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

// legalKeys are S3 keys that must round-trip byte for byte.
var legalKeys = []string{
	"plain.txt",
	"with space/and more spaces .txt",
	"unicode/日本語/ключ/🙂.bin",
	"plus+sign+key",
	"percent%20not%2Fdecoded%",
	"double//slash///x",
	"trailing/slash/",
	"/leading/slash",
	"../x",
	"a/../../b",
	"./.././..",
	"..",
	"%2e%2e/",
	"back\\slash\\..\\x",
	"tab\tand\nnewline",
	"?query=1&x#frag",
	strings.Repeat("k", 1024),
	strings.Repeat("é", 512),
}

func TestKeysRoundTrip(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t)
	ctx := context.Background()
	for i, key := range legalKeys {
		data := []byte(strings.Repeat(key, i+1))
		info := put(t, b, "b", key, data)
		if info.Key != key || info.ETag != md5hex(data) {
			t.Errorf("PutObject(%q) = key %q etag %q, want etag %q", key, info.Key, info.ETag, md5hex(data))
		}
		_, got := get(t, b, "b", key, nil)
		if !bytes.Equal(got, data) {
			t.Errorf("GetObject(%q) = %q, want %q", key, got, data)
		}
	}
	res, err := b.ListObjects(ctx, "b", s3gw.ListQuery{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range res.Objects {
		listed = append(listed, o.Key)
	}
	want := append([]string(nil), legalKeys...)
	sortBinary(want)
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("listed keys (-want +got):\n%s", diff)
	}
}

// sortBinary sorts byte-wise (Go's string order is byte-wise).
func sortBinary(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openAt(t, filepath.Join(t.TempDir(), "objects"))
	for _, name := range []string{"zeta", "alpha", "mid"} {
		if err := b.CreateBucket(ctx, name); err != nil {
			t.Fatalf("CreateBucket(%s): %v", name, err)
		}
	}
	got, err := b.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []s3gw.BucketInfo{
		{Name: "alpha", Created: t0.Add(2 * time.Second)},
		{Name: "mid", Created: t0.Add(3 * time.Second)},
		{Name: "zeta", Created: t0.Add(time.Second)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListBuckets (-want +got):\n%s", diff)
	}
	head, err := b.HeadBucket(ctx, "mid")
	if err != nil || head != want[1] {
		t.Errorf("HeadBucket(mid) = %v, %v; want %v", head, err, want[1])
	}
	if err := b.DeleteBucket(ctx, "mid"); err != nil {
		t.Fatalf("DeleteBucket(mid): %v", err)
	}
	if _, err := b.HeadBucket(ctx, "mid"); !errors.Is(err, s3gw.ErrNoSuchBucket) {
		t.Errorf("HeadBucket after delete: %v, want ErrNoSuchBucket", err)
	}
}

func TestObjectLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	meta := s3gw.Metadata{
		ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "inline",
		ContentLanguage: "en", CacheControl: "no-cache", Expires: "Thu, 01 Dec 2094 16:00:00 GMT",
		User: map[string]string{"owner": "ci", "x": "1"},
	}
	data := []byte("hello, keyless")
	sum := md5.Sum(data)
	info, err := b.PutObject(ctx, "b", "dir/obj", bytes.NewReader(data), s3gw.PutOptions{
		Metadata: meta, ContentMD5: sum[:], Size: int64(len(data)),
		Checksums: func() map[string]string { return map[string]string{"CRC32": "AAAAAA=="} },
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	want := s3gw.ObjectInfo{
		Key: "dir/obj", Size: int64(len(data)), ETag: md5hex(data), LastModified: t0.Add(2 * time.Second),
		Metadata: meta, Checksums: map[string]string{"CRC32": "AAAAAA=="},
	}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("PutObject (-want +got):\n%s", diff)
	}
	head, err := b.HeadObject(ctx, "b", "dir/obj")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, head); diff != "" {
		t.Errorf("HeadObject (-want +got):\n%s", diff)
	}
	got, body := get(t, b, "b", "dir/obj", nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetObject info (-want +got):\n%s", diff)
	}
	if string(body) != string(data) {
		t.Errorf("GetObject body = %q, want %q", body, data)
	}

	t.Run("an overwrite replaces data and metadata", func(t *testing.T) {
		info := put(t, b, "b", "dir/obj", []byte("v2"))
		_, body := get(t, b, "b", "dir/obj", nil)
		if string(body) != "v2" || info.Metadata.ContentType != "" {
			t.Errorf("after overwrite: body %q, content type %q", body, info.Metadata.ContentType)
		}
	})
	t.Run("a delete removes the object and a second delete is not an error", func(t *testing.T) {
		for range 2 {
			if err := b.DeleteObject(ctx, "b", "dir/obj"); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
		}
		if _, err := b.HeadObject(ctx, "b", "dir/obj"); !errors.Is(err, s3gw.ErrNoSuchKey) {
			t.Errorf("HeadObject after delete: %v, want ErrNoSuchKey", err)
		}
		if err := b.DeleteBucket(ctx, "b"); err != nil {
			t.Errorf("DeleteBucket of the emptied bucket: %v", err)
		}
	})
}

func TestEmptyObject(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t)
	info := put(t, b, "b", "empty", nil)
	_, body := get(t, b, "b", "empty", nil)
	if info.Size != 0 || len(body) != 0 || info.ETag != md5hex(nil) {
		t.Errorf("empty object: size %d, body %q, etag %s", info.Size, body, info.ETag)
	}
}

func TestRangeReads(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t)
	for _, n := range []int{1, 1 + 3*inlineMax/10} {
		data := bytes.Repeat([]byte("0123456789"), n)
		size := int64(len(data))
		key := fmt.Sprintf("r%d", size)
		put(t, b, "b", key, data)
		tests := []struct {
			name        string
			first, last int64
		}{
			{"a range inside the object returns those bytes", 2, 5},
			{"a one-byte range returns one byte", 0, 0},
			{"a range past the end is clamped to the last byte", size - 3, size + 100},
			{"the last byte alone is served", size - 1, size - 1},
			{"the whole object as a range is served", 0, size - 1},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s (%d-byte object)", tc.name, size), func(t *testing.T) {
				info, got := get(t, b, "b", key, &s3gw.Range{First: tc.first, Last: tc.last})
				want := data[tc.first : min(tc.last, size-1)+1]
				if !bytes.Equal(got, want) || info.Size != size {
					t.Errorf("range %d-%d = %q (size %d), want %q (size %d)", tc.first, tc.last, got, info.Size, want, size)
				}
			})
		}
	}
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	if err := b.CreateBucket(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	meta := s3gw.Metadata{ContentType: "text/html", User: map[string]string{"a": "1"}}
	data := []byte("<p>copy me</p>")
	if _, err := b.PutObject(ctx, "b", "src", bytes.NewReader(data), s3gw.PutOptions{Metadata: meta, Size: -1}); err != nil {
		t.Fatal(err)
	}
	big := partData(3*inlineMax, 3) // a data file
	if _, err := b.PutObject(ctx, "b", "bigsrc", bytes.NewReader(big), s3gw.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	replaced := s3gw.Metadata{ContentType: "text/plain"}
	tests := []struct {
		name     string
		src      string
		data     []byte
		bucket   string
		key      string
		meta     *s3gw.Metadata
		wantMeta s3gw.Metadata
	}{
		{"a copy with COPY keeps the source metadata", "src", data, "other", "dst", nil, meta},
		{"a copy with REPLACE takes the new metadata", "src", data, "b", "dst2", &replaced, replaced},
		{"a copy onto itself with REPLACE updates the metadata in place", "src", data, "b", "src", &replaced, replaced},
		{"a copy of an object in a data file copies every byte", "bigsrc", big, "other", "bigdst", nil, s3gw.Metadata{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := b.CopyObject(ctx, "b", tc.src, tc.bucket, tc.key, tc.meta, s3gw.CopyOptions{})
			if err != nil {
				t.Fatalf("CopyObject: %v", err)
			}
			got, body := get(t, b, tc.bucket, tc.key, nil)
			if diff := cmp.Diff(tc.wantMeta, got.Metadata); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if !bytes.Equal(body, tc.data) || info.ETag != md5hex(tc.data) {
				t.Errorf("copy = %d bytes etag %s, want %d bytes etag %s", len(body), info.ETag, len(tc.data), md5hex(tc.data))
			}
		})
	}
}

// TestErrors checks every sentinel each method can return.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	put(t, b, "b", "exists", []byte("x"))
	if err := b.CreateBucket(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "full", "k", []byte("x"))
	uid, err := b.CreateMultipartUpload(ctx, "b", "mp", s3gw.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	small, err := b.UploadPart(ctx, "b", "mp", uid, 1, strings.NewReader("small"), s3gw.PartOptions{Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	last, err := b.UploadPart(ctx, "b", "mp", uid, 2, strings.NewReader("last"), s3gw.PartOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	body := func(s string) io.Reader { return strings.NewReader(s) }
	tooLong := strings.Repeat("k", 1025)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"CreateBucket of an existing bucket says already owned", func() error { return b.CreateBucket(ctx, "b") }, s3gw.ErrBucketAlreadyOwnedByYou},
		{"DeleteBucket of a missing bucket says no such bucket", func() error { return b.DeleteBucket(ctx, "nope") }, s3gw.ErrNoSuchBucket},
		{"DeleteBucket of a bucket with objects says not empty", func() error { return b.DeleteBucket(ctx, "full") }, s3gw.ErrBucketNotEmpty},
		{"HeadBucket of a missing bucket says no such bucket", func() error { _, err := b.HeadBucket(ctx, "nope"); return err }, s3gw.ErrNoSuchBucket},
		{"PutObject into a missing bucket says no such bucket", func() error {
			_, err := b.PutObject(ctx, "nope", "k", body("x"), s3gw.PutOptions{Size: 1})
			return err
		}, s3gw.ErrNoSuchBucket},
		{"PutObject with a 1025-byte key says invalid key", func() error {
			_, err := b.PutObject(ctx, "b", tooLong, body("x"), s3gw.PutOptions{Size: 1})
			return err
		}, s3gw.ErrInvalidKey},
		{"PutObject with If-None-Match on an existing key fails the precondition", func() error {
			_, err := b.PutObject(ctx, "b", "exists", body("y"), s3gw.PutOptions{Size: 1, IfNoneMatch: true})
			return err
		}, s3gw.ErrPreconditionFailed},
		{"PutObject with a wrong Content-MD5 says bad digest", func() error {
			_, err := b.PutObject(ctx, "b", "k", body("x"), s3gw.PutOptions{Size: 1, ContentMD5: make([]byte, 16)})
			return err
		}, s3gw.ErrBadDigest},
		{"PutObject with a short body says the length is wrong", func() error {
			_, err := b.PutObject(ctx, "b", "k", body("x"), s3gw.PutOptions{Size: 2})
			return err
		}, ErrBodyLength},
		{"PutObject with a long body says the length is wrong", func() error {
			_, err := b.PutObject(ctx, "b", "k", body("xyz"), s3gw.PutOptions{Size: 2})
			return err
		}, ErrBodyLength},
		{"GetObject of a missing key says no such key", func() error { _, _, err := b.GetObject(ctx, "b", "nope", nil); return err }, s3gw.ErrNoSuchKey},
		{"GetObject in a missing bucket says no such bucket", func() error { _, _, err := b.GetObject(ctx, "nope", "k", nil); return err }, s3gw.ErrNoSuchBucket},
		{"GetObject with a range past the end is not satisfiable", func() error {
			_, _, err := b.GetObject(ctx, "b", "exists", &s3gw.Range{First: 1, Last: 5})
			return err
		}, s3gw.ErrInvalidRange},
		{"GetObject with a reversed range is not satisfiable", func() error {
			_, _, err := b.GetObject(ctx, "b", "exists", &s3gw.Range{First: 1, Last: 0})
			return err
		}, s3gw.ErrInvalidRange},
		{"HeadObject of a missing key says no such key", func() error { _, err := b.HeadObject(ctx, "b", "nope"); return err }, s3gw.ErrNoSuchKey},
		{"HeadObject in a missing bucket says no such bucket", func() error { _, err := b.HeadObject(ctx, "nope", "k"); return err }, s3gw.ErrNoSuchBucket},
		{"DeleteObject in a missing bucket says no such bucket", func() error { return b.DeleteObject(ctx, "nope", "k") }, s3gw.ErrNoSuchBucket},
		{"CopyObject from a missing key says no such key", func() error {
			_, err := b.CopyObject(ctx, "b", "nope", "b", "d", nil, s3gw.CopyOptions{})
			return err
		}, s3gw.ErrNoSuchKey},
		{"CopyObject into a missing bucket says no such bucket", func() error {
			_, err := b.CopyObject(ctx, "b", "exists", "nope", "d", nil, s3gw.CopyOptions{})
			return err
		}, s3gw.ErrNoSuchBucket},
		{"CopyObject with If-None-Match onto an existing key fails the precondition", func() error {
			_, err := b.CopyObject(ctx, "full", "k", "b", "exists", nil, s3gw.CopyOptions{IfNoneMatch: true})
			return err
		}, s3gw.ErrPreconditionFailed},
		{"ListObjects of a missing bucket says no such bucket", func() error {
			_, err := b.ListObjects(ctx, "nope", s3gw.ListQuery{MaxKeys: 10})
			return err
		}, s3gw.ErrNoSuchBucket},
		{"CreateMultipartUpload in a missing bucket says no such bucket", func() error {
			_, err := b.CreateMultipartUpload(ctx, "nope", "k", s3gw.Metadata{})
			return err
		}, s3gw.ErrNoSuchBucket},
		{"UploadPart to a missing upload says no such upload", func() error {
			_, err := b.UploadPart(ctx, "b", "mp", "nope", 1, body("x"), s3gw.PartOptions{Size: 1})
			return err
		}, s3gw.ErrNoSuchUpload},
		{"UploadPart under another key says no such upload", func() error {
			_, err := b.UploadPart(ctx, "b", "other", uid, 1, body("x"), s3gw.PartOptions{Size: 1})
			return err
		}, s3gw.ErrNoSuchUpload},
		{"UploadPart numbered 10001 is an invalid part", func() error {
			_, err := b.UploadPart(ctx, "b", "mp", uid, 10001, body("x"), s3gw.PartOptions{Size: 1})
			return err
		}, s3gw.ErrInvalidPart},
		{"UploadPart with a wrong Content-MD5 says bad digest", func() error {
			_, err := b.UploadPart(ctx, "b", "mp", uid, 3, body("x"), s3gw.PartOptions{Size: 1, ContentMD5: make([]byte, 16)})
			return err
		}, s3gw.ErrBadDigest},
		{"UploadPartCopy from a missing key says no such key", func() error {
			_, err := b.UploadPartCopy(ctx, "b", "mp", uid, 3, "b", "nope", nil)
			return err
		}, s3gw.ErrNoSuchKey},
		{"UploadPartCopy with a range past the end is not satisfiable", func() error {
			_, err := b.UploadPartCopy(ctx, "b", "mp", uid, 3, "b", "exists", &s3gw.Range{First: 2, Last: 3})
			return err
		}, s3gw.ErrInvalidRange},
		{"UploadPartCopy to a missing upload says no such upload", func() error {
			_, err := b.UploadPartCopy(ctx, "b", "mp", "nope", 3, "b", "exists", nil)
			return err
		}, s3gw.ErrNoSuchUpload},
		{"CompleteMultipartUpload of a missing upload says no such upload", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", "nope", []s3gw.CompletedPart{{Number: 1, ETag: small.ETag}})
			return err
		}, s3gw.ErrNoSuchUpload},
		{"CompleteMultipartUpload with parts out of order says invalid part order", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", uid, []s3gw.CompletedPart{{Number: 2, ETag: last.ETag}, {Number: 1, ETag: small.ETag}})
			return err
		}, s3gw.ErrInvalidPartOrder},
		{"CompleteMultipartUpload with a part listed twice says invalid part order", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", uid, []s3gw.CompletedPart{{Number: 1, ETag: small.ETag}, {Number: 1, ETag: small.ETag}})
			return err
		}, s3gw.ErrInvalidPartOrder},
		{"CompleteMultipartUpload with a wrong ETag says invalid part", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", uid, []s3gw.CompletedPart{{Number: 2, ETag: small.ETag}})
			return err
		}, s3gw.ErrInvalidPart},
		{"CompleteMultipartUpload with a part never uploaded says invalid part", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", uid, []s3gw.CompletedPart{{Number: 7, ETag: small.ETag}})
			return err
		}, s3gw.ErrInvalidPart},
		{"CompleteMultipartUpload with no parts says invalid part", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", uid, nil)
			return err
		}, s3gw.ErrInvalidPart},
		{"CompleteMultipartUpload with a small part before the last says too small", func() error {
			_, err := b.CompleteMultipartUpload(ctx, "b", "mp", uid, []s3gw.CompletedPart{{Number: 1, ETag: small.ETag}, {Number: 2, ETag: `"` + last.ETag + `"`}})
			return err
		}, s3gw.ErrEntityTooSmall},
		{"AbortMultipartUpload of a missing upload says no such upload", func() error { return b.AbortMultipartUpload(ctx, "b", "mp", "nope") }, s3gw.ErrNoSuchUpload},
		{"ListParts of a missing upload says no such upload", func() error {
			_, err := b.ListParts(ctx, "b", "mp", "nope", s3gw.PartsQuery{})
			return err
		}, s3gw.ErrNoSuchUpload},
		{"ListParts in a missing bucket says no such bucket", func() error {
			_, err := b.ListParts(ctx, "nope", "mp", uid, s3gw.PartsQuery{})
			return err
		}, s3gw.ErrNoSuchBucket},
		{"ListMultipartUploads of a missing bucket says no such bucket", func() error {
			_, err := b.ListMultipartUploads(ctx, "nope", s3gw.UploadsQuery{})
			return err
		}, s3gw.ErrNoSuchBucket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("the failed calls left the stored state unchanged", func(t *testing.T) {
		_, data := get(t, b, "b", "exists", nil)
		if string(data) != "x" {
			t.Errorf("exists = %q, want x", data)
		}
		for _, key := range []string{"k", "d"} {
			if _, err := b.HeadObject(ctx, "b", key); !errors.Is(err, s3gw.ErrNoSuchKey) {
				t.Errorf("HeadObject(%s) = %v, want ErrNoSuchKey", key, err)
			}
		}
		res, err := b.ListParts(ctx, "b", "mp", uid, s3gw.PartsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]s3gw.PartInfo{small, last}, res.Parts, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("parts (-want +got):\n%s", diff)
		}
	})
}
