package sts

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/oidctest"
)

func TestTheSeedsDeployRoleIsAssumedWithTheSDKAndGetCallerIdentityNamesTheSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	claims := f.claims()
	out, err := f.assume(t.Context(), f.token(claims))
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	c := out.Credentials
	if k := aws.ToString(c.AccessKeyId); len(k) != 20 || !strings.HasPrefix(k, "ASIA") {
		t.Errorf("AccessKeyId = %q, want ASIA and 16 more characters", k)
	}
	if n := len(aws.ToString(c.SecretAccessKey)); n != 40 {
		t.Errorf("SecretAccessKey has %d characters, want 40", n)
	}
	if aws.ToString(c.SessionToken) == "" {
		t.Error("SessionToken is empty")
	}
	roleID := f.cfg.RoleID(f.cfg.Roles[0])
	type view struct {
		RoleID, ARN, Provider, Audience, Subject string
		Expiration                               time.Time
		PackedPolicySize                         *int32
		SourceIdentity                           *string
		TokenSize, TokenUtilization              int32
	}
	got := view{aws.ToString(out.AssumedRoleUser.AssumedRoleId), aws.ToString(out.AssumedRoleUser.Arn),
		aws.ToString(out.Provider), aws.ToString(out.Audience), aws.ToString(out.SubjectFromWebIdentityToken),
		//lint:ignore SA1019 STS still sends PackedPolicySize; its absence is what is checked
		aws.ToTime(c.Expiration), out.PackedPolicySize, out.SourceIdentity,
		aws.ToInt32(out.SessionTokenSize), aws.ToInt32(out.SessionTokenUtilization)}
	tokenLen := int32(len(aws.ToString(c.SessionToken)))
	want := view{roleID + ":" + session, "arn:aws:sts::" + account + ":assumed-role/" + roleName + "/" + session,
		"arn:aws:iam::" + account + ":oidc-provider/" + f.host, org, claims["sub"].(string),
		f.now().Add(time.Hour), nil, nil, tokenLen, (tokenLen*100 + credentials.MaxTokenLen - 1) / credentials.MaxTokenLen}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AssumeRoleWithWebIdentity output (-want +got):\n%s", diff)
	}

	creds := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	}))
	who, err := f.client(creds).GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	gotWho := []string{aws.ToString(who.UserId), aws.ToString(who.Account), aws.ToString(who.Arn)}
	wantWho := []string{roleID + ":" + session, account, want.ARN}
	if diff := cmp.Diff(wantWho, gotWho); diff != "" {
		t.Errorf("GetCallerIdentity (-want +got):\n%s", diff)
	}
}

func rsaPublicPEM(t *testing.T, p *oidctest.Provider) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(p.PublicKey("RS256"))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// tamper replaces the token's payload with another one, keeping the signature.
func tamper(t *testing.T, tok string, claims map[string]any, f *fixture) string {
	t.Helper()
	other := f.token(claims)
	parts, otherParts := strings.Split(tok, "."), strings.Split(other, ".")
	return parts[0] + "." + otherParts[1] + "." + parts[2]
}

