package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The oracle: requests signed by aws-sdk-go-v2's own signer (aws/signer/v4).

var signTime = time.Date(2026, 11, 29, 12, 34, 56, 0, time.UTC)

type oracleCase struct {
	name      string
	method    string
	service   string // "s3" or a generic service
	key       string // unescaped object key (S3) or path (generic)
	query     string // raw query, as a client would send it
	header    http.Header
	body      string
	presigned bool
}

func oracleCases() []oracleCase {
	multi := http.Header{"X-Amz-Meta-Color": {"red", "  green   blue "}, "Content-Type": {"text/plain"}}
	return []oracleCase{
		{name: "a plain GET", method: "GET", service: "s3", key: "plain.txt"},
		{name: "a PUT with a body", method: "PUT", service: "s3", key: "dir/file.bin", body: "hello, world\n"},
		{name: "a key with spaces", method: "GET", service: "s3", key: "my folder/my file.txt"},
		{name: "a unicode key", method: "GET", service: "s3", key: "ünïcödé/ключ/日本.txt"},
		{name: "a key with plus and percent", method: "PUT", service: "s3", key: "a+b%20c%.txt", body: "x"},
		{name: "a key with double slashes", method: "GET", service: "s3", key: "a//b///c"},
		{name: "a key with a trailing slash", method: "PUT", service: "s3", key: "folder/"},
		{name: "a key with dot segments", method: "DELETE", service: "s3", key: "../a/./b/../c"},
		{name: "a key with reserved characters", method: "HEAD", service: "s3", key: "q?x=1&y=#frag;semi,comma:colon@at=eq$dollar"},
		{name: "repeated and empty query parameters", method: "GET", service: "s3", key: "", query: "list-type=2&prefix=&b=2&b=1&a=&empty&x%20y=z+w"},
		{name: "query parameters with unicode and reserved characters", method: "GET", service: "s3", key: "k", query: "response-content-disposition=attachment%3B%20filename%3D%22%C3%BC.txt%22&versionId=3%2F4"},
		{name: "multi-value headers", method: "PUT", service: "s3", key: "meta", header: multi, body: "data"},
		{name: "a POST to a generic service", method: "POST", service: "sts", key: "", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: "Action=GetCallerIdentity&Version=2011-06-15"},
		{name: "a generic service path with encoded characters", method: "GET", service: "execute-api", key: "stage/res source/ü", query: "a=b"},
		{name: "a presigned GET", method: "GET", service: "s3", key: "report 2026.pdf", presigned: true},
		{name: "a presigned PUT with a query", method: "PUT", service: "s3", key: "up/+load", query: "partNumber=1&uploadId=abc%2Fdef", body: "part", presigned: true},
		{name: "a presigned request with multi-value headers", method: "PUT", service: "s3", key: "m", header: multi, presigned: true},
		{name: "a presigned generic request", method: "GET", service: "sts", key: "", query: "Action=GetCallerIdentity&Version=2011-06-15", presigned: true},
	}
}

// escapeKey encodes a key as the S3 SDKs do: everything but unreserved characters and '/'.
func escapeKey(k string) string {
	var b bytes.Buffer
	uriEncode(&b, k, false)
	return b.String()
}

