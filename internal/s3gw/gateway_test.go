package s3gw_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/s3gw"
)

// signed sends a request signed by the SDK's own signer (the oracle for our verifier)
// with the payload hash of body, after edit has changed the headers.
func (e *env) signed(t *testing.T, creds aws.Credentials, method, path, body string, edit func(http.Header)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if edit != nil {
		edit(req.Header)
	}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestRawRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, creds := e.session("deployer", nil)
	crc := func(s string) string {
		b := crc32.NewIEEE()
		b.Write([]byte(s))
		return base64.StdEncoding.EncodeToString(b.Sum(nil))
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     map[string]string
		wantStatus int
		wantInBody string
	}{
		{"a wrong Content-MD5 is BadDigest and stores nothing", "PUT", "/site/md5", "data",
			map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, 400, "<Code>BadDigest</Code>"},
		{"a Content-MD5 that is not 16 bytes is InvalidDigest", "PUT", "/site/md5", "data",
			map[string]string{"Content-Md5": "AAAA"}, 400, "<Code>InvalidDigest</Code>"},
		{"a wrong CRC32 header is BadDigest", "PUT", "/site/crc", "data",
			map[string]string{"X-Amz-Checksum-Crc32": crc("other")}, 400, "<Message>The CRC32 you specified did not match the calculated checksum.</Message>"},
		{"a right CRC32 header is echoed", "PUT", "/site/crc", "data",
			map[string]string{"X-Amz-Checksum-Crc32": crc("data")}, 200, ""},
		{"an unimplemented subresource is NotImplemented", "GET", "/site?policy", "", nil, 501, "<Code>NotImplemented</Code>"},
		{"PATCH is MethodNotAllowed", "PATCH", "/site/k", "", nil, 405, "<Code>MethodNotAllowed</Code>"},
		{"the reserved prefix is not a bucket", "GET", "/-/x", "", nil, 400, "<Code>InvalidBucketName</Code>"},
		{"a missing bucket is NoSuchBucket", "GET", "/nobucket?list-type=2", "", nil, 403, "<Code>AccessDenied</Code>"},
		{"a 1025-byte key is KeyTooLongError", "PUT", "/site/" + strings.Repeat("k", 1025), "", nil, 400, "<Code>KeyTooLongError</Code>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.signed(t, creds, tc.method, tc.path, tc.body, func(h http.Header) {
				for k, v := range tc.header {
					h.Set(k, v)
				}
			})
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantInBody) {
				t.Fatalf("%s %s = %d %s, want %d with %s", tc.method, tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantInBody)
			}
			if resp.Header.Get("X-Amz-Request-Id") == "" || resp.Header.Get("X-Amz-Id-2") == "" {
				t.Error("response without x-amz-request-id and x-amz-id-2")
			}
		})
	}
	if _, err := e.backend.HeadObject(t.Context(), "site", "md5"); err == nil {
		t.Error("an object with a bad Content-MD5 was stored")
	}
	info, err := e.backend.HeadObject(t.Context(), "site", "crc")
	if err != nil || info.Checksums["CRC32"] != crc("data") {
		t.Errorf("stored checksums = %v, %v; want CRC32 %s", info.Checksums, err, crc("data"))
	}
}

func TestDenialMessageOutsideDevMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dev: false})
	c := e.roleClient("deployer")
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("x"), Body: strings.NewReader("x")})
	e.wantDenied(t, err, "PutObject")
	resp := e.rawRequest(t, http.MethodGet, "/site/x")
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "<Message>Access Denied</Message>") {
		t.Fatalf("non-dev denial = %s, want exactly Access Denied", b)
	}
	ev := e.sink.last()
	if ev.UserIdentity.AccountID != "ANONYMOUS_PRINCIPAL" || ev.Keyless.Decision.Reason == "" {
		t.Errorf("anonymous audit event = %+v", ev)
	}
}

func TestAuditModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       string
		wantEvents int // of: an allowed read, an allowed write, a denied read
	}{
		{"all", 3},
		{"writes", 2},
		{"denied", 1},
	}
	for _, tc := range tests {
		t.Run("s3_events "+tc.mode+" records its events", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{events: tc.mode})
			c := e.roleClient("deployer")
			ctx := t.Context()
			if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site")}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
				t.Fatal(err)
			}
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("k")})
			e.wantDenied(t, err, "GetObject")
			if got := e.sink.count(); got != tc.wantEvents {
				t.Errorf("%d events, want %d", got, tc.wantEvents)
			}
		})
	}
	t.Run("an allowed event names the session, role and resources", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		s, creds := e.session("deployer", nil)
		if _, err := e.client(creds).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		ev := e.sink.last()
		switch {
		case ev.EventSource != audit.SourceS3 || ev.EventName != "PutObject" || ev.ReadOnly:
			t.Errorf("envelope = %s %s readOnly=%t", ev.EventSource, ev.EventName, ev.ReadOnly)
		case ev.Keyless.SessionID != s.SessionID || ev.Keyless.Role != "deployer":
			t.Errorf("keyless = %+v", ev.Keyless)
		case ev.UserIdentity.ARN != s.AssumedRoleARN() || ev.UserIdentity.AccessKeyID != s.AccessKeyID:
			t.Errorf("userIdentity = %+v", ev.UserIdentity)
		case len(ev.Resources) != 2 || ev.Resources[1].ARN != "arn:aws:s3:::site/k":
			t.Errorf("resources = %+v", ev.Resources)
		case ev.Keyless.Decision.Effect != audit.Allow:
			t.Errorf("decision = %+v", ev.Keyless.Decision)
		}
	})
}

func TestAuditFailureRefusesTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.roleClient("deployer")
	e.sink.fail.Store(true)
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("unaudited"), Body: strings.NewReader("x")})
	wantCode(t, err, "ServiceUnavailable")
	if _, err := e.backend.HeadObject(t.Context(), "site", "unaudited"); err == nil {
		t.Error("an unaudited write was stored")
	}
}

func TestSetConfigReloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.roleClient("deployer")
	list := func() error {
		_, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("site")})
		return err
	}
	if err := list(); err != nil {
		t.Fatal(err)
	}
	cfg := *e.cfg
	cfg.Roles = []config.Role{cfg.Roles[1]} // "deployer" removed
	if err := e.gw.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	e.wantDenied(t, list(), "ListObjectsV2")
	if err := e.gw.SetConfig(e.cfg); err != nil {
		t.Fatal(err)
	}
	if err := list(); err != nil {
		t.Errorf("after restoring the role: %v", err)
	}
	// The operator key survives a reload without its secret being passed again.
	op := e.client(aws.Credentials{AccessKeyID: operatorKey, SecretAccessKey: "operator-secret-value-0123456789"})
	if _, err := op.ListBuckets(t.Context(), &s3.ListBucketsInput{}); err != nil {
		t.Errorf("operator key after reload: %v", err)
	}
}

func TestSkewAndRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, creds := e.session("deployer", nil)
	e.clock.advance(20 * time.Minute)
	resp, body := e.signed(t, creds, "GET", "/site?list-type=2", "", nil)
	e.clock.advance(-20 * time.Minute)
	if resp.StatusCode != 403 || !strings.Contains(body, "<Code>RequestTimeTooSkewed</Code>") || !strings.Contains(body, "<MaxAllowedSkewMilliseconds>900000<") {
		t.Fatalf("skewed = %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/site?list-type=2", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", "eu-west-1", e.clock.now()); err != nil {
		t.Fatal(err)
	}
	r2, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 400 || !strings.Contains(string(b), "<Code>AuthorizationHeaderMalformed</Code>") || !strings.Contains(string(b), "<Region>us-east-1</Region>") {
		t.Fatalf("wrong region = %d %s", r2.StatusCode, b)
	}
}

func TestNewRequiresItsDependencies(t *testing.T) {
	t.Parallel()
	if _, err := s3gw.New(s3gw.Options{}); err == nil {
		t.Fatal("New with no options succeeded")
	}
}

func TestVirtualHostStyle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	cfg := *e.cfg
	cfg.S3.Domain = "s3.example.test"
	if err := e.gw.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	addr := e.srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr) // every host name is this server
	}}
	_, creds := e.session("deployer", nil)
	c := s3.New(e.client(creds).Options(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String("http://s3.example.test:" + port)
		o.UsePathStyle = false
		o.HTTPClient = &http.Client{Transport: tr}
	})
	ctx := t.Context()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("vh/key"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("PutObject in virtual-host style: %v", err)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site"), Prefix: aws.String("vh/")})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "vh/key" {
		t.Fatalf("ListObjectsV2 in virtual-host style = %+v, %v", out, err)
	}
	if ev := e.sink.last(); ev.RequestParameters["Host"] != "site.s3.example.test:"+port {
		t.Errorf("audit Host = %v", ev.RequestParameters["Host"])
	}
}

func TestTruncatedBodyIsIncompleteBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, creds := e.session("deployer", nil)
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/site/truncated", strings.NewReader("0123456789"))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	if err := req.Write(&raw); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wire := raw.String()
	if _, err := io.WriteString(conn, wire[:len(wire)-7]); err != nil { // the client hangs up 7 bytes early
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 400") || !strings.Contains(string(b), "<Code>IncompleteBody</Code>") {
		t.Fatalf("truncated PUT = %s", b)
	}
	if _, err := e.backend.HeadObject(t.Context(), "site", "truncated"); err == nil {
		t.Error("a truncated body was stored")
	}
}

func TestEnsureBucketsCreatesTheConfiguredBuckets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if err := e.backend.DeleteBucket(t.Context(), "other"); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.EnsureBuckets(t.Context()); err != nil {
		t.Fatalf("EnsureBuckets: %v", err)
	}
	bs, _ := e.backend.ListBuckets(t.Context())
	if len(bs) != 3 {
		t.Errorf("buckets after EnsureBuckets = %v, want site, other and artifacts", bs)
	}
}