// TestEveryRejectionHasAWSsCodeStatusAndMessage is AWS-WIRE 1.6 row by row, and each
// check of the token, through the real SDK client.
func TestEveryRejectionHasAWSsCodeStatusAndMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	now := f.now()
	good := f.claims()
	rsaKid := f.idp.KeyID("RS256")
	const keyMsg = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
	invalid := func(msg string) apiError { return apiError{"InvalidIdentityToken", msg, 400} }
	denied := apiError{"AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403}
	otherSub := "org/" + org + "/project/someone-elses-project/user/" + goodUser
	tests := []struct {
		name  string
		token string
		mod   func(*awssts.AssumeRoleWithWebIdentityInput)
		want  apiError
	}{
		{name: "a wrong aud is an incorrect token audience", token: f.token(with(good, "aud", "someone-else")),
			want: invalid("Incorrect token audience")},
		{name: "a missing aud is a missing required claim", token: f.token(with(good, "aud", nil)),
			want: invalid("Missing a required claim: aud")},
		{name: "an unknown issuer has no OpenIDConnect provider", token: f.token(with(good, "iss", "https://oidc.circleci.com/org/other")),
			want: invalid("No OpenIDConnect provider found in your account for https://oidc.circleci.com/org/other")},
		{name: "an expired token is an ExpiredTokenException", token: f.token(with(good, "exp", now.Add(-time.Hour).Unix())),
			want: apiError{"ExpiredTokenException", fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), now.Add(-time.Hour).Unix()), 400}},
		{name: "a future nbf is not yet valid", token: f.token(with(good, "nbf", now.Add(time.Hour).Unix())),
			want: invalid("Token is not yet valid")},
		{name: "an algorithm that does not fit the key is refused", token: f.token(good, oidctest.WithAlg("ES384"), oidctest.WithKeyID(f.idp.KeyID("ES256"))),
			want: invalid(keyMsg)},
		{name: "alg none is refused", token: f.token(good, oidctest.WithAlg("none"), oidctest.WithKeyID(rsaKid)),
			want: invalid(keyMsg)},
		{name: "HS256 keyed with the RSA public key is refused", token: f.token(good, oidctest.WithAlg("HS256"), oidctest.WithKeyID(rsaKid), oidctest.WithHMACSecret(rsaPublicPEM(t, f.idp))),
			want: invalid(keyMsg)},
		{name: "an unknown kid is refused", token: f.token(good, oidctest.WithKeyID("no-such-kid")),
			want: invalid(keyMsg)},
		{name: "a tampered payload is refused", token: tamper(t, f.token(good), with(good, "sub", otherSub), f),
			want: invalid(keyMsg)},
		{name: "an oversized token is a validation error", token: strings.Repeat("a", 20001),
			want: apiError{"ValidationError", "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000", 400}},
		{name: "a session name with a colon is a validation error", token: f.token(good),
			mod:  func(in *awssts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("a:b") },
			want: apiError{"ValidationError", `1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, 400}},
		{name: "a session name of 65 characters is a validation error", token: f.token(good),
			mod: func(in *awssts.AssumeRoleWithWebIdentityInput) {
				in.RoleSessionName = aws.String(strings.Repeat("s", 65))
			},
			want: apiError{"ValidationError", "1 validation error detected: Value '" + strings.Repeat("s", 65) + "' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64", 400}},
		{name: "a duration below 900 seconds is a validation error", token: f.token(good),
			mod:  func(in *awssts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(899) },
			want: apiError{"ValidationError", "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", 400}},
		{name: "a duration over the role's maximum is a validation error", token: f.token(good),
			mod:  func(in *awssts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(7200) },
			want: apiError{"ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", 400}},
		{name: "a session policy over 2048 characters is a validation error", token: f.token(good),
			mod:  func(in *awssts.AssumeRoleWithWebIdentityInput) { in.Policy = aws.String(longPolicy(2049)) },
			want: apiError{"ValidationError", "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048", 400}},
		{name: "a session policy that is not JSON is a malformed policy document", token: f.token(good),
			mod:  func(in *awssts.AssumeRoleWithWebIdentityInput) { in.Policy = aws.String("{not json") },
			want: apiError{"MalformedPolicyDocument", "Syntax errors in policy.", 400}},
		{name: "several invalid members are reported together", token: f.token(good),
			mod: func(in *awssts.AssumeRoleWithWebIdentityInput) {
				in.RoleSessionName, in.DurationSeconds = aws.String("x"), aws.Int32(50000)
			},
			want: apiError{"ValidationError", "2 validation errors detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; Value '50000' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", 400}},
		{name: "a role ARN that is not a role's is invalid", token: f.token(good),
			mod: func(in *awssts.AssumeRoleWithWebIdentityInput) {
				in.RoleArn = aws.String("arn:aws:iam::123456789012:user/alice")
			},
			want: apiError{"ValidationError", "Request ARN is invalid", 400}},
		{name: "an unknown role is access denied", token: f.token(good),
			mod: func(in *awssts.AssumeRoleWithWebIdentityInput) {
				in.RoleArn = aws.String("arn:aws:iam::123456789012:role/NoSuchRole")
			},
			want: denied},
		{name: "a role of another account is access denied", token: f.token(good),
			mod: func(in *awssts.AssumeRoleWithWebIdentityInput) {
				in.RoleArn = aws.String("arn:aws:iam::210987654321:role/" + roleName)
			},
			want: denied},
		{name: "a sub the trust policy does not allow is access denied", token: f.token(with(good, "sub", otherSub)),
			want: denied},
		{name: "a token asking for session tags without sts:TagSession is access denied",
			token: f.token(with(good, tagsClaim, map[string]any{"principal_tags": map[string]any{"Project": []string{"site"}}})),
			want:  denied},
		{name: "a token asking for a source identity without sts:SetSourceIdentity is access denied",
			token: f.token(with(good, sourceIdentityClaim, "alice")),
			want:  denied},
		{name: "a managed policy ARN is an invalid parameter", token: f.token(good),
			mod: func(in *awssts.AssumeRoleWithWebIdentityInput) {
				in.PolicyArns = append(in.PolicyArns, ststypes.PolicyDescriptorType{Arn: aws.String("arn:aws:iam::123456789012:policy/deploy")})
			},
			want: apiError{"InvalidParameterValue", "Policy arn:aws:iam::123456789012:policy/deploy does not exist or is not attachable: keyless has no managed policies; pass an inline Policy instead.", 400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mods []func(*awssts.AssumeRoleWithWebIdentityInput)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			_, err := f.assume(t.Context(), tc.token, mods...)
			if diff := cmp.Diff(tc.want, sdkError(t, err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func longPolicy(n int) string {
	p := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/`
	tail := `"}]}`
	return p + strings.Repeat("k", n-len(p)-len(tail)) + tail
}

func TestAnUnreachableProviderIsAnIDPCommunicationError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{providerDown: true})
	_, err := f.assume(t.Context(), f.token(f.claims()))
	want := apiError{"IDPCommunicationError", "Couldn't reach your identity provider, please try again", 400}
	if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestATokenWithATrailingNewlineIsAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	if _, err := f.assume(t.Context(), f.token(f.claims())+"\n"); err != nil {
		t.Fatalf("token written by echo: %v", err)
	}
}

func TestASessionPolicyIsSealedIntoTheSessionAndReportedAsPackedSize(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::my-static-website-bucket/*"}]}`
	out, err := f.assume(t.Context(), f.token(f.claims()), func(in *awssts.AssumeRoleWithWebIdentityInput) {
		in.Policy, in.DurationSeconds = aws.String(pol), aws.Int32(900)
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	//lint:ignore SA1019 STS still sends PackedPolicySize with a session policy
	if pps := out.PackedPolicySize; pps == nil || *pps <= 0 || *pps > 100 {
		t.Errorf("PackedPolicySize = %v, want a percentage", pps)
	}
	sess, err := f.sealer.Open(aws.ToString(out.Credentials.SessionToken))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{pol, f.now().Add(15 * time.Minute)}, []any{sess.SessionPolicy, sess.Expiration}); diff != "" {
		t.Errorf("sealed session (-want +got):\n%s", diff)
	}
}
