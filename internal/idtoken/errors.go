package idtoken

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Kind classifies a verification failure. STS maps each kind to one AWS
// error code; this package knows nothing of wire codes (see docs/idtoken.md
// for the mapping table).
type Kind int

// The kinds of verification failure.
const (
	// KindMalformed: not a compact JWS, bad base64 or JSON, a claim of the
	// wrong type, or an unsupported "crit" header.
	KindMalformed Kind = iota + 1
	// KindTooLarge: the token is longer than MaxTokenSize.
	KindTooLarge
	// KindUnknownProvider: no configured provider has the token's iss.
	KindUnknownProvider
	// KindBadAlgorithm: alg outside the allowlist (none, HS*, PS*, ...) or
	// not matching the key selected by kid.
	KindBadAlgorithm
	// KindKeyUnavailable: no kid, a kid the provider does not publish, or a
	// provider answering with an unusable discovery document or key set.
	KindKeyUnavailable
	// KindBadSignature: the signature does not verify with the key.
	KindBadSignature
	// KindProviderUnreachable: the provider could not be reached (network
	// error, timeout, 5xx) and no usable cached key exists. Transient.
	KindProviderUnreachable
	// KindExpired: exp is in the past beyond the leeway.
	KindExpired
	// KindNotYetValid: nbf or iat is in the future beyond the leeway.
	KindNotYetValid
	// KindIncorrectAudience: neither aud nor azp names a client id of the
	// provider.
	KindIncorrectAudience
	// KindMissingClaim: a required claim (iss, sub, aud, exp) is absent.
	KindMissingClaim
)

var kindNames = map[Kind]string{
	KindMalformed:           "malformed",
	KindTooLarge:            "too large",
	KindUnknownProvider:     "unknown provider",
	KindBadAlgorithm:        "bad algorithm",
	KindKeyUnavailable:      "key unavailable",
	KindBadSignature:        "bad signature",
	KindProviderUnreachable: "provider unreachable",
	KindExpired:             "expired",
	KindNotYetValid:         "not yet valid",
	KindIncorrectAudience:   "incorrect audience",
	KindMissingClaim:        "missing claim",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MsgKeyUnavailable is AWS's message for every key or signature failure
// (note the double space, as AWS sends it).
const MsgKeyUnavailable = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"

// Error is the error Verify returns. It carries what STS needs to build
// AWS's exact message, and a Detail for logs and audit. Neither ever
// contains the token or its signature.
type Error struct {
	Kind Kind
	// Issuer is the token's iss as written in the token (may be empty when
	// the token could not be parsed).
	Issuer string
	// Claim names the missing claim for KindMissingClaim.
	Claim string
	// Now and Expiry are set for KindExpired (and Expiry for KindNotYetValid
	// holds the offending nbf or iat).
	Now, Expiry time.Time
	// Detail explains the failure for operators; never shown to callers in
	// production.
	Detail string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	s := "id token " + e.Kind.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retriable reports whether the caller may succeed by retrying later.
func (e *Error) Retriable() bool { return e.Kind == KindProviderUnreachable }

// Message returns the client-visible text AWS STS uses for this failure,
// where it is known (AWS-WIRE 1.6); other kinds get a short neutral text.
func (e *Error) Message() string {
	switch e.Kind {
	case KindUnknownProvider:
		return "No OpenIDConnect provider found in your account for " + e.Issuer
	case KindBadAlgorithm, KindKeyUnavailable, KindBadSignature:
		return MsgKeyUnavailable
	case KindExpired:
		return fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time %d",
			e.Now.Unix(), e.Expiry.Unix())
	case KindIncorrectAudience:
		return "Incorrect token audience"
	case KindMissingClaim:
		return "Missing a required claim: " + e.Claim
	case KindTooLarge:
		return "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000"
	case KindNotYetValid:
		return "Token is not yet valid"
	case KindProviderUnreachable:
		return "Couldn't reach your identity provider, please try again"
	default:
		return "The ID token provided is not a valid JWT"
	}
}

// KindOf returns the Kind of err if it is (or wraps) an *Error, else 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func newError(k Kind, detail string, cause error) *Error {
	return &Error{Kind: k, Detail: detail, Err: cause}
}
