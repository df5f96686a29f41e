package fsbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// partData returns n bytes that differ by seed.
func partData(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i%251)
	}
	return p
}

// multipartETag is S3's ETag of a multipart object: MD5 of the binary part MD5s, "-N".
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		sum := md5.Sum(p)
		h.Write(sum[:])
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	meta := s3gw.Metadata{ContentType: "application/zip", User: map[string]string{"build": "42"}}
	uid, err := b.CreateMultipartUpload(ctx, "b", "big/file.zip", meta)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2, p3 := partData(minPartSize, 1), partData(minPartSize+7, 2), partData(1234, 3)
	src := put(t, b, "b", "src", append(partData(100, 9), p2...))

	up := func(n int, data []byte) s3gw.PartInfo {
		t.Helper()
		sum := md5.Sum(data)
		pi, err := b.UploadPart(ctx, "b", "big/file.zip", uid, n, bytes.NewReader(data),
			s3gw.PartOptions{Size: int64(len(data)), ContentMD5: sum[:]})
		if err != nil {
			t.Fatalf("UploadPart(%d): %v", n, err)
		}
		return pi
	}
	up(1, partData(10, 0)) // replaced below
	i1 := up(1, p1)
	i3 := up(3, p3)
	i2, err := b.UploadPartCopy(ctx, "b", "big/file.zip", uid, 2, "b", "src", &s3gw.Range{First: 100, Last: src.Size - 1})
	if err != nil {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	up(4, partData(10, 4)) // uploaded, never completed

	t.Run("parts list in order with their ETags and sizes", func(t *testing.T) {
		res, err := b.ListParts(ctx, "b", "big/file.zip", uid, s3gw.PartsQuery{MaxParts: 2})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]s3gw.PartInfo{i1, i2}, res.Parts, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("parts (-want +got):\n%s", diff)
		}
		if !res.IsTruncated || res.NextMarker != 2 || res.Metadata.ContentType != "application/zip" {
			t.Errorf("page: truncated %v next %d meta %+v", res.IsTruncated, res.NextMarker, res.Metadata)
		}
		res, err = b.ListParts(ctx, "b", "big/file.zip", uid, s3gw.PartsQuery{Marker: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Parts) != 2 || res.Parts[0].Number != 3 || res.IsTruncated {
			t.Errorf("second page: %+v", res)
		}
		if i2.ETag != md5hex(p2) || i2.Size != int64(len(p2)) {
			t.Errorf("copied part etag %s size %d, want %s %d", i2.ETag, i2.Size, md5hex(p2), len(p2))
		}
	})

	info, err := b.CompleteMultipartUpload(ctx, "b", "big/file.zip", uid, []s3gw.CompletedPart{
		{Number: 1, ETag: `"` + i1.ETag + `"`}, {Number: 2, ETag: i2.ETag}, {Number: 3, ETag: i3.ETag},
	})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	t.Run("the object is the parts in order with an md5-of-md5s ETag", func(t *testing.T) {
		want := s3gw.ObjectInfo{
			Key: "big/file.zip", Size: int64(len(whole)), ETag: multipartETag(p1, p2, p3),
			LastModified: info.LastModified, Metadata: meta, PartsCount: 3,
		}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("Complete (-want +got):\n%s", diff)
		}
		got, data := get(t, b, "b", "big/file.zip", nil)
		if !bytes.Equal(data, whole) || got.ETag != want.ETag {
			t.Errorf("GetObject: %d bytes etag %s, want %d bytes etag %s", len(data), got.ETag, len(whole), want.ETag)
		}
	})
	t.Run("ranges read across part boundaries", func(t *testing.T) {
		for _, r := range []s3gw.Range{
			{First: minPartSize - 3, Last: minPartSize + 3},
			{First: int64(len(p1) + len(p2) - 1), Last: int64(len(whole))},
			{First: int64(len(p1)), Last: int64(len(p1))},
		} {
			_, data := get(t, b, "b", "big/file.zip", &r)
			last := min(r.Last, int64(len(whole)-1))
			if !bytes.Equal(data, whole[r.First:last+1]) {
				t.Errorf("range %d-%d: got %d bytes, not the object's", r.First, r.Last, len(data))
			}
		}
	})
	t.Run("the upload is gone and its unused part file removed", func(t *testing.T) {
		if _, err := b.ListParts(ctx, "b", "big/file.zip", uid, s3gw.PartsQuery{}); !errors.Is(err, s3gw.ErrNoSuchUpload) {
			t.Errorf("ListParts after complete: %v", err)
		}
		if n := countDataFiles(t, b); n != 4 { // src + 3 parts
			t.Errorf("%d data files, want 4", n)
		}
	})
}

