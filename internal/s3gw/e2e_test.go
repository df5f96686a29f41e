package s3gw_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/credentials"
)

// TestSDKEndToEnd runs every operation through the real aws-sdk-go-v2 S3 client, over
// HTTP and over HTTPS (where the SDK's default checksum settings send
// STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies with CRC32 trailers).
func TestSDKEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
		fs   bool
	}{
		{"over plain HTTP", false, false},
		{"over HTTPS with trailing checksums", true, false},
		{"over plain HTTP on fsbackend", false, true},
		{"over HTTPS with trailing checksums on fsbackend", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{tls: tc.tls, dev: true, fs: tc.fs})
			t.Run("objects can be put, read, listed, copied and deleted", e.testObjects)
			t.Run("listings page, roll up prefixes and url-encode", e.testListing)
			t.Run("multipart uploads complete, list and abort", e.testMultipart)
			t.Run("buckets are created, located, listed and deleted", e.testBuckets)
			t.Run("each denial source is enforced and audited", e.testDenials)
			t.Run("presigned GET and PUT work and expire", e.testPresigned)
			t.Run("each credential error code is produced", e.testCredentialErrors)
		})
	}
}

func (e *env) testObjects(t *testing.T) {
	c := e.roleClient("deployer")
	ctx := ctxT(t)
	body := []byte("hello, keyless")
	sum := md5.Sum(body)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/plain"), Metadata: map[string]string{"owner": "ci"},
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), CacheControl: aws.String("max-age=60")})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got, want := aws.ToString(put.ETag), `"`+hex.EncodeToString(sum[:])+`"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}

	crc, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("crc"), Body: bytes.NewReader(body)})
	if err != nil || crc.ChecksumCRC32 == nil {
		t.Fatalf("PutObject with the SDK's default CRC32 = %+v, %v", crc, err)
	}
	withSum, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("crc"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(withSum.ChecksumCRC32) != aws.ToString(crc.ChecksumCRC32) {
		t.Fatalf("GetObject in checksum mode = %+v, %v", withSum, err)
	}
	withSum.Body.Close()
	if e.srv.TLS != nil && !e.sawPayloadMode("STREAMING-UNSIGNED-PAYLOAD-TRAILER") {
		t.Error("over HTTPS the SDK sent no STREAMING-UNSIGNED-PAYLOAD-TRAILER body")
	}

	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, body) || aws.ToString(get.ContentType) != "text/plain" || get.Metadata["owner"] != "ci" ||
		aws.ToString(get.CacheControl) != "max-age=60" {
		t.Errorf("GetObject = %q %s %v %s", got, aws.ToString(get.ContentType), get.Metadata, aws.ToString(get.CacheControl))
	}

	rng, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"),
		Range: aws.String("bytes=7-"), ResponseContentType: aws.String("application/x-override")})
	if err != nil {
		t.Fatalf("ranged GetObject: %v", err)
	}
	got, _ = io.ReadAll(rng.Body)
	rng.Body.Close()
	if string(got) != "keyless" || aws.ToString(rng.ContentRange) != "bytes 7-13/14" || aws.ToString(rng.ContentType) != "application/x-override" {
		t.Errorf("ranged GetObject = %q, %s, %s", got, aws.ToString(rng.ContentRange), aws.ToString(rng.ContentType))
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"), Range: aws.String("bytes=100-")})
	wantCode(t, err, "InvalidRange")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"), IfMatch: aws.String(`"nope"`)})
	wantCode(t, err, "PreconditionFailed")

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"), IfNoneMatch: put.ETag})
	wantCode(t, err, "NotModified")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"), IfModifiedSince: aws.Time(e.clock.now().Add(time.Hour))})
	wantCode(t, err, "NotModified")

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Fatalf("HeadObject = %v, %v", head, err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("missing")})
	wantCode(t, err, "NotFound")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey")

	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("dir/ünïcode key.txt"),
		Body: strings.NewReader("other"), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed")
	e.testCopyAndDelete(t, c)
}

// testCopyAndDelete copies the object testObjects put, then deletes objects one by one
// and in a batch.
func (e *env) testCopyAndDelete(t *testing.T, c *s3.Client) {
	ctx := ctxT(t)
	_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("copy +1.txt"),
		CopySource: aws.String("site/dir/%C3%BCn%C3%AFcode%20key.txt")})
	if err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("copy +1.txt"),
		CopySource: aws.String("other/copy%20%2B1.txt"), MetadataDirective: types.MetadataDirectiveReplace,
		ContentType: aws.String("text/markdown")})
	if err != nil {
		t.Fatalf("CopyObject REPLACE onto itself: %v", err)
	}
	h2, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("other"), Key: aws.String("copy +1.txt")})
	if err != nil || aws.ToString(h2.ContentType) != "text/markdown" || len(h2.Metadata) != 0 {
		t.Fatalf("copied object = %v, %v", h2, err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("copy +1.txt"),
		CopySource: aws.String("other/copy%20%2B1.txt")})
	wantCode(t, err, "InvalidRequest")

	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("other"), Key: aws.String("copy +1.txt")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("other"), Key: aws.String("copy +1.txt")})
	wantCode(t, err, "NotFound")

	for _, k := range []string{"batch/a", "batch/b", "protected/keep"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("site"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("batch/a")}, {Key: aws.String("batch/b"), VersionId: aws.String("null")}, {Key: aws.String("protected/keep")}}}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	var deleted, failed []string
	for _, d := range del.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	for _, f := range del.Errors {
		failed = append(failed, aws.ToString(f.Key)+":"+aws.ToString(f.Code))
	}
	if diff := cmp.Diff([]string{"batch/a", "batch/b"}, deleted); diff != "" {
		t.Errorf("DeleteObjects deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"protected/keep:AccessDenied"}, failed); diff != "" {
		t.Errorf("DeleteObjects errors (-want +got):\n%s", diff)
	}
	quiet, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("site"), Delete: &types.Delete{Quiet: aws.Bool(true),
		Objects: []types.ObjectIdentifier{{Key: aws.String("batch/a")}}}})
	if err != nil || len(quiet.Deleted) != 0 || len(quiet.Errors) != 0 {
		t.Fatalf("quiet DeleteObjects = %+v, %v", quiet, err)
	}
}

func (e *env) testListing(t *testing.T) {
	c := e.roleClient("deployer")
	ctx := ctxT(t)
	keys := []string{"list/a", "list/b/1", "list/b/2", "list/c d", "list/z", "list/\u00e9", "list/\U0001F600"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("other"), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("other"), Prefix: aws.String("list/"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range page.Contents {
			seen = append(seen, aws.ToString(o.Key))
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want) // byte-wise: binary order
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("paged listing (-want +got):\n%s", diff)
	}

	d, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("other"), Prefix: aws.String("list/"),
		Delimiter: aws.String("/"), StartAfter: aws.String("list/a"), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatalf("ListObjectsV2 with delimiter: %v", err)
	}
	var prefixes, contents []string
	for _, cp := range d.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(cp.Prefix))
	}
	for _, o := range d.Contents {
		contents = append(contents, aws.ToString(o.Key))
	}
	if diff := cmp.Diff([]string{"list/b/"}, prefixes); diff != "" {
		t.Errorf("common prefixes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"list/c+d", "list/z", "list/%C3%A9", "list/%F0%9F%98%80"}, contents); diff != "" {
		t.Errorf("url-encoded keys (-want +got):\n%s", diff)
	}

	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("other"), Prefix: aws.String("list/"), Marker: aws.String("list/c d"), MaxKeys: aws.Int32(1)})
	if err != nil || len(v1.Contents) != 1 || aws.ToString(v1.Contents[0].Key) != "list/z" || !aws.ToBool(v1.IsTruncated) {
		t.Fatalf("ListObjects = %+v, %v", v1, err)
	}

	versions, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("other"), Prefix: aws.String("list/b/")})
	if err != nil || len(versions.Versions) != 2 || aws.ToString(versions.Versions[0].VersionId) != "null" || !aws.ToBool(versions.Versions[0].IsLatest) {
		t.Fatalf("ListObjectVersions = %+v, %v", versions, err)
	}
	vs, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("other")})
	if err != nil || vs.Status != "" {
		t.Fatalf("GetBucketVersioning = %+v, %v", vs, err)
	}
}

func (e *env) testMultipart(t *testing.T) {
	c := e.roleClient("deployer")
	ctx := ctxT(t)
	bucket, key := aws.String("site"), aws.String("mp/object")
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key, ContentType: aws.String("application/zip")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part1 := bytes.Repeat([]byte("a"), 5<<20)
	up1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("mp/source"), Body: strings.NewReader("0123456789")}); err != nil {
		t.Fatal(err)
	}
	up2, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: bucket, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(2),
		CopySource: aws.String("site/mp/source"), CopySourceRange: aws.String("bytes=2-5")})
	if err != nil {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: cr.UploadId})
	if err != nil || len(parts.Parts) != 2 {
		t.Fatalf("ListParts = %+v, %v", parts, err)
	}
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket, Prefix: aws.String("mp/")})
	if err != nil || len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != aws.ToString(cr.UploadId) {
		t.Fatalf("ListMultipartUploads = %+v, %v", uploads, err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(2), ETag: up2.CopyPartResult.ETag}, {PartNumber: aws.Int32(1), ETag: up1.ETag}}}})
	wantCode(t, err, "InvalidPartOrder")
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: up1.ETag}, {PartNumber: aws.Int32(2), ETag: up2.CopyPartResult.ETag}}}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if !strings.HasSuffix(aws.ToString(done.ETag), `-2"`) {
		t.Errorf("multipart ETag = %s, want md5-2", aws.ToString(done.ETag))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil || aws.ToInt64(head.ContentLength) != 5<<20+4 || aws.ToString(head.ContentType) != "application/zip" {
		t.Fatalf("completed object = %+v, %v", head, err)
	}

	ab, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: ab.UploadId}); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: ab.UploadId})
	wantCode(t, err, "NoSuchUpload")
}

