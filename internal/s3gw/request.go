package s3gw

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyless-dev/keyless/internal/config"
)

// Op is one S3 operation.
type Op uint8

// The operations the gateway knows. OpUnsupported is a request S3 would understand but
// keyless does not implement: it is answered NotImplemented, never a wrong success.
const (
	OpUnsupported Op = iota
	OpListBuckets
	OpCreateBucket
	OpDeleteBucket
	OpHeadBucket
	OpGetBucketLocation
	OpGetBucketVersioning
	OpListObjects
	OpListObjectsV2
	OpListObjectVersions
	OpListMultipartUploads
	OpDeleteObjects
	OpPutObject
	OpCopyObject
	OpGetObject
	OpHeadObject
	OpDeleteObject
	OpCreateMultipartUpload
	OpUploadPart
	OpUploadPartCopy
	OpCompleteMultipartUpload
	OpAbortMultipartUpload
	OpListParts
	opCount
)

var opNames = [opCount]string{
	OpUnsupported:             "Unsupported",
	OpListBuckets:             "ListBuckets",
	OpCreateBucket:            "CreateBucket",
	OpDeleteBucket:            "DeleteBucket",
	OpHeadBucket:              "HeadBucket",
	OpGetBucketLocation:       "GetBucketLocation",
	OpGetBucketVersioning:     "GetBucketVersioning",
	OpListObjects:             "ListObjects",
	OpListObjectsV2:           "ListObjectsV2",
	OpListObjectVersions:      "ListObjectVersions",
	OpListMultipartUploads:    "ListMultipartUploads",
	OpDeleteObjects:           "DeleteObjects",
	OpPutObject:               "PutObject",
	OpCopyObject:              "CopyObject",
	OpGetObject:               "GetObject",
	OpHeadObject:              "HeadObject",
	OpDeleteObject:            "DeleteObject",
	OpCreateMultipartUpload:   "CreateMultipartUpload",
	OpUploadPart:              "UploadPart",
	OpUploadPartCopy:          "UploadPartCopy",
	OpCompleteMultipartUpload: "CompleteMultipartUpload",
	OpAbortMultipartUpload:    "AbortMultipartUpload",
	OpListParts:               "ListParts",
}

