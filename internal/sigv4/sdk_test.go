package sigv4

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// End to end with the real SDK clients against a verifying server on 127.0.0.1.

func sdkConfig(srv *verifyServer) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testAKID, testSecret, testToken),
		HTTPClient:   srv.Client(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		BaseEndpoint: aws.String(srv.URL),
	}
}

func s3Client(srv *verifyServer) *s3.Client {
	return s3.NewFromConfig(sdkConfig(srv), func(o *s3.Options) { o.UsePathStyle = true })
}

func TestS3ClientUploadsAreAccepted(t *testing.T) {
	t.Parallel()
	algorithms := []s3types.ChecksumAlgorithm{
		s3types.ChecksumAlgorithmCrc32, s3types.ChecksumAlgorithmCrc32c, s3types.ChecksumAlgorithmCrc64nvme,
		s3types.ChecksumAlgorithmSha1, s3types.ChecksumAlgorithmSha256,
	}
	tests := []struct {
		name      string
		tls       bool
		size      int
		algorithm s3types.ChecksumAlgorithm
		wantHash  string // x-amz-content-sha256 the SDK chose; "hex" for a payload hash
	}{
		{name: "a PutObject over HTTP signs the payload hash", size: 1000, wantHash: "hex"},
		{name: "an empty PutObject over HTTPS is UNSIGNED-PAYLOAD", tls: true, size: 0, wantHash: UnsignedPayload},
		{name: "a 16 MiB+1 PutObject over HTTPS streams as one chunk with a CRC32 trailer", tls: true, size: 16<<20 + 1,
			algorithm: s3types.ChecksumAlgorithmCrc32, wantHash: StreamingUnsignedPayloadTrailer},
	}
	for _, alg := range algorithms {
		for _, size := range []int{1, 8 << 10, 64 << 10, 64<<10 + 1} {
			tests = append(tests, struct {
				name      string
				tls       bool
				size      int
				algorithm s3types.ChecksumAlgorithm
				wantHash  string
			}{name: fmt.Sprintf("a %s PutObject of %d bytes over HTTPS streams with a trailer", alg, size),
				tls: true, size: size, algorithm: alg, wantHash: StreamingUnsignedPayloadTrailer})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newVerifyServer(t, tt.tls, Options{Service: "s3", Regions: []string{"us-east-1"}})
			payload := payloadOf(tt.size)
			_, err := s3Client(srv).PutObject(t.Context(), &s3.PutObjectInput{
				Bucket: aws.String("my-static-website-bucket"), Key: aws.String("dist/index 1+1.html"),
				Body: bytes.NewReader(payload), ChecksumAlgorithm: tt.algorithm,
			})
			got := srv.take(t)
			if err != nil || got.err != nil {
				t.Fatalf("client error %v, server error %v", err, got.err)
			}
			hash := got.payloadHash
			if isHexSHA256(hash) {
				hash = "hex"
			}
			if hash != tt.wantHash {
				t.Errorf("x-amz-content-sha256 %q, want %s", got.payloadHash, tt.wantHash)
			}
			if !bytes.Equal(got.body, payload) {
				t.Errorf("server read %d bytes, want the %d-byte payload", len(got.body), len(payload))
			}
		})
	}
}

func TestS3ClientRequestsAreAccepted(t *testing.T) {
	t.Parallel()
	srv := newVerifyServer(t, false, Options{Service: "s3"})
	c := s3Client(srv)
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"GetObject with a range", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("a//b/../ü c"), Range: aws.String("bytes=0-9")})
			return err
		}},
		{"HeadObject", func() error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k%+")})
			return err
		}},
		{"DeleteObject with a version", func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), VersionId: aws.String("v/1+2")})
			return err
		}},
	}
	for _, call := range calls {
		// Sequential: the server's record is shared.
		err := call.call()
		got := srv.take(t)
		if got.err != nil {
			t.Errorf("%s: rejected: %v (client: %v)", call.name, got.err, err)
		}
	}
}

func TestS3PresignedURLsAreAccepted(t *testing.T) {
	t.Parallel()
	srv := newVerifyServer(t, false, Options{Service: "s3"})
	pc := s3.NewPresignClient(s3Client(srv))
	get, err := pc.PresignGetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("a b/ü+%.txt")})
	if err != nil {
		t.Fatal(err)
	}
	put, err := pc.PresignPutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("up.txt")})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		method, url string
		header      http.Header
		body        string
	}{{get.Method, get.URL, get.SignedHeader, ""}, {put.Method, put.URL, put.SignedHeader, "uploaded"}} {
		req, err := http.NewRequest(p.method, p.url, strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range p.header {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := srv.take(t); got.err != nil || string(got.body) != p.body {
			t.Errorf("presigned %s: server error %v, body %q", p.method, got.err, got.body)
		}
	}
}

func TestSTSClientRequestsAreAccepted(t *testing.T) {
	t.Parallel()
	srv := newVerifyServer(t, false, Options{Service: "sts", Regions: []string{"us-east-1"}})
	c := sts.NewFromConfig(sdkConfig(srv))
	_, _ = c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if got := srv.take(t); got.err != nil {
		t.Fatalf("GetCallerIdentity: rejected: %v", got.err)
	}
	p, err := sts.NewPresignClient(c).PresignGetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(p.Method, p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range p.SignedHeader {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := srv.take(t); got.err != nil {
		t.Fatalf("presigned GetCallerIdentity: rejected: %v", got.err)
	}
}
