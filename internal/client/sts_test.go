package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testRole     = "arn:aws:iam::123456789012:role/CircleCI-OIDC-Role"
	testSession  = "deploy"
	testSecret   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testSession2 = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
)

// testToken is an unsigned-looking JWT with CircleCI claims; the fake STS never verifies.
func testToken(t testing.TB, sub string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "RS256", "kid": "k1"}) + "." +
		enc(map[string]any{"iss": "https://oidc.circleci.com/org/o1", "aud": "o1", "sub": sub, "exp": 1764421200}) +
		".c2lnbmF0dXJl"
}

// stsReply is one canned answer of the fake STS: AWS's exact XML (AWS-WIRE 1.3, 1.5).
type stsReply struct {
	status  int
	code    string // error code; "" for success
	message string
	hangup  bool // close the connection without an answer
}

const successXML = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Audience>o1</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3ISBVQKHLCPMWHJG5:%[1]s</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/%[1]s</Arn>
    </AssumedRoleUser>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/o1</Provider>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLEKEY000001</AccessKeyId>
      <SecretAccessKey>` + testSecret + `</SecretAccessKey>
      <SessionToken>` + testSession2 + `</SessionToken>
      <Expiration>2026-11-29T20:00:00Z</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>org/o1/project/p1/user/u1</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>5959ed62-13ac-4205-a0f6-811f00bced6b</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`

const errorXML = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>26603485-0bd5-11ea-a642-b7dfa91cf04b</RequestId>
</ErrorResponse>`

// fakeSTS answers AssumeRoleWithWebIdentity with the queued replies (the last one
// repeats) and records each request's form and headers.
type fakeSTS struct {
	mu      sync.Mutex
	replies []stsReply
	forms   []url.Values
	headers []http.Header
}

func newFakeSTS(t *testing.T, replies ...stsReply) (*fakeSTS, *httptest.Server) {
	f := &fakeSTS{replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.headers = append(f.headers, r.Header.Clone())
	rep := f.replies[0]
	if len(f.replies) > 1 {
		f.replies = f.replies[1:]
	}
	f.mu.Unlock()
	if rep.hangup {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", "26603485-0bd5-11ea-a642-b7dfa91cf04b")
	if rep.code == "" {
		fmt.Fprintf(w, successXML, r.PostForm.Get("RoleSessionName"))
		return
	}
	w.WriteHeader(rep.status)
	fmt.Fprintf(w, errorXML, rep.code, rep.message)
}

func (f *fakeSTS) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.forms)
}

// testClient is a Client on srv whose sleeps are recorded, not slept, and whose jitter
// is the maximum, so that the backoff is visible.
func testClient(srvURL string, tok TokenSource, delays *[]time.Duration) *Client {
	cfg := Config{Token: tok, RoleARN: testRole, SessionName: testSession, Region: "us-east-1",
		STSEndpoint: Endpoint{URL: srvURL, From: "--sts-endpoint"}}
	return New(cfg, Options{
		Sleep: func(_ context.Context, d time.Duration) error {
			*delays = append(*delays, d)
			return nil
		},
		Jitter: func(max time.Duration) time.Duration { return max },
	})
}

func TestAssumeSendsAnUnsignedQueryRequestAndReturnsTheCredentials(t *testing.T) {
	t.Parallel()
	f, srv := newFakeSTS(t, stsReply{})
	var delays []time.Duration
	c := testClient(srv.URL, StaticToken("$CIRCLE_OIDC_TOKEN_V2", "  "+testToken(t, "s")+"\n"), &delays)
	c.cfg.Duration = 900 * time.Second
	c.cfg.SessionPolicy = `{"Version":"2012-10-17"}`
	got, err := c.Assume(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{AccessKeyID: "ASIAEXAMPLEKEY000001", SecretAccessKey: testSecret, SessionToken: testSession2,
		Expiration:     time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC),
		AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/deploy"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	form := f.forms[0]
	wantForm := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {testRole},
		"RoleSessionName": {testSession}, "WebIdentityToken": {testToken(t, "s")}, "DurationSeconds": {"900"},
		"Policy": {`{"Version":"2012-10-17"}`}}
	if diff := cmp.Diff(wantForm, form); diff != "" {
		t.Errorf("request form (-want +got):\n%s", diff)
	}
	if a := f.headers[0].Get("Authorization"); a != "" {
		t.Errorf("request is signed (Authorization %q); AssumeRoleWithWebIdentity is unsigned", a)
	}
	if len(delays) != 0 {
		t.Errorf("slept %v before a first success", delays)
	}
}

