package s3backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// ListBuckets lists the upstream's buckets (those its credentials can see).
func (b *Backend) ListBuckets(ctx context.Context) ([]s3gw.BucketInfo, error) {
	out, err := b.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, mapError("list buckets", err, nil)
	}
	res := make([]s3gw.BucketInfo, 0, len(out.Buckets))
	for _, bk := range out.Buckets {
		res = append(res, s3gw.BucketInfo{Name: aws.ToString(bk.Name), Created: aws.ToTime(bk.CreationDate).UTC()})
	}
	return res, nil
}

// CreateBucket creates name on the upstream, in the upstream's region.
func (b *Backend) CreateBucket(ctx context.Context, name string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if r := b.s3.Options().Region; r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	if _, err := b.s3.CreateBucket(ctx, in); err != nil {
		return mapError("create bucket", err, nil)
	}
	return nil
}

// DeleteBucket removes an empty bucket.
func (b *Backend) DeleteBucket(ctx context.Context, name string) error {
	if _, err := b.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
		return mapError("delete bucket", err, s3gw.ErrNoSuchBucket)
	}
	return nil
}

// HeadBucket reports whether name exists. S3's HeadBucket carries no creation date, so
// Created is zero.
func (b *Backend) HeadBucket(ctx context.Context, name string) (s3gw.BucketInfo, error) {
	if _, err := b.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		return s3gw.BucketInfo{}, mapError("head bucket", err, s3gw.ErrNoSuchBucket)
	}
	return s3gw.BucketInfo{Name: name}, nil
}

// CreateMultipartUpload starts an upload on the upstream; its upload id is the upstream's.
func (b *Backend) CreateMultipartUpload(ctx context.Context, bucket, key string, meta s3gw.Metadata) (string, error) {
	out, err := b.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key),
		ContentType: str(meta.ContentType), ContentEncoding: str(meta.ContentEncoding),
		ContentDisposition: str(meta.ContentDisposition), ContentLanguage: str(meta.ContentLanguage),
		CacheControl: str(meta.CacheControl), Expires: httpTime(meta.Expires), Metadata: meta.User,
	})
	if err != nil {
		return "", mapError("create multipart upload", err, nil)
	}
	return aws.ToString(out.UploadId), nil
}

// errPartNumber is a part number outside 1..10000.
var errPartNumber = errors.New("part number out of range")

// UploadPart streams one part to the upstream.
func (b *Backend) UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, opts s3gw.PartOptions) (s3gw.PartInfo, error) {
	if part < 1 || part > 10000 {
		return s3gw.PartInfo{}, fmt.Errorf("s3backend: part %d: %w", part, errPartNumber)
	}
	if err := checkMD5Len(opts.ContentMD5); err != nil {
		return s3gw.PartInfo{}, err
	}
	g := newGuard(body, opts.Size)
	in := &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(int32(part)), Body: g, ContentMD5: b64(opts.ContentMD5)}
	if opts.Size >= 0 {
		in.ContentLength = aws.Int64(opts.Size)
	}
	out, err := b.s3.UploadPart(ctx, in, streaming)
	if gerr := g.failure(); gerr != nil {
		return s3gw.PartInfo{}, fmt.Errorf("s3backend: upload part body: %w", gerr)
	}
	if err != nil {
		return s3gw.PartInfo{}, mapError("upload part", err, nil)
	}
	info := s3gw.PartInfo{Number: part, ETag: etag(out.ETag), Size: g.n, LastModified: b.now().UTC()}
	if opts.Checksums != nil {
		info.Checksums = opts.Checksums()
	}
	return info, nil
}

