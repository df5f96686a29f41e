package s3gw

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// upload is the verified body of a PutObject or UploadPart with what the backend needs
// to check it.
type upload struct {
	body     io.Reader
	size     int64
	md5      []byte
	checksum *checksumReader
}

func readUpload(c *call) (*upload, error) {
	size, err := bodySize(c.r)
	if err != nil {
		return nil, err
	}
	sum, err := contentMD5(c.r.Header)
	if err != nil {
		return nil, err
	}
	u := &upload{body: bodyGuard{c.body}, size: size, md5: sum}
	ck, err := withChecksum(c.r.Header, u.body)
	if err != nil {
		return nil, err
	}
	if ck != nil {
		u.body, u.checksum = ck, ck
	}
	return u, nil
}

// setChecksums echoes the stored checksums on a response.
func setChecksums(resp *response, sums map[string]string) {
	for algo, v := range sums {
		resp.set("X-Amz-Checksum-"+strings.ToLower(algo), v)
	}
}

func (g *Gateway) putObject(ctx context.Context, c *call) (*response, error) {
	u, err := readUpload(c)
	if err != nil {
		return nil, err
	}
	opts := PutOptions{Metadata: metadataFromHeader(c.r.Header), ContentMD5: u.md5, Size: u.size,
		Checksums: u.checksum.sums, IfNoneMatch: strings.TrimSpace(c.r.Header.Get("If-None-Match")) == "*"}
	if u.checksum == nil {
		opts.Checksums = nil
	}
	info, err := g.backend.PutObject(ctx, c.req.Bucket, c.req.Key, u.body, opts)
	if err != nil {
		return nil, err
	}
	resp := &response{}
	resp.set("ETag", quote(info.ETag))
	setChecksums(resp, info.Checksums)
	return resp, nil
}

func (g *Gateway) copyObject(ctx context.Context, c *call) (*response, error) {
	src := c.req.CopySource
	var meta *Metadata
	switch d := c.r.Header.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
		if src.Bucket == c.req.Bucket && src.Key == c.req.Key {
			return nil, errCopyToSelf
		}
	case "REPLACE":
		m := metadataFromHeader(c.r.Header)
		meta = &m
	default:
		return nil, &argError{msg: "Unknown metadata directive."}
	}
	if err := g.copySourceConditions(ctx, c); err != nil {
		return nil, err
	}
	info, err := g.backend.CopyObject(ctx, src.Bucket, src.Key, c.req.Bucket, c.req.Key, meta,
		CopyOptions{IfNoneMatch: strings.TrimSpace(c.r.Header.Get("If-None-Match")) == "*"})
	if err != nil {
		return nil, err
	}
	return xmlResponse(copyObjectResult{NS: s3NS, LastModified: isoTime(info.LastModified), ETag: quote(info.ETag)})
}

// copySourceConditions applies the x-amz-copy-source-if-* headers, which fail with 412.
func (g *Gateway) copySourceConditions(ctx context.Context, c *call) error {
	h := http.Header{}
	for _, n := range []string{"Match", "None-Match", "Modified-Since", "Unmodified-Since"} {
		if v := c.r.Header.Get("X-Amz-Copy-Source-If-" + n); v != "" {
			h.Set("If-"+n, v)
		}
	}
	if len(h) == 0 {
		return nil
	}
	info, err := g.backend.HeadObject(ctx, c.req.CopySource.Bucket, c.req.CopySource.Key)
	if err != nil {
		return err
	}
	if err := checkConditions(h, info); err != nil {
		return ErrPreconditionFailed
	}
	return nil
}

// getObject serves GetObject and HeadObject.
func (g *Gateway) getObject(ctx context.Context, c *call) (*response, error) {
	if c.req.Query.Has("partNumber") {
		return nil, errNotImplemented
	}
	var (
		info ObjectInfo
		rng  *Range
		err  error
	)
	rangeHeader := c.r.Header.Get("Range")
	if c.req.Op == OpHeadObject || rangeHeader != "" {
		if info, err = g.backend.HeadObject(ctx, c.req.Bucket, c.req.Key); err != nil {
			return nil, err
		}
		if err := checkConditions(c.r.Header, info); err != nil {
			return nil, err
		}
		if rangeHeader != "" {
			if rng, _, err = parseRange(rangeHeader, info.Size); err != nil {
				return nil, err
			}
		}
	}
	resp := &response{size: info.Size}
	if c.req.Op == OpGetObject {
		var body io.ReadCloser
		if info, body, err = g.backend.GetObject(ctx, c.req.Bucket, c.req.Key, rng); err != nil {
			return nil, err
		}
		if err := checkConditions(c.r.Header, info); err != nil {
			body.Close()
			return nil, err
		}
		resp.stream, resp.size = body, info.Size
	}
	objectHeaders(c, resp, info, rng)
	return resp, nil
}

