package s3backend

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// streaming are the per-call options of a write whose body is a one-way stream: sent
// as UNSIGNED-PAYLOAD (no hash to compute ahead), never retried (it cannot be re-read).
func streaming(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	o.RetryMaxAttempts = 1
}

// PutObject streams body to the upstream as bucket/key.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts s3gw.PutOptions) (s3gw.ObjectInfo, error) {
	if err := checkMD5Len(opts.ContentMD5); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	if opts.Size < 0 {
		return b.putUnknownLength(ctx, bucket, key, body, opts)
	}
	m := opts.Metadata
	g := newGuard(body, opts.Size)
	in := &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: g,
		ContentType: str(m.ContentType), ContentEncoding: str(m.ContentEncoding),
		ContentDisposition: str(m.ContentDisposition), ContentLanguage: str(m.ContentLanguage),
		CacheControl: str(m.CacheControl), Expires: httpTime(m.Expires), Metadata: m.User,
		ContentMD5: b64(opts.ContentMD5), ContentLength: aws.Int64(opts.Size),
	}
	if opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := b.s3.PutObject(ctx, in, streaming)
	if gerr := g.failure(); gerr != nil {
		return s3gw.ObjectInfo{}, fmt.Errorf("s3backend: put object body: %w", gerr)
	}
	if err != nil {
		return s3gw.ObjectInfo{}, mapError("put object", err, nil)
	}
	info := s3gw.ObjectInfo{Key: key, Size: g.n, ETag: etag(out.ETag), LastModified: b.now().UTC().Truncate(time.Second), Metadata: m}
	if opts.Checksums != nil {
		info.Checksums = opts.Checksums()
	}
	return info, nil
}

func checkMD5Len(sum []byte) error {
	if sum != nil && len(sum) != 16 {
		return fmt.Errorf("s3backend: content-md5 of %d bytes: %w", len(sum), s3gw.ErrBadDigest)
	}
	return nil
}

// GetObject opens bucket/key (or the range rng of it) on the upstream; the body streams.
func (b *Backend) GetObject(ctx context.Context, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}
	if rng != nil {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.First, rng.Last))
		// A checksum covers the whole object: S3 sends none with a range.
		in.ChecksumMode = ""
	}
	out, err := b.s3.GetObject(ctx, in)
	if err != nil {
		return s3gw.ObjectInfo{}, nil, mapError("get object", err, nil)
	}
	info := s3gw.ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag), LastModified: aws.ToTime(out.LastModified).UTC(),
		Metadata: s3gw.Metadata{
			ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition), ContentLanguage: aws.ToString(out.ContentLanguage),
			CacheControl: aws.ToString(out.CacheControl), Expires: aws.ToString(out.ExpiresString), User: userMeta(out.Metadata),
		},
		Checksums: checksums(out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256),
	}
	info.PartsCount = partsCount(info.ETag)
	if rng != nil {
		total, ok := rangeTotal(aws.ToString(out.ContentRange))
		if !ok {
			out.Body.Close()
			return s3gw.ObjectInfo{}, nil, &UpstreamError{Op: "get object", Status: http.StatusPartialContent, Code: "BadContentRange"}
		}
		info.Size = total
	}
	return info, out.Body, nil
}

// rangeTotal reads the total size from a Content-Range "bytes a-b/total".
func rangeTotal(v string) (int64, bool) {
	_, total, ok := strings.Cut(v, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// HeadObject returns bucket/key's metadata. A HEAD's 404 has no body to tell a missing
// key from a missing bucket, so the bucket is asked about then.
func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (s3gw.ObjectInfo, error) {
	out, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		err = mapError("head object", err, s3gw.ErrNoSuchKey)
		if errors.Is(err, s3gw.ErrNoSuchKey) {
			if _, berr := b.HeadBucket(ctx, bucket); errors.Is(berr, s3gw.ErrNoSuchBucket) {
				return s3gw.ObjectInfo{}, berr
			}
		}
		return s3gw.ObjectInfo{}, err
	}
	info := s3gw.ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag), LastModified: aws.ToTime(out.LastModified).UTC(),
		Metadata: s3gw.Metadata{
			ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition), ContentLanguage: aws.ToString(out.ContentLanguage),
			CacheControl: aws.ToString(out.CacheControl), Expires: aws.ToString(out.ExpiresString), User: userMeta(out.Metadata),
		},
		Checksums: checksums(out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256),
	}
	info.PartsCount = partsCount(info.ETag)
	return info, nil
}

// DeleteObject removes bucket/key; a missing key is not an error.
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) error {
	_, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return mapError("delete object", err, nil)
	}
	return nil
}

