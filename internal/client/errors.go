package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// keyFetchMessage starts STS's InvalidIdentityToken message for a JWKS it could not
// fetch: transient, and retried by aws-sdk-go-v2's own web identity provider too.
const keyFetchMessage = "Couldn't retrieve verification key"

// Retryable reports whether an AssumeRoleWithWebIdentity failure may succeed if tried
// again: IDPCommunicationError, InvalidIdentityToken caused by a key fetch, throttling,
// server faults (5xx, 429) and network errors. Everything else (AccessDenied,
// ExpiredTokenException, ValidationError, other InvalidIdentityToken...) is final.
func Retryable(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case code == "IDPCommunicationError":
			return true
		case code == "InvalidIdentityToken":
			return strings.Contains(api.ErrorMessage(), keyFetchMessage)
		}
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return true
		}
		if _, ok := retry.DefaultRetryableErrorCodes[code]; ok {
			return true
		}
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) && resp.HTTPStatusCode() != 0 { // 0: no response at all
		s := resp.HTTPStatusCode()
		return s == http.StatusTooManyRequests || s >= 500 && s != http.StatusNotImplemented
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return true
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

// AssumeError is a failed AssumeRoleWithWebIdentity. Its message names what to check
// (role ARN, the token's iss/aud/sub decoded without verification, the endpoint) and
// never contains the token or a secret.
type AssumeError struct {
	Code      string // AWS error code; "" when STS gave no answer
	Message   string // STS's message, or the network error
	RequestID string
	Status    int // HTTP status; 0 when STS gave no answer
	Attempts  int
	Transient bool // the last failure was retryable: retries ran out
	RoleARN   string
	Session   string
	Endpoint  Endpoint
	TokenFrom string
	Token     TokenInfo // decoded without verification; zero when undecodable
	Err       error
}

func (e *AssumeError) Unwrap() error { return e.Err }

func (e *AssumeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "assume %s", e.RoleARN)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s: %s", e.Code, e.Message)
	} else {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	var meta []string
	if e.Status != 0 {
		meta = append(meta, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.RequestID != "" {
		meta = append(meta, "request id "+e.RequestID)
	}
	meta = append(meta, fmt.Sprintf("%d attempt%s", e.Attempts, plural(e.Attempts)))
	if errors.Is(e.Err, context.DeadlineExceeded) {
		meta = append(meta, "then out of time (--timeout)")
	}
	fmt.Fprintf(&b, " (%s)", strings.Join(meta, ", "))
	for _, c := range e.checks() {
		b.WriteString("\n  check: ")
		b.WriteString(c)
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// checks lists what the user should look at, most likely first.
func (e *AssumeError) checks() []string {
	tok := fmt.Sprintf("the token from %s: %s (decoded without verification)", e.TokenFrom, e.Token)
	if e.Token.Issuer == "" && e.Token.Subject == "" {
		tok = fmt.Sprintf("the token from %s: it does not decode as a JWT", e.TokenFrom)
	}
	endpoint := "the endpoint " + e.Endpoint.String()
	switch {
	case e.Code == "AccessDenied":
		return []string{
			"the role ARN " + e.RoleARN + " (an unknown role is denied too) and its trust policy's conditions on aud and sub",
			tok,
			"on keyless, `keylessd audit --decision deny --role NAME` shows the statement and condition that failed",
		}
	case e.Code == "InvalidIdentityToken" && strings.Contains(e.Message, keyFetchMessage):
		return []string{"the issuer's discovery document and JWKS must be reachable from STS: " + e.Token.Issuer, tok, endpoint}
	case e.Code == "InvalidIdentityToken":
		return []string{tok + "; its iss must be a registered OIDC provider and its aud one of that provider's client ids", endpoint}
	case e.Code == "ExpiredTokenException":
		return []string{tok + "; get a fresh token (CircleCI's last 1h)"}
	case e.Code == "ValidationError":
		return []string{fmt.Sprintf("the role ARN %s, the session name %q (2..64 of [\\w+=,.@-]) and --duration (at most the role's maximum)", e.RoleARN, e.Session)}
	case e.Code == "":
		return []string{endpoint + " must be reachable (--sts-endpoint, $AWS_ENDPOINT_URL_STS, $AWS_ENDPOINT_URL)"}
	}
	return []string{endpoint, "the role ARN " + e.RoleARN, tok}
}

// failure builds the AssumeError for err; tok is only used to scrub messages.
func (c *Client) failure(err error, tok string, attempts int) error {
	e := &AssumeError{
		Attempts: attempts, Transient: Retryable(err), RoleARN: c.cfg.RoleARN, Session: c.cfg.SessionName,
		Endpoint: c.cfg.STSEndpoint, TokenFrom: c.cfg.Token.Name, Err: err,
	}
	e.Token, _ = DescribeToken(tok)
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
	} else {
		e.Message = summary(err)
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		e.Status, e.RequestID = resp.HTTPStatusCode(), resp.ServiceRequestID()
	}
	e.Message = scrub(e.Message, tok)
	return e
}

// summary is a one-line description of err: the API code and message, or the innermost
// transport error.
func summary(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) && send.Err != nil {
		return send.Err.Error()
	}
	return err.Error()
}

// scrub removes the token from s, should any layer ever echo it.
func scrub(s, tok string) string {
	if tok == "" {
		return s
	}
	return strings.ReplaceAll(s, tok, "[token]")
}

// expiresSoon reports whether c expires within d of now.
func expiresSoon(c Credentials, now time.Time, d time.Duration) bool {
	return !c.Expiration.After(now.Add(d))
}
