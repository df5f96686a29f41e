package sts

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

// The errors of this package's business logic. They carry what the wire message needs;
// wireError alone turns them (and idtoken's, credentials' and sigv4's) into wire errors.
var (
	errThrottled     = errors.New("sts: rate limit exceeded")
	errMissingAction = errors.New("sts: no Action parameter")
	errBodyTooLarge  = errors.New("sts: request body too large")
	errMethod        = errors.New("sts: method not allowed")
	// errDurationTooLong: DurationSeconds above the role's MaxSessionDuration.
	errDurationTooLong = errors.New("sts: requested duration exceeds the role's maximum")
	// errMissingAuth: GetCallerIdentity without a signature.
	errMissingAuth = errors.New("sts: request is not signed")
	// errInvalidClientToken: no, or a bad, session token, or one for another key.
	errInvalidClientToken = errors.New("sts: security token is missing, malformed or does not match the access key")
	errRevoked            = errors.New("sts: session has been revoked")
)

// validationError is a member constraint failure (ValidationError): Problems in AWS's
// words, or one Message.
type validationError struct {
	Problems []string
	Message  string
}

func (e *validationError) Error() string { return "sts: validation: " + e.text() }

func (e *validationError) text() string {
	if e.Message != "" {
		return e.Message
	}
	n := len(e.Problems)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%d validation error%s detected: %s", n, s, strings.Join(e.Problems, "; "))
}

// queryError is a request that cannot be decoded.
type queryError struct {
	Detail string
	Err    error
}

func (e *queryError) Error() string { return "sts: malformed request: " + e.Detail }
func (e *queryError) Unwrap() error { return e.Err }

// actionError is an Action (or Version) STS does not have.
type actionError struct{ Action, Version string }

func (e *actionError) Error() string {
	return fmt.Sprintf("sts: no operation %q for version %q", e.Action, e.Version)
}

// claimError is a token claim STS reads itself (session tags, source identity) that is
// not usable.
type claimError struct{ Claim, Detail string }

func (e *claimError) Error() string { return "sts: claim " + e.Claim + ": " + e.Detail }

// deniedError is a trust-policy denial (or an unknown role, reported the same way so
// that roles cannot be enumerated). Reason is one line; the full trace goes to audit.
type deniedError struct{ Reason string }

func (e *deniedError) Error() string { return "sts: not authorized: " + e.Reason }

// policyError is a session policy the policy engine refused.
type policyError struct{ Err error }

func (e *policyError) Error() string { return "sts: session policy: " + e.Err.Error() }
func (e *policyError) Unwrap() error { return e.Err }

// paramError is a parameter keyless does not support in this form (InvalidParameterValue).
type paramError struct{ Message string }

func (e *paramError) Error() string { return "sts: " + e.Message }

// auditError is a failure to record the audit event: the call must fail (no
// unaudited credentials).
type auditError struct{ Err error }

func (e *auditError) Error() string { return "sts: recording the audit event: " + e.Err.Error() }
func (e *auditError) Unwrap() error { return e.Err }

