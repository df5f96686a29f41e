package s3gw

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/policy"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

// The gateway's own failures; toWire maps each to its S3 code.
var (
	errNotImplemented    = errors.New("s3 operation not implemented")
	errMethodNotAllowed  = errors.New("method not allowed")
	errInvalidBucketName = errors.New("invalid bucket name")
	errKeyTooLong        = errors.New("key too long")
	errNoSuchVersion     = errors.New("no such version")
	errNoSuchUpload      = ErrNoSuchUpload
	errMalformedXML      = errors.New("malformed xml")
	errInvalidDigest     = errors.New("invalid content-md5")
	errCopyToSelf        = errors.New("copy to itself without changes")
	errMissingLength     = errors.New("missing content length")
	errTooLarge          = errors.New("entity too large")
	errAuditUnavailable  = errors.New("audit sink unavailable")
	errAnonymous         = errors.New("anonymous request")
	errSigV2             = errors.New("signature version 2 request")
	errNoSuchAccessKey   = errors.New("unknown access key id")
	errMissingToken      = errors.New("temporary access key without a session token")
	errKeyMismatch       = errors.New("access key id does not match the session token")
	errRevoked           = errors.New("session revoked")
	// errRevocationsStale: the node could not refresh the revocation list for longer
	// than it may trust its copy, so it cannot tell whether a session was revoked.
	errRevocationsStale = errors.New("revocation list too old to trust")
	errUnknownRole      = errors.New("session role is not configured")
)

// argError is an InvalidArgument whose message the gateway wrote itself.
type argError struct{ msg string }

func (e *argError) Error() string { return "invalid argument: " + e.msg }

// deniedError is an authorization failure; reason is one line for the audit event and,
// in dev mode, for the caller; trace is the policy engine's explanation, if a policy
// was evaluated.
type deniedError struct {
	reason    string
	anonymous bool
	trace     *policy.Trace
	err       error
}

func (e *deniedError) Error() string { return "access denied: " + e.reason }
func (e *deniedError) Unwrap() error { return e.err }

// keyError attaches the access key id to an authentication failure, for the
// AWSAccessKeyId element of S3's error.
type keyError struct {
	accessKeyID string
	signature   string // the signature the client sent (SignatureDoesNotMatch only)
	err         error
}

func (e *keyError) Error() string { return fmt.Sprintf("access key %s: %v", e.accessKeyID, e.err) }
func (e *keyError) Unwrap() error { return e.err }

