package s3gw

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

func (g *Gateway) createMultipartUpload(ctx context.Context, c *call) (*response, error) {
	id, err := g.backend.CreateMultipartUpload(ctx, c.req.Bucket, c.req.Key, metadataFromHeader(c.r.Header))
	if err != nil {
		return nil, err
	}
	return xmlResponse(initiateMultipartUploadResult{NS: s3NS, Bucket: c.req.Bucket, Key: c.req.Key, UploadID: id})
}

func (g *Gateway) uploadPart(ctx context.Context, c *call) (*response, error) {
	u, err := readUpload(c)
	if err != nil {
		return nil, err
	}
	opts := PartOptions{ContentMD5: u.md5, Size: u.size}
	if u.checksum != nil {
		opts.Checksums = u.checksum.sums
	}
	info, err := g.backend.UploadPart(ctx, c.req.Bucket, c.req.Key, c.req.UploadID, c.req.PartNumber, u.body, opts)
	if err != nil {
		return nil, err
	}
	resp := &response{}
	resp.set("ETag", quote(info.ETag))
	setChecksums(resp, info.Checksums)
	return resp, nil
}

func (g *Gateway) uploadPartCopy(ctx context.Context, c *call) (*response, error) {
	src := c.req.CopySource
	var rng *Range
	if v := c.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		info, err := g.backend.HeadObject(ctx, src.Bucket, src.Key)
		if err != nil {
			return nil, err
		}
		r, ok, err := parseRange(v, info.Size)
		if err != nil {
			return nil, err
		}
		if !ok || r.Last-r.First+1 != rangeLen(v) {
			return nil, &argError{msg: "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"}
		}
		rng = r
	}
	if err := g.copySourceConditions(ctx, c); err != nil {
		return nil, err
	}
	info, err := g.backend.UploadPartCopy(ctx, c.req.Bucket, c.req.Key, c.req.UploadID, c.req.PartNumber, src.Bucket, src.Key, rng)
	if err != nil {
		return nil, err
	}
	return xmlResponse(copyPartResult{NS: s3NS, LastModified: isoTime(info.LastModified), ETag: quote(info.ETag)})
}

// rangeLen is the length a "bytes=a-b" range asks for (-1 for any other form), so that a
// copy range reaching past the source is refused rather than shortened.
func rangeLen(v string) int64 {
	spec, ok := strings.CutPrefix(v, "bytes=")
	as, bs, ok2 := strings.Cut(spec, "-")
	a, err1 := strconv.ParseInt(as, 10, 64)
	b, err2 := strconv.ParseInt(bs, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || a < 0 || b < a {
		return -1
	}
	return b - a + 1
}

func (g *Gateway) completeMultipartUpload(ctx context.Context, c *call) (*response, error) {
	var doc completeMultipartUpload
	if err := decodeXML(c.body, &doc); err != nil {
		return nil, err
	}
	if len(doc.Parts) == 0 {
		return nil, errMalformedXML
	}
	parts := make([]CompletedPart, len(doc.Parts))
	for i, p := range doc.Parts {
		parts[i] = CompletedPart{Number: p.PartNumber, ETag: unquote(p.ETag)}
	}
	info, err := g.backend.CompleteMultipartUpload(ctx, c.req.Bucket, c.req.Key, c.req.UploadID, parts)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return xmlResponse(completeMultipartUploadResult{NS: s3NS, Location: scheme + "://" + c.r.Host + "/" + c.req.Bucket + "/" + c.req.Key,
		Bucket: c.req.Bucket, Key: c.req.Key, ETag: quote(info.ETag)})
}

func (g *Gateway) abortMultipartUpload(ctx context.Context, c *call) (*response, error) {
	if err := g.backend.AbortMultipartUpload(ctx, c.req.Bucket, c.req.Key, c.req.UploadID); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

func (g *Gateway) listParts(ctx context.Context, c *call) (*response, error) {
	maxParts, _, err := listParams(c, "max-parts")
	if err != nil {
		return nil, err
	}
	marker := 0
	if v := c.req.Query.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return nil, &argError{msg: "Provided part-number-marker not an integer or within integer range"}
		}
	}
	pr, err := g.backend.ListParts(ctx, c.req.Bucket, c.req.Key, c.req.UploadID, PartsQuery{Marker: marker, MaxParts: maxParts})
	if err != nil {
		return nil, err
	}
	res := listPartsResult{NS: s3NS, Bucket: c.req.Bucket, Key: c.req.Key, UploadID: c.req.UploadID,
		Initiator: ownerOf(c), Owner: ownerOf(c), StorageClass: "STANDARD", PartNumberMarker: marker,
		NextPartNumberMarker: pr.NextMarker, MaxParts: maxParts, IsTruncated: pr.IsTruncated}
	for _, p := range pr.Parts {
		res.Parts = append(res.Parts, partXML{PartNumber: p.Number, LastModified: isoTime(p.LastModified),
			ETag: quote(p.ETag), Size: p.Size})
	}
	return xmlResponse(res)
}

func (g *Gateway) listMultipartUploads(ctx context.Context, c *call) (*response, error) {
	maxUploads, enc, err := listParams(c, "max-uploads")
	if err != nil {
		return nil, err
	}
	q := c.req.Query
	uq := UploadsQuery{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), KeyMarker: q.Get("key-marker"),
		UploadIDMarker: q.Get("upload-id-marker"), MaxUploads: maxUploads}
	ur, err := g.backend.ListMultipartUploads(ctx, c.req.Bucket, uq)
	if err != nil {
		return nil, err
	}
	res := listMultipartUploadsResult{NS: s3NS, Bucket: c.req.Bucket, KeyMarker: enc.s(uq.KeyMarker),
		UploadIDMarker: uq.UploadIDMarker, NextKeyMarker: enc.s(ur.NextKeyMarker), NextUploadIDMarker: ur.NextUploadIDMarker,
		Prefix: enc.s(uq.Prefix), Delimiter: enc.s(uq.Delimiter), MaxUploads: maxUploads, IsTruncated: ur.IsTruncated,
		CommonPrefixes: enc.prefixes(ur.CommonPrefixes)}
	if enc {
		res.EncodingType = "url"
	}
	for _, u := range ur.Uploads {
		res.Uploads = append(res.Uploads, uploadXML{Key: enc.s(u.Key), UploadID: u.UploadID, Initiator: ownerOf(c),
			Owner: ownerOf(c), StorageClass: "STANDARD", Initiated: isoTime(u.Initiated)})
	}
	return xmlResponse(res)
}
