package s3gw_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// memBackend is a small, faithful in-memory s3gw.Backend for the gateway's tests: it
// honours the body contract (nothing is stored unless the body reads to EOF), lists in
// binary order and checks multipart parts as S3 does.
type memBackend struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*memBucket
	nextID  int
}

type memBucket struct {
	created time.Time
	objects map[string]*memObject
	uploads map[string]*memUpload
}

type memObject struct {
	info s3gw.ObjectInfo
	data []byte
}

type memUpload struct {
	key       string
	meta      s3gw.Metadata
	initiated time.Time
	parts     map[int]*memObject
}

const minPartSize = 5 << 20

func newMemBackend(now func() time.Time) *memBackend {
	return &memBackend{now: now, buckets: map[string]*memBucket{}}
}

func (m *memBackend) bucket(name string) (*memBucket, error) {
	b, ok := m.buckets[name]
	if !ok {
		return nil, s3gw.ErrNoSuchBucket
	}
	return b, nil
}

func (m *memBackend) ListBuckets(ctx context.Context) ([]s3gw.BucketInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []s3gw.BucketInfo
	for n, b := range m.buckets {
		out = append(out, s3gw.BucketInfo{Name: n, Created: b.created})
	}
	slices.SortFunc(out, func(a, b s3gw.BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *memBackend) CreateBucket(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.buckets[name]; ok {
		return s3gw.ErrBucketAlreadyOwnedByYou
	}
	m.buckets[name] = &memBucket{created: m.now(), objects: map[string]*memObject{}, uploads: map[string]*memUpload{}}
	return nil
}

func (m *memBackend) DeleteBucket(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(name)
	if err != nil {
		return err
	}
	if len(b.objects) > 0 {
		return s3gw.ErrBucketNotEmpty
	}
	delete(m.buckets, name)
	return nil
}

func (m *memBackend) HeadBucket(ctx context.Context, name string) (s3gw.BucketInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(name)
	if err != nil {
		return s3gw.BucketInfo{}, err
	}
	return s3gw.BucketInfo{Name: name, Created: b.created}, nil
}

// readBody reads body whole, checking its length and Content-MD5.
func readBody(body io.Reader, size int64, wantMD5 []byte) ([]byte, string, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, "", fmt.Errorf("reading body: %w", err)
	}
	if size >= 0 && int64(len(data)) != size {
		return nil, "", fmt.Errorf("body of %d bytes, want %d", len(data), size)
	}
	sum := md5.Sum(data)
	if wantMD5 != nil && !bytes.Equal(sum[:], wantMD5) {
		return nil, "", s3gw.ErrBadDigest
	}
	return data, hex.EncodeToString(sum[:]), nil
}

func (m *memBackend) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts s3gw.PutOptions) (s3gw.ObjectInfo, error) {
	data, etag, err := readBody(body, opts.Size, opts.ContentMD5)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	info := s3gw.ObjectInfo{Key: key, Size: int64(len(data)), ETag: etag, Metadata: opts.Metadata}
	if opts.Checksums != nil {
		info.Checksums = opts.Checksums()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	if _, exists := b.objects[key]; exists && opts.IfNoneMatch {
		return s3gw.ObjectInfo{}, s3gw.ErrPreconditionFailed
	}
	info.LastModified = m.now()
	b.objects[key] = &memObject{info: info, data: data}
	return info, nil
}

func (m *memBackend) object(bucket, key string) (*memObject, error) {
	b, err := m.bucket(bucket)
	if err != nil {
		return nil, err
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, s3gw.ErrNoSuchKey
	}
	return o, nil
}

func (m *memBackend) GetObject(ctx context.Context, bucket, key string, rng *s3gw.Range) (s3gw.ObjectInfo, io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.object(bucket, key)
	if err != nil {
		return s3gw.ObjectInfo{}, nil, err
	}
	data := o.data
	if rng != nil {
		if rng.First >= int64(len(data)) || rng.Last < rng.First {
			return s3gw.ObjectInfo{}, nil, s3gw.ErrInvalidRange
		}
		data = data[rng.First:min(rng.Last+1, int64(len(data)))]
	}
	return o.info, io.NopCloser(bytes.NewReader(data)), nil
}

func (m *memBackend) HeadObject(ctx context.Context, bucket, key string) (s3gw.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.object(bucket, key)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	return o.info, nil
}

func (m *memBackend) DeleteObject(ctx context.Context, bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return err
	}
	delete(b.objects, key)
	return nil
}

func (m *memBackend) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta *s3gw.Metadata, opts s3gw.CopyOptions) (s3gw.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	src, err := m.object(srcBucket, srcKey)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	dst, err := m.bucket(dstBucket)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	if _, exists := dst.objects[dstKey]; exists && opts.IfNoneMatch {
		return s3gw.ObjectInfo{}, s3gw.ErrPreconditionFailed
	}
	info := src.info
	info.Key, info.LastModified = dstKey, m.now()
	if meta != nil {
		info.Metadata = *meta
	}
	dst.objects[dstKey] = &memObject{info: info, data: src.data}
	return info, nil
}