func TestAssumeRetriesOnlyTransientFailures(t *testing.T) {
	t.Parallel()
	idp := stsReply{status: 400, code: "IDPCommunicationError", message: "unreachable"}
	keys := stsReply{status: 400, code: "InvalidIdentityToken", message: "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"}
	tests := []struct {
		name      string
		replies   []stsReply
		wantCode  string // "" for success
		wantCalls int
	}{
		{"an IdP communication error is retried until STS succeeds", []stsReply{idp, idp, {}}, "", 3},
		{"a key fetch failure is retried", []stsReply{keys, {}}, "", 2},
		{"throttling is retried", []stsReply{{status: 400, code: "Throttling", message: "Rate exceeded"}, {}}, "", 2},
		{"a server fault is retried", []stsReply{{status: 500, code: "InternalFailure", message: "oops"}, {}}, "", 2},
		{"a 503 without a known code is retried", []stsReply{{status: 503, code: "ServiceUnavailable", message: "x"}, {}}, "", 2},
		{"a dropped connection is retried", []stsReply{{hangup: true}, {}}, "", 2},
		{"retries stop after five attempts", []stsReply{idp}, "IDPCommunicationError", 5},
		{"AccessDenied is final", []stsReply{{status: 403, code: "AccessDenied", message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}, {}}, "AccessDenied", 1},
		{"an unknown provider is final", []stsReply{{status: 400, code: "InvalidIdentityToken", message: "No OpenIDConnect provider found in your account for https://x"}, {}}, "InvalidIdentityToken", 1},
		{"an expired token is final", []stsReply{{status: 400, code: "ExpiredTokenException", message: "Token expired"}, {}}, "ExpiredTokenException", 1},
		{"a validation error is final", []stsReply{{status: 400, code: "ValidationError", message: "1 validation error detected"}, {}}, "ValidationError", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeSTS(t, tt.replies...)
			var delays []time.Duration
			c := testClient(srv.URL, StaticToken("stdin", testToken(t, "s")), &delays)
			_, err := c.Assume(t.Context())
			var ae *AssumeError
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("Assume: %v", err)
			case tt.wantCode != "" && !errors.As(err, &ae):
				t.Fatalf("Assume error = %v, want an *AssumeError", err)
			case tt.wantCode != "" && ae.Code != tt.wantCode:
				t.Errorf("code = %q, want %q", ae.Code, tt.wantCode)
			}
			if got := f.calls(); got != tt.wantCalls {
				t.Errorf("STS called %d times, want %d", got, tt.wantCalls)
			}
			// Full jitter at its maximum: 500ms, 1s, 2s, 4s.
			want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}[:tt.wantCalls-1]
			if !slices.Equal(want, delays) {
				t.Errorf("backoff delays = %v, want %v", delays, want)
			}
		})
	}
}

func TestAssumeGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	f, srv := newFakeSTS(t, stsReply{status: 400, code: "IDPCommunicationError", message: "down"})
	cfg := Config{Token: StaticToken("stdin", testToken(t, "s")), RoleARN: testRole, SessionName: testSession,
		Region: "us-east-1", STSEndpoint: Endpoint{URL: srv.URL, From: "--sts-endpoint"}}
	c := New(cfg, Options{Sleep: func(context.Context, time.Duration) error { return context.DeadlineExceeded }})
	_, err := c.Assume(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "IDPCommunicationError: down") || !strings.Contains(msg, "out of time") {
		t.Errorf("message does not name the last STS error and the timeout:\n%s", msg)
	}
	if f.calls() != 1 {
		t.Errorf("STS called %d times, want 1", f.calls())
	}
}