// UploadPartCopy copies (a range of) an object into a part, on the upstream.
func (b *Backend) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, part int, srcBucket, srcKey string, rng *s3gw.Range) (s3gw.PartInfo, error) {
	if part < 1 || part > 10000 {
		return s3gw.PartInfo{}, fmt.Errorf("s3backend: part %d: %w", part, errPartNumber)
	}
	in := &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(int32(part)), CopySource: aws.String(copySource(srcBucket, srcKey))}
	size := int64(-1)
	if rng != nil {
		in.CopySourceRange = aws.String(fmt.Sprintf("bytes=%d-%d", rng.First, rng.Last))
		size = rng.Last - rng.First + 1
	}
	out, err := b.s3.UploadPartCopy(ctx, in)
	if err != nil {
		return s3gw.PartInfo{}, mapError("upload part copy", err, nil)
	}
	info := s3gw.PartInfo{Number: part, Size: size}
	if r := out.CopyPartResult; r != nil {
		info.ETag, info.LastModified = etag(r.ETag), aws.ToTime(r.LastModified).UTC()
	}
	if size < 0 {
		// The interface reports the part's size; S3's answer does not carry it.
		src, err := b.HeadObject(ctx, srcBucket, srcKey)
		if err == nil {
			info.Size = src.Size
		}
	}
	return info, nil
}

// CompleteMultipartUpload assembles the parts on the upstream.
func (b *Backend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []s3gw.CompletedPart) (s3gw.ObjectInfo, error) {
	return b.complete(ctx, bucket, key, uploadID, parts, false)
}

// AbortMultipartUpload discards an upload and its parts on the upstream.
func (b *Backend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	_, err := b.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		return mapError("abort multipart upload", err, s3gw.ErrNoSuchUpload)
	}
	return nil
}

// ListParts lists one page of an upload's parts. S3 does not return the upload's
// metadata or initiation time here, so those fields stay empty.
func (b *Backend) ListParts(ctx context.Context, bucket, key, uploadID string, q s3gw.PartsQuery) (s3gw.PartsResult, error) {
	in := &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID)}
	if q.Marker > 0 {
		in.PartNumberMarker = aws.String(strconv.Itoa(q.Marker))
	}
	if q.MaxParts > 0 {
		in.MaxParts = aws.Int32(int32(q.MaxParts))
	}
	out, err := b.s3.ListParts(ctx, in)
	if err != nil {
		return s3gw.PartsResult{}, mapError("list parts", err, nil)
	}
	var res s3gw.PartsResult
	for _, p := range out.Parts {
		res.Parts = append(res.Parts, s3gw.PartInfo{Number: int(aws.ToInt32(p.PartNumber)), ETag: etag(p.ETag), Size: aws.ToInt64(p.Size),
			LastModified: aws.ToTime(p.LastModified).UTC(),
			Checksums:    checksums(p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256)})
	}
	res.IsTruncated = aws.ToBool(out.IsTruncated)
	if res.IsTruncated {
		res.NextMarker, _ = strconv.Atoi(aws.ToString(out.NextPartNumberMarker))
	}
	return res, nil
}

// ListMultipartUploads lists one page of a bucket's uploads in progress.
func (b *Backend) ListMultipartUploads(ctx context.Context, bucket string, q s3gw.UploadsQuery) (s3gw.UploadsResult, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl,
		Prefix: str(q.Prefix), Delimiter: str(q.Delimiter), KeyMarker: str(q.KeyMarker), UploadIdMarker: str(q.UploadIDMarker)}
	if q.MaxUploads > 0 {
		in.MaxUploads = aws.Int32(int32(q.MaxUploads))
	}
	out, err := b.s3.ListMultipartUploads(ctx, in)
	if err != nil {
		return s3gw.UploadsResult{}, mapError("list multipart uploads", err, nil)
	}
	var res s3gw.UploadsResult
	for _, u := range out.Uploads {
		k, err := unescape(aws.ToString(u.Key))
		if err != nil {
			return s3gw.UploadsResult{}, err
		}
		res.Uploads = append(res.Uploads, s3gw.Upload{Key: k, UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated).UTC()})
	}
	for _, p := range out.CommonPrefixes {
		v, err := unescape(aws.ToString(p.Prefix))
		if err != nil {
			return s3gw.UploadsResult{}, err
		}
		res.CommonPrefixes = append(res.CommonPrefixes, v)
	}
	res.IsTruncated = aws.ToBool(out.IsTruncated)
	if res.IsTruncated {
		nk, err := unescape(aws.ToString(out.NextKeyMarker))
		if err != nil {
			return s3gw.UploadsResult{}, err
		}
		res.NextKeyMarker, res.NextUploadIDMarker = nk, aws.ToString(out.NextUploadIdMarker)
	}
	return res, nil
}