func (e *env) testBuckets(t *testing.T) {
	c := e.roleClient("deployer")
	ctx := ctxT(t)
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("site")}); errorCode(err) != "BucketNotEmpty" {
		t.Fatalf("DeleteBucket of a full bucket: %v", err)
	}
	op := e.client(aws.Credentials{AccessKeyID: operatorKey, SecretAccessKey: "operator-secret-value-0123456789"})
	if _, err := op.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("scratch")}); err != nil {
		t.Fatalf("CreateBucket with an operator key: %v", err)
	}
	_, err := op.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("scratch")})
	wantCode(t, err, "BucketAlreadyOwnedByYou")
	if _, err := op.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("scratch")}); err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("site")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation = %+v, %v", loc, err)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	if diff := cmp.Diff([]string{"artifacts", "other", "scratch", "site"}, names); diff != "" {
		t.Errorf("ListBuckets (-want +got):\n%s", diff)
	}
	if _, err := op.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("scratch")}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	_, err = op.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("scratch")})
	wantCode(t, err, "NotFound")
	_, err = op.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("scratch")})
	wantCode(t, err, "NoSuchBucket")
}

func (e *env) testDenials(t *testing.T) {
	ctx := ctxT(t)
	c := e.roleClient("deployer")
	t.Run("by the role's policy", func(t *testing.T) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("x"), Body: strings.NewReader("x")})
		e.wantPolicyDenied(t, err, "PutObject")
		_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("not-mine")})
		e.wantPolicyDenied(t, err, "CreateBucket")
	})
	t.Run("by an explicit Deny", func(t *testing.T) {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("site"), Key: aws.String("protected/x")})
		e.wantPolicyDenied(t, err, "DeleteObject")
	})
	t.Run("by a condition on s3:prefix", func(t *testing.T) {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site"), Prefix: aws.String("secret/a")})
		e.wantPolicyDenied(t, err, "ListObjectsV2")
		if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site"), Prefix: aws.String("public/")}); err != nil {
			t.Fatalf("listing another prefix: %v", err)
		}
	})
	t.Run("by the session policy", func(t *testing.T) {
		_, creds := e.session("deployer", func(s *credentials.Session) {
			s.SessionPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
		})
		sc := e.client(creds)
		_, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("sp"), Body: strings.NewReader("x")})
		e.wantPolicyDenied(t, err, "PutObject")
		_, err = sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("sp")})
		wantCode(t, err, "NoSuchKey") // allowed by both: reaches the backend
	})
	t.Run("by a copy source the caller may not read", func(t *testing.T) {
		op := e.client(aws.Credentials{AccessKeyID: operatorKey, SecretAccessKey: "operator-secret-value-0123456789"})
		if _, err := op.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("secret"), Body: strings.NewReader("s")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("site"), Key: aws.String("stolen"), CopySource: aws.String("artifacts/secret")})
		e.wantPolicyDenied(t, err, "CopyObject")
	})
	t.Run("by a policy variable", func(t *testing.T) {
		_, creds := e.session("tagged", func(s *credentials.Session) { s.Tags = []credentials.Tag{{Key: "project", Value: "alpha"}} })
		tc := e.client(creds)
		if _, err := tc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("alpha/build.zip"), Body: strings.NewReader("z")}); err != nil {
			t.Fatalf("PutObject under the session's project: %v", err)
		}
		_, err := tc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("beta/build.zip"), Body: strings.NewReader("z")})
		e.wantPolicyDenied(t, err, "PutObject")
	})
	t.Run("by a revocation", func(t *testing.T) {
		s, creds := e.session("deployer", nil)
		rc := e.client(creds)
		if _, err := rc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site")}); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
		e.revoked.Store(s.SessionID, true)
		_, err := rc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site")})
		e.wantDenied(t, err, "ListObjectsV2")
		if r := e.sink.last().Keyless.Decision.Reason; !strings.Contains(r, "revoked") {
			t.Errorf("revocation reason = %q", r)
		}
	})
	t.Run("with the reason in dev mode only", func(t *testing.T) {
		resp := e.rawRequest(t, http.MethodGet, "/site/x")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "<Message>Access Denied: ") {
			t.Fatalf("anonymous GET in dev mode = %d %s", resp.StatusCode, b)
		}
	})
}

