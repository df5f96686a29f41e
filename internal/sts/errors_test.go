package sts

import (
	"context"
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
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	expiredAt = time.Unix(1704574064, 0)
	checkedAt = time.Unix(1704727025, 0)
)

// wireCases is every error a call can end in, with what the client must see.
var wireCases = []struct {
	name   string
	err    error
	code   string
	status int
	msg    string
	devMsg string // "" means the same as msg
}{
	{"throttled", errThrottled, "Throttling", 400, "Rate exceeded", ""},
	{"audit-failed", &auditError{Err: errors.New("disk full")}, "ServiceUnavailable", 503, "Service is unable to handle request.", ""},
	{"validation", &validationError{Problems: []string{"Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"}},
		"ValidationError", 400, "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", ""},
	{"invalid-arn", &validationError{Message: "Request ARN is invalid"}, "ValidationError", 400, "Request ARN is invalid", ""},
	{"duration-too-long", errDurationTooLong, "ValidationError", 400, msgDurationTooLong, ""},
	{"denied", &deniedError{Reason: `statement 0: StringLike on h:sub failed: got "x", want "y*"`}, "AccessDenied", 403, msgNotAuthorized,
		msgNotAuthorized + ` (keyless dev mode: statement 0: StringLike on h:sub failed: got "x", want "y*")`},
	{"token-too-large", &idtoken.Error{Kind: idtoken.KindTooLarge}, "ValidationError", 400,
		"1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000", ""},
	{"token-malformed", &idtoken.Error{Kind: idtoken.KindMalformed, Detail: "not a compact JWS"}, "InvalidIdentityToken", 400,
		"The ID token provided is not a valid JWT", "The ID token provided is not a valid JWT (keyless dev mode: not a compact JWS)"},
	{"unknown-provider", &idtoken.Error{Kind: idtoken.KindUnknownProvider, Issuer: "https://auth.mozilla.auth0.com/"}, "InvalidIdentityToken", 400,
		"No OpenIDConnect provider found in your account for https://auth.mozilla.auth0.com/", ""},
	{"bad-algorithm", &idtoken.Error{Kind: idtoken.KindBadAlgorithm}, "InvalidIdentityToken", 400, idtoken.MsgKeyUnavailable, ""},
	{"key-unavailable", &idtoken.Error{Kind: idtoken.KindKeyUnavailable}, "InvalidIdentityToken", 400, idtoken.MsgKeyUnavailable, ""},
	{"bad-signature", &idtoken.Error{Kind: idtoken.KindBadSignature}, "InvalidIdentityToken", 400, idtoken.MsgKeyUnavailable, ""},
	{"provider-unreachable", &idtoken.Error{Kind: idtoken.KindProviderUnreachable}, "IDPCommunicationError", 400,
		"Couldn't reach your identity provider, please try again", ""},
	{"token-expired", &idtoken.Error{Kind: idtoken.KindExpired, Now: checkedAt, Expiry: expiredAt}, "ExpiredTokenException", 400,
		"Token expired: current date/time 1704727025 must be before the expiration date/time 1704574064", ""},
	{"token-not-yet-valid", &idtoken.Error{Kind: idtoken.KindNotYetValid}, "InvalidIdentityToken", 400, "Token is not yet valid", ""},
	{"incorrect-audience", &idtoken.Error{Kind: idtoken.KindIncorrectAudience}, "InvalidIdentityToken", 400, "Incorrect token audience", ""},
	{"missing-aud", &idtoken.Error{Kind: idtoken.KindMissingClaim, Claim: "aud"}, "InvalidIdentityToken", 400, "Missing a required claim: aud", ""},
	{"wrapped-token-error", fmt.Errorf("verifying: %w", &idtoken.Error{Kind: idtoken.KindIncorrectAudience}), "InvalidIdentityToken", 400, "Incorrect token audience", ""},
	{"bad-tags", &claimError{Claim: tagsClaim, Detail: "51 tags"}, "InvalidIdentityToken", 400,
		"The claim https://aws.amazon.com/tags of the web identity token is invalid",
		"The claim https://aws.amazon.com/tags of the web identity token is invalid (keyless dev mode: 51 tags)"},
	{"malformed-policy", &policyError{Err: errors.New("policy: invalid JSON")}, "MalformedPolicyDocument", 400, "Syntax errors in policy.",
		"Syntax errors in policy. (keyless dev mode: policy: invalid JSON)"},
	{"packed-policy-too-large", &credentials.PackedPolicyTooLargeError{Percent: 142}, "PackedPolicyTooLarge", 400,
		"Packed policy consumes 142% of allotted space, please use smaller policy.", ""},
	{"invalid-parameter", &paramError{Message: "ProviderId is not for OpenID Connect"}, "InvalidParameterValue", 400, "ProviderId is not for OpenID Connect", ""},
	{"invalid-action", &actionError{Action: "AssumeRole", Version: Version}, "InvalidAction", 400, "Could not find operation AssumeRole for version 2011-06-15", ""},
	{"missing-action", errMissingAction, "MissingAction", 400, "Missing Action", ""},
	{"malformed-query", &queryError{Detail: "too many parameters"}, "MalformedQueryString", 400, "The request could not be decoded: too many parameters", ""},
	{"body-too-large", errBodyTooLarge, "RequestEntityTooLarge", 413, "Request body must be no larger than 131072 bytes", ""},
	{"method", errMethod, "MethodNotAllowed", 405, "STS accepts GET and POST requests only", ""},
	{"unsigned", sigv4.ErrAnonymous, "MissingAuthenticationToken", 403, "Request is missing Authentication Token", ""},
	{"session-expired", credentials.ErrExpired, "ExpiredToken", 400, "The security token included in the request is expired", ""},
	{"session-malformed", credentials.ErrMalformed, "InvalidClientTokenId", 403, msgInvalidClient, ""},
	{"session-unknown-key", credentials.ErrUnknownKey, "InvalidClientTokenId", 403, msgInvalidClient, ""},
	{"session-for-another-key", errInvalidClientToken, "InvalidClientTokenId", 403, msgInvalidClient, ""},
	{"session-revoked", errRevoked, "AccessDenied", 403, "The session of these credentials has been revoked", ""},
	{"sigv2", sigv4.ErrSigV2, "IncompleteSignature", 400, "Signature Version 2 is not supported; use AWS4-HMAC-SHA256.", ""},
	{"signature-mismatch", &sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch, Message: "s3 text"}, "SignatureDoesNotMatch", 403, msgSignatureInvalid, ""},
	{"signature-skewed", &sigv4.Error{Code: sigv4.CodeRequestTimeTooSkewed}, "SignatureDoesNotMatch", 403,
		"Signature expired: the request time is outside the allowed clock skew of 15 minutes", ""},
	{"authorization-malformed", &sigv4.Error{Code: sigv4.CodeAuthorizationHeaderMalformed, Message: "The authorization header is malformed; x"},
		"IncompleteSignature", 400, "The authorization header is malformed; x", ""},
	{"unmapped", errors.New("sealing key store unreachable"), "InternalFailure", 500,
		"The request processing has failed because of an unknown error, exception or failure.", ""},
	{"context-canceled", context.Canceled, "InternalFailure", 500,
		"The request processing has failed because of an unknown error, exception or failure.", ""},
}

