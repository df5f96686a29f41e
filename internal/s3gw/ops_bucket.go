package s3gw

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
)

// dispatch runs an authorized request's operation.
func (g *Gateway) dispatch(ctx context.Context, c *call) (*response, error) {
	var op func(context.Context, *call) (*response, error)
	switch c.req.Op {
	case OpListBuckets:
		op = g.listBuckets
	case OpCreateBucket:
		op = g.createBucket
	case OpDeleteBucket:
		op = g.deleteBucket
	case OpHeadBucket:
		op = g.headBucket
	case OpGetBucketLocation:
		op = g.getBucketLocation
	case OpGetBucketVersioning:
		op = g.getBucketVersioning
	case OpListObjects, OpListObjectsV2:
		op = g.listObjects
	case OpListObjectVersions:
		op = g.listObjectVersions
	case OpListMultipartUploads:
		op = g.listMultipartUploads
	case OpDeleteObjects:
		op = g.deleteObjects
	case OpPutObject:
		op = g.putObject
	case OpCopyObject:
		op = g.copyObject
	case OpGetObject, OpHeadObject:
		op = g.getObject
	case OpDeleteObject:
		op = g.deleteObject
	case OpCreateMultipartUpload:
		op = g.createMultipartUpload
	case OpUploadPart:
		op = g.uploadPart
	case OpUploadPartCopy:
		op = g.uploadPartCopy
	case OpCompleteMultipartUpload:
		op = g.completeMultipartUpload
	case OpAbortMultipartUpload:
		op = g.abortMultipartUpload
	case OpListParts:
		op = g.listParts
	default:
		return nil, errNotImplemented
	}
	return op(ctx, c)
}

// ownerOf is the owner S3 lists for every bucket and object: the account.
func ownerOf(c *call) owner {
	return owner{ID: c.st.cfg.AccountID, DisplayName: c.st.cfg.AccountID}
}

func (g *Gateway) listBuckets(ctx context.Context, c *call) (*response, error) {
	bs, err := g.backend.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	res := listAllMyBucketsResult{NS: s3NS, Owner: ownerOf(c), Buckets: make([]bucketXML, 0, len(bs))}
	for _, b := range bs {
		res.Buckets = append(res.Buckets, bucketXML{Name: b.Name, CreationDate: isoTime(b.Created)})
	}
	return xmlResponse(res)
}

func (g *Gateway) createBucket(ctx context.Context, c *call) (*response, error) {
	if err := g.backend.CreateBucket(ctx, c.req.Bucket); err != nil {
		return nil, err
	}
	resp := &response{}
	resp.set("Location", "/"+c.req.Bucket)
	return resp, nil
}

func (g *Gateway) deleteBucket(ctx context.Context, c *call) (*response, error) {
	if err := g.backend.DeleteBucket(ctx, c.req.Bucket); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

func (g *Gateway) headBucket(ctx context.Context, c *call) (*response, error) {
	if _, err := g.backend.HeadBucket(ctx, c.req.Bucket); err != nil {
		return nil, err
	}
	resp := &response{}
	resp.set("X-Amz-Bucket-Region", c.st.cfg.Region)
	return resp, nil
}

func (g *Gateway) getBucketLocation(ctx context.Context, c *call) (*response, error) {
	if _, err := g.backend.HeadBucket(ctx, c.req.Bucket); err != nil {
		return nil, err
	}
	region := c.st.cfg.Region
	if region == "us-east-1" {
		region = "" // S3 answers an empty LocationConstraint for us-east-1
	}
	return xmlResponse(locationConstraint{NS: s3NS, Value: region})
}

func (g *Gateway) getBucketVersioning(ctx context.Context, c *call) (*response, error) {
	if _, err := g.backend.HeadBucket(ctx, c.req.Bucket); err != nil {
		return nil, err
	}
	return xmlResponse(versioningConfiguration{NS: s3NS})
}

// listParams reads the common list parameters.
func listParams(c *call, maxName string) (max int, enc encoder, err error) {
	q := c.req.Query
	max = 1000
	if v := q.Get(maxName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false, &argError{msg: "Provided " + maxName + " not an integer or within integer range"}
		}
		max = min(n, 1000)
	}
	switch q.Get("encoding-type") {
	case "":
	case "url":
		enc = true
	default:
		return 0, false, &argError{msg: "Invalid Encoding Method specified in Request"}
	}
	return max, enc, nil
}