func countDataFiles(t *testing.T, b *Backend) int {
	t.Helper()
	ids, err := dataFiles(b.root)
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func TestAbortMultipartUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	uid, err := b.CreateMultipartUpload(ctx, "b", "k", s3gw.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadPart(ctx, "b", "k", uid, 1, bytes.NewReader([]byte("abc")), s3gw.PartOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.AbortMultipartUpload(ctx, "b", "k", uid); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if _, err := b.UploadPart(ctx, "b", "k", uid, 2, bytes.NewReader([]byte("abc")), s3gw.PartOptions{Size: 3}); !errors.Is(err, s3gw.ErrNoSuchUpload) {
		t.Errorf("UploadPart after abort: %v, want ErrNoSuchUpload", err)
	}
	if n := countDataFiles(t, b); n != 0 {
		t.Errorf("%d data files after abort, want 0", n)
	}
}

func TestListMultipartUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	ids := map[string][]string{}
	for _, k := range []string{"a/1", "a/2", "b", "b", "c/x/1", "d"} {
		uid, err := b.CreateMultipartUpload(ctx, "b", k, s3gw.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = append(ids[k], uid)
	}
	type row struct{ Key, ID string }
	tests := []struct {
		name      string
		q         s3gw.UploadsQuery
		want      []row
		prefixes  []string
		truncated bool
		nextKey   string
		nextID    string
	}{
		{"all uploads list by key then initiation", s3gw.UploadsQuery{},
			[]row{{"a/1", ids["a/1"][0]}, {"a/2", ids["a/2"][0]}, {"b", ids["b"][0]}, {"b", ids["b"][1]}, {"c/x/1", ids["c/x/1"][0]}, {"d", ids["d"][0]}},
			nil, false, "", ""},
		{"max-uploads truncates with both markers", s3gw.UploadsQuery{MaxUploads: 3},
			[]row{{"a/1", ids["a/1"][0]}, {"a/2", ids["a/2"][0]}, {"b", ids["b"][0]}},
			nil, true, "b", ids["b"][0]},
		{"key and upload-id markers continue inside one key", s3gw.UploadsQuery{KeyMarker: "b", UploadIDMarker: ids["b"][0]},
			[]row{{"b", ids["b"][1]}, {"c/x/1", ids["c/x/1"][0]}, {"d", ids["d"][0]}},
			nil, false, "", ""},
		{"a key marker alone skips that key", s3gw.UploadsQuery{KeyMarker: "b"},
			[]row{{"c/x/1", ids["c/x/1"][0]}, {"d", ids["d"][0]}},
			nil, false, "", ""},
		{"a delimiter rolls keys into prefixes", s3gw.UploadsQuery{Delimiter: "/"},
			[]row{{"b", ids["b"][0]}, {"b", ids["b"][1]}, {"d", ids["d"][0]}},
			[]string{"a/", "c/"}, false, "", ""},
		{"a prefix and delimiter list one level", s3gw.UploadsQuery{Prefix: "c/", Delimiter: "/"},
			nil, []string{"c/x/"}, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := b.ListMultipartUploads(ctx, "b", tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, u := range res.Uploads {
				got = append(got, row{u.Key, u.UploadID})
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("uploads (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.prefixes, res.CommonPrefixes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("prefixes (-want +got):\n%s", diff)
			}
			if res.IsTruncated != tc.truncated || res.NextKeyMarker != tc.nextKey || res.NextUploadIDMarker != tc.nextID {
				t.Errorf("truncated %v next %q/%q, want %v %q/%q", res.IsTruncated, res.NextKeyMarker,
					res.NextUploadIDMarker, tc.truncated, tc.nextKey, tc.nextID)
			}
		})
	}
}

func TestDeleteBucketAbortsUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	uid, err := b.CreateMultipartUpload(ctx, "b", "k", s3gw.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadPart(ctx, "b", "k", uid, 1, bytes.NewReader([]byte("abc")), s3gw.PartOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	if n := countDataFiles(t, b); n != 0 {
		t.Errorf("%d data files after deleting the bucket, want 0", n)
	}
}
