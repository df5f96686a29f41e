package s3gw

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/sigv4"
)

// maxPutSize is the largest single PUT S3 accepts: 5 GiB.
const maxPutSize = 5 << 30

// metadataFromHeader reads the content headers and x-amz-meta-* of a PUT, copy or
// multipart upload.
func metadataFromHeader(h http.Header) Metadata {
	m := Metadata{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	for name, vs := range h {
		if len(name) > len("X-Amz-Meta-") && strings.EqualFold(name[:len("X-Amz-Meta-")], "X-Amz-Meta-") {
			if m.User == nil {
				m.User = map[string]string{}
			}
			m.User[strings.ToLower(name[len("X-Amz-Meta-"):])] = strings.Join(vs, ",")
		}
	}
	return m
}

// stripAWSChunked removes the aws-chunked transfer coding from Content-Encoding: it
// describes the request, not the object.
func stripAWSChunked(v string) string {
	if !strings.Contains(v, "aws-chunked") {
		return v
	}
	var keep []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "aws-chunked" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

// writeMetadata sets an object's content headers and x-amz-meta-* on a response.
func (m Metadata) write(resp *response) {
	ct := m.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	resp.set("Content-Type", ct)
	for _, kv := range [][2]string{{"Content-Encoding", m.ContentEncoding}, {"Content-Disposition", m.ContentDisposition},
		{"Content-Language", m.ContentLanguage}, {"Cache-Control", m.CacheControl}, {"Expires", m.Expires}} {
		if kv[1] != "" {
			resp.set(kv[0], kv[1])
		}
	}
	for k, v := range m.User {
		resp.set("X-Amz-Meta-"+k, v)
	}
}

// writeValidators sets ETag and Last-Modified.
func (o ObjectInfo) writeValidators(h http.Header) {
	h.Set("ETag", quote(o.ETag))
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
}

func quote(etag string) string   { return `"` + etag + `"` }
func unquote(etag string) string { return strings.Trim(strings.TrimSpace(etag), `"`) }
func itoa(n int64) string        { return strconv.FormatInt(n, 10) }

// contentMD5 decodes the Content-MD5 header (nil if absent).
func contentMD5(h http.Header) ([]byte, error) {
	v := h.Get("Content-Md5")
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != md5.Size {
		return nil, errInvalidDigest
	}
	return b, nil
}

// checksumAlgorithms are the x-amz-checksum-* algorithms S3 knows, by header suffix.
var checksumAlgorithms = map[string]struct {
	name string
	new  func() hash.Hash
}{
	"crc32":     {"CRC32", func() hash.Hash { return crc32.NewIEEE() }},
	"crc32c":    {"CRC32C", func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	"crc64nvme": {"CRC64NVME", func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) }},
	"sha1":      {"SHA1", sha1.New},
	"sha256":    {"SHA256", sha256.New},
}

// checksumError is a full-object checksum header that does not match the body.
type checksumError struct{ algo string }

func (e *checksumError) Error() string { return "the " + e.algo + " checksum does not match the body" }

// checksumReader computes the body's x-amz-checksum-* as it is read. With a header
// value (want) it fails the last read on a mismatch; with a trailer it records what the
// sigv4 reader below it already verified.
type checksumReader struct {
	src  io.Reader
	algo string
	h    hash.Hash
	want []byte
	err  error
}

func (c *checksumReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.src.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF && c.want != nil && subtle.ConstantTimeCompare(c.h.Sum(nil), c.want) != 1 {
		err = &checksumError{algo: c.algo}
	}
	c.err = err
	return n, err
}

// sums returns the verified checksum, after EOF.
func (c *checksumReader) sums() map[string]string {
	if c == nil || c.err != io.EOF {
		return nil
	}
	return map[string]string{c.algo: base64.StdEncoding.EncodeToString(c.h.Sum(nil))}
}

// withChecksum wraps body with the checksum the request declares: an x-amz-checksum-*
// header, or the x-amz-trailer the sigv4 reader verifies. It returns nil when there is
// none.
func withChecksum(h http.Header, body io.Reader) (*checksumReader, error) {
	if t := strings.ToLower(strings.TrimSpace(h.Get("X-Amz-Trailer"))); t != "" {
		a, ok := checksumAlgorithms[strings.TrimPrefix(t, "x-amz-checksum-")]
		if !ok || !strings.HasPrefix(t, "x-amz-checksum-") {
			return nil, &argError{msg: "The value specified in the x-amz-trailer header is not supported"}
		}
		return &checksumReader{src: body, algo: a.name, h: a.new()}, nil
	}
	for suffix, a := range checksumAlgorithms {
		v := h.Get("X-Amz-Checksum-" + suffix)
		if v == "" {
			continue
		}
		hh := a.new()
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != hh.Size() {
			return nil, &argError{msg: "Value for x-amz-checksum-" + suffix + " header is invalid."}
		}
		return &checksumReader{src: body, algo: a.name, h: hh, want: want}, nil
	}
	return nil, nil
}

// errIncompleteBody is a body that broke off (or failed) while being read.
var errIncompleteBody = errors.New("request body incomplete")

// bodyGuard turns a failure to read the request body that is not already a verification
// error (sigv4, checksum) into errIncompleteBody, so that a client that hangs up is a
// 400 and not an internal error.
type bodyGuard struct{ src io.Reader }

func (g bodyGuard) Read(p []byte) (int, error) {
	n, err := g.src.Read(p)
	if err != nil && err != io.EOF {
		var se *sigv4.Error
		var ce *checksumError
		if !errors.As(err, &se) && !errors.As(err, &ce) {
			err = fmt.Errorf("%w: %w", errIncompleteBody, err)
		}
	}
	return n, err
}

// bodySize is the object size a PUT or UploadPart declares (-1 if unknown).
func bodySize(r *http.Request) (int64, error) {
	n := r.ContentLength
	if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
		d, err := strconv.ParseInt(v, 10, 64)
		if err != nil || d < 0 {
			return 0, &argError{msg: "x-amz-decoded-content-length is not valid."}
		}
		n = d
	}
	if n > maxPutSize {
		return 0, errTooLarge
	}
	return n, nil
}