func (g *Gateway) listObjects(ctx context.Context, c *call) (*response, error) {
	maxKeys, enc, err := listParams(c, "max-keys")
	if err != nil {
		return nil, err
	}
	q := c.req.Query
	lq := ListQuery{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), MaxKeys: maxKeys}
	v2 := c.req.Op == OpListObjectsV2
	if v2 {
		lq.Marker = q.Get("start-after")
		if tok := q.Get("continuation-token"); tok != "" {
			b, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return nil, &argError{msg: "The continuation token provided is incorrect"}
			}
			lq.Marker = string(b)
		}
	} else {
		lq.Marker = q.Get("marker")
	}
	lr, err := g.backend.ListObjects(ctx, c.req.Bucket, lq)
	if err != nil {
		return nil, err
	}
	res := listBucketResult{NS: s3NS, Name: c.req.Bucket, Prefix: enc.s(lq.Prefix), MaxKeys: maxKeys,
		Delimiter: enc.s(lq.Delimiter), IsTruncated: lr.IsTruncated, CommonPrefixes: enc.prefixes(lr.CommonPrefixes)}
	if enc {
		res.EncodingType = "url"
	}
	fetchOwner := !v2 || q.Get("fetch-owner") == "true"
	for _, o := range lr.Objects {
		x := objectXML{Key: enc.s(o.Key), LastModified: isoTime(o.LastModified), ETag: quote(o.ETag),
			Size: o.Size, StorageClass: "STANDARD"}
		if fetchOwner {
			ow := ownerOf(c)
			x.Owner = &ow
		}
		res.Contents = append(res.Contents, x)
	}
	if v2 {
		n := len(lr.Objects) + len(lr.CommonPrefixes)
		res.KeyCount = &n
		res.ContinuationToken = q.Get("continuation-token")
		res.StartAfter = enc.s(q.Get("start-after"))
		if lr.IsTruncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(lr.NextMarker))
		}
	} else {
		m := enc.s(lq.Marker)
		res.Marker = &m
		if lr.IsTruncated {
			res.NextMarker = enc.s(lr.NextMarker)
		}
	}
	return xmlResponse(res)
}

// listObjectVersions lists an unversioned bucket: each object as its "null" version.
func (g *Gateway) listObjectVersions(ctx context.Context, c *call) (*response, error) {
	maxKeys, enc, err := listParams(c, "max-keys")
	if err != nil {
		return nil, err
	}
	q := c.req.Query
	lq := ListQuery{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), Marker: q.Get("key-marker"), MaxKeys: maxKeys}
	lr, err := g.backend.ListObjects(ctx, c.req.Bucket, lq)
	if err != nil {
		return nil, err
	}
	res := listVersionsResult{NS: s3NS, Name: c.req.Bucket, Prefix: enc.s(lq.Prefix), KeyMarker: enc.s(lq.Marker),
		VersionIDMarker: q.Get("version-id-marker"), MaxKeys: maxKeys, Delimiter: enc.s(lq.Delimiter),
		IsTruncated: lr.IsTruncated, CommonPrefixes: enc.prefixes(lr.CommonPrefixes)}
	if enc {
		res.EncodingType = "url"
	}
	if lr.IsTruncated {
		res.NextKeyMarker, res.NextVersionIDMarker = enc.s(lr.NextMarker), "null"
	}
	for _, o := range lr.Objects {
		res.Versions = append(res.Versions, versionXML{Key: enc.s(o.Key), VersionID: "null", IsLatest: true,
			LastModified: isoTime(o.LastModified), ETag: quote(o.ETag), Size: o.Size, Owner: ownerOf(c),
			StorageClass: "STANDARD"})
	}
	return xmlResponse(res)
}