func TestWireErrorMapsEveryErrorToAWSsCodeStatusAndMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range wireCases {
		t.Run(tc.name+" is "+tc.code, func(t *testing.T) {
			t.Parallel()
			devMsg := tc.devMsg
			if devMsg == "" {
				devMsg = tc.msg
			}
			fault := apierr.Sender
			if tc.status >= 500 {
				fault = apierr.Receiver
			}
			for _, dev := range []bool{false, true} {
				e := wireError(tc.err, dev)
				want := []any{tc.code, tc.status, fault, tc.msg, true}
				if dev {
					want[3] = devMsg
				}
				got := []any{e.Code, e.Status, e.Fault, e.Message, errors.Is(e, tc.err)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("dev %v (-want +got):\n%s", dev, diff)
				}
			}
		})
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

const goldenRequestID = "5959ed62-13ac-4205-a0f6-811f00bced6b"

func TestErrorShapesMatchTheGoldenFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := wireError(tc.err, false)
			golden(t, "error-"+tc.name+".xml.golden", apierr.MarshalSTS(e, goldenRequestID))
			golden(t, "error-"+tc.name+".json.golden", apierr.MarshalSTSJSON(e, goldenRequestID))
		})
	}
}

func sampleAssumeResult() *assumeResult {
	return &assumeResult{
		Audience:         "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d",
		AssumedRoleID:    "AROAUH3H6EGKDE7GWMPWA:circleci-deploy-session-1",
		ARN:              "arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/circleci-deploy-session-1",
		Provider:         "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d",
		AccessKeyID:      "ASIAEXAMPLEEXAMPLE12",
		SecretAccessKey:  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken:     "AQEXAMPLE-sealed-session-token",
		Expiration:       time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC),
		Subject:          "org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/p/user/u & <co>",
		PackedPolicySize: -1,
	}
}

func TestSuccessShapesMatchTheGoldenFiles(t *testing.T) {
	t.Parallel()
	plain := sampleAssumeResult()
	full := sampleAssumeResult()
	full.PackedPolicySize, full.SourceIdentity = 17, "alice@example.com"
	caller := &callerResult{UserID: plain.AssumedRoleID, Account: "123456789012", ARN: plain.ARN}
	for name, r := range map[string]result{"assume": plain, "assume-with-policy-and-source-identity": full, "get-caller-identity": caller} {
		golden(t, name+".xml.golden", r.appendXML(nil, goldenRequestID))
		golden(t, name+".json.golden", r.marshalJSON(goldenRequestID))
	}
}
