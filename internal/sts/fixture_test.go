package sts

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/oidctest"
	"github.com/keyless-dev/keyless/internal/policy"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

// The seed's values (AWS-WIRE 4.1, 8): a CircleCI org, a project and the deploy role.
const (
	org       = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	project   = "9c8d7e6f-1a2b-3c4d-5e6f-7a8b9c0d1e2f"
	account   = "123456789012"
	roleName  = "CircleCI-OIDC-Role"
	roleARNs  = "arn:aws:iam::" + account + ":role/" + roleName
	workflow  = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
	session   = "circleci-deploy-session-" + workflow
	goodUser  = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
	trustTmpl = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
      "StringEquals": {"%[2]s:aud": "%[3]s"},
      "StringLike": {"%[2]s:sub": "org/%[3]s/project/%[4]s/user/*"}
    }
  }]
}`
)

// fixedKeys is a fixed sealing key, standing in for the keys package's ring.
type fixedKeys struct{ key []byte }

func (k fixedKeys) SealingKey() (string, []byte, error) { return "k1", k.key, nil }
func (k fixedKeys) OpeningKey(kid string) ([]byte, bool) {
	return k.key, kid == "k1"
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixtureOptions struct {
	dev          bool
	awsKeysOnly  bool
	perIP        float64
	perRole      float64
	trust        string // a trust policy template (trustTmpl's arguments), or ""
	sink         audit.Sink
	revoked      func(*credentials.Session) bool
	providerDown bool
	quiet        bool // log at Info, as a server does, instead of Debug
}

// fixture is the real thing on 127.0.0.1: a fake CircleCI issuer over TLS, the handler
// with a real verifier, sealer and SQLite-backed audit writer, and an httptest server.
type fixture struct {
	t         testing.TB
	idp       *oidctest.Provider
	cfg       *config.Config
	h         *Handler
	srv       *httptest.Server
	nowNano   atomic.Int64
	sealer    *credentials.Sealer
	logs      *syncBuffer
	auditFile string
	host      string
}

func newFixture(t testing.TB, opts fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, logs: &syncBuffer{}}
	f.setNow(time.Now().UTC().Truncate(time.Second))
	clock := f.now
	f.idp = oidctest.New(t, oidctest.WithTLS(), oidctest.WithPath("/org/"+org))
	f.host = strings.TrimPrefix(f.idp.URL(), "https://")
	tmpl := opts.trust
	if tmpl == "" {
		tmpl = trustTmpl
	}
	trust := fmt.Sprintf(tmpl, account, f.host, org, project)
	compiled, err := policy.ParseAndCompile([]byte(trust), policy.KindTrust)
	if err != nil {
		t.Fatalf("trust policy: %v", err)
	}
	f.cfg = &config.Config{
		AccountID: account, Region: "us-east-1", Dev: opts.dev, AWSCompatibleKeysOnly: opts.awsKeysOnly,
		Providers: []config.Provider{{URL: f.idp.URL(), ClientIDs: []string{org}}},
		Roles: []config.Role{{Name: roleName, Path: "/", MaxSessionDuration: config.Duration(time.Hour),
			TrustPolicy: config.PolicySource{JSON: []byte(trust), Compiled: compiled}}},
		RateLimits: config.RateLimits{PerSourceIP: &opts.perIP, PerRole: &opts.perRole},
	}
	level := slog.LevelDebug
	if opts.quiet {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: level}))
	v, err := idtoken.New(idtoken.Options{Providers: IDTokenProviders(f.cfg), HTTPClient: f.idp.Client(),
		Now: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	f.sealer = credentials.NewSealer(fixedKeys{key}, clock)
	sink := opts.sink
	if sink == nil {
		sink = f.auditWriter(logger)
	}
	if opts.providerDown {
		f.idp.SetDown(true)
	}
	f.h, err = New(Options{Config: f.cfg, Verifier: v, Sealer: f.sealer, Audit: sink, Logger: logger,
		Now: clock, Revoked: opts.revoked})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

// now is the fixture's clock: fixed, close to real time (the SDK signs with real time).
func (f *fixture) now() time.Time { return time.Unix(0, f.nowNano.Load()).UTC() }

func (f *fixture) setNow(t time.Time) { f.nowNano.Store(t.UnixNano()) }

// auditWriter is the node's real sink: SQLite plus the JSON-lines file.
func (f *fixture) auditWriter(logger *slog.Logger) audit.Sink {
	dir := f.t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "keyless.db"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.auditFile = filepath.Join(dir, "audit.jsonl")
	w, err := audit.NewWriter(audit.WriterOptions{Store: db, File: f.auditFile, Logger: logger})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done; _ = w.Close(); _ = db.Close() })
	return w
}

// claims returns the seed's valid claims: a CircleCI v2 token of the project's main branch.
func (f *fixture) claims() map[string]any {
	c := f.idp.Claims(f.now(), org, "org/"+org+"/project/"+project+"/user/"+goodUser+
		"/vcs-origin/github.com/acme/site/vcs-ref/refs/heads/main")
	c["oidc.circleci.com/project-id"] = project
	c["oidc.circleci.com/vcs-ref"] = "refs/heads/main"
	c["oidc.circleci.com/context-ids"] = []string{"ctx-1", "ctx-2"}
	c["oidc.circleci.com/ssh-rerun"] = false
	return c
}

// with returns a copy of c with the given claims set (nil deletes).
func with(c map[string]any, kv ...any) map[string]any {
	out := maps.Clone(c)
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}

func (f *fixture) token(claims map[string]any, opts ...oidctest.SignOption) string {
	return f.idp.Sign(claims, opts...)
}

// client is the real AWS SDK STS client pointed at the fixture, without retries.
func (f *fixture) client(creds aws.CredentialsProvider) *awssts.Client {
	return awssts.New(awssts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Retryer:      aws.NopRetryer{},
		Credentials:  creds,
		HTTPClient:   f.srv.Client(),
	})
}

func (f *fixture) assume(ctx context.Context, token string, mod ...func(*awssts.AssumeRoleWithWebIdentityInput)) (*awssts.AssumeRoleWithWebIdentityOutput, error) {
	in := &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARNs),
		RoleSessionName:  aws.String(session),
		WebIdentityToken: aws.String(token),
	}
	for _, m := range mod {
		m(in)
	}
	return f.client(nil).AssumeRoleWithWebIdentity(ctx, in)
}

// apiError is what a client saw of a failed call.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func sdkError(t testing.TB, err error) apiError {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	got := apiError{Code: ae.ErrorCode(), Message: ae.ErrorMessage()}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		got.Status = re.HTTPStatusCode()
	}
	return got
}

// get sends a raw request, for what SDKs do not send (GET, JSON, odd bodies).
func (f *fixture) do(req *http.Request) *http.Response {
	f.t.Helper()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}
