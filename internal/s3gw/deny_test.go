package s3gw_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestEveryOperationIsDenied sends every operation where the role's policies allow
// nothing ("tagged" has no rights on site; "deployer" none on artifacts) and expects
// AccessDenied with an audited policy trace, before the backend is reached.
func TestEveryOperationIsDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.roleClient("tagged")
	b, k := aws.String("site"), aws.String("k")
	up := aws.String("upload-1")
	ops := []struct {
		name string
		call func(context.Context) error
	}{
		{"ListBuckets", func(ctx context.Context) error { _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); return err }},
		{"CreateBucket", func(ctx context.Context) error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("new-bucket")})
			return err
		}},
		{"DeleteBucket", func(ctx context.Context) error {
			_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b})
			return err
		}},
		{"HeadBucket", func(ctx context.Context) error {
			_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b})
			return err
		}},
		{"GetBucketLocation", func(ctx context.Context) error {
			_, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b})
			return err
		}},
		{"GetBucketVersioning", func(ctx context.Context) error {
			_, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
			return err
		}},
		{"ListObjects", func(ctx context.Context) error {
			_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b})
			return err
		}},
		{"ListObjectsV2", func(ctx context.Context) error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
			return err
		}},
		{"ListObjectVersions", func(ctx context.Context) error {
			_, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
			return err
		}},
		{"ListMultipartUploads", func(ctx context.Context) error {
			_, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
			return err
		}},
		{"PutObject", func(ctx context.Context) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("x")})
			return err
		}},
		{"CopyObject", func(ctx context.Context) error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: k, CopySource: aws.String("site/src")})
			return err
		}},
		{"GetObject", func(ctx context.Context) error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
			return err
		}},
		{"HeadObject", func(ctx context.Context) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
			return err
		}},
		{"DeleteObject", func(ctx context.Context) error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k})
			return err
		}},
		{"CreateMultipartUpload", func(ctx context.Context) error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
			return err
		}},
		{"UploadPart", func(ctx context.Context) error {
			_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
			return err
		}},
		{"UploadPartCopy", func(ctx context.Context) error {
			_, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: k, UploadId: up, PartNumber: aws.Int32(1), CopySource: aws.String("site/src")})
			return err
		}},
		{"CompleteMultipartUpload", func(ctx context.Context) error {
			_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}}}})
			return err
		}},
		{"AbortMultipartUpload", func(ctx context.Context) error {
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: k, UploadId: up})
			return err
		}},
		{"ListParts", func(ctx context.Context) error {
			_, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: up})
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name+" is denied", func(t *testing.T) {
			err := op.call(t.Context())
			if op.name == "HeadBucket" || op.name == "HeadObject" {
				wantCode(t, err, "Forbidden") // a HEAD error has no body
				e.wantDenialEvent(t, op.name, true)
				return
			}
			e.wantPolicyDenied(t, err, op.name)
		})
	}
	t.Run("DeleteObjects reports each key as denied", func(t *testing.T) {
		out, err := c.DeleteObjects(t.Context(), &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{
			Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b")}}}})
		if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 2 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
			t.Fatalf("DeleteObjects = %+v, %v", out, err)
		}
		if ev := e.sink.last(); ev.EventName != "DeleteObject" || ev.ErrorCode != "AccessDenied" || ev.Keyless.Decision.Trace == nil {
			t.Errorf("last audit event = %s %s", ev.EventName, ev.ErrorCode)
		}
	})
}