func (e *env) testPresigned(t *testing.T) {
	ctx := ctxT(t)
	_, creds := e.session("deployer", nil)
	c := e.client(creds)
	ps := s3.NewPresignClient(c)
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("presigned.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, put.Method, put.URL, strings.NewReader("via presigned PUT"))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT = %v, %v", resp, err)
	}
	resp.Body.Close()
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("presigned.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = e.srv.Client().Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "via presigned PUT" {
		t.Fatalf("presigned GET = %d %q", resp.StatusCode, b)
	}
	e.clock.advance(2 * time.Minute)
	defer e.clock.advance(-2 * time.Minute)
	resp, err = e.srv.Client().Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "<Code>AccessDenied</Code><Message>Request has expired") {
		t.Fatalf("expired presigned GET = %d %s", resp.StatusCode, b)
	}

	// A URL signed with session credentials stops working when the session expires,
	// whatever X-Amz-Expires says.
	_, short := e.session("deployer", func(s *credentials.Session) { s.Expiration = s.IssuedAt.Add(time.Minute) })
	long, err := s3.NewPresignClient(e.client(short)).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("presigned.txt")},
		s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Minute)
	defer e.clock.advance(-2 * time.Minute)
	resp, err = e.srv.Client().Get(long.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "<Code>ExpiredToken</Code>") {
		t.Fatalf("presigned GET after its session expired = %d %s", resp.StatusCode, b)
	}
}

