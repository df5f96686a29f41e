package s3backend_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/s3gw"
	"github.com/keyless-dev/keyless/internal/s3gw/s3backend"
)

var bucketSeq atomic.Int64

// newBucket creates a bucket of its own for one case.
func newBucket(t *testing.T, b *s3backend.Backend) string {
	t.Helper()
	name := fmt.Sprintf("case-%d", bucketSeq.Add(1))
	if err := b.CreateBucket(t.Context(), name); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return name
}

func put(t *testing.T, b *s3backend.Backend, bucket, key, body string, meta s3gw.Metadata) s3gw.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(t.Context(), bucket, key, strings.NewReader(body), s3gw.PutOptions{Size: int64(len(body)), Metadata: meta})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
	return info
}

func get(t *testing.T, b *s3backend.Backend, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, string) {
	t.Helper()
	info, rc, err := b.GetObject(t.Context(), bucket, key, rng)
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return info, string(data)
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func hexMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return fmt.Sprintf("%x", sum)
}

// TestBackendMethodsAgainstAnUpstreamKeylessd runs every Backend method against a
// keylessd on fsbackend, through its S3 API: the results and errors s3gw relies on.
func TestBackendMethodsAgainstAnUpstreamKeylessd(t *testing.T) {
	t.Parallel()
	b := newBackend(t, startUpstream(t))
	meta := s3gw.Metadata{ContentType: "text/html", CacheControl: "max-age=60", ContentDisposition: "inline",
		ContentLanguage: "en", ContentEncoding: "identity", Expires: "Wed, 21 Oct 2037 07:28:00 GMT",
		User: map[string]string{"build": "42", "owner": "ci"}}
	cases := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, bucket string)
	}{
		{"ListBuckets lists a created bucket", func(t *testing.T, ctx context.Context, bucket string) {
			got, err := b.ListBuckets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(got, func(bi s3gw.BucketInfo) bool { return bi.Name == bucket && !bi.Created.IsZero() }) {
				t.Fatalf("%s with a creation date not in %v", bucket, got)
			}
		}},
		{"CreateBucket of an existing bucket is ErrBucketAlreadyOwnedByYou", func(t *testing.T, ctx context.Context, bucket string) {
			wantErr(t, b.CreateBucket(ctx, bucket), s3gw.ErrBucketAlreadyOwnedByYou)
		}},
		{"DeleteBucket of a bucket holding an object is ErrBucketNotEmpty", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "k", "v", s3gw.Metadata{})
			wantErr(t, b.DeleteBucket(ctx, bucket), s3gw.ErrBucketNotEmpty)
		}},
		{"DeleteBucket removes an empty bucket, and then HeadBucket and DeleteBucket are ErrNoSuchBucket", func(t *testing.T, ctx context.Context, bucket string) {
			if err := b.DeleteBucket(ctx, bucket); err != nil {
				t.Fatal(err)
			}
			_, err := b.HeadBucket(ctx, bucket)
			wantErr(t, err, s3gw.ErrNoSuchBucket)
			wantErr(t, b.DeleteBucket(ctx, bucket), s3gw.ErrNoSuchBucket)
		}},
		{"HeadBucket of an existing bucket names it", func(t *testing.T, ctx context.Context, bucket string) {
			got, err := b.HeadBucket(ctx, bucket)
			if err != nil || got.Name != bucket {
				t.Fatalf("HeadBucket = %v, %v", got, err)
			}
		}},
		{"PutObject then GetObject and HeadObject return the bytes, ETag and metadata", func(t *testing.T, ctx context.Context, bucket string) {
			body := "<html>hello</html>"
			pi := put(t, b, bucket, "dir/index.html", body, meta)
			if pi.ETag != hexMD5(body) {
				t.Errorf("PutObject ETag %q, want %q", pi.ETag, hexMD5(body))
			}
			gi, data := get(t, b, bucket, "dir/index.html", nil)
			if data != body {
				t.Errorf("GetObject body %q, want %q", data, body)
			}
			hi, err := b.HeadObject(ctx, bucket, "dir/index.html")
			if err != nil {
				t.Fatal(err)
			}
			for _, info := range []s3gw.ObjectInfo{gi, hi} {
				if info.LastModified.IsZero() {
					t.Errorf("no LastModified")
				}
				info.LastModified = pi.LastModified
				want := s3gw.ObjectInfo{Key: "dir/index.html", Size: int64(len(body)), ETag: hexMD5(body), LastModified: pi.LastModified, Metadata: meta}
				if diff := cmp.Diff(want, info); diff != "" {
					t.Errorf("object info (-want +got):\n%s", diff)
				}
			}
		}},
		{"GetObject of a range returns those bytes and the whole object's size", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "r", "0123456789", s3gw.Metadata{})
			info, data := get(t, b, bucket, "r", &s3gw.Range{First: 2, Last: 5})
			if data != "2345" || info.Size != 10 {
				t.Fatalf("range 2-5: %q of size %d, want \"2345\" of size 10", data, info.Size)
			}
		}},
		{"GetObject of a range past the end is ErrInvalidRange", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "r", "0123456789", s3gw.Metadata{})
			_, _, err := b.GetObject(ctx, bucket, "r", &s3gw.Range{First: 20, Last: 30})
			wantErr(t, err, s3gw.ErrInvalidRange)
		}},
		{"GetObject and HeadObject of a missing key are ErrNoSuchKey", func(t *testing.T, ctx context.Context, bucket string) {
			_, _, err := b.GetObject(ctx, bucket, "missing", nil)
			wantErr(t, err, s3gw.ErrNoSuchKey)
			_, err = b.HeadObject(ctx, bucket, "missing")
			wantErr(t, err, s3gw.ErrNoSuchKey)
		}},
		{"GetObject, HeadObject and PutObject in a missing bucket are ErrNoSuchBucket", func(t *testing.T, ctx context.Context, bucket string) {
			_, _, err := b.GetObject(ctx, bucket+"-missing", "k", nil)
			wantErr(t, err, s3gw.ErrNoSuchBucket)
			_, err = b.HeadObject(ctx, bucket+"-missing", "k")
			wantErr(t, err, s3gw.ErrNoSuchBucket)
			_, err = b.PutObject(ctx, bucket+"-missing", "k", strings.NewReader("v"), s3gw.PutOptions{Size: 1})
			wantErr(t, err, s3gw.ErrNoSuchBucket)
		}},
		{"PutObject with a wrong Content-MD5 is ErrBadDigest and stores nothing", func(t *testing.T, ctx context.Context, bucket string) {
			wrong := md5.Sum([]byte("something else"))
			_, err := b.PutObject(ctx, bucket, "k", strings.NewReader("body"), s3gw.PutOptions{Size: 4, ContentMD5: wrong[:]})
			wantErr(t, err, s3gw.ErrBadDigest)
			_, err = b.HeadObject(ctx, bucket, "k")
			wantErr(t, err, s3gw.ErrNoSuchKey)
		}},
		{"PutObject with the right Content-MD5 stores the object", func(t *testing.T, ctx context.Context, bucket string) {
			sum := md5.Sum([]byte("body"))
			if _, err := b.PutObject(ctx, bucket, "k", strings.NewReader("body"), s3gw.PutOptions{Size: 4, ContentMD5: sum[:]}); err != nil {
				t.Fatal(err)
			}
		}},
		{"PutObject with IfNoneMatch over an existing object is ErrPreconditionFailed", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "k", "first", s3gw.Metadata{})
			_, err := b.PutObject(ctx, bucket, "k", strings.NewReader("second"), s3gw.PutOptions{Size: 6, IfNoneMatch: true})
			wantErr(t, err, s3gw.ErrPreconditionFailed)
			if _, data := get(t, b, bucket, "k", nil); data != "first" {
				t.Fatalf("object is %q after a refused overwrite", data)
			}
		}},
		{"PutObject of unknown length stores the whole body", func(t *testing.T, ctx context.Context, bucket string) {
			body := strings.Repeat("0123456789abcdef", 100_000) // 1.6 MB through a pipe
			pr, pw := io.Pipe()
			go func() { _, err := io.Copy(pw, strings.NewReader(body)); pw.CloseWithError(err) }()
			info, err := b.PutObject(ctx, bucket, "unknown", pr, s3gw.PutOptions{Size: -1})
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(body)) || info.ETag != hexMD5(body) {
				t.Errorf("PutObject info size %d etag %s, want %d %s", info.Size, info.ETag, len(body), hexMD5(body))
			}
			if _, data := get(t, b, bucket, "unknown", nil); data != body {
				t.Fatalf("stored %d bytes, want %d", len(data), len(body))
			}
		}},
		{"PutObject of unknown length longer than a part becomes a multipart object holding the whole body", func(t *testing.T, ctx context.Context, bucket string) {
			body := bytes.Repeat([]byte("0123456789abcdef"), 20<<16) // 20 MiB: parts of 8, 8 and 4 MiB
			pr, pw := io.Pipe()
			go func() { _, err := io.Copy(pw, bytes.NewReader(body)); pw.CloseWithError(err) }()
			sum := md5.Sum(body)
			info, err := b.PutObject(ctx, bucket, "long", pr, s3gw.PutOptions{Size: -1, ContentMD5: sum[:], Metadata: meta})
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(body)) || info.PartsCount != 3 || !strings.HasSuffix(info.ETag, "-3") {
				t.Errorf("PutObject info size %d etag %s parts %d, want %d bytes in 3 parts", info.Size, info.ETag, info.PartsCount, len(body))
			}
			gi, data := get(t, b, bucket, "long", nil)
			if data != string(body) {
				t.Fatalf("stored %d bytes, want the %d sent", len(data), len(body))
			}
			if diff := cmp.Diff(meta, gi.Metadata); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			ups, err := b.ListMultipartUploads(ctx, bucket, s3gw.UploadsQuery{MaxUploads: 10})
			if err != nil || len(ups.Uploads) != 0 {
				t.Fatalf("uploads left behind: %+v, %v", ups, err)
			}
		}},
		{"PutObject of unknown length with a wrong Content-MD5 is ErrBadDigest, short or long", func(t *testing.T, ctx context.Context, bucket string) {
			wrong := md5.Sum([]byte("other"))
			for _, n := range []int{10, 9 << 20} {
				_, err := b.PutObject(ctx, bucket, "k", bytes.NewReader(make([]byte, n)), s3gw.PutOptions{Size: -1, ContentMD5: wrong[:]})
				wantErr(t, err, s3gw.ErrBadDigest)
			}
			_, err := b.HeadObject(ctx, bucket, "k")
			wantErr(t, err, s3gw.ErrNoSuchKey)
		}},
		{"PutObject of unknown length with IfNoneMatch over an existing object is ErrPreconditionFailed", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "k", "first", s3gw.Metadata{})
			for _, n := range []int{10, 9 << 20} {
				_, err := b.PutObject(ctx, bucket, "k", bytes.NewReader(make([]byte, n)), s3gw.PutOptions{Size: -1, IfNoneMatch: true})
				wantErr(t, err, s3gw.ErrPreconditionFailed)
			}
		}},
		{"PutObject returns the checksums the gateway verified", func(t *testing.T, ctx context.Context, bucket string) {
			sums := map[string]string{"CRC32": "AAAAAA=="}
			info, err := b.PutObject(ctx, bucket, "k", strings.NewReader("v"), s3gw.PutOptions{Size: 1, Checksums: func() map[string]string { return sums }})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sums, info.Checksums); diff != "" {
				t.Fatalf("checksums (-want +got):\n%s", diff)
			}
		}},
		{"DeleteObject removes a key, and deleting a missing key is not an error", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "k", "v", s3gw.Metadata{})
			if err := b.DeleteObject(ctx, bucket, "k"); err != nil {
				t.Fatal(err)
			}
			_, err := b.HeadObject(ctx, bucket, "k")
			wantErr(t, err, s3gw.ErrNoSuchKey)
			if err := b.DeleteObject(ctx, bucket, "k"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
		}},
		{"CopyObject keeps the source's metadata, or replaces it when given", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "src key+1", "payload", meta)
			ci, err := b.CopyObject(ctx, bucket, "src key+1", bucket, "kept", nil, s3gw.CopyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ci.ETag != hexMD5("payload") {
				t.Errorf("copy ETag %q", ci.ETag)
			}
			other := s3gw.Metadata{ContentType: "text/plain", User: map[string]string{"x": "y"}}
			if _, err := b.CopyObject(ctx, bucket, "src key+1", bucket, "replaced", &other, s3gw.CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]s3gw.Metadata{"kept": meta, "replaced": other} {
				info, data := get(t, b, bucket, key, nil)
				if data != "payload" {
					t.Errorf("%s holds %q", key, data)
				}
				if diff := cmp.Diff(want, info.Metadata); diff != "" {
					t.Errorf("%s metadata (-want +got):\n%s", key, diff)
				}
			}
		}},
		{"CopyObject of a missing source is ErrNoSuchKey, and over an existing object with IfNoneMatch ErrPreconditionFailed", func(t *testing.T, ctx context.Context, bucket string) {
			_, err := b.CopyObject(ctx, bucket, "missing", bucket, "dst", nil, s3gw.CopyOptions{})
			wantErr(t, err, s3gw.ErrNoSuchKey)
			put(t, b, bucket, "a", "1", s3gw.Metadata{})
			put(t, b, bucket, "b", "2", s3gw.Metadata{})
			_, err = b.CopyObject(ctx, bucket, "a", bucket, "b", nil, s3gw.CopyOptions{IfNoneMatch: true})
			wantErr(t, err, s3gw.ErrPreconditionFailed)
		}},
		{"ListObjects pages in binary order through markers, with delimiters and awkward keys", func(t *testing.T, ctx context.Context, bucket string) {
			keys := []string{"a b", "a+b", "a/1", "a/2", "b/x/y", "c%20d", "z", "é"}
			for _, k := range keys {
				put(t, b, bucket, k, k, s3gw.Metadata{})
			}
			var got []string
			marker := ""
			for range 10 {
				res, err := b.ListObjects(ctx, bucket, s3gw.ListQuery{Delimiter: "/", Marker: marker, MaxKeys: 2})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range res.Objects {
					got = append(got, o.Key)
				}
				got = append(got, res.CommonPrefixes...)
				if !res.IsTruncated {
					break
				}
				marker = res.NextMarker
			}
			want := []string{"a b", "a+b", "a/", "b/", "c%20d", "z", "é"}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("listing (-want +got):\n%s", diff)
			}
			res, err := b.ListObjects(ctx, bucket, s3gw.ListQuery{Prefix: "a/", MaxKeys: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Objects) != 2 || res.Objects[0].Key != "a/1" || res.Objects[0].Size != 3 || res.Objects[0].ETag != hexMD5("a/1") {
				t.Fatalf("prefix a/: %+v", res.Objects)
			}
		}},
		{"ListObjects of a missing bucket is ErrNoSuchBucket", func(t *testing.T, ctx context.Context, bucket string) {
			_, err := b.ListObjects(ctx, bucket+"-missing", s3gw.ListQuery{MaxKeys: 10})
			wantErr(t, err, s3gw.ErrNoSuchBucket)
		}},
	}
	cases = append(cases, multipartCases(b)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, t.Context(), newBucket(t, b))
		})
	}
}