// String is the operation's S3 API name (the audit event's eventName).
func (o Op) String() string {
	if o < opCount {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// readOnly reports whether o changes nothing (for audit's "writes" filter).
func (o Op) readOnly() bool {
	switch o {
	case OpCreateBucket, OpDeleteBucket, OpDeleteObjects, OpPutObject, OpCopyObject, OpDeleteObject,
		OpCreateMultipartUpload, OpUploadPart, OpUploadPartCopy, OpCompleteMultipartUpload,
		OpAbortMultipartUpload, OpUnsupported:
		return false
	}
	return true
}

// deferrable reports whether an allowed request of o may have its audit event deferred
// (audit.Writer.RecordDeferred): an allow-list of the operations that only read, so
// that an operation added later is durable until someone decides otherwise.
func (o Op) deferrable() bool {
	switch o {
	case OpListBuckets, OpHeadBucket, OpGetBucketLocation, OpGetBucketVersioning, OpListObjects,
		OpListObjectsV2, OpListObjectVersions, OpListMultipartUploads, OpGetObject, OpHeadObject, OpListParts:
		return true
	}
	return false
}

// MaxKeyLen is the longest object key S3 accepts, in bytes.
const MaxKeyLen = 1024

// Request is one parsed S3 request: the operation and what it names. Authentication and
// the body are not part of it.
type Request struct {
	Op     Op
	Bucket string
	Key    string
	// Query is the request's query string, decoded.
	Query url.Values
	// UploadID and PartNumber name a multipart upload and one of its parts.
	UploadID   string
	PartNumber int
	// CopySource is the x-amz-copy-source of CopyObject and UploadPartCopy.
	CopySource *CopySource
	// VirtualHost is true when the bucket came from the Host header.
	VirtualHost bool
}

// CopySource is the object a copy reads.
type CopySource struct {
	Bucket, Key string
}

// Subresources S3 knows that keyless does not implement. A request naming one is
// NotImplemented; other query parameters (x-id, which the SDKs add) are ignored.
var unsupportedSubresources = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering",
	"inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock",
	"ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication",
	"requestPayment", "restore", "retention", "select", "tagging", "torrent", "website",
	"session", "metadataTable", "renameObject",
}

// ParseRequest turns r into the operation it asks for. domain is the configured
// s3.domain: a Host below it names the bucket (virtual-host style); otherwise the first
// path segment does (path style). The reserved prefix /-/ is never a bucket.
func ParseRequest(r *http.Request, domain string) (*Request, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &argError{msg: "The query string is not valid."}
	}
	req := &Request{Query: q}
	path := r.URL.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if b, ok := hostBucket(r.Host, domain); ok {
		req.Bucket, req.Key, req.VirtualHost = b, path[1:], true
	} else {
		req.Bucket, req.Key, _ = strings.Cut(path[1:], "/")
	}
	if req.Bucket != "" && !config.ValidBucketName(req.Bucket) {
		return nil, errInvalidBucketName
	}
	if len(req.Key) > MaxKeyLen {
		return nil, errKeyTooLong
	}
	if !utf8.ValidString(req.Key) {
		return nil, &argError{msg: "Object key is not valid UTF-8."}
	}
	if v, ok := q["versionId"]; ok && (len(v) != 1 || v[0] != "null") {
		return nil, errNoSuchVersion
	}
	for _, s := range unsupportedSubresources {
		if q.Has(s) {
			return nil, errNotImplemented
		}
	}
	switch {
	case req.Bucket == "":
		err = req.serviceOp(r.Method)
	case req.Key == "":
		err = req.bucketOp(r.Method)
	default:
		err = req.objectOp(r)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// hostBucket returns the bucket named by a virtual-host style Host under domain.
func hostBucket(host, domain string) (string, bool) {
	if domain == "" {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	b, ok := strings.CutSuffix(host, "."+strings.ToLower(domain))
	return b, ok && b != ""
}

func (req *Request) serviceOp(method string) error {
	if method == http.MethodGet {
		req.Op = OpListBuckets
		return nil
	}
	return errMethodNotAllowed
}

func (req *Request) bucketOp(method string) error {
	q := req.Query
	switch method {
	case http.MethodGet:
		switch {
		case q.Has("location"):
			req.Op = OpGetBucketLocation
		case q.Has("versioning"):
			req.Op = OpGetBucketVersioning
		case q.Has("versions"):
			req.Op = OpListObjectVersions
		case q.Has("uploads"):
			req.Op = OpListMultipartUploads
		case q.Get("list-type") == "2":
			req.Op = OpListObjectsV2
		case q.Has("list-type"):
			return &argError{msg: "Invalid list type specified."}
		default:
			req.Op = OpListObjects
		}
	case http.MethodHead:
		req.Op = OpHeadBucket
	case http.MethodPut:
		if q.Has("versioning") {
			return errNotImplemented
		}
		req.Op = OpCreateBucket
	case http.MethodDelete:
		req.Op = OpDeleteBucket
	case http.MethodPost:
		if !q.Has("delete") {
			return errNotImplemented
		}
		req.Op = OpDeleteObjects
	default:
		return errMethodNotAllowed
	}
	return nil
}

func (req *Request) objectOp(r *http.Request) error {
	q := req.Query
	_, hasUpload := q["uploadId"]
	if hasUpload {
		req.UploadID = q.Get("uploadId")
		if req.UploadID == "" {
			return errNoSuchUpload
		}
	}
	copySource := r.Header.Get("X-Amz-Copy-Source")
	switch r.Method {
	case http.MethodGet:
		req.Op = OpGetObject
		if hasUpload {
			req.Op = OpListParts
		}
	case http.MethodHead:
		req.Op = OpHeadObject
	case http.MethodPut:
		req.Op = OpPutObject
		if hasUpload || q.Has("partNumber") {
			if !hasUpload {
				return &argError{msg: "Part upload requires an uploadId."}
			}
			n, err := strconv.Atoi(q.Get("partNumber"))
			if err != nil || n < 1 || n > 10000 {
				return &argError{msg: "Part number must be an integer between 1 and 10000, inclusive"}
			}
			req.Op, req.PartNumber = OpUploadPart, n
			if copySource != "" {
				req.Op = OpUploadPartCopy
			}
		} else if copySource != "" {
			req.Op = OpCopyObject
		}
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			req.Op = OpCreateMultipartUpload
		case hasUpload:
			req.Op = OpCompleteMultipartUpload
		default:
			return errNotImplemented
		}
	case http.MethodDelete:
		req.Op = OpDeleteObject
		if hasUpload {
			req.Op = OpAbortMultipartUpload
		}
	default:
		return errMethodNotAllowed
	}
	if req.Op == OpCopyObject || req.Op == OpUploadPartCopy {
		src, err := parseCopySource(copySource)
		if err != nil {
			return err
		}
		req.CopySource = src
	}
	return nil
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key", URL-encoded,
// optionally followed by "?versionId=null".
func parseCopySource(v string) (*CopySource, error) {
	raw, query, _ := strings.Cut(v, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || len(q) != 1 || q.Get("versionId") != "null" {
			return nil, errNoSuchVersion
		}
	}
	s, err := url.PathUnescape(raw)
	if err != nil {
		return nil, &argError{msg: "Invalid copy source encoding."}
	}
	s = strings.TrimPrefix(s, "/")
	b, k, ok := strings.Cut(s, "/")
	switch {
	case !ok || k == "":
		return nil, &argError{msg: "Invalid copy source object key"}
	case !config.ValidBucketName(b):
		return nil, errInvalidBucketName
	case len(k) > MaxKeyLen:
		return nil, errKeyTooLong
	case !utf8.ValidString(k):
		return nil, &argError{msg: "Invalid copy source object key"}
	}
	return &CopySource{Bucket: b, Key: k}, nil
}