// parseRange reads a Range header ("bytes=a-b", "bytes=a-", "bytes=-n") against size. ok
// is false for a header S3 ignores (not bytes, several ranges, malformed); an
// unsatisfiable range is ErrInvalidRange.
func parseRange(v string, size int64) (rng *Range, ok bool, err error) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return nil, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return nil, false, nil
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return nil, false, nil
		}
		if n == 0 || size == 0 {
			return nil, true, ErrInvalidRange
		}
		return &Range{First: max(size-n, 0), Last: size - 1}, true, nil
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return nil, false, nil
	}
	last := size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return nil, false, nil
		}
		last = min(last, size-1)
	}
	if first >= size {
		return nil, true, ErrInvalidRange
	}
	return &Range{First: first, Last: last}, true, nil
}

// notModified answers a conditional GET or HEAD with 304.
type notModified struct{ info ObjectInfo }

func (notModified) Error() string { return "not modified" }

// checkConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since to an object, with S3's precedence.
func checkConditions(h http.Header, o ObjectInfo) error {
	if h.Get("If-Match") == "" && h.Get("If-None-Match") == "" && h.Get("If-Modified-Since") == "" &&
		h.Get("If-Unmodified-Since") == "" {
		return nil
	}
	lm := o.LastModified.Truncate(time.Second)
	if v := h.Get("If-Match"); v != "" {
		if !etagMatches(v, o.ETag) {
			return ErrPreconditionFailed
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && lm.After(t) {
		return ErrPreconditionFailed
	}
	if v := h.Get("If-None-Match"); v != "" {
		if etagMatches(v, o.ETag) {
			return notModified{o}
		}
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !lm.After(t) {
		return notModified{o}
	}
	return nil
}

func etagMatches(list, etag string) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || unquote(v) == etag {
			return true
		}
	}
	return false
}
