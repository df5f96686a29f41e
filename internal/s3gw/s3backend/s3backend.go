// Package s3backend is an s3gw.Backend that proxies to an upstream S3-compatible store
// (MinIO, Ceph RGW, AWS S3, or another keylessd) with its own long-lived credentials.
//
// Every call is one (or, for HeadObject's 404 and unknown-length writes, two) requests
// to the upstream through aws-sdk-go-v2's S3 client in path style, signed with the
// upstream's key. Bodies stream both ways: a PutObject or UploadPart body is sent as
// UNSIGNED-PAYLOAD (the gateway has already authenticated it and verifies it as it is
// read) and is never buffered whole. The last byte of a body is held back until the
// body has ended cleanly, so a body that fails verification at its end aborts the
// upstream request before the upstream has received all Content-Length bytes: nothing
// is committed. Upstream errors come back as the s3gw sentinels; anything else is an
// *UpstreamError carrying the operation, HTTP status and S3 code, never the upstream's
// message or credentials.
package s3backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// Options configure a Backend.
type Options struct {
	// Endpoint is the upstream's base URL (http:// or https://, no path).
	Endpoint string
	// Region is the region requests are signed for (us-east-1 for most MinIO setups).
	Region string
	// AccessKeyID and SecretAccessKey are the upstream's credentials. They are used to
	// sign requests and appear in no error or log line.
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient overrides the hardened default client (tests).
	HTTPClient *http.Client
	// Now is the clock for the LastModified of objects just written; time.Now when nil.
	Now func() time.Time
	// Logger receives warnings about the configuration; slog.Default() when nil.
	Logger *slog.Logger
}

// Backend is an s3gw.Backend on an upstream S3-compatible store. It is safe for
// concurrent use and holds no state beyond its client.
type Backend struct {
	s3  *s3.Client
	now func() time.Time
	log *slog.Logger
}

var _ s3gw.Backend = (*Backend)(nil)

// New returns a Backend for the upstream in opts. It does no I/O.
func New(opts Options) (*Backend, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("s3backend: endpoint must be an http:// or https:// URL with no path")
	}
	if opts.Region == "" || opts.AccessKeyID == "" || opts.SecretAccessKey == "" {
		return nil, errors.New("s3backend: region, access key id and secret access key are required")
	}
	b := &Backend{now: opts.Now, log: opts.Logger}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		b.log.Warn("s3backend: the upstream is reached over plain http; use https outside a trusted network",
			"endpoint", u.Scheme+"://"+u.Host)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = newHTTPClient()
	}
	endpoint := u.Scheme + "://" + u.Host
	b.s3 = s3.New(s3.Options{
		Region:       opts.Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, ""),
		HTTPClient:   hc,
		// The gateway verified the client's checksums; the SDK must not need a seekable
		// body to compute its own, and must not fail a read for want of one.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
	})
	return b, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient is the hardened outbound client: bounded connection set-up and
// response-header waits, no redirects (an S3 endpoint has no reason to send one, and
// following one would carry a signed request elsewhere). Bodies have no overall
// deadline: objects stream for as long as they take, bounded by the caller's context.
func newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Generous: CompleteMultipartUpload and large copies answer only when done.
		ResponseHeaderTimeout:  5 * time.Minute,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("s3backend: the upstream answered with a redirect")
		},
	}
}

// UpstreamError is an upstream failure with no s3gw sentinel: the operation, the
// upstream's HTTP status (0 when no answer came) and S3 error code. Its text holds no
// upstream message, URL or credential.
type UpstreamError struct {
	Op     string
	Status int
	Code   string
	// Err is the transport failure when no answer came (a refused connection, a
	// cancelled context); nil otherwise.
	Err error
}

func (e *UpstreamError) Error() string {
	if e.Status == 0 {
		if e.Err != nil {
			return fmt.Sprintf("s3backend: %s: upstream unreachable: %v", e.Op, e.Err)
		}
		return fmt.Sprintf("s3backend: %s: upstream unreachable", e.Op)
	}
	return fmt.Sprintf("s3backend: %s: upstream answered %d %s", e.Op, e.Status, e.Code)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// codes maps S3 error codes to the s3gw sentinels.
var codes = map[string]error{
	"NoSuchBucket":            s3gw.ErrNoSuchBucket,
	"NoSuchKey":               s3gw.ErrNoSuchKey,
	"BucketNotEmpty":          s3gw.ErrBucketNotEmpty,
	"BucketAlreadyOwnedByYou": s3gw.ErrBucketAlreadyOwnedByYou,
	"NoSuchUpload":            s3gw.ErrNoSuchUpload,
	"InvalidPart":             s3gw.ErrInvalidPart,
	"InvalidPartOrder":        s3gw.ErrInvalidPartOrder,
	"EntityTooSmall":          s3gw.ErrEntityTooSmall,
	"InvalidRange":            s3gw.ErrInvalidRange,
	"PreconditionFailed":      s3gw.ErrPreconditionFailed,
	"BadDigest":               s3gw.ErrBadDigest,
	"InvalidDigest":           s3gw.ErrBadDigest,
	"KeyTooLongError":         s3gw.ErrInvalidKey,
}

// mapError turns an SDK error into an s3gw sentinel (wrapped with op) or an
// *UpstreamError. notFound is the sentinel for a bodiless 404 (HEAD requests).
func mapError(op string, err error, notFound error) error {
	var status int
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var code string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	if s, ok := codes[code]; ok {
		return fmt.Errorf("s3backend: %s: %w", op, s)
	}
	switch {
	case status == http.StatusNotFound && notFound != nil:
		return fmt.Errorf("s3backend: %s: %w", op, notFound)
	case status == http.StatusPreconditionFailed:
		return fmt.Errorf("s3backend: %s: %w", op, s3gw.ErrPreconditionFailed)
	case status == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("s3backend: %s: %w", op, s3gw.ErrInvalidRange)
	}
	if status != 0 {
		return &UpstreamError{Op: op, Status: status, Code: code}
	}
	if ctxErr := contextError(err); ctxErr != nil {
		return &UpstreamError{Op: op, Err: ctxErr}
	}
	return &UpstreamError{Op: op, Err: errors.New(transportMessage(err))}
}

// contextError returns the context error err carries, if any.
func contextError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// transportMessage describes a failure to reach the upstream without the request URL
// (which *url.Error would add): the innermost network error's text.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	return "request failed"
}