// wireStatic is the fixed part of the mapping: sentinel -> S3 error.
var wireStatic = []struct {
	err error
	e   *apierr.Error
}{
	{errNotImplemented, apierr.New("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented")},
	{errMethodNotAllowed, apierr.New("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")},
	{errInvalidBucketName, apierr.New("InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid.")},
	{errKeyTooLong, apierr.New("KeyTooLongError", http.StatusBadRequest, "Your key is too long")},
	{errNoSuchVersion, apierr.New("NoSuchVersion", http.StatusNotFound, "The specified version does not exist.")},
	{errMalformedXML, apierr.New("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema")},
	{errInvalidDigest, apierr.New("InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid.")},
	{errCopyToSelf, apierr.New("InvalidRequest", http.StatusBadRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")},
	{errMissingLength, apierr.New("MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")},
	{errIncompleteBody, apierr.New("IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header.")},
	{errTooLarge, apierr.New("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size")},
	{errAuditUnavailable, apierr.New("ServiceUnavailable", http.StatusServiceUnavailable, "Service is unable to handle request.")},
	{errRevocationsStale, apierr.New("ServiceUnavailable", http.StatusServiceUnavailable, "Service is unable to handle request.")},
	{errAnonymous, apierr.New("AccessDenied", http.StatusForbidden, "Access Denied")},
	{errSigV2, apierr.New("InvalidRequest", http.StatusBadRequest, "Please use AWS4-HMAC-SHA256.")},
	{errNoSuchAccessKey, apierr.New("InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")},
	{errKeyMismatch, apierr.New("InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")},
	{errMissingToken, apierr.New("InvalidToken", http.StatusBadRequest, "The provided token is malformed or otherwise invalid.")},
	{credentials.ErrExpired, apierr.New("ExpiredToken", http.StatusBadRequest, "The provided token has expired.")},
	{credentials.ErrMalformed, apierr.New("InvalidToken", http.StatusBadRequest, "The provided token is malformed or otherwise invalid.")},
	{credentials.ErrUnknownKey, apierr.New("InvalidToken", http.StatusBadRequest, "The provided token is malformed or otherwise invalid.")},
	{errRevoked, apierr.New("AccessDenied", http.StatusForbidden, "Access Denied")},
	{errUnknownRole, apierr.New("AccessDenied", http.StatusForbidden, "Access Denied")},
	{ErrNoSuchBucket, apierr.New("NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist")},
	{ErrNoSuchKey, apierr.New("NoSuchKey", http.StatusNotFound, "The specified key does not exist.")},
	{ErrBucketNotEmpty, apierr.New("BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty")},
	{ErrBucketAlreadyOwnedByYou, apierr.New("BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it.")},
	{ErrNoSuchUpload, apierr.New("NoSuchUpload", http.StatusNotFound, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")},
	{ErrInvalidPart, apierr.New("InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")},
	{ErrInvalidPartOrder, apierr.New("InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")},
	{ErrEntityTooSmall, apierr.New("EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size.")},
	{ErrInvalidRange, apierr.New("InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable")},
	{ErrPreconditionFailed, apierr.New("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold")},
	{ErrIncompleteBody, apierr.New("IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header.")},
	{ErrBadDigest, apierr.New("BadDigest", http.StatusBadRequest, "The Content-MD5 you specified did not match what we received.")},
	{ErrInvalidKey, apierr.New("InvalidArgument", http.StatusBadRequest, "The specified key is not valid.")},
}

// sigv4Status is the HTTP status of each sigv4 error code.
var sigv4Status = map[string]int{
	sigv4.CodeSignatureDoesNotMatch:        http.StatusForbidden,
	sigv4.CodeAuthorizationHeaderMalformed: http.StatusBadRequest,
	sigv4.CodeAuthorizationQueryError:      http.StatusBadRequest,
	sigv4.CodeRequestTimeTooSkewed:         http.StatusForbidden,
	sigv4.CodeAccessDenied:                 http.StatusForbidden,
	sigv4.CodeContentSHA256Mismatch:        http.StatusBadRequest,
	sigv4.CodeMissingSecurityHeader:        http.StatusBadRequest,
	sigv4.CodeInvalidRequest:               http.StatusBadRequest,
	sigv4.CodeInvalidArgument:              http.StatusBadRequest,
	sigv4.CodeInvalidDigest:                http.StatusBadRequest,
	sigv4.CodeBadDigest:                    http.StatusBadRequest,
	sigv4.CodeIncompleteBody:               http.StatusBadRequest,
	sigv4.CodeMalformedTrailer:             http.StatusBadRequest,
	sigv4.CodeEntityTooLarge:               http.StatusBadRequest,
	"MissingContentLength":                 http.StatusLengthRequired,
}

// toWire maps any error of the gateway, sigv4, credentials or a Backend to the S3
// error the client sees. dev adds the denial reason to AccessDenied's message. Unmapped
// errors become InternalError; the cause is kept for logs and audit only.
func toWire(err error, dev bool) *apierr.Error {
	e := toWireBase(err, dev)
	var ke *keyError
	if errors.As(err, &ke) && (e.Code == "InvalidAccessKeyId" || e.Code == sigv4.CodeSignatureDoesNotMatch) {
		// Fields of SignatureDoesNotMatch come in S3's order: the key id first.
		e = prependField(e, "AWSAccessKeyId", ke.accessKeyID)
		if e.Code == sigv4.CodeSignatureDoesNotMatch && ke.signature != "" {
			e = insertField(e, 2, "SignatureProvided", ke.signature)
		}
	}
	return e.WithCause(err)
}

func toWireBase(err error, dev bool) *apierr.Error {
	var se *sigv4.Error
	if errors.As(err, &se) {
		return fromSigV4(se)
	}
	var ae *argError
	if errors.As(err, &ae) {
		return apierr.New("InvalidArgument", http.StatusBadRequest, ae.msg)
	}
	var ce *checksumError
	if errors.As(err, &ce) {
		return apierr.New("BadDigest", http.StatusBadRequest, "The "+ce.algo+" you specified did not match the calculated checksum.")
	}
	var de *deniedError
	if errors.As(err, &de) {
		e := apierr.New("AccessDenied", http.StatusForbidden, "Access Denied")
		if dev && de.reason != "" {
			e = e.WithMessage("Access Denied: " + oneLine(de.reason))
		}
		return e
	}
	for _, m := range wireStatic {
		if errors.Is(err, m.err) {
			return m.e
		}
	}
	return apierr.S3Internal(err)
}

func fromSigV4(se *sigv4.Error) *apierr.Error {
	status, ok := sigv4Status[se.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	e := apierr.New(se.Code, status, se.Message)
	switch se.Code {
	case sigv4.CodeSignatureDoesNotMatch:
		e = e.WithField("StringToSign", se.StringToSign).
			WithField("StringToSignBytes", hexBytes(se.StringToSign))
		if se.CanonicalRequest != "" {
			e = e.WithField("CanonicalRequest", se.CanonicalRequest).
				WithField("CanonicalRequestBytes", hexBytes(se.CanonicalRequest))
		}
	case sigv4.CodeRequestTimeTooSkewed:
		e = e.WithField("RequestTime", se.RequestTime.UTC().Format("20060102T150405Z")).
			WithField("ServerTime", se.ServerTime.UTC().Format(time.RFC3339)).
			WithField("MaxAllowedSkewMilliseconds", strconv.FormatInt(se.MaxSkew.Milliseconds(), 10))
	case sigv4.CodeAuthorizationHeaderMalformed:
		if se.Region != "" {
			e = e.WithField("Region", se.Region)
		}
	case sigv4.CodeAccessDenied:
		if len(se.HeadersNotSigned) > 0 {
			e = e.WithField("HeadersNotSigned", strings.Join(se.HeadersNotSigned, ", "))
		}
	}
	return e
}

func prependField(e *apierr.Error, name, value string) *apierr.Error {
	return insertField(e, 0, name, value)
}

func insertField(e *apierr.Error, at int, name, value string) *apierr.Error {
	c := *e
	at = min(at, len(e.Fields))
	c.Fields = make([]apierr.Field, 0, len(e.Fields)+1)
	c.Fields = append(c.Fields, e.Fields[:at]...)
	c.Fields = append(c.Fields, apierr.Field{Name: name, Value: value})
	c.Fields = append(c.Fields, e.Fields[at:]...)
	return &c
}

// hexBytes renders s as S3 does in StringToSignBytes: two hex digits per byte, spaced.
func hexBytes(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, len(s)*3)
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