// Wire codes and messages (AWS-WIRE 1.5, 1.6).
const (
	codeThrottling      = "Throttling"
	codeValidation      = "ValidationError"
	codeInvalidToken    = "InvalidIdentityToken"
	msgNotAuthorized    = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
	msgDurationTooLong  = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
	msgInvalidClient    = "The security token included in the request is invalid."
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// wireError maps any error of a call to the wire error STS answers with. With dev, the
// message of a denial or a token rejection also carries a one-line reason after AWS's
// text; never otherwise. Unknown errors become InternalFailure with a generic message.
func wireError(err error, dev bool) *apierr.Error {
	e, reason := mapError(err)
	if e.Err == nil {
		e = e.WithCause(err)
	}
	if dev && reason != "" {
		e = e.WithMessage(e.Message + " (keyless dev mode: " + reason + ")")
	}
	return e
}

func mapError(err error) (*apierr.Error, string) {
	var (
		idErr   *idtoken.Error
		valErr  *validationError
		qErr    *queryError
		actErr  *actionError
		clErr   *claimError
		denErr  *deniedError
		polErr  *policyError
		parErr  *paramError
		audErr  *auditError
		packErr *credentials.PackedPolicyTooLargeError
	)
	switch {
	case errors.As(err, &audErr):
		return apierr.New("ServiceUnavailable", http.StatusServiceUnavailable, "Service is unable to handle request."), ""
	case errors.Is(err, errThrottled):
		return apierr.New(codeThrottling, http.StatusBadRequest, "Rate exceeded"), ""
	case errors.As(err, &idErr):
		return tokenError(idErr), idErr.Detail
	case errors.As(err, &valErr):
		return apierr.New(codeValidation, http.StatusBadRequest, valErr.text()), ""
	case errors.Is(err, errDurationTooLong):
		return apierr.New(codeValidation, http.StatusBadRequest, msgDurationTooLong), ""
	case errors.As(err, &denErr):
		return apierr.New("AccessDenied", http.StatusForbidden, msgNotAuthorized), denErr.Reason
	case errors.As(err, &clErr):
		return apierr.New(codeInvalidToken, http.StatusBadRequest, "The claim "+clErr.Claim+" of the web identity token is invalid"), clErr.Detail
	case errors.As(err, &polErr):
		return apierr.New("MalformedPolicyDocument", http.StatusBadRequest, "Syntax errors in policy."), polErr.Err.Error()
	case errors.As(err, &packErr):
		return apierr.New("PackedPolicyTooLarge", http.StatusBadRequest,
			"Packed policy consumes "+strconv.Itoa(packErr.Percent)+"% of allotted space, please use smaller policy."), ""
	case errors.As(err, &parErr):
		return apierr.New("InvalidParameterValue", http.StatusBadRequest, parErr.Message), ""
	case errors.As(err, &actErr):
		return apierr.New("InvalidAction", http.StatusBadRequest,
			"Could not find operation "+actErr.Action+" for version "+actErr.Version), ""
	case errors.Is(err, errMissingAction):
		return apierr.New("MissingAction", http.StatusBadRequest, "Missing Action"), ""
	case errors.As(err, &qErr):
		return apierr.New("MalformedQueryString", http.StatusBadRequest, "The request could not be decoded: "+qErr.Detail), ""
	case errors.Is(err, errBodyTooLarge):
		return apierr.New("RequestEntityTooLarge", http.StatusRequestEntityTooLarge,
			"Request body must be no larger than "+strconv.Itoa(MaxBodyBytes)+" bytes"), ""
	case errors.Is(err, errMethod):
		return apierr.New("MethodNotAllowed", http.StatusMethodNotAllowed, "STS accepts GET and POST requests only"), ""
	}
	return callerError(err), ""
}

// tokenError maps idtoken's failure kinds (docs/idtoken.md's table).
func tokenError(e *idtoken.Error) *apierr.Error {
	switch e.Kind {
	case idtoken.KindTooLarge:
		return apierr.New(codeValidation, http.StatusBadRequest, e.Message())
	case idtoken.KindExpired:
		return apierr.New("ExpiredTokenException", http.StatusBadRequest, e.Message())
	case idtoken.KindProviderUnreachable:
		return apierr.New("IDPCommunicationError", http.StatusBadRequest, e.Message())
	}
	return apierr.New(codeInvalidToken, http.StatusBadRequest, e.Message())
}

// callerError maps GetCallerIdentity's authentication failures.
func callerError(err error) *apierr.Error {
	var sigErr *sigv4.Error
	switch {
	case errors.Is(err, errMissingAuth), errors.Is(err, sigv4.ErrAnonymous):
		return apierr.New("MissingAuthenticationToken", http.StatusForbidden, "Request is missing Authentication Token")
	case errors.Is(err, credentials.ErrExpired):
		return apierr.New("ExpiredToken", http.StatusBadRequest, "The security token included in the request is expired")
	case errors.Is(err, errInvalidClientToken), errors.Is(err, credentials.ErrMalformed), errors.Is(err, credentials.ErrUnknownKey):
		return apierr.New("InvalidClientTokenId", http.StatusForbidden, msgInvalidClient)
	case errors.Is(err, errRevoked):
		return apierr.New("AccessDenied", http.StatusForbidden, "The session of these credentials has been revoked")
	case errors.Is(err, sigv4.ErrSigV2):
		return apierr.New("IncompleteSignature", http.StatusBadRequest, "Signature Version 2 is not supported; use AWS4-HMAC-SHA256.")
	case errors.As(err, &sigErr):
		switch sigErr.Code {
		case sigv4.CodeSignatureDoesNotMatch:
			return apierr.New("SignatureDoesNotMatch", http.StatusForbidden, msgSignatureInvalid)
		case sigv4.CodeRequestTimeTooSkewed:
			return apierr.New("SignatureDoesNotMatch", http.StatusForbidden, "Signature expired: the request time is outside the allowed clock skew of 15 minutes")
		case sigv4.CodeAccessDenied:
			return apierr.New("AccessDenied", http.StatusForbidden, sigErr.Message)
		}
		return apierr.New("IncompleteSignature", http.StatusBadRequest, sigErr.Message)
	}
	return apierr.STSInternal(err)
}