func TestFailuresNameWhatToCheckAndNeverTheToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply stsReply
		want  []string
	}{
		{"a denial names the role, the trust policy, the token's claims and the audit command",
			stsReply{status: 403, code: "AccessDenied", message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
			[]string{"AccessDenied: Not authorized", "HTTP 403", "request id 26603485", "1 attempt)", testRole, "trust policy",
				`iss="https://oidc.circleci.com/org/o1"`, `aud="o1"`, `sub="org/o1/project/p1/user/u1"`, "exp=2025-11-29T13:00:00Z",
				"from $CIRCLE_OIDC_TOKEN_V2", "keylessd audit"}},
		{"an unknown provider names the issuer and the endpoint",
			stsReply{status: 400, code: "InvalidIdentityToken", message: "No OpenIDConnect provider found in your account for https://oidc.circleci.com/org/o1"},
			[]string{"registered OIDC provider", "client ids", "--sts-endpoint"}},
		{"key fetch failures name the issuer whose keys STS could not fetch",
			stsReply{status: 400, code: "InvalidIdentityToken", message: "Couldn't retrieve verification key from your identity provider"},
			[]string{"5 attempts", "discovery document and JWKS must be reachable from STS: https://oidc.circleci.com/org/o1"}},
		{"an expired token says to get a fresh one",
			stsReply{status: 400, code: "ExpiredTokenException", message: "Token expired"},
			[]string{"fresh token", "exp=2025-11-29T13:00:00Z"}},
		{"a network failure names the endpoint and where it came from",
			stsReply{hangup: true},
			[]string{"EOF", "must be reachable", "(from --sts-endpoint)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, srv := newFakeSTS(t, tt.reply)
			var delays []time.Duration
			tok := testToken(t, "org/o1/project/p1/user/u1")
			c := testClient(srv.URL, StaticToken("$CIRCLE_OIDC_TOKEN_V2", tok), &delays)
			_, err := c.Assume(t.Context())
			if err == nil {
				t.Fatal("Assume succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			sig := tok[strings.LastIndex(tok, ".")+1:]
			if strings.Contains(msg, tok) || strings.Contains(msg, sig) {
				t.Errorf("message contains the token:\n%s", msg)
			}
		})
	}
}

func TestScrubRemovesAnEchoedToken(t *testing.T) {
	t.Parallel()
	if got := scrub("bad token abc.def.ghi here", "abc.def.ghi"); got != "bad token [token] here" {
		t.Errorf("scrub = %q", got)
	}
}

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	for n := 1; n <= 7; n++ {
		got = append(got, backoff(n, 500*time.Millisecond, 8*time.Second))
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !slices.Equal(want, got) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	if d := backoff(200, time.Second, time.Minute); d != time.Minute {
		t.Errorf("backoff after 200 attempts = %v, want the cap", d)
	}
}

func TestAssumeDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	elsewhere, other := newFakeSTS(t, stsReply{})
	redirect := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	var delays []time.Duration
	c := testClient(redirect.URL, StaticToken("stdin", testToken(t, "s")), &delays)
	if _, err := c.Assume(t.Context()); err == nil {
		t.Error("Assume succeeded through a redirect")
	}
	if n := elsewhere.calls(); n != 0 {
		t.Errorf("the redirect target got %d requests with the token, want 0", n)
	}
}

func TestPlainHTTPToAnotherMachineIsNoted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want bool
	}{
		{"http://127.0.0.1:8700", false},
		{"http://localhost:8700", false},
		{"http://[::1]:8700", false},
		{"https://keyless.example.com", false},
		{"", false},
		{"http://keyless.example.com:8700", true},
		{"http://10.0.0.5:8700", true},
	}
	for _, tt := range tests {
		if got := plainRemote(tt.url); got != tt.want {
			t.Errorf("plainRemote(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}