func (m *memBackend) ListObjects(ctx context.Context, bucket string, q s3gw.ListQuery) (s3gw.ListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return s3gw.ListResult{}, err
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if strings.HasPrefix(k, q.Prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // Go compares strings byte-wise: binary order
	var res s3gw.ListResult
	for _, k := range keys {
		if k <= q.Marker {
			continue
		}
		entry, isPrefix := k, false
		if q.Delimiter != "" {
			if i := strings.Index(k[len(q.Prefix):], q.Delimiter); i >= 0 {
				entry, isPrefix = k[:len(q.Prefix)+i+len(q.Delimiter)], true
				if entry <= q.Marker || (len(res.CommonPrefixes) > 0 && res.CommonPrefixes[len(res.CommonPrefixes)-1] == entry) {
					continue
				}
			}
		}
		if len(res.Objects)+len(res.CommonPrefixes) >= q.MaxKeys {
			res.IsTruncated = true
			break
		}
		if isPrefix {
			res.CommonPrefixes = append(res.CommonPrefixes, entry)
		} else {
			res.Objects = append(res.Objects, b.objects[k].info)
		}
		res.NextMarker = entry
	}
	if !res.IsTruncated {
		res.NextMarker = ""
	}
	return res, nil
}

func (m *memBackend) upload(bucket, key, id string) (*memUpload, error) {
	b, err := m.bucket(bucket)
	if err != nil {
		return nil, err
	}
	u, ok := b.uploads[id]
	if !ok || u.key != key {
		return nil, s3gw.ErrNoSuchUpload
	}
	return u, nil
}

func (m *memBackend) CreateMultipartUpload(ctx context.Context, bucket, key string, meta s3gw.Metadata) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return "", err
	}
	m.nextID++
	id := "upload-" + strconv.Itoa(m.nextID)
	b.uploads[id] = &memUpload{key: key, meta: meta, initiated: m.now(), parts: map[int]*memObject{}}
	return id, nil
}

func (m *memBackend) UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, opts s3gw.PartOptions) (s3gw.PartInfo, error) {
	data, etag, err := readBody(body, opts.Size, opts.ContentMD5)
	if err != nil {
		return s3gw.PartInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(bucket, key, uploadID)
	if err != nil {
		return s3gw.PartInfo{}, err
	}
	info := s3gw.ObjectInfo{Size: int64(len(data)), ETag: etag, LastModified: m.now()}
	if opts.Checksums != nil {
		info.Checksums = opts.Checksums()
	}
	u.parts[part] = &memObject{info: info, data: data}
	return s3gw.PartInfo{Number: part, ETag: etag, Size: info.Size, LastModified: info.LastModified, Checksums: info.Checksums}, nil
}

func (m *memBackend) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, part int, srcBucket, srcKey string, rng *s3gw.Range) (s3gw.PartInfo, error) {
	m.mu.Lock()
	src, err := m.object(srcBucket, srcKey)
	m.mu.Unlock()
	if err != nil {
		return s3gw.PartInfo{}, err
	}
	data := src.data
	if rng != nil {
		data = data[rng.First : rng.Last+1]
	}
	return m.UploadPart(ctx, bucket, key, uploadID, part, bytes.NewReader(data), s3gw.PartOptions{Size: int64(len(data))})
}

func (m *memBackend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []s3gw.CompletedPart) (s3gw.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(bucket, key, uploadID)
	if err != nil {
		return s3gw.ObjectInfo{}, err
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return s3gw.ObjectInfo{}, s3gw.ErrInvalidPartOrder
		}
	}
	var data, sums []byte
	for i, p := range parts {
		stored, ok := u.parts[p.Number]
		if !ok || stored.info.ETag != strings.Trim(p.ETag, `"`) {
			return s3gw.ObjectInfo{}, s3gw.ErrInvalidPart
		}
		if i < len(parts)-1 && stored.info.Size < minPartSize {
			return s3gw.ObjectInfo{}, s3gw.ErrEntityTooSmall
		}
		raw, _ := hex.DecodeString(stored.info.ETag)
		sums = append(sums, raw...)
		data = append(data, stored.data...)
	}
	sum := md5.Sum(sums)
	info := s3gw.ObjectInfo{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]) + "-" + strconv.Itoa(len(parts)),
		LastModified: m.now(), Metadata: u.meta, PartsCount: len(parts)}
	b := m.buckets[bucket]
	b.objects[key] = &memObject{info: info, data: data}
	delete(b.uploads, uploadID)
	return info, nil
}

func (m *memBackend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.upload(bucket, key, uploadID); err != nil {
		return err
	}
	delete(m.buckets[bucket].uploads, uploadID)
	return nil
}

func (m *memBackend) ListParts(ctx context.Context, bucket, key, uploadID string, q s3gw.PartsQuery) (s3gw.PartsResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(bucket, key, uploadID)
	if err != nil {
		return s3gw.PartsResult{}, err
	}
	nums := make([]int, 0, len(u.parts))
	for n := range u.parts {
		if n > q.Marker {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	res := s3gw.PartsResult{Metadata: u.meta, Initiated: u.initiated}
	for _, n := range nums {
		if len(res.Parts) >= q.MaxParts {
			res.IsTruncated = true
			break
		}
		p := u.parts[n].info
		res.Parts = append(res.Parts, s3gw.PartInfo{Number: n, ETag: p.ETag, Size: p.Size, LastModified: p.LastModified})
		res.NextMarker = n
	}
	return res, nil
}

func (m *memBackend) ListMultipartUploads(ctx context.Context, bucket string, q s3gw.UploadsQuery) (s3gw.UploadsResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return s3gw.UploadsResult{}, err
	}
	var res s3gw.UploadsResult
	for id, u := range b.uploads {
		if strings.HasPrefix(u.key, q.Prefix) {
			res.Uploads = append(res.Uploads, s3gw.Upload{Key: u.key, UploadID: id, Initiated: u.initiated})
		}
	}
	slices.SortFunc(res.Uploads, func(a, b s3gw.Upload) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.UploadID, b.UploadID)
	})
	if len(res.Uploads) > q.MaxUploads {
		res.Uploads, res.IsTruncated = res.Uploads[:q.MaxUploads], true
		last := res.Uploads[len(res.Uploads)-1]
		res.NextKeyMarker, res.NextUploadIDMarker = last.Key, last.UploadID
	}
	return res, nil
}