// CopyObject copies on the upstream (the bytes do not pass through keyless).
func (b *Backend) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta *s3gw.Metadata, opts s3gw.CopyOptions) (s3gw.ObjectInfo, error) {
	in := &s3.CopyObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(dstKey), CopySource: aws.String(copySource(srcBucket, srcKey))}
	if meta != nil {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.ContentType, in.ContentEncoding = str(meta.ContentType), str(meta.ContentEncoding)
		in.ContentDisposition, in.ContentLanguage = str(meta.ContentDisposition), str(meta.ContentLanguage)
		in.CacheControl, in.Expires, in.Metadata = str(meta.CacheControl), httpTime(meta.Expires), meta.User
	}
	if opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := b.s3.CopyObject(ctx, in)
	if err != nil {
		return s3gw.ObjectInfo{}, mapError("copy object", err, nil)
	}
	info := s3gw.ObjectInfo{Key: dstKey}
	if r := out.CopyObjectResult; r != nil {
		info.ETag, info.LastModified = etag(r.ETag), aws.ToTime(r.LastModified).UTC()
		info.Checksums = checksums(r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, r.ChecksumSHA1, r.ChecksumSHA256)
	}
	if meta != nil {
		info.Metadata = *meta
	}
	return info, nil
}

// copySource is x-amz-copy-source: bucket/key, the key percent-encoded but for '/'.
func copySource(bucket, key string) string {
	return bucket + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
}

// ListObjects lists one page (ListObjects v1: its Marker is the interface's).
func (b *Backend) ListObjects(ctx context.Context, bucket string, q s3gw.ListQuery) (s3gw.ListResult, error) {
	in := &s3.ListObjectsInput{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl,
		Prefix: str(q.Prefix), Delimiter: str(q.Delimiter), Marker: str(q.Marker), MaxKeys: aws.Int32(int32(q.MaxKeys))}
	out, err := b.s3.ListObjects(ctx, in)
	if err != nil {
		return s3gw.ListResult{}, mapError("list objects", err, nil)
	}
	var res s3gw.ListResult
	for _, o := range out.Contents {
		k, err := unescape(aws.ToString(o.Key))
		if err != nil {
			return s3gw.ListResult{}, err
		}
		res.Objects = append(res.Objects, s3gw.ObjectInfo{Key: k, Size: aws.ToInt64(o.Size), ETag: etag(o.ETag),
			LastModified: aws.ToTime(o.LastModified).UTC(), PartsCount: partsCount(etag(o.ETag))})
	}
	for _, p := range out.CommonPrefixes {
		v, err := unescape(aws.ToString(p.Prefix))
		if err != nil {
			return s3gw.ListResult{}, err
		}
		res.CommonPrefixes = append(res.CommonPrefixes, v)
	}
	res.IsTruncated = aws.ToBool(out.IsTruncated)
	if res.IsTruncated {
		// The last key or common prefix returned, whichever is greater (v1 sends
		// NextMarker only with a delimiter).
		if n := len(res.Objects); n > 0 {
			res.NextMarker = res.Objects[n-1].Key
		}
		if n := len(res.CommonPrefixes); n > 0 && res.CommonPrefixes[n-1] > res.NextMarker {
			res.NextMarker = res.CommonPrefixes[n-1]
		}
	}
	return res, nil
}

// unescape undoes encoding-type=url (QueryEscape-style: '+' is a space).
func unescape(v string) (string, error) {
	s, err := url.QueryUnescape(v)
	if err != nil {
		return "", &UpstreamError{Op: "list", Status: http.StatusOK, Code: "BadURLEncoding"}
	}
	return s, nil
}

func str(v string) *string {
	if v == "" {
		return nil
	}
	return aws.String(v)
}

func b64(sum []byte) *string {
	if sum == nil {
		return nil
	}
	return aws.String(base64.StdEncoding.EncodeToString(sum))
}

// httpTime parses an Expires value; one that is not an HTTP date is dropped (the SDK
// sends only dates).
func httpTime(v string) *time.Time {
	if v == "" {
		return nil
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return nil
	}
	return &t
}

// etag strips the quotes of an ETag.
func etag(v *string) string { return strings.Trim(aws.ToString(v), `"`) }

// partsCount reads N from a multipart ETag "hex-N" (0 for a plain one).
func partsCount(tag string) int {
	_, n, ok := strings.Cut(tag, "-")
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

func userMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// checksums collects the checksums an answer carries, by s3gw's algorithm names.
func checksums(crc32, crc32c, crc64, sha1, sha256 *string) map[string]string {
	out := map[string]string{}
	for name, v := range map[string]*string{"CRC32": crc32, "CRC32C": crc32c, "CRC64NVME": crc64, "SHA1": sha1, "SHA256": sha256} {
		if s := aws.ToString(v); s != "" {
			out[name] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