const partSize = 5 << 20

func multipartCases(b *s3backend.Backend) []struct {
	name string
	run  func(t *testing.T, ctx context.Context, bucket string)
} {
	part := func(t *testing.T, bucket, key, id string, n int, body []byte) s3gw.PartInfo {
		t.Helper()
		p, err := b.UploadPart(t.Context(), bucket, key, id, n, bytes.NewReader(body), s3gw.PartOptions{Size: int64(len(body))})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		return p
	}
	create := func(t *testing.T, bucket, key string) string {
		t.Helper()
		id, err := b.CreateMultipartUpload(t.Context(), bucket, key, s3gw.Metadata{ContentType: "application/zip", User: map[string]string{"m": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	big := bytes.Repeat([]byte("p"), partSize)
	return []struct {
		name string
		run  func(t *testing.T, ctx context.Context, bucket string)
	}{
		{"a multipart upload is listed, its parts are listed, and completing it makes a -N object with its metadata", func(t *testing.T, ctx context.Context, bucket string) {
			id := create(t, bucket, "mp key")
			p1 := part(t, bucket, "mp key", id, 1, big)
			p2 := part(t, bucket, "mp key", id, 2, []byte("tail"))
			if p1.Size != partSize || p1.ETag != hexMD5(string(big)) || p2.Number != 2 {
				t.Errorf("parts %+v %+v", p1, p2)
			}
			ups, err := b.ListMultipartUploads(ctx, bucket, s3gw.UploadsQuery{MaxUploads: 10})
			if err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].Key != "mp key" || ups.Uploads[0].UploadID != id {
				t.Fatalf("ListMultipartUploads = %+v, %v", ups, err)
			}
			lp, err := b.ListParts(ctx, bucket, "mp key", id, s3gw.PartsQuery{MaxParts: 1})
			if err != nil || len(lp.Parts) != 1 || !lp.IsTruncated || lp.NextMarker != 1 || lp.Parts[0].Size != partSize {
				t.Fatalf("ListParts page 1 = %+v, %v", lp, err)
			}
			lp, err = b.ListParts(ctx, bucket, "mp key", id, s3gw.PartsQuery{Marker: 1, MaxParts: 10})
			if err != nil || len(lp.Parts) != 1 || lp.Parts[0].Number != 2 || lp.IsTruncated {
				t.Fatalf("ListParts page 2 = %+v, %v", lp, err)
			}
			info, err := b.CompleteMultipartUpload(ctx, bucket, "mp key", id, []s3gw.CompletedPart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: `"` + p2.ETag + `"`}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(info.ETag, "-2") || info.PartsCount != 2 {
				t.Errorf("completed ETag %q parts %d", info.ETag, info.PartsCount)
			}
			hi, err := b.HeadObject(ctx, bucket, "mp key")
			if err != nil || hi.Size != partSize+4 || hi.PartsCount != 2 || hi.Metadata.ContentType != "application/zip" || hi.Metadata.User["m"] != "1" {
				t.Fatalf("HeadObject = %+v, %v", hi, err)
			}
		}},
		{"completing with a small first part is ErrEntityTooSmall", func(t *testing.T, ctx context.Context, bucket string) {
			id := create(t, bucket, "k")
			p1 := part(t, bucket, "k", id, 1, []byte("small"))
			p2 := part(t, bucket, "k", id, 2, []byte("tail"))
			_, err := b.CompleteMultipartUpload(ctx, bucket, "k", id, []s3gw.CompletedPart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: p2.ETag}})
			wantErr(t, err, s3gw.ErrEntityTooSmall)
		}},
		{"completing with a wrong ETag is ErrInvalidPart, and out of order ErrInvalidPartOrder", func(t *testing.T, ctx context.Context, bucket string) {
			id := create(t, bucket, "k")
			p1 := part(t, bucket, "k", id, 1, big)
			p2 := part(t, bucket, "k", id, 2, []byte("tail"))
			_, err := b.CompleteMultipartUpload(ctx, bucket, "k", id, []s3gw.CompletedPart{{Number: 1, ETag: hexMD5("x")}, {Number: 2, ETag: p2.ETag}})
			wantErr(t, err, s3gw.ErrInvalidPart)
			_, err = b.CompleteMultipartUpload(ctx, bucket, "k", id, []s3gw.CompletedPart{{Number: 2, ETag: p2.ETag}, {Number: 1, ETag: p1.ETag}})
			wantErr(t, err, s3gw.ErrInvalidPartOrder)
		}},
		{"an aborted upload is gone: ListParts, UploadPart and Complete are ErrNoSuchUpload", func(t *testing.T, ctx context.Context, bucket string) {
			id := create(t, bucket, "k")
			part(t, bucket, "k", id, 1, []byte("x"))
			if err := b.AbortMultipartUpload(ctx, bucket, "k", id); err != nil {
				t.Fatal(err)
			}
			_, err := b.ListParts(ctx, bucket, "k", id, s3gw.PartsQuery{MaxParts: 10})
			wantErr(t, err, s3gw.ErrNoSuchUpload)
			_, err = b.UploadPart(ctx, bucket, "k", id, 2, strings.NewReader("y"), s3gw.PartOptions{Size: 1})
			wantErr(t, err, s3gw.ErrNoSuchUpload)
			_, err = b.CompleteMultipartUpload(ctx, bucket, "k", id, []s3gw.CompletedPart{{Number: 1, ETag: hexMD5("x")}})
			wantErr(t, err, s3gw.ErrNoSuchUpload)
		}},
		{"UploadPartCopy copies a range of an object into a part", func(t *testing.T, ctx context.Context, bucket string) {
			put(t, b, bucket, "src", "0123456789", s3gw.Metadata{})
			id := create(t, bucket, "k")
			p, err := b.UploadPartCopy(ctx, bucket, "k", id, 1, bucket, "src", &s3gw.Range{First: 3, Last: 6})
			if err != nil {
				t.Fatal(err)
			}
			if p.ETag != hexMD5("3456") || p.Size != 4 {
				t.Errorf("part %+v", p)
			}
			if _, err := b.CompleteMultipartUpload(ctx, bucket, "k", id, []s3gw.CompletedPart{{Number: 1, ETag: p.ETag}}); err != nil {
				t.Fatal(err)
			}
			if _, data := get(t, b, bucket, "k", nil); data != "3456" {
				t.Fatalf("object holds %q", data)
			}
		}},
	}
}
