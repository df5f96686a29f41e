package s3gw_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/s3gw"
	"github.com/keyless-dev/keyless/internal/s3gw/fsbackend"
)

const (
	testAccount  = "123456789012"
	testProvider = "oidc.example.com"
	operatorKey  = "AKIAKEYLESSOPERATOR1"
)

// The role policies of the test configuration. "deployer" may do anything to buckets
// site and other, except deleting site/protected/*, and listing site under secret/;
// "tagged" may read and write artifacts/<its project tag>/*.
const deployerPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"SiteAndOther","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*","arn:aws:s3:::other","arn:aws:s3:::other/*"]},
 {"Sid":"ListAll","Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"},
 {"Sid":"KeepProtected","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::site/protected/*"},
 {"Sid":"NoSecretListing","Effect":"Deny","Action":"s3:ListBucket","Resource":"arn:aws:s3:::site","Condition":{"StringLike":{"s3:prefix":"secret/*"}}}
]}`

const taggedPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::artifacts/${aws:PrincipalTag/project}/*"}
]}`

const operatorPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`

const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.example.com"},
 "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.example.com:aud":"ci"}}}]}`

func testConfig(t testing.TB, dev bool, events string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "operator-secret"), []byte("operator-secret-value-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`account_id: %q
region: us-east-1
listen: 127.0.0.1:8700
public_url: http://127.0.0.1:8700
dev: %t
issuer: {enabled: false}
providers:
  - url: https://%s
    client_ids: [ci]
roles:
  - name: deployer
    trust_policy: %q
    policies:
      site: %q
  - name: tagged
    trust_policy: %q
    policies:
      artifacts: %q
buckets: [site, other, artifacts]
operator_keys:
  - access_key_id: %s
    secret_access_key_file: ./operator-secret
    policies:
      admin: %q
audit: {s3_events: %s}
`, testAccount, dev, testProvider, trustPolicy, deployerPolicy, trustPolicy, taggedPolicy, operatorKey, operatorPolicy, events)
	cfg, err := config.Parse([]byte(y), dir)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// fixedKeys is a sealing key ring with one key, as the keys package provides.
type fixedKeys struct{ key []byte }

func (k fixedKeys) SealingKey() (string, []byte, error) { return "k1", k.key, nil }
func (k fixedKeys) OpeningKey(kid string) ([]byte, bool) {
	return k.key, kid == "k1"
}

// clock is the gateway's and the sealer's clock: real time plus an offset the test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// memSink is an audit sink that keeps events and can be told to fail.
type memSink struct {
	mu     sync.Mutex
	events []*audit.Event
	fail   atomic.Bool
}

func (s *memSink) Record(ctx context.Context, e *audit.Event) error {
	if s.fail.Load() {
		return errors.New("audit store is down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *memSink) last() *audit.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return nil
	}
	return s.events[len(s.events)-1]
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// env is one gateway behind an httptest server.
type env struct {
	t       testing.TB
	cfg     *config.Config
	clock   *clock
	sealer  *credentials.Sealer
	sink    *memSink
	backend s3gw.Backend
	gw      *s3gw.Gateway
	srv     *httptest.Server
	revoked sync.Map // session id -> true
	// payloadModes counts the x-amz-content-sha256 values the server received.
	payloadModes sync.Map // string -> *atomic.Int64
}

// observe wraps the gateway to count payload modes.
func (e *env) observe(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := r.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 {
			mode = "hex"
		}
		n, _ := e.payloadModes.LoadOrStore(mode, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		h.ServeHTTP(w, r)
	})
}

func (e *env) sawPayloadMode(mode string) bool {
	_, ok := e.payloadModes.Load(mode)
	return ok
}

type envOptions struct {
	tls    bool
	dev    bool
	events string
	// fs selects fsbackend (on a temporary directory) instead of the in-memory backend.
	fs bool
	// backend, if set, is used as it is.
	backend s3gw.Backend
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.events == "" {
		o.events = "all"
	}
	e := &env{t: t, cfg: testConfig(t, o.dev, o.events), clock: &clock{}, sink: &memSink{}}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e.sealer = credentials.NewSealer(fixedKeys{key}, e.clock.now)
	e.backend = o.backend
	switch {
	case e.backend != nil:
	case o.fs:
		fb, err := fsbackend.New(context.Background(), t.TempDir(), fsbackend.Options{Now: e.clock.now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fb.Close() })
		e.backend = fb
	default:
		e.backend = newMemBackend(e.clock.now)
	}
	for _, b := range e.cfg.Buckets {
		if err := e.backend.CreateBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	gw, err := s3gw.New(s3gw.Options{
		Config: e.cfg, Backend: e.backend, Sealer: e.sealer, Audit: e.sink, Now: e.clock.now,
		OperatorSecrets: map[string]string{operatorKey: "operator-secret-value-0123456789"},
		Revoked: func(s *credentials.Session) bool {
			_, ok := e.revoked.Load(s.SessionID)
			return ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	if o.tls {
		e.srv = httptest.NewTLSServer(e.observe(gw))
	} else {
		e.srv = httptest.NewServer(e.observe(gw))
	}
	t.Cleanup(e.srv.Close)
	return e
}

// session mints credentials for role exactly as STS does: a Session sealed into the
// token. edit may change the session before it is sealed.
func (e *env) session(role string, edit func(*credentials.Session)) (*credentials.Session, aws.Credentials) {
	e.t.Helper()
	r, ok := e.cfg.FindRole(role)
	if !ok {
		e.t.Fatalf("no role %s", role)
	}
	now := e.clock.now()
	s := &credentials.Session{
		AccessKeyID:     credentials.NewAccessKeyID(),
		SecretAccessKey: credentials.NewSecretAccessKey(),
		SessionID:       credentials.NewSessionID(),
		RoleARN:         e.cfg.RoleARN(*r),
		RoleID:          e.cfg.RoleID(*r),
		SessionName:     "test-session",
		Subject:         "org/o/project/p/user/u",
		Provider:        "arn:aws:iam::" + testAccount + ":oidc-provider/" + testProvider,
		Audience:        "ci",
		IssuedAt:        now,
		Expiration:      now.Add(time.Hour),
	}
	if edit != nil {
		edit(s)
	}
	token, err := e.sealer.Seal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return s, aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: token}
}

// client is an aws-sdk-go-v2 S3 client for creds, with the SDK's default checksum
// settings (what config.LoadDefaultConfig sets: checksums whenever supported; s3.New on
// its own leaves them unset) and no retries.
func (e *env) client(creds aws.Credentials) *s3.Client {
	return s3.New(s3.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(e.srv.URL),
		UsePathStyle:               true,
		Credentials:                awscreds.StaticCredentialsProvider{Value: creds},
		HTTPClient:                 e.srv.Client(),
		Retryer:                    aws.NopRetryer{},
	})
}

// roleClient mints a session for role and returns its client.
func (e *env) roleClient(role string) *s3.Client {
	_, creds := e.session(role, nil)
	return e.client(creds)
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

// wantCode fails t unless err is the S3 error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// wantDenied fails t unless err is AccessDenied and the last audit event records the
// denial with a reason.
func (e *env) wantDenied(t *testing.T, err error, op string) {
	t.Helper()
	wantCode(t, err, "AccessDenied")
	e.wantDenialEvent(t, op, false)
}

// wantPolicyDenied is wantDenied for a denial by a policy: the event carries the policy
// engine's trace.
func (e *env) wantPolicyDenied(t *testing.T, err error, op string) {
	t.Helper()
	wantCode(t, err, "AccessDenied")
	e.wantDenialEvent(t, op, true)
}

// wantDenialEvent fails t unless the last audit event is an AccessDenied of op with a
// reason (and a policy trace, if withTrace).
func (e *env) wantDenialEvent(t *testing.T, op string, withTrace bool) {
	t.Helper()
	ev := e.sink.last()
	switch {
	case ev == nil:
		t.Fatal("no audit event")
	case ev.EventName != op || ev.ErrorCode != "AccessDenied":
		t.Fatalf("last audit event = %s/%s, want %s/AccessDenied", ev.EventName, ev.ErrorCode, op)
	case ev.Keyless.Decision == nil || ev.Keyless.Decision.Effect != audit.Deny:
		t.Fatalf("audit decision = %+v, want a deny", ev.Keyless.Decision)
	case ev.Keyless.Decision.Reason == "":
		t.Fatal("audit denial carries no reason")
	case withTrace && ev.Keyless.Decision.Trace == nil:
		t.Fatal("policy denial without a trace in its audit event")
	}
}

func ctxT(t *testing.T) context.Context { return t.Context() }

// rawRequest sends an unsigned request through the server.
func (e *env) rawRequest(t *testing.T, method, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
