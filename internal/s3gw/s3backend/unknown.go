package s3backend

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// unknownPartSize is the part size of a PutObject of unknown length: the most memory
// one such upload holds. S3, MinIO and others refuse a PUT without a Content-Length
// (411 MissingContentLength), so a body of unknown length is read a part at a time:
// one that ends within the first part becomes a plain PutObject of known length, a
// longer one a multipart upload (ETag "md5-of-md5s-N").
const unknownPartSize = 8 << 20

// putUnknownLength stores a body of unknown length (opts.Size < 0). Nothing is sent
// before a part has been read in full without error; a failure after the first part
// aborts the upload, so nothing is committed.
func (b *Backend) putUnknownLength(ctx context.Context, bucket, key string, body io.Reader, opts s3gw.PutOptions) (s3gw.ObjectInfo, error) {
	buf := make([]byte, unknownPartSize)
	h := md5.New()
	n, err := io.ReadFull(body, buf)
	h.Write(buf[:n])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF: // all of it within one part
		if err := checkDigest(h, opts.ContentMD5); err != nil {
			return s3gw.ObjectInfo{}, err
		}
		opts.Size = int64(n)
		return b.PutObject(ctx, bucket, key, bytes.NewReader(buf[:n]), opts)
	case err != nil:
		return s3gw.ObjectInfo{}, fmt.Errorf("s3backend: put object body: %w", err)
	}
	if opts.IfNoneMatch {
		// Checked again at completion (If-None-Match: *) by upstreams that support it.
		if _, err := b.HeadObject(ctx, bucket, key); err == nil {
			return s3gw.ObjectInfo{}, fmt.Errorf("s3backend: put object: %w", s3gw.ErrPreconditionFailed)
		} else if !errors.Is(err, s3gw.ErrNoSuchKey) {
			return s3gw.ObjectInfo{}, err
		}
	}
	id, err := b.CreateMultipartUpload(ctx, bucket, key, opts.Metadata)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	info, err := b.uploadParts(ctx, bucket, key, id, body, buf, h, opts)
	if err != nil {
		if aerr := b.AbortMultipartUpload(context.WithoutCancel(ctx), bucket, key, id); aerr != nil {
			b.log.Warn("s3backend: aborting an unfinished upload", "bucket", bucket, "upload_id", id, "err", aerr)
		}
		return s3gw.ObjectInfo{}, err
	}
	return info, nil
}

// uploadParts sends the full first part in buf, then the rest of body a part at a
// time, and completes the upload once body has ended cleanly and its MD5 matches.
func (b *Backend) uploadParts(ctx context.Context, bucket, key, id string, body io.Reader, buf []byte, h hash.Hash, opts s3gw.PutOptions) (s3gw.ObjectInfo, error) {
	var parts []s3gw.CompletedPart
	var size int64
	n := len(buf)
	for number := 1; ; number++ {
		p, err := b.UploadPart(ctx, bucket, key, id, number, bytes.NewReader(buf[:n]), s3gw.PartOptions{Size: int64(n)})
		if err != nil {
			return s3gw.ObjectInfo{}, err
		}
		parts = append(parts, s3gw.CompletedPart{Number: number, ETag: p.ETag})
		size += int64(n)
		var rerr error
		n, rerr = io.ReadFull(body, buf)
		h.Write(buf[:n])
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			if n > 0 {
				continue // the last part; the next ReadFull returns io.EOF with n == 0
			}
			break
		}
		if rerr != nil {
			return s3gw.ObjectInfo{}, fmt.Errorf("s3backend: put object body: %w", rerr)
		}
	}
	if err := checkDigest(h, opts.ContentMD5); err != nil {
		return s3gw.ObjectInfo{}, err
	}
	info, err := b.complete(ctx, bucket, key, id, parts, opts.IfNoneMatch)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	info.Size, info.Metadata = size, opts.Metadata
	if opts.Checksums != nil {
		info.Checksums = opts.Checksums()
	}
	return info, nil
}

func checkDigest(h hash.Hash, want []byte) error {
	if want != nil && !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("s3backend: put object: %w", s3gw.ErrBadDigest)
	}
	return nil
}

// complete is CompleteMultipartUpload with If-None-Match: * when ifNoneMatch is set.
func (b *Backend) complete(ctx context.Context, bucket, key, id string, parts []s3gw.CompletedPart, ifNoneMatch bool) (s3gw.ObjectInfo, error) {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(quoteETag(p.ETag))}
	}
	in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp}}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := b.s3.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return s3gw.ObjectInfo{}, mapError("complete multipart upload", err, nil)
	}
	tag := etag(out.ETag)
	return s3gw.ObjectInfo{Key: key, ETag: tag, PartsCount: partsCount(tag), LastModified: b.now().UTC()}, nil
}

func quoteETag(tag string) string {
	if len(tag) >= 2 && tag[0] == '"' {
		return tag
	}
	return `"` + tag + `"`
}