// objectHeaders sets the headers of a GetObject or HeadObject answer.
func objectHeaders(c *call, resp *response, info ObjectInfo, rng *Range) {
	info.Metadata.write(resp)
	resp.set("ETag", quote(info.ETag))
	resp.set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	resp.set("Accept-Ranges", "bytes")
	if info.PartsCount > 0 {
		resp.set("X-Amz-Mp-Parts-Count", strconv.Itoa(info.PartsCount))
	}
	if rng != nil {
		resp.status = http.StatusPartialContent
		resp.set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.First, rng.Last, info.Size))
		resp.size = rng.Last - rng.First + 1
	} else if strings.EqualFold(c.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		setChecksums(resp, info.Checksums)
	}
	if c.req.Op == OpHeadObject {
		resp.set("Content-Length", itoa(resp.size))
	}
	q := c.req.Query
	for _, o := range [][2]string{{"response-content-type", "Content-Type"}, {"response-content-language", "Content-Language"},
		{"response-expires", "Expires"}, {"response-cache-control", "Cache-Control"},
		{"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"}} {
		if v := q.Get(o[0]); v != "" {
			overrideHeader(resp, o[1], v)
		}
	}
}

func overrideHeader(resp *response, name, value string) {
	for i := range resp.header {
		if resp.header[i][0] == name {
			resp.header[i][1] = value
			return
		}
	}
	resp.set(name, value)
}

func (g *Gateway) deleteObject(ctx context.Context, c *call) (*response, error) {
	if err := g.backend.DeleteObject(ctx, c.req.Bucket, c.req.Key); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

// maxDeleteKeys is the most keys one DeleteObjects may name.
const maxDeleteKeys = 1000

// deleteObjects deletes each listed key the caller may delete; the others are reported
// as AccessDenied in the result, as S3 does.
func (g *Gateway) deleteObjects(ctx context.Context, c *call) (*response, error) {
	var body io.Reader = c.body
	ck, err := withChecksum(c.r.Header, body)
	if err != nil {
		return nil, err
	}
	if ck != nil {
		body = ck
	}
	wantMD5, err := contentMD5(c.r.Header)
	if err != nil {
		return nil, err
	}
	h := md5.New()
	var doc deleteRequest
	if err := decodeXML(io.TeeReader(body, h), &doc); err != nil {
		return nil, err
	}
	if wantMD5 != nil && subtle.ConstantTimeCompare(h.Sum(nil), wantMD5) != 1 {
		return nil, ErrBadDigest
	}
	if len(doc.Objects) > maxDeleteKeys || len(doc.Objects) == 0 {
		return nil, errMalformedXML
	}
	res := deleteResult{NS: s3NS}
	for _, o := range doc.Objects {
		err := g.deleteOne(ctx, c, o.Key, o.VersionID)
		if err == nil {
			if !doc.Quiet {
				res.Deleted = append(res.Deleted, deletedXML{Key: o.Key, VersionID: o.VersionID})
			}
			continue
		}
		if errors.Is(err, errAuditUnavailable) {
			return nil, err
		}
		e := toWire(err, c.st.cfg.Dev)
		res.Errors = append(res.Errors, deleteErrorXML{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
	}
	return xmlResponse(res)
}

// deleteOne authorizes and deletes one key of a DeleteObjects request; a denial is
// audited on its own.
func (g *Gateway) deleteOne(ctx context.Context, c *call, key, versionID string) error {
	switch {
	case key == "" || len(key) > MaxKeyLen:
		return &argError{msg: "Invalid object key"}
	case versionID != "" && versionID != "null":
		return errNoSuchVersion
	}
	if err := g.authorize(c, "s3:DeleteObject", objectARN(c.req.Bucket, key)); err != nil {
		one := *c
		one.req = &Request{Op: OpDeleteObject, Bucket: c.req.Bucket, Key: key}
		return g.recordFailure(ctx, &one, err)
	}
	return g.backend.DeleteObject(ctx, c.req.Bucket, key)
}
