package sigv4

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	goodSig   = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
	goodCred  = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	goodAuthz = "AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=" + goodSig
)

var parseTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func headerRequest(authz string, edit func(h http.Header)) *http.Request {
	r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Authorization", authz)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	r.Header.Set("Range", "bytes=0-9")
	if edit != nil {
		edit(r.Header)
	}
	return r
}

func TestParseReadsAHeaderSignature(t *testing.T) {
	t.Parallel()
	_, err := Parse(headerRequest(goodAuthz, func(h http.Header) { h.Set("X-Amz-Security-Token", "tok") }), parseTime)
	if err == nil || errorCode(err) != CodeAccessDenied {
		t.Fatalf("an unsigned security token: got %v, want AccessDenied", err)
	}
	a, err := Parse(headerRequest(goodAuthz, nil), parseTime)
	if err != nil {
		t.Fatal(err)
	}
	want := &Auth{Kind: Header, AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		Scope:         Scope{Date: "20130524", Region: "us-east-1", Service: "s3"},
		SignedHeaders: []string{"host", "range", "x-amz-content-sha256", "x-amz-date"},
		Signature:     goodSig, Time: parseTime, PayloadHash: emptySHA256}
	if diff := cmp.Diff(want, a, cmp.AllowUnexported(Auth{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".amzDate" || p.Last().String() == ".now"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseChecksHeaderAuthentication(t *testing.T) {
	t.Parallel()
	repl := func(old, new string) string { return strings.Replace(goodAuthz, old, new, 1) }
	tests := []struct {
		name     string
		authz    string
		edit     func(h http.Header)
		wantCode string
	}{
		{"a missing Signature component", repl(", Signature="+goodSig, ""), nil, CodeAuthorizationHeaderMalformed},
		{"a repeated component", goodAuthz + ", Signature=" + goodSig, nil, CodeAuthorizationHeaderMalformed},
		{"an unknown component", goodAuthz + ", Foo=bar", nil, CodeAuthorizationHeaderMalformed},
		{"a credential with four parts", repl("/s3/", "/"), nil, CodeAuthorizationHeaderMalformed},
		{"a credential with a bad terminator", repl("aws4_request", "aws4_reques"), nil, CodeAuthorizationHeaderMalformed},
		{"a credential with a bad date", repl("20130524/", "2013052/"), nil, CodeAuthorizationHeaderMalformed},
		{"a credential date that is not the request date", repl("20130524/", "20130525/"), nil, CodeAuthorizationHeaderMalformed},
		{"an empty access key id", repl("AKIAIOSFODNN7EXAMPLE", ""), nil, CodeAuthorizationHeaderMalformed},
		{"a short signature", repl(goodSig, goodSig[:63]), nil, CodeAuthorizationHeaderMalformed},
		{"an upper-case signature", repl(goodSig, strings.ToUpper(goodSig)), nil, CodeAuthorizationHeaderMalformed},
		{"unsorted signed headers", repl("host;range", "range;host"), nil, CodeAuthorizationHeaderMalformed},
		{"an empty signed header", repl("host;range", "host;;range"), nil, CodeAuthorizationHeaderMalformed},
		{"upper-case signed headers", repl("host;range", "Host;range"), nil, CodeAuthorizationHeaderMalformed},
		{"host not signed", repl("host;range", "range"), nil, CodeAuthorizationHeaderMalformed},
		{"x-amz-date not signed", repl(";x-amz-date", ""), nil, CodeAccessDenied},
		{"x-amz-content-sha256 not signed", repl(";x-amz-content-sha256", ""), nil, CodeAccessDenied},
		{"an unsigned x-amz-meta header", goodAuthz, func(h http.Header) { h.Set("X-Amz-Meta-A", "1") }, CodeAccessDenied},
		{"an unknown algorithm", repl("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), nil, CodeInvalidRequest},
		{"a malformed x-amz-date", goodAuthz, func(h http.Header) { h.Set("X-Amz-Date", "2013-05-24T00:00:00Z") }, CodeAccessDenied},
		{"no date at all", goodAuthz, func(h http.Header) { h.Del("X-Amz-Date") }, CodeAccessDenied},
		{"a bad x-amz-content-sha256", goodAuthz, func(h http.Header) { h.Set("X-Amz-Content-Sha256", "abc") }, CodeInvalidArgument},
		{"a Date header used but not signed", goodAuthz, func(h http.Header) {
			h.Del("X-Amz-Date")
			h.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
		}, CodeAccessDenied},
		{"a signed Date header instead of X-Amz-Date", strings.Replace(repl(";x-amz-date", ""), "host;", "date;host;", 1), func(h http.Header) {
			h.Del("X-Amz-Date")
			h.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
		}, ""},
		{"two Authorization headers", goodAuthz, func(h http.Header) { h.Add("Authorization", goodAuthz) }, CodeAuthorizationHeaderMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is "+outcome(tt.wantCode), func(t *testing.T) {
			t.Parallel()
			_, err := Parse(headerRequest(tt.authz, tt.edit), parseTime)
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestParseRecognisesOtherSchemes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		authz  string
		want   error
	}{
		{"a request without authentication is anonymous", "/b/k", "", ErrAnonymous},
		{"a SigV2 header is SigV2", "/b/k", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", ErrSigV2},
		{"a SigV2 presigned URL is SigV2", "/b/k?AWSAccessKeyId=AKIA&Expires=1&Signature=x", "", ErrSigV2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			if _, err := Parse(r, parseTime); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseRejectsMalformedPresignedURLs(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": strings.ReplaceAll(goodCred, "/", "%2F"),
		"X-Amz-Date": "20130524T000000Z", "X-Amz-Expires": "86400", "X-Amz-SignedHeaders": "host",
		"X-Amz-Signature": goodSig,
	}
	tests := []struct {
		name     string
		set      map[string]string
		wantCode string
	}{
		{"a well-formed URL", nil, ""},
		{"a missing X-Amz-Signature", map[string]string{"X-Amz-Signature": ""}, CodeAuthorizationQueryError},
		{"a wrong algorithm", map[string]string{"X-Amz-Algorithm": "AWS4-HMAC-SHA512"}, CodeAuthorizationQueryError},
		{"X-Amz-Expires over a week", map[string]string{"X-Amz-Expires": "604801"}, CodeAuthorizationQueryError},
		{"X-Amz-Expires of a week", map[string]string{"X-Amz-Expires": "604800"}, ""},
		{"X-Amz-Expires of zero", map[string]string{"X-Amz-Expires": "0"}, CodeAuthorizationQueryError},
		{"a negative X-Amz-Expires", map[string]string{"X-Amz-Expires": "-1"}, CodeAuthorizationQueryError},
		{"a missing X-Amz-Expires for S3", map[string]string{"X-Amz-Expires": ""}, CodeAuthorizationQueryError},
		{"a malformed X-Amz-Date", map[string]string{"X-Amz-Date": "20130524"}, CodeAuthorizationQueryError},
		{"a credential from another day", map[string]string{"X-Amz-Date": "20130525T000000Z"}, CodeAuthorizationQueryError},
		{"host not signed", map[string]string{"X-Amz-SignedHeaders": "range"}, CodeAuthorizationQueryError},
		{"a streaming payload hash", map[string]string{"X-Amz-Content-Sha256": StreamingPayload}, CodeAuthorizationQueryError},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is "+outcome(tt.wantCode), func(t *testing.T) {
			t.Parallel()
			var q []string
			for k, v := range good {
				if nv, ok := tt.set[k]; ok {
					v = nv
				}
				if v != "" {
					q = append(q, k+"="+v)
				}
			}
			for k, v := range tt.set {
				if _, ok := good[k]; !ok {
					q = append(q, k+"="+v)
				}
			}
			r := httptest.NewRequest("GET", "/b/k?"+strings.Join(q, "&"), nil)
			_, err := Parse(r, parseTime)
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestBothSchemesAtOnceAreRejected(t *testing.T) {
	t.Parallel()
	r := headerRequest(goodAuthz, nil)
	r.URL.RawQuery = "X-Amz-Signature=" + goodSig
	if _, err := Parse(r, parseTime); errorCode(err) != CodeInvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
}

func TestTimeChecks(t *testing.T) {
	t.Parallel()
	at := signTime
	tests := []struct {
		name      string
		presigned bool
		now       time.Time
		wantCode  string
	}{
		{"a header request 15 minutes old is accepted", false, at.Add(15 * time.Minute), ""},
		{"a header request 15 minutes and 1 second old is too skewed", false, at.Add(15*time.Minute + time.Second), CodeRequestTimeTooSkewed},
		{"a header request from 16 minutes in the future is too skewed", false, at.Add(-16 * time.Minute), CodeRequestTimeTooSkewed},
		{"a presigned URL at its expiry is accepted", true, at.Add(900 * time.Second), ""},
		{"a presigned URL one second after expiry has expired", true, at.Add(901 * time.Second), CodeAccessDenied},
		{"a presigned URL dated 16 minutes ahead is not yet valid", true, at.Add(-16 * time.Minute), CodeAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := oracleCase{method: "GET", service: "s3", key: "k", presigned: tt.presigned}
			req, target := signOracle(t, c, "h", at)
			raw, _ := serialise(req, target, nil)
			_, err := verifyRequest(NewVerifier(0), mustRead(t, raw), tt.now, Options{})
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantCode)
			}
			var se *Error
			if errors.As(err, &se) && se.Code == CodeRequestTimeTooSkewed {
				if !se.RequestTime.Equal(at) || !se.ServerTime.Equal(tt.now) || se.MaxSkew != MaxSkew {
					t.Errorf("RequestTime %v ServerTime %v MaxSkew %v", se.RequestTime, se.ServerTime, se.MaxSkew)
				}
			}
			if errors.As(err, &se) && se.Code == CodeAccessDenied && tt.now.After(at) && se.Message != "Request has expired" {
				t.Errorf("message %q, want Request has expired", se.Message)
			}
		})
	}
}

func TestSignatureMismatchCarriesWhatWeComputed(t *testing.T) {
	t.Parallel()
	c := oracleCase{method: "PUT", service: "s3", key: "k", body: "abc"}
	req, target := signOracle(t, c, "h", signTime)
	req.Method = "POST"
	raw, _ := serialise(req, target, []byte(c.body))
	_, err := verifyRequest(NewVerifier(0), mustRead(t, raw), signTime, Options{})
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeSignatureDoesNotMatch {
		t.Fatalf("got %v, want SignatureDoesNotMatch", err)
	}
	if !strings.HasPrefix(se.CanonicalRequest, "POST\n/bucket/k\n\n") ||
		!strings.HasPrefix(se.StringToSign, "AWS4-HMAC-SHA256\n20261129T123456Z\n20261129/us-east-1/s3/aws4_request\n") {
		t.Errorf("canonical request %q, string to sign %q", se.CanonicalRequest, se.StringToSign)
	}
}

func TestScopeChecks(t *testing.T) {
	t.Parallel()
	c := oracleCase{method: "GET", service: "s3", key: "k"}
	req, target := signOracle(t, c, "h", signTime)
	raw, _ := serialise(req, target, nil)
	tests := []struct {
		name       string
		opts       Options
		wantCode   string
		wantRegion string
	}{
		{"any region is accepted when none is configured", Options{}, "", ""},
		{"a listed region is accepted", Options{Regions: []string{"eu-west-1", "us-east-1"}, Service: "s3"}, "", ""},
		{"another region is AuthorizationHeaderMalformed naming ours", Options{Regions: []string{"eu-west-1"}}, CodeAuthorizationHeaderMalformed, "eu-west-1"},
		{"another service is AuthorizationHeaderMalformed", Options{Service: "sts"}, CodeAuthorizationHeaderMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := verifyRequest(NewVerifier(0), mustRead(t, raw), signTime, tt.opts)
			var se *Error
			errors.As(err, &se)
			if got := errorCode(err); got != tt.wantCode || (se != nil && se.Region != tt.wantRegion) {
				t.Fatalf("got %q (%v), want %q region %q", got, err, tt.wantCode, tt.wantRegion)
			}
		})
	}
}

func TestS3RequiresThePayloadHashHeader(t *testing.T) {
	t.Parallel()
	c := oracleCase{method: "GET", service: "s3", key: "k"}
	req, target := signOracle(t, c, "h", signTime)
	req.Header.Del("X-Amz-Content-Sha256")
	authz := req.Header.Get("Authorization")
	req.Header.Set("Authorization", strings.Replace(authz, ";x-amz-content-sha256", "", 1))
	raw, _ := serialise(req, target, nil)
	_, err := verifyRequest(NewVerifier(0), mustRead(t, raw), signTime, Options{})
	if errorCode(err) != CodeInvalidRequest {
		t.Fatalf("got %v, want InvalidRequest", err)
	}
}

func TestKeyCacheIsBounded(t *testing.T) {
	t.Parallel()
	v := NewVerifier(3)
	for i := range 10 {
		s := Scope{Date: "20260101", Region: fmt.Sprint("r", i), Service: "s3"}
		if got, want := v.signingKey("secret", s), deriveKey("secret", s); string(got) != string(want) {
			t.Fatalf("key %d differs from a fresh derivation", i)
		}
	}
	if n := len(v.keys); n > 3 {
		t.Fatalf("cache holds %d keys, want at most 3", n)
	}
}

func outcome(code string) string {
	if code == "" {
		return "accepted"
	}
	return "rejected with " + code
}

func TestAuthNeverPrintsItsSecrets(t *testing.T) {
	t.Parallel()
	a := &Auth{Kind: Header, AccessKeyID: "ASIA1", Signature: goodSig, SecurityToken: "sealed-token"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("auth", "auth", a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), logged.String()} {
		if strings.Contains(s, goodSig) || strings.Contains(s, "sealed-token") || !strings.Contains(s, "ASIA1") {
			t.Errorf("printed %q", s)
		}
	}
}
