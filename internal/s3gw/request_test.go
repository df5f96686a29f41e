package s3gw

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	type want struct {
		Op          Op
		Bucket, Key string
		UploadID    string
		PartNumber  int
		CopySource  *CopySource
		VirtualHost bool
	}
	tests := []struct {
		name    string
		method  string
		target  string
		host    string
		header  map[string]string
		want    want
		wantErr error
	}{
		{name: "the root lists buckets", method: "GET", target: "/", want: want{Op: OpListBuckets}},
		{name: "a PUT on the root is not allowed", method: "PUT", target: "/", wantErr: errMethodNotAllowed},
		{name: "a bucket GET lists objects", method: "GET", target: "/site", want: want{Op: OpListObjects, Bucket: "site"}},
		{name: "a trailing slash still names the bucket", method: "GET", target: "/site/", want: want{Op: OpListObjects, Bucket: "site"}},
		{name: "list-type=2 is ListObjectsV2 and x-id is ignored", method: "GET", target: "/site?list-type=2&x-id=ListObjectsV2", want: want{Op: OpListObjectsV2, Bucket: "site"}},
		{name: "an unknown list-type is refused", method: "GET", target: "/site?list-type=3", wantErr: &argError{}},
		{name: "location is GetBucketLocation", method: "GET", target: "/site?location", want: want{Op: OpGetBucketLocation, Bucket: "site"}},
		{name: "versioning is GetBucketVersioning", method: "GET", target: "/site?versioning", want: want{Op: OpGetBucketVersioning, Bucket: "site"}},
		{name: "versions is ListObjectVersions", method: "GET", target: "/site?versions", want: want{Op: OpListObjectVersions, Bucket: "site"}},
		{name: "uploads on a bucket is ListMultipartUploads", method: "GET", target: "/site?uploads", want: want{Op: OpListMultipartUploads, Bucket: "site"}},
		{name: "HEAD on a bucket is HeadBucket", method: "HEAD", target: "/site", want: want{Op: OpHeadBucket, Bucket: "site"}},
		{name: "PUT on a bucket is CreateBucket", method: "PUT", target: "/site", want: want{Op: OpCreateBucket, Bucket: "site"}},
		{name: "PutBucketVersioning is not implemented", method: "PUT", target: "/site?versioning", wantErr: errNotImplemented},
		{name: "DELETE on a bucket is DeleteBucket", method: "DELETE", target: "/site", want: want{Op: OpDeleteBucket, Bucket: "site"}},
		{name: "POST ?delete is DeleteObjects", method: "POST", target: "/site?delete", want: want{Op: OpDeleteObjects, Bucket: "site"}},
		{name: "another bucket POST is not implemented", method: "POST", target: "/site", wantErr: errNotImplemented},
		{name: "a bucket policy request is not implemented", method: "GET", target: "/site?policy", wantErr: errNotImplemented},
		{name: "object tagging is not implemented", method: "PUT", target: "/site/k?tagging", wantErr: errNotImplemented},
		{name: "the reserved prefix is never a bucket", method: "GET", target: "/-/healthz", wantErr: errInvalidBucketName},
		{name: "an upper-case bucket is invalid", method: "GET", target: "/Site", wantErr: errInvalidBucketName},
		{name: "an object GET is GetObject", method: "GET", target: "/site/a/b.txt", want: want{Op: OpGetObject, Bucket: "site", Key: "a/b.txt"}},
		{name: "keys keep empty and dot segments", method: "GET", target: "/site//a/./../b", want: want{Op: OpGetObject, Bucket: "site", Key: "/a/./../b"}},
		{name: "keys are percent-decoded", method: "GET", target: "/site/caf%C3%A9%20%2B%3F", want: want{Op: OpGetObject, Bucket: "site", Key: "café +?"}},
		{name: "versionId=null is the object", method: "GET", target: "/site/k?versionId=null", want: want{Op: OpGetObject, Bucket: "site", Key: "k"}},
		{name: "another versionId does not exist", method: "GET", target: "/site/k?versionId=3", wantErr: errNoSuchVersion},
		{name: "HEAD on an object is HeadObject", method: "HEAD", target: "/site/k", want: want{Op: OpHeadObject, Bucket: "site", Key: "k"}},
		{name: "PUT on an object is PutObject", method: "PUT", target: "/site/k", want: want{Op: OpPutObject, Bucket: "site", Key: "k"}},
		{name: "PUT with a copy source is CopyObject", method: "PUT", target: "/site/k", header: map[string]string{"X-Amz-Copy-Source": "/other/a%20b"},
			want: want{Op: OpCopyObject, Bucket: "site", Key: "k", CopySource: &CopySource{Bucket: "other", Key: "a b"}}},
		{name: "a copy source without a leading slash works", method: "PUT", target: "/site/k", header: map[string]string{"X-Amz-Copy-Source": "other/x?versionId=null"},
			want: want{Op: OpCopyObject, Bucket: "site", Key: "k", CopySource: &CopySource{Bucket: "other", Key: "x"}}},
		{name: "a copy source without a key is refused", method: "PUT", target: "/site/k", header: map[string]string{"X-Amz-Copy-Source": "other"}, wantErr: &argError{}},
		{name: "PUT with a part number is UploadPart", method: "PUT", target: "/site/k?partNumber=3&uploadId=u1",
			want: want{Op: OpUploadPart, Bucket: "site", Key: "k", UploadID: "u1", PartNumber: 3}},
		{name: "UploadPart with a copy source is UploadPartCopy", method: "PUT", target: "/site/k?partNumber=1&uploadId=u1", header: map[string]string{"X-Amz-Copy-Source": "site/src"},
			want: want{Op: OpUploadPartCopy, Bucket: "site", Key: "k", UploadID: "u1", PartNumber: 1, CopySource: &CopySource{Bucket: "site", Key: "src"}}},
		{name: "part number 0 is refused", method: "PUT", target: "/site/k?partNumber=0&uploadId=u1", wantErr: &argError{}},
		{name: "part number 10001 is refused", method: "PUT", target: "/site/k?partNumber=10001&uploadId=u1", wantErr: &argError{}},
		{name: "a part number without an upload is refused", method: "PUT", target: "/site/k?partNumber=1", wantErr: &argError{}},
		{name: "an empty uploadId is NoSuchUpload", method: "DELETE", target: "/site/k?uploadId=", wantErr: errNoSuchUpload},
		{name: "POST ?uploads is CreateMultipartUpload", method: "POST", target: "/site/k?uploads", want: want{Op: OpCreateMultipartUpload, Bucket: "site", Key: "k"}},
		{name: "POST ?uploadId is CompleteMultipartUpload", method: "POST", target: "/site/k?uploadId=u1", want: want{Op: OpCompleteMultipartUpload, Bucket: "site", Key: "k", UploadID: "u1"}},
		{name: "POST ?select is not implemented", method: "POST", target: "/site/k?select&select-type=2", wantErr: errNotImplemented},
		{name: "GET ?uploadId is ListParts", method: "GET", target: "/site/k?uploadId=u1", want: want{Op: OpListParts, Bucket: "site", Key: "k", UploadID: "u1"}},
		{name: "DELETE ?uploadId is AbortMultipartUpload", method: "DELETE", target: "/site/k?uploadId=u1", want: want{Op: OpAbortMultipartUpload, Bucket: "site", Key: "k", UploadID: "u1"}},
		{name: "DELETE on an object is DeleteObject", method: "DELETE", target: "/site/k", want: want{Op: OpDeleteObject, Bucket: "site", Key: "k"}},
		{name: "PATCH is not allowed", method: "PATCH", target: "/site/k", wantErr: errMethodNotAllowed},
		{name: "a 1024-byte key is accepted", method: "GET", target: "/site/" + strings.Repeat("k", 1024), want: want{Op: OpGetObject, Bucket: "site", Key: strings.Repeat("k", 1024)}},
		{name: "a 1025-byte key is too long", method: "GET", target: "/site/" + strings.Repeat("k", 1025), wantErr: errKeyTooLong},
		{name: "a key that is not UTF-8 is refused", method: "GET", target: "/site/%FF", wantErr: &argError{}},
		{name: "a virtual host names the bucket", method: "GET", target: "/a/b", host: "site.s3.example.com:8700",
			want: want{Op: OpGetObject, Bucket: "site", Key: "a/b", VirtualHost: true}},
		{name: "the virtual-host root lists the bucket", method: "GET", target: "/?list-type=2", host: "Site.S3.Example.com",
			want: want{Op: OpListObjectsV2, Bucket: "site", VirtualHost: true}},
		{name: "the bare domain is path style", method: "GET", target: "/site/k", host: "s3.example.com",
			want: want{Op: OpGetObject, Bucket: "site", Key: "k"}},
		{name: "another host is path style", method: "GET", target: "/site/k", host: "127.0.0.1:8700",
			want: want{Op: OpGetObject, Bucket: "site", Key: "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, "http://placeholder"+tc.target, nil)
			r.Host = tc.host
			if r.Host == "" {
				r.Host = "127.0.0.1:8700"
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			got, err := ParseRequest(r, "s3.example.com")
			if tc.wantErr != nil {
				if !sameError(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			g := want{Op: got.Op, Bucket: got.Bucket, Key: got.Key, UploadID: got.UploadID, PartNumber: got.PartNumber,
				CopySource: got.CopySource, VirtualHost: got.VirtualHost}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// sameError matches sentinels with errors.Is and typed errors by type.
func sameError(err, want error) bool {
	if _, ok := want.(*argError); ok {
		var ae *argError
		return errors.As(err, &ae)
	}
	return errors.Is(err, want)
}

func TestOpNamesAndActions(t *testing.T) {
	t.Parallel()
	for op := Op(0); op < opCount; op++ {
		if opNames[op] == "" {
			t.Errorf("Op %d has no name", op)
		}
		if op != OpUnsupported && op != OpDeleteObjects && actionTable[op].action == "" {
			t.Errorf("%s has no IAM action", op)
		}
	}
}

func TestChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  Request
		want []Check
	}{
		{"listing needs s3:ListBucket on the bucket", Request{Op: OpListObjectsV2, Bucket: "b"}, []Check{{"s3:ListBucket", "arn:aws:s3:::b"}}},
		{"reading needs s3:GetObject on the object", Request{Op: OpHeadObject, Bucket: "b", Key: "k/x"}, []Check{{"s3:GetObject", "arn:aws:s3:::b/k/x"}}},
		{"copying needs the source's GetObject and the target's PutObject",
			Request{Op: OpCopyObject, Bucket: "b", Key: "dst", CopySource: &CopySource{Bucket: "s", Key: "src"}},
			[]Check{{"s3:GetObject", "arn:aws:s3:::s/src"}, {"s3:PutObject", "arn:aws:s3:::b/dst"}}},
		{"parts need s3:PutObject", Request{Op: OpUploadPart, Bucket: "b", Key: "k"}, []Check{{"s3:PutObject", "arn:aws:s3:::b/k"}}},
		{"aborting needs s3:AbortMultipartUpload", Request{Op: OpAbortMultipartUpload, Bucket: "b", Key: "k"}, []Check{{"s3:AbortMultipartUpload", "arn:aws:s3:::b/k"}}},
		{"listing parts needs s3:ListMultipartUploadParts", Request{Op: OpListParts, Bucket: "b", Key: "k"}, []Check{{"s3:ListMultipartUploadParts", "arn:aws:s3:::b/k"}}},
		{"listing uploads needs s3:ListBucketMultipartUploads", Request{Op: OpListMultipartUploads, Bucket: "b"}, []Check{{"s3:ListBucketMultipartUploads", "arn:aws:s3:::b"}}},
		{"listing buckets needs s3:ListAllMyBuckets on *", Request{Op: OpListBuckets}, []Check{{"s3:ListAllMyBuckets", "*"}}},
		{"DeleteObjects is decided per key", Request{Op: OpDeleteObjects, Bucket: "b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, Checks(&tc.req), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"GET /", "GET /site?list-type=2&prefix=a%2F", "PUT /site/k?partNumber=1&uploadId=x",
		"POST /site?delete", "GET /-/healthz", "GET /site/%FF%FE", "PUT /site//./k", "DELETE /site/k?uploadId=",
		"GET /site/k?versionId=null&response-content-type=x", "HEAD /a..b/k", "GET /site?location&versions"} {
		f.Add(s, "127.0.0.1", "other/k%20x?versionId=null")
	}
	f.Add("GET /k", "bucket.s3.example.com", "")
	f.Fuzz(func(t *testing.T, line, host, copySource string) {
		method, target, ok := strings.Cut(line, " ")
		if !ok {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}}
		if copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", copySource)
		}
		req, err := ParseRequest(r, "s3.example.com")
		if err != nil {
			if req != nil {
				t.Fatal("a request and an error")
			}
			if toWire(err, false).Status == http.StatusInternalServerError {
				t.Fatalf("parse error %v maps to a 500", err)
			}
			return
		}
		switch {
		case req.Op >= opCount:
			t.Fatalf("op %d out of range", req.Op)
		case len(req.Key) > MaxKeyLen:
			t.Fatalf("key of %d bytes accepted", len(req.Key))
		case req.Key != "" && req.Bucket == "":
			t.Fatal("a key without a bucket")
		case req.Bucket == "-":
			t.Fatal("the reserved prefix parsed as a bucket")
		case (req.Op == OpCopyObject || req.Op == OpUploadPartCopy) != (req.CopySource != nil):
			t.Fatalf("%s with copy source %v", req.Op, req.CopySource)
		}
	})
}

func TestOnlyReadOperationsHaveDeferredAuditEvents(t *testing.T) {
	t.Parallel()
	deferred := map[Op]bool{OpListBuckets: true, OpHeadBucket: true, OpGetBucketLocation: true,
		OpGetBucketVersioning: true, OpListObjects: true, OpListObjectsV2: true, OpListObjectVersions: true,
		OpListMultipartUploads: true, OpGetObject: true, OpHeadObject: true, OpListParts: true}
	for o := range opCount {
		if got := o.deferrable(); got != deferred[o] {
			t.Errorf("%s: deferrable = %v, want %v", o, got, deferred[o])
		}
		if o.deferrable() && !o.readOnly() {
			t.Errorf("%s is deferrable but changes something", o)
		}
	}
}
