package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets: the Authorization parser, the canonical request builder and the
// aws-chunked decoder. None may panic; the decoder must not allocate by declared sizes.

func FuzzParseAuthorization(f *testing.F) {
	f.Add(goodAuthz, "20130524T000000Z")
	f.Add("AWS4-HMAC-SHA256 Credential=a/20130524/r/s/aws4_request,SignedHeaders=host,Signature="+goodSig, "20130524T000000Z")
	f.Add("AWS AKID:sig", "")
	f.Add("AWS4-HMAC-SHA256 ", "x")
	f.Add("AWS4-HMAC-SHA256 Credential=//////, SignedHeaders=;;, Signature==", "Sat, 25 May 2013 00:00:00 GMT")
	f.Fuzz(func(t *testing.T, authz, date string) {
		r := httptest.NewRequest("GET", "/b/k", nil)
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
		a, err := Parse(r, parseTime)
		if err == nil && (a.Signature == "" || a.AccessKeyID == "" || len(a.SignedHeaders) == 0) {
			t.Fatalf("accepted an incomplete Authorization header: %+v", a)
		}
		if err == nil {
			_, _ = NewVerifier(1).Verify(a, r, "secret", Options{})
		}
	})
}

func FuzzCanonicalRequest(f *testing.F) {
	f.Add("GET", "/a//b/../c%20d/%E1%88%B4", "a=1&a=&b&%zz=1&x+y=%2F", "v  with   spaces")
	f.Add("PUT", "/", "", "")
	f.Add("POST", "/../../", "X-Amz-Signature=1&&&=", "\t\t")
	f.Fuzz(func(t *testing.T, method, path, query, value string) {
		r := &http.Request{Method: method, RequestURI: path + "?" + query, Header: http.Header{}, Host: "h"}
		u, err := rawTarget(path)
		if err != nil {
			return
		}
		r.URL = u
		r.URL.RawQuery = query
		r.Header["X-Amz-Meta-V"] = []string{value, value}
		a := &Auth{Kind: Header, Scope: Scope{Date: "20260101", Region: "r", Service: "s3"},
			SignedHeaders: []string{"host", "x-amz-meta-v"}, amzDate: "20260101T000000Z"}
		for _, rules := range []Rules{RulesS3, RulesGeneric} {
			c, err := buildCanonical(r, a, rules, UnsignedPayload)
			if err != nil {
				continue
			}
			lines := strings.Split(string(c.request), "\n")
			if len(lines) < 6 || lines[0] != method && !strings.Contains(method, "\n") {
				t.Fatalf("canonical request has %d lines: %q", len(lines), c.request)
			}
			if !strings.HasPrefix(lines[1], "/") && !strings.Contains(method, "\n") {
				t.Fatalf("canonical URI %q does not start with /", lines[1])
			}
		}
	})
}

func FuzzChunkedDecoder(f *testing.F) {
	for _, mode := range []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer} {
		b := streamBody{mode: mode, payload: payloadOf(50), chunkSize: 16}
		if mode != StreamingPayload {
			b.trailer = "x-amz-checksum-crc32"
		}
		f.Add(mode, int64(50), encodeChunked(f, b, goodSig, signTime).bytes())
	}
	f.Add(StreamingUnsignedPayloadTrailer, int64(1<<40), []byte("ffffffffff\r\n"))
	f.Add(StreamingPayload, int64(0), []byte("0;chunk-signature="+goodSig+"\r\n\r\n"))
	f.Fuzz(func(t *testing.T, mode string, declared int64, body []byte) {
		r := httptest.NewRequest("PUT", "/b/k", bytes.NewReader(body))
		r.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(declared, 10))
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		if mode == StreamingPayload {
			r.Header.Del("X-Amz-Trailer")
		}
		a := &Auth{Kind: Header, Scope: Scope{Date: "20261129", Region: "us-east-1", Service: "s3"},
			Signature: goodSig, amzDate: "20261129T123456Z"}
		cr, err := newChunkReader(a, r, mode, deriveKey(testSecret, a.Scope), 1<<16)
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, cr)
		if err == nil && n != declared {
			t.Fatalf("decoded %d bytes without error, declared %d", n, declared)
		}
		if n > int64(len(body)) {
			t.Fatalf("decoded %d bytes from a %d-byte body", n, len(body))
		}
	})
}

func FuzzExplainRawRequest(f *testing.F) {
	for _, p := range []string{
		"testdata/aws-c-auth/v4/get-vanilla/header-signed-request.txt",
		"testdata/aws-c-auth/v4/get-utf8/query-signed-request.txt",
		"testdata/aws-c-auth/v4/get-header-value-multiline/header-signed-request.txt",
		"testdata/aws-c-auth/v4/post-x-www-form-urlencoded/header-signed-request.txt",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("GET  HTTP/1.1\n \n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := Explain(raw, katSecret, katTime, RulesAuto)
		if err == nil && (e.CanonicalRequest == "" || len(e.Signature) != 64) {
			t.Fatalf("explained without a canonical request or signature: %+v", e)
		}
	})
}

func FuzzParsePresigned(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=" + goodSig)
	f.Add("X-Amz-Signature=&X-Amz-Signature=x&X-Amz-Expires=-0&%zz")
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/b/k", nil)
		r.URL.RawQuery = query
		a, err := Parse(r, katTime)
		if err == nil && a.Kind == Presigned && (a.Expires < time.Second || a.Expires > MaxExpires) {
			t.Fatalf("accepted X-Amz-Expires %v", a.Expires)
		}
		if err == nil {
			_, _ = NewVerifier(1).Verify(a, r, katSecret, Options{})
		}
	})
}
