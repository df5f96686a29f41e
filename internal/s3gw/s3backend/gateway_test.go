//lint:file-ignore SA1019 feature/s3/manager is in go.mod; its successor, feature/s3/transfermanager, is not a dependency

package s3backend_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

const (
	frontKey    = "AKIAFRONTOPERATOR01"
	frontSecret = "front-secret-0123456789abcdef"
)

// startFront runs a keylessd whose objects live on up (objects.backend: s3), with the
// upstream secret in upstreamSecretFile's content, an operator key that may do
// anything, and the bucket "site" created at start.
func startFront(t *testing.T, up *node, upstreamSecretFile string, buckets string) *node {
	t.Helper()
	y := fmt.Sprintf(`account_id: "123456789012"
region: us-east-1
listen: 127.0.0.1:0
public_url: http://127.0.0.1:1
data_dir: ./data
issuer: {enabled: false}
buckets: %s
objects:
  backend: s3
  s3: {endpoint: %q, region: us-east-1, access_key_id: %s, secret_access_key_file: ./upstream-secret}
operator_keys:
  - access_key_id: %s
    secret_access_key_file: ./front-secret
    policies:
      all: %q
audit: {s3_events: all}
`, buckets, up.URL, upstreamKey, frontKey, allowAll)
	return startNode(t, y, map[string]string{"upstream-secret": upstreamSecretFile, "front-secret": frontSecret})
}

func sdkClient(n *node, key, secret string) *s3.Client {
	return s3.New(s3.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(n.URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(key, secret, ""),
		Retryer:                    aws.NopRetryer{},
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestGatewayOnAnUpstreamServesTheSDK runs a keylessd on objects.backend s3 in front of
// another keylessd and drives it with the real SDK: the configured bucket is created
// upstream at start, and objects written through the front are on the upstream.
func TestGatewayOnAnUpstreamServesTheSDK(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	front := startFront(t, up, upstreamSecret+"\n", "[site]")
	c := sdkClient(front, frontKey, frontSecret)
	upc := sdkClient(up, upstreamKey, upstreamSecret)
	ctx := t.Context()

	body := []byte("<html>deployed</html>")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("index.html"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/html"), Metadata: map[string]string{"build": "7"}}); err != nil {
		t.Fatalf("PutObject through the front: %v", err)
	}
	t.Run("an object written through the front is on the upstream", func(t *testing.T) {
		out, err := upc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("index.html")})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		got, _ := io.ReadAll(out.Body)
		if !bytes.Equal(got, body) || aws.ToString(out.ContentType) != "text/html" || out.Metadata["build"] != "7" {
			t.Fatalf("upstream holds %q (%s, %v)", got, aws.ToString(out.ContentType), out.Metadata)
		}
	})
	t.Run("the front reads it back with its ranges and checksums", func(t *testing.T) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("index.html"), Range: aws.String("bytes=6-13")})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		got, _ := io.ReadAll(out.Body)
		if string(got) != "deployed" || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes 6-13/%d", len(body)) {
			t.Fatalf("range: %q, %s", got, aws.ToString(out.ContentRange))
		}
	})
	t.Run("a body whose checksum is wrong is refused and nothing reaches the upstream", func(t *testing.T) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("bad"),
			Body: bytes.NewReader(body), ChecksumCRC32: aws.String("AAAAAA==")})
		if code := apiCode(err); code != "BadDigest" && code != "InvalidRequest" {
			t.Fatalf("PutObject with a wrong checksum: %v", err)
		}
		_, err = upc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("bad")})
		var nf *types.NotFound
		if !errors.As(err, &nf) {
			t.Fatalf("upstream HeadObject: %v, want NotFound", err)
		}
	})
	t.Run("a multipart upload through the transfer manager arrives whole", func(t *testing.T) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 12<<16) // 12 MiB: 3 parts of 5 MiB
		up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
		if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("dist/app.tar"), Body: bytes.NewReader(big)}); err != nil {
			t.Fatal(err)
		}
		head, err := upc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("dist/app.tar")})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(big)) || !strings.HasSuffix(aws.ToString(head.ETag), `-3"`) {
			t.Fatalf("upstream HeadObject = %+v, %v", head, err)
		}
	})
	t.Run("listing, copying and deleting through the front act on the upstream", func(t *testing.T) {
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("site"), Key: aws.String("copy.html"), CopySource: aws.String("site/index.html")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("site"), Key: aws.String("index.html")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if diff := cmp.Diff([]string{"copy.html", "dist/app.tar"}, keys); diff != "" {
			t.Fatalf("keys (-want +got):\n%s", diff)
		}
	})
	t.Run("a missing key is NoSuchKey", func(t *testing.T) {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("missing")})
		if apiCode(err) != "NoSuchKey" {
			t.Fatalf("got %v, want NoSuchKey", err)
		}
	})
}

// TestGatewayWithAWrongUpstreamSecretAnswersAGenericError checks that when the upstream
// refuses the node's own credentials, the client gets a generic 500 and neither the
// answer nor the node's log holds the secret.
func TestGatewayWithAWrongUpstreamSecretAnswersAGenericError(t *testing.T) {
	t.Parallel()
	const wrong = "wrong-upstream-secret-that-must-not-leak"
	up := startUpstream(t)
	front := startFront(t, up, wrong, "[]")
	c := sdkClient(front, frontKey, frontSecret)
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("k"), Body: strings.NewReader("v")})
	if apiCode(err) != "InternalError" {
		t.Fatalf("got %v, want InternalError", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the client's error holds the upstream secret")
	}
	if log := front.log.String(); strings.Contains(log, wrong) || strings.Contains(log, "Signature=") {
		t.Errorf("the node's log holds the upstream secret or a signature")
	}
}