// signOracle builds and signs the request of c for host with the SDK signer. It returns
// the request (its headers as sent) and the request target.
func signOracle(t testing.TB, c oracleCase, host string, at time.Time) (*http.Request, string) {
	t.Helper()
	path := "/"
	if c.service == "s3" {
		path = "/bucket/" + escapeKey(c.key)
	} else if c.key != "" {
		path = "/" + escapeKey(c.key)
	}
	target := path
	if c.query != "" {
		target += "?" + c.query
	}
	if c.presigned {
		sep := "?"
		if c.query != "" {
			sep = "&"
		}
		target += sep + "X-Amz-Expires=900"
	}
	req, err := http.NewRequest(c.method, "http://"+host+target, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	sum := sha256.Sum256([]byte(c.body))
	hash := hex.EncodeToString(sum[:])
	if c.service == "s3" && !c.presigned {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	if c.service == "s3" && c.presigned {
		hash = UnsignedPayload
	}
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: testToken}
	signer := v4.NewSigner()
	opt := func(o *v4.SignerOptions) { o.DisableURIPathEscaping = c.service == "s3" }
	if !c.presigned {
		if err := signer.SignHTTP(context.Background(), creds, req, hash, c.service, "us-east-1", at, opt); err != nil {
			t.Fatal(err)
		}
		return req, req.URL.RequestURI()
	}
	uri, headers, err := signer.PresignHTTP(context.Background(), creds, req, hash, c.service, "us-east-1", at, opt)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(c.method, uri, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range headers {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return out, u.RequestURI()
}

func TestSDKSignedRequestsAreAccepted(t *testing.T) {
	t.Parallel()
	for _, c := range oracleCases() {
		t.Run(c.name+" is accepted", func(t *testing.T) {
			t.Parallel()
			srv := newVerifyServer(t, false, Options{Regions: []string{"us-east-1"}})
			req, _ := signOracle(t, c, strings.TrimPrefix(srv.URL, "http://"), time.Now())
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := srv.take(t)
			if got.err != nil {
				t.Fatalf("rejected: %v", got.err)
			}
			if string(got.body) != c.body {
				t.Errorf("body %q, want %q", got.body, c.body)
			}
		})
	}
}

func TestSingleByteChangesAreRejected(t *testing.T) {
	t.Parallel()
	for _, c := range oracleCases() {
		t.Run("every single-byte change to "+c.name+" is rejected", func(t *testing.T) {
			t.Parallel()
			req, target := signOracle(t, c, "s3.keyless.test:8700", signTime)
			raw, spans := serialise(req, target, []byte(c.body))
			if _, err := verifyRequest(NewVerifier(0), mustRead(t, raw), signTime, Options{}); err != nil {
				t.Fatalf("the unchanged request is rejected: %v", err)
			}
			v := NewVerifier(0)
			tried := 0
			for _, sp := range spans {
				if sp.label == "body" && c.presigned && c.service == "s3" {
					continue // UNSIGNED-PAYLOAD: the body is not signed, by design
				}
				for i := sp.start; i < sp.end; i++ {
					changed := bytes.Clone(raw)
					changed[i] = mutate(raw[i])
					r, err := readServerRequest(changed)
					if err != nil {
						continue // net/http rejects it before we see it
					}
					tried++
					_, err = verifyRequest(v, r, signTime, Options{})
					want := expectedCode(sp, changed[sp.start:sp.end], c)
					if got := errorCode(err); got != want {
						t.Errorf("%s byte %d %q->%q: got %q (%v), want %q", sp.label, i-sp.start, raw[i], changed[i], got, err, want)
					}
				}
			}
			t.Logf("%d mutations tried", tried)
			if tried < 50 {
				t.Fatalf("only %d mutations tried", tried)
			}
		})
	}
}

func mustRead(t *testing.T, raw []byte) *http.Request {
	t.Helper()
	r, err := readServerRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expectedCode is the code a changed part must produce.
func expectedCode(sp span, value []byte, c oracleCase) string {
	switch sp.label {
	case "body":
		if c.service == "s3" {
			return CodeContentSHA256Mismatch
		}
		return CodeSignatureDoesNotMatch // a generic service signs the body hash itself
	case "header-date":
		return dateCode(string(value), false)
	case "query-date":
		return dateCode(string(value), true)
	case "header:content-length":
		if n, _ := strconv.Atoi(string(value)); c.service != "s3" && n > len(c.body) {
			return CodeIncompleteBody // a generic body is read whole before the signature check
		}
	case "header:x-amz-content-sha256":
		if !validPayloadHash(string(value)) {
			return CodeInvalidArgument
		}
	}
	return CodeSignatureDoesNotMatch
}

func dateCode(v string, presigned bool) string {
	t, err := time.Parse(amzDateFmt, v)
	switch {
	case err != nil && presigned:
		return CodeAuthorizationQueryError
	case err != nil:
		return CodeAccessDenied
	case t.Format("20060102") != signTime.Format("20060102") && presigned:
		return CodeAuthorizationQueryError
	case t.Format("20060102") != signTime.Format("20060102"):
		return CodeAuthorizationHeaderMalformed
	case presigned && (t.Sub(signTime) > MaxSkew || signTime.After(t.Add(900*time.Second))):
		return CodeAccessDenied
	case !presigned && (t.Sub(signTime) > MaxSkew || signTime.Sub(t) > MaxSkew):
		return CodeRequestTimeTooSkewed
	}
	return CodeSignatureDoesNotMatch
}
