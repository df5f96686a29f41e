package s3gw

import (
	"context"
	"errors"
	"io"
	"time"
)

// Backend stores buckets and objects. The gateway authenticates and authorizes every
// request before it reaches a Backend; a Backend trusts its caller and knows nothing of
// credentials or policies. Implementations: fsbackend (local disk, the embedded default)
// and s3backend (an upstream S3-compatible store). Both live in subpackages that import
// this one, so the interface is declared where it is consumed.
//
// Body contract: a body passed to PutObject or UploadPart verifies itself as it is read
// (SigV4 chunk signatures, payload hash, Content-MD5, checksums): a Read that returns an
// error other than io.EOF means the data must not be committed, and the call returns
// that error (wrapped). Nothing partial is ever visible.
type Backend interface {
	ListBuckets(ctx context.Context) ([]BucketInfo, error)
	// CreateBucket creates name; ErrBucketAlreadyOwnedByYou if it exists.
	CreateBucket(ctx context.Context, name string) error
	// DeleteBucket removes an empty bucket; ErrBucketNotEmpty, ErrNoSuchBucket.
	DeleteBucket(ctx context.Context, name string) error
	// HeadBucket returns the bucket or ErrNoSuchBucket.
	HeadBucket(ctx context.Context, name string) (BucketInfo, error)

	// PutObject stores body as bucket/key, replacing any object there, atomically.
	PutObject(ctx context.Context, bucket, key string, body io.Reader, opts PutOptions) (ObjectInfo, error)
	// GetObject opens bucket/key, or the byte range rng of it when rng is not nil
	// (already resolved against the object's size by the caller through HeadObject, or
	// resolved here: see Range). ErrNoSuchKey, ErrNoSuchBucket, ErrInvalidRange.
	GetObject(ctx context.Context, bucket, key string, rng *Range) (ObjectInfo, io.ReadCloser, error)
	// HeadObject returns bucket/key's metadata; ErrNoSuchKey, ErrNoSuchBucket.
	HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// DeleteObject removes bucket/key; deleting a missing key is not an error (as in S3).
	DeleteObject(ctx context.Context, bucket, key string) error
	// CopyObject copies src to dst. With meta nil the source's metadata is kept (COPY),
	// else meta replaces it (REPLACE).
	CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta *Metadata, opts CopyOptions) (ObjectInfo, error)
	// ListObjects lists keys in binary (byte-wise) order.
	ListObjects(ctx context.Context, bucket string, q ListQuery) (ListResult, error)

	CreateMultipartUpload(ctx context.Context, bucket, key string, meta Metadata) (uploadID string, err error)
	// UploadPart stores one part (1..10000), replacing an earlier upload of that number.
	UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, opts PartOptions) (PartInfo, error)
	// UploadPartCopy stores a byte range (or all) of an existing object as a part.
	UploadPartCopy(ctx context.Context, bucket, key, uploadID string, part int, srcBucket, srcKey string, rng *Range) (PartInfo, error)
	// CompleteMultipartUpload assembles the listed parts (ascending, each but the last at
	// least 5 MiB, ETags matching) into the object, whose ETag is md5-of-md5s "-N".
	// ErrNoSuchUpload, ErrInvalidPart, ErrInvalidPartOrder, ErrEntityTooSmall.
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart) (ObjectInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, q PartsQuery) (PartsResult, error)
	ListMultipartUploads(ctx context.Context, bucket string, q UploadsQuery) (UploadsResult, error)
}

// Errors a Backend returns; the gateway maps them to S3's codes in one place.
var (
	ErrNoSuchBucket            = errors.New("no such bucket")
	ErrNoSuchKey               = errors.New("no such key")
	ErrBucketNotEmpty          = errors.New("bucket not empty")
	ErrBucketAlreadyOwnedByYou = errors.New("bucket already exists")
	ErrNoSuchUpload            = errors.New("no such upload")
	ErrInvalidPart             = errors.New("invalid part")
	ErrInvalidPartOrder        = errors.New("invalid part order")
	ErrEntityTooSmall          = errors.New("part too small")
	ErrInvalidRange            = errors.New("range not satisfiable")
	ErrPreconditionFailed      = errors.New("precondition failed")
	ErrBadDigest               = errors.New("content-md5 does not match")
	ErrInvalidKey              = errors.New("invalid object key")
	// ErrIncompleteBody: the body's length is not the one announced (S3's IncompleteBody).
	ErrIncompleteBody = errors.New("body length does not match the announced length")
)

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// Metadata is what a client sets on an object and gets back.
type Metadata struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	// User is x-amz-meta-* without the prefix, keys lower-cased.
	User map[string]string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // without quotes: hex MD5, or hex MD5-of-MD5s "-N" for multipart
	LastModified time.Time
	Metadata     Metadata
	// Checksums are the full-object checksums the client sent and the gateway verified,
	// by algorithm name (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), base64 as on the wire.
	Checksums map[string]string
	// PartsCount is the number of parts of a multipart object (0 otherwise).
	PartsCount int
}

// PutOptions go with PutObject.
type PutOptions struct {
	Metadata Metadata
	// IfNoneMatch refuses to overwrite an existing object (If-None-Match: *):
	// ErrPreconditionFailed, checked atomically with the commit.
	IfNoneMatch bool
	// ContentMD5, when set (16 bytes), must equal the body's MD5 or ErrBadDigest and
	// nothing is committed.
	ContentMD5 []byte
	// Size is the body's length if known (-1 otherwise); a body of another length fails.
	Size int64
	// Checksums, if set, is called after the body is read to EOF and before the commit;
	// it returns the verified checksums to store with the object.
	Checksums func() map[string]string
}

// CopyOptions go with CopyObject.
type CopyOptions struct {
	IfNoneMatch bool
}

// PartOptions go with UploadPart.
type PartOptions struct {
	ContentMD5 []byte
	Size       int64
	Checksums  func() map[string]string
}

// Range is a resolved byte range: First..Last inclusive.
type Range struct {
	First, Last int64
}

// ListQuery selects keys. Keys are returned after Marker (exclusive) in binary order;
// with a Delimiter, keys sharing a prefix up to the delimiter are rolled into one
// CommonPrefix (which counts as one entry against MaxKeys).
type ListQuery struct {
	Prefix    string
	Delimiter string
	Marker    string // list keys (and prefixes) strictly greater than this
	MaxKeys   int    // 0..1000
}

// ListResult is one page.
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextMarker is the last key or common prefix returned, when truncated.
	NextMarker string
}

// PartInfo describes one uploaded part.
type PartInfo struct {
	Number       int
	ETag         string
	Size         int64
	LastModified time.Time
	Checksums    map[string]string
}

// CompletedPart is one entry of a CompleteMultipartUpload request.
type CompletedPart struct {
	Number int
	ETag   string // with or without quotes
}

// PartsQuery pages ListParts.
type PartsQuery struct {
	Marker   int // parts after this number
	MaxParts int
}

// PartsResult is one page of parts.
type PartsResult struct {
	Parts       []PartInfo
	IsTruncated bool
	NextMarker  int
	Metadata    Metadata
	Initiated   time.Time
}

// UploadsQuery pages ListMultipartUploads.
type UploadsQuery struct {
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int
}

// Upload describes one in-progress multipart upload.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// UploadsResult is one page of uploads.
type UploadsResult struct {
	Uploads            []Upload
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}
