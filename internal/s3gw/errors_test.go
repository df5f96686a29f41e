package s3gw

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestToWire(t *testing.T) {
	t.Parallel()
	skewT := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		err        error
		dev        bool
		wantCode   string
		wantStatus int
		wantMsg    string
		wantFields []string
	}{
		{"an expired session is ExpiredToken", fmt.Errorf("open: %w", credentials.ErrExpired), false, "ExpiredToken", 400, "The provided token has expired.", nil},
		{"a malformed token is InvalidToken", credentials.ErrMalformed, false, "InvalidToken", 400, "The provided token is malformed or otherwise invalid.", nil},
		{"a token sealed with an unknown key is InvalidToken", credentials.ErrUnknownKey, false, "InvalidToken", 400, "The provided token is malformed or otherwise invalid.", nil},
		{"a temporary key without a token is InvalidToken", errMissingToken, false, "InvalidToken", 400, "The provided token is malformed or otherwise invalid.", nil},
		{"an unknown key is InvalidAccessKeyId with the key", &keyError{accessKeyID: "AKIAX", err: errNoSuchAccessKey}, false,
			"InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.", []string{"AWSAccessKeyId"}},
		{"a bad signature carries S3's debugging fields in order",
			&keyError{accessKeyID: "ASIAX", signature: "abc", err: &sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch, Message: "m", CanonicalRequest: "GET\n/", StringToSign: "AWS4"}},
			false, "SignatureDoesNotMatch", 403, "m",
			[]string{"AWSAccessKeyId", "StringToSign", "SignatureProvided", "StringToSignBytes", "CanonicalRequest", "CanonicalRequestBytes"}},
		{"a skewed clock is RequestTimeTooSkewed with the times",
			&sigv4.Error{Code: sigv4.CodeRequestTimeTooSkewed, Message: "m", RequestTime: skewT, ServerTime: skewT, MaxSkew: 15 * time.Minute},
			false, "RequestTimeTooSkewed", 403, "m", []string{"RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"}},
		{"a wrong region names the right one", &sigv4.Error{Code: sigv4.CodeAuthorizationHeaderMalformed, Message: "m", Region: "us-east-1"},
			false, "AuthorizationHeaderMalformed", 400, "m", []string{"Region"}},
		{"a missing decoded length is 411", &sigv4.Error{Code: "MissingContentLength", Message: "m"}, false, "MissingContentLength", 411, "m", nil},
		{"a body error from the backend keeps its sigv4 code", fmt.Errorf("write: %w", &sigv4.Error{Code: sigv4.CodeBadDigest, Message: "m"}), false, "BadDigest", 400, "m", nil},
		{"anonymous is AccessDenied", &deniedError{reason: "anonymous", anonymous: true}, false, "AccessDenied", 403, "Access Denied", nil},
		{"a denial says why in dev mode", &deniedError{reason: "no statement allows s3:PutObject\nmore"}, true, "AccessDenied", 403, "Access Denied: no statement allows s3:PutObject", nil},
		{"a backend's short or long body is IncompleteBody", fmt.Errorf("put: %w", ErrIncompleteBody), false, "IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.", nil},
		{"a revocation is AccessDenied", &deniedError{reason: "revoked", err: errRevoked}, false, "AccessDenied", 403, "Access Denied", nil},
		{"a revocation list too old to trust is 503", fmt.Errorf("%w: %w", errRevocationsStale, errors.New("store unreachable for 10m")), false, "ServiceUnavailable", 503, "Service is unable to handle request.", nil},
		{"SigV2 is refused", errSigV2, false, "InvalidRequest", 400, "Please use AWS4-HMAC-SHA256.", nil},
		{"an unimplemented operation is 501", errNotImplemented, false, "NotImplemented", 501, "A header you provided implies functionality that is not implemented", nil},
		{"a bad bucket name is InvalidBucketName", errInvalidBucketName, false, "InvalidBucketName", 400, "The specified bucket is not valid.", nil},
		{"a long key is KeyTooLongError", errKeyTooLong, false, "KeyTooLongError", 400, "Your key is too long", nil},
		{"an argument error shows its own message", &argError{msg: "Part number must be an integer between 1 and 10000, inclusive"}, false,
			"InvalidArgument", 400, "Part number must be an integer between 1 and 10000, inclusive", nil},
		{"a checksum mismatch is BadDigest naming the algorithm", &checksumError{algo: "CRC32"}, false, "BadDigest", 400, "The CRC32 you specified did not match the calculated checksum.", nil},
		{"a failing audit sink is 503", fmt.Errorf("%w: %w", errAuditUnavailable, errors.New("disk full")), false, "ServiceUnavailable", 503, "Service is unable to handle request.", nil},
		{"a body that broke off is IncompleteBody", fmt.Errorf("put: %w: %w", errIncompleteBody, errors.New("unexpected EOF")), false, "IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.", nil},
		{"a missing bucket is NoSuchBucket", fmt.Errorf("list: %w", ErrNoSuchBucket), false, "NoSuchBucket", 404, "The specified bucket does not exist", nil},
		{"a missing key is NoSuchKey", ErrNoSuchKey, false, "NoSuchKey", 404, "The specified key does not exist.", nil},
		{"a full bucket is BucketNotEmpty", ErrBucketNotEmpty, false, "BucketNotEmpty", 409, "The bucket you tried to delete is not empty", nil},
		{"an existing bucket is BucketAlreadyOwnedByYou", ErrBucketAlreadyOwnedByYou, false, "BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.", nil},
		{"a missing upload is NoSuchUpload", ErrNoSuchUpload, false, "NoSuchUpload", 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", nil},
		{"a bad part is InvalidPart", ErrInvalidPart, false, "InvalidPart", 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", nil},
		{"parts out of order are InvalidPartOrder", ErrInvalidPartOrder, false, "InvalidPartOrder", 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.", nil},
		{"a small part is EntityTooSmall", ErrEntityTooSmall, false, "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.", nil},
		{"a bad range is 416", ErrInvalidRange, false, "InvalidRange", 416, "The requested range is not satisfiable", nil},
		{"a failed precondition is 412", ErrPreconditionFailed, false, "PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold", nil},
		{"a wrong Content-MD5 is BadDigest", ErrBadDigest, false, "BadDigest", 400, "The Content-MD5 you specified did not match what we received.", nil},
		{"anything else is InternalError without its text", errors.New("disk on fire"), false, "InternalError", 500, "We encountered an internal error. Please try again.", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := toWire(tc.err, tc.dev)
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Name)
			}
			got := fmt.Sprintf("%s %d %q %v", e.Code, e.Status, e.Message, fields)
			want := fmt.Sprintf("%s %d %q %v", tc.wantCode, tc.wantStatus, tc.wantMsg, tc.wantFields)
			if got != want {
				t.Errorf("toWire = %s\nwant     %s", got, want)
			}
			if !errors.Is(e, tc.err) {
				t.Error("the wire error does not keep its cause")
			}
		})
	}
}

func TestSignatureDoesNotMatchBody(t *testing.T) {
	t.Parallel()
	err := &keyError{accessKeyID: "ASIAEXAMPLEEXAMPLE01", signature: "6c4d0000000000000000000000000000000000000000000000000000000000ff",
		err: &sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch,
			Message:          "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
			CanonicalRequest: "GET\n/site/k\n\nhost:127.0.0.1\n\nhost\nUNSIGNED-PAYLOAD",
			StringToSign:     "AWS4-HMAC-SHA256\n20261129T120000Z\n20261129/us-east-1/s3/aws4_request\n026e7b"}}
	got := apierr.MarshalS3(toWire(err, false), "REQ1", "HOST1")
	golden(t, "signature-does-not-match.golden", got)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}
