package sts

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/oidctest"
)

func static(c *types.Credentials, mod func(*aws.Credentials)) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		cr := aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
			SessionToken: aws.ToString(c.SessionToken)}
		if mod != nil {
			mod(&cr)
		}
		return cr, nil
	})
}

func TestGetCallerIdentityRefusesBadCredentialsWithSTSsErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	out, err := f.assume(t.Context(), f.token(f.claims()))
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.assume(t.Context(), f.token(f.claims()))
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	invalid := apiError{"InvalidClientTokenId", "The security token included in the request is invalid.", 403}
	tests := []struct {
		name string
		mod  func(*aws.Credentials)
		want apiError
	}{
		{"a wrong secret does not match the signature", func(c *aws.Credentials) { c.SecretAccessKey = strings.Repeat("x", 40) },
			apiError{"SignatureDoesNotMatch", msgSignatureInvalid, 403}},
		{"a session token that is not ours is invalid", func(c *aws.Credentials) { c.SessionToken = "FwoGZXIvYXdzEJr" + strings.Repeat("A", 100) },
			invalid},
		{"no session token is invalid", func(c *aws.Credentials) { c.SessionToken = "" }, invalid},
		{"another session's token is invalid", func(c *aws.Credentials) { c.SessionToken = aws.ToString(other.Credentials.SessionToken) },
			invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.client(static(c, tc.mod)).GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
			if diff := cmp.Diff(tc.want, sdkError(t, err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("an unsigned request is missing authentication", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp := f.do(req)
		b := string(body(t, resp))
		if resp.StatusCode != 403 || !strings.Contains(b, "<Code>MissingAuthenticationToken</Code>") {
			t.Errorf("status %d, body %s: want 403 MissingAuthenticationToken", resp.StatusCode, b)
		}
	})
	t.Run("a presigned GET is accepted", func(t *testing.T) {
		t.Parallel()
		p, err := awssts.NewPresignClient(f.client(static(c, nil))).PresignGetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(p.Method, p.URL, nil)
		resp := f.do(req)
		if b := string(body(t, resp)); resp.StatusCode != 200 || !strings.Contains(b, "<Arn>arn:aws:sts::"+account+":assumed-role/") {
			t.Errorf("status %d, body %s: want the caller's identity", resp.StatusCode, b)
		}
	})
}

func TestGetCallerIdentityWithExpiredOrRevokedCredentials(t *testing.T) {
	t.Parallel()
	t.Run("expired credentials are an ExpiredToken", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{})
		out, err := f.assume(t.Context(), f.token(f.claims()), func(in *awssts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(900) })
		if err != nil {
			t.Fatal(err)
		}
		f.setNow(f.now().Add(15*time.Minute + time.Second))
		_, err = f.client(static(out.Credentials, nil)).GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
		want := apiError{"ExpiredToken", "The security token included in the request is expired", 400}
		if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
	t.Run("revoked credentials are access denied", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{revoked: func(s *credentials.Session) bool { return s.SessionName == "revoked" }})
		out, err := f.assume(t.Context(), f.token(f.claims()), func(in *awssts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("revoked") })
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.client(static(out.Credentials, nil)).GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
		want := apiError{"AccessDenied", "The session of these credentials has been revoked", 403}
		if diff := cmp.Diff(want, sdkError(t, err)); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
}

// TestNoTokenSecretOrSessionTokenIsEverLoggedOrAudited runs successes and every kind of
// failure with all logging on, then searches the log and the audit file.
func TestNoTokenSecretOrSessionTokenIsEverLoggedOrAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{dev: true})
	good := f.claims()
	var secrets []string
	addToken := func(tok string) string {
		secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '.')+1:])
		return tok
	}
	out, err := f.assume(t.Context(), addToken(f.token(good)))
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	secrets = append(secrets, aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	failures := []string{
		f.token(with(good, "aud", "x")),
		f.token(with(good, "exp", f.now().Add(-time.Hour).Unix())),
		f.token(with(good, "sub", "org/"+org+"/project/other/user/u")),
		f.token(good, oidctest.WithKeyID("no-such-kid")),
		"not-a-jwt-" + strings.Repeat("z", 40),
	}
	for _, tok := range failures {
		_, _ = f.assume(t.Context(), addToken(tok))
	}
	_, _ = f.assume(t.Context(), addToken(f.token(good)), func(in *awssts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("bad name") })
	if _, err := f.client(static(c, nil)).GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	_, _ = f.client(static(c, func(cr *aws.Credentials) { cr.SecretAccessKey = strings.Repeat("y", 40) })).
		GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})

	logs := f.logs.String()
	auditLog, err := os.ReadFile(f.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "sts call failed") || len(f.auditEvents(t)) != 9 {
		t.Fatalf("expected failure log lines and 9 audit events; logs:\n%s", logs)
	}
	for _, s := range secrets {
		for name, text := range map[string]string{"log": logs, "audit file": string(auditLog)} {
			if strings.Contains(text, s) {
				t.Errorf("the %s contains a secret value (%d characters)", name, len(s))
			}
		}
	}
}
