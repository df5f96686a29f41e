// Package sigv4 verifies AWS Signature Version 4 requests: the Authorization header form,
// presigned URLs, and aws-chunked streaming bodies with chunk signatures and trailing
// checksums. It is pure: no store, no HTTP server code.
//
// Verification is two-phase so that the caller can look up the secret key between the
// phases:
//
//	auth, err := sigv4.Parse(r, now)            // syntax only, no secret needed
//	secret := lookup(auth.AccessKeyID)            // caller's business (InvalidAccessKeyId)
//	body, err := verifier.Verify(auth, r, secret, opts)
//
// Errors are *Error values whose Code is the S3 wire code (SigV4 errors are defined by S3).
// The caller maps codes to HTTP statuses.
package sigv4

import (
	"errors"
	"fmt"
	"time"
)

// S3 wire codes returned in Error.Code.
const (
	CodeSignatureDoesNotMatch        = "SignatureDoesNotMatch"
	CodeAuthorizationHeaderMalformed = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryError      = "AuthorizationQueryParametersError"
	CodeRequestTimeTooSkewed         = "RequestTimeTooSkewed"
	CodeAccessDenied                 = "AccessDenied"
	CodeContentSHA256Mismatch        = "XAmzContentSHA256Mismatch"
	CodeMissingSecurityHeader        = "MissingSecurityHeader"
	CodeInvalidRequest               = "InvalidRequest"
	CodeInvalidArgument              = "InvalidArgument"
	CodeInvalidDigest                = "InvalidDigest"
	CodeBadDigest                    = "BadDigest"
	CodeIncompleteBody               = "IncompleteBody"
	CodeMalformedTrailer             = "MalformedTrailerError"
	CodeEntityTooLarge               = "EntityTooLarge"
)

// ErrAnonymous is returned by Parse for a request that carries no signature at all.
var ErrAnonymous = errors.New("sigv4: anonymous request")

// ErrSigV2 is returned by Parse for a request signed with Signature Version 2
// ("AWS AKID:sig" header or AWSAccessKeyId/Signature query). S3 answers such requests with
// InvalidRequest "Please use AWS4-HMAC-SHA256.".
var ErrSigV2 = errors.New("sigv4: signature version 2 request")

// MaxSkew is the clock skew S3 tolerates in either direction.
const MaxSkew = 15 * time.Minute

// Error is a verification failure as S3 reports it. Only the fields relevant to Code are set.
type Error struct {
	Code    string // S3 wire code, e.g. SignatureDoesNotMatch
	Message string // S3 wire message

	// SignatureDoesNotMatch: what we computed, for the error body and for debugging.
	CanonicalRequest string
	StringToSign     string

	// RequestTimeTooSkewed.
	RequestTime time.Time
	ServerTime  time.Time
	MaxSkew     time.Duration

	// AuthorizationHeaderMalformed about the region: the region we expect.
	Region string

	// AccessDenied for unsigned headers: the headers present but not signed.
	HeadersNotSigned []string

	// Err is the underlying cause, if any (never shown to clients).
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sigv4: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("sigv4: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func headerMalformed(format string, args ...any) *Error {
	return &Error{Code: CodeAuthorizationHeaderMalformed,
		Message: "The authorization header is malformed; " + fmt.Sprintf(format, args...)}
}

func queryError(format string, args ...any) *Error {
	return newError(CodeAuthorizationQueryError, format, args...)
}

const (
	msgSignatureDoesNotMatch = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgSkewed                = "The difference between the request time and the current time is too large."
	msgExpired               = "Request has expired"
	msgNotYetValid           = "Request is not valid yet"
	msgContentSHA256Mismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgHeadersNotSigned      = "There were headers present in the request which were not signed"
	msgIncompleteBody        = "You did not provide the number of bytes specified by the Content-Length HTTP header."
	msgMalformedTrailer      = "The request contained trailing data that was not well-formed or did not conform to our published schema."
)