func (e *env) testCredentialErrors(t *testing.T) {
	ctx := ctxT(t)
	list := func(creds aws.Credentials) error {
		_, err := e.client(creds).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site")})
		return err
	}
	_, good := e.session("deployer", nil)
	_, expired := e.session("deployer", func(s *credentials.Session) {
		s.IssuedAt, s.Expiration = s.IssuedAt.Add(-2*time.Hour), s.IssuedAt.Add(-time.Hour)
	})
	_, other := e.session("deployer", nil)
	for _, tc := range []struct {
		name  string
		creds aws.Credentials
		want  string
	}{
		{"an expired session gives ExpiredToken", expired, "ExpiredToken"},
		{"a garbled token gives InvalidToken", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey, SessionToken: "garbage"}, "InvalidToken"},
		{"a temporary key without a token gives InvalidToken", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey}, "InvalidToken"},
		{"an unknown long-term key gives InvalidAccessKeyId", aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000001", SecretAccessKey: "x"}, "InvalidAccessKeyId"},
		{"another session's token gives InvalidAccessKeyId", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey, SessionToken: other.SessionToken}, "InvalidAccessKeyId"},
		{"a wrong secret gives SignatureDoesNotMatch", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: "wrong", SessionToken: good.SessionToken}, "SignatureDoesNotMatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, list(tc.creds), tc.want)
			if ev := e.sink.last(); ev == nil || ev.ErrorCode != tc.want {
				t.Errorf("audit event = %+v, want errorCode %s", ev, tc.want)
			}
		})
	}
	t.Run("an anonymous request gives AccessDenied", func(t *testing.T) {
		resp := e.rawRequest(t, http.MethodGet, "/site?list-type=2")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "<Code>AccessDenied</Code>") {
			t.Fatalf("anonymous = %d %s", resp.StatusCode, b)
		}
	})
}
