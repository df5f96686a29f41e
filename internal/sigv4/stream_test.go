package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// streamBody describes an aws-chunked body for the encoder below.
type streamBody struct {
	mode      string // StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer
	payload   []byte
	chunkSize int
	trailer   string // declared trailer; "" for StreamingPayload
}

// encodeChunked produces the aws-chunked encoding of b, signing chunks with the SDK's own
// v4.StreamSigner (seeded with the request signature) and the trailer as AWS documents it.
// edit, if set, may change the chunk list and trailer lines before they are written.
type chunk struct {
	data []byte
	sig  string
}

type encoded struct {
	chunks   []chunk // including the final empty chunk
	trailers []string
	tsig     string
}

func encodeChunked(t testing.TB, b streamBody, seed string, at time.Time) encoded {
	t.Helper()
	var e encoded
	for off := 0; off < len(b.payload); off += b.chunkSize {
		e.chunks = append(e.chunks, chunk{data: b.payload[off:min(off+b.chunkSize, len(b.payload))]})
	}
	e.chunks = append(e.chunks, chunk{})
	if b.mode != StreamingUnsignedPayloadTrailer {
		seedBytes, _ := hex.DecodeString(seed)
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
		ss := v4.NewStreamSigner(creds, "s3", "us-east-1", seedBytes)
		for i := range e.chunks {
			sig, err := ss.GetSignature(context.Background(), nil, e.chunks[i].data, at)
			if err != nil {
				t.Fatal(err)
			}
			e.chunks[i].sig = hex.EncodeToString(sig)
		}
	}
	if b.trailer != "" {
		e.trailers = []string{b.trailer + ":" + checksumOf(t, b.trailer, b.payload)}
		if b.mode == StreamingPayloadTrailer {
			e.tsig = trailerSignature(e.chunks[len(e.chunks)-1].sig, e.trailers, at)
		}
	}
	return e
}

func checksumOf(t testing.TB, name string, data []byte) string {
	t.Helper()
	newHash, ok := checksumAlgorithm(name)
	if !ok {
		t.Fatalf("no checksum %s", name)
	}
	h := newHash()
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// trailerSignature computes the trailer signature independently of the package.
func trailerSignature(prev string, trailers []string, at time.Time) string {
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	key := mac(mac(mac(mac([]byte("AWS4"+testSecret), at.Format("20060102")), "us-east-1"), "s3"), "aws4_request")
	sum := sha256.Sum256([]byte(strings.Join(trailers, "\n") + "\n"))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + at.Format(amzDateFmt) + "\n" + at.Format("20060102") +
		"/us-east-1/s3/aws4_request\n" + prev + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(mac(key, sts))
}

func (e encoded) bytes() []byte {
	var w bytes.Buffer
	for _, c := range e.chunks {
		if c.sig != "" {
			fmt.Fprintf(&w, "%x;chunk-signature=%s\r\n", len(c.data), c.sig)
		} else {
			fmt.Fprintf(&w, "%x\r\n", len(c.data))
		}
		if len(c.data) > 0 || len(e.trailers) == 0 {
			w.Write(c.data)
			w.WriteString("\r\n")
		}
	}
	for _, tr := range e.trailers {
		w.WriteString(tr + "\r\n")
	}
	if e.tsig != "" {
		w.WriteString("x-amz-trailer-signature:" + e.tsig + "\r\n")
	}
	if len(e.trailers) > 0 || e.tsig != "" {
		w.WriteString("\r\n")
	}
	return w.Bytes()
}

// streamRequest signs the headers of a streaming PUT with the SDK signer; it returns the
// server-side request (body set later) and the seed signature.
func streamRequest(t testing.TB, b streamBody, at time.Time) (*http.Request, string) {
	t.Helper()
	req, err := http.NewRequest("PUT", "http://s3.keyless.test/bucket/streamed.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", b.mode)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(b.payload)))
	if b.trailer != "" {
		req.Header.Set("X-Amz-Trailer", b.trailer)
	}
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, b.mode, "s3", "us-east-1", at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	authz := req.Header.Get("Authorization")
	return req, authz[strings.LastIndex(authz, "=")+1:]
}

// runStream verifies body as the server would and returns what the reader yielded.
func runStream(t *testing.T, req *http.Request, body []byte, at time.Time) ([]byte, error) {
	t.Helper()
	r := httptest.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
	r.Header = req.Header.Clone()
	r.ContentLength = int64(len(body))
	return verifyRequest(NewVerifier(0), r, at, Options{})
}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func TestStreamingBodiesAreAccepted(t *testing.T) {
	t.Parallel()
	modes := []struct{ mode, trailer string }{
		{StreamingPayload, ""},
		{StreamingPayloadTrailer, "x-amz-checksum-crc32"},
		{StreamingUnsignedPayloadTrailer, "x-amz-checksum-crc32"},
	}
	sizes := []struct {
		name       string
		size, unit int
	}{
		{"an empty payload", 0, 64 << 10},
		{"a 1-byte payload", 1, 64 << 10},
		{"an 8 KiB payload in one chunk", 8 << 10, 8 << 10},
		{"a 64 KiB payload in 8 KiB chunks", 64 << 10, 8 << 10},
		{"a 64 KiB+1 payload in 64 KiB chunks", 64<<10 + 1, 64 << 10},
		{"a 16 MiB+1 payload in 64 KiB chunks", 16<<20 + 1, 64 << 10},
		{"one chunk of exactly 16 MiB", 16 << 20, 16 << 20},
		{"a 100-byte payload in 1-byte chunks", 100, 1},
	}
	for _, m := range modes {
		for _, s := range sizes {
			t.Run(s.name+" in "+m.mode+" is accepted", func(t *testing.T) {
				t.Parallel()
				b := streamBody{mode: m.mode, payload: payloadOf(s.size), chunkSize: s.unit, trailer: m.trailer}
				req, seed := streamRequest(t, b, signTime)
				got, err := runStream(t, req, encodeChunked(t, b, seed, signTime).bytes(), signTime)
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if !bytes.Equal(got, b.payload) {
					t.Fatalf("decoded %d bytes, want the %d-byte payload", len(got), len(b.payload))
				}
			})
		}
	}
}

func TestEveryTrailingChecksumIsVerified(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1", "x-amz-checksum-sha256"} {
		for _, mode := range []string{StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer} {
			t.Run(name+" in "+mode+" is checked against the decoded bytes", func(t *testing.T) {
				t.Parallel()
				b := streamBody{mode: mode, payload: payloadOf(70000), chunkSize: 64 << 10, trailer: name}
				req, seed := streamRequest(t, b, signTime)
				e := encodeChunked(t, b, seed, signTime)
				if _, err := runStream(t, req, e.bytes(), signTime); err != nil {
					t.Fatalf("the right checksum is rejected: %v", err)
				}
				other := bytes.Clone(b.payload)
				other[0] ^= 1
				e.trailers = []string{name + ":" + checksumOf(t, name, other)}
				if e.tsig != "" {
					e.tsig = trailerSignature(e.chunks[len(e.chunks)-1].sig, e.trailers, signTime)
				}
				_, err := runStream(t, req, e.bytes(), signTime)
				if got := errorCode(err); got != CodeBadDigest {
					t.Fatalf("a wrong checksum: got %q (%v), want BadDigest", got, err)
				}
			})
		}
	}
}

func TestBadStreamsAreRejected(t *testing.T) {
	t.Parallel()
	crc := "x-amz-checksum-crc32"
	signed := streamBody{mode: StreamingPayload, payload: payloadOf(20000), chunkSize: 8 << 10}
	strailer := streamBody{mode: StreamingPayloadTrailer, payload: payloadOf(20000), chunkSize: 8 << 10, trailer: crc}
	utrailer := streamBody{mode: StreamingUnsignedPayloadTrailer, payload: payloadOf(20000), chunkSize: 8 << 10, trailer: crc}
	tests := []struct {
		name     string
		body     streamBody
		edit     func(e *encoded)
		raw      func(b []byte) []byte
		header   func(h http.Header)
		wantCode string
		// maxRead bounds the bytes handed out before the error: the error comes no later
		// than the end of the first bad chunk.
		maxRead int
	}{
		{name: "a wrong chunk signature in the middle", body: signed, wantCode: CodeSignatureDoesNotMatch, maxRead: 16 << 10,
			edit: func(e *encoded) { e.chunks[1].sig = strings.Repeat("0", 64) }},
		{name: "chunks swapped", body: signed, wantCode: CodeSignatureDoesNotMatch, maxRead: 8 << 10,
			edit: func(e *encoded) { e.chunks[0], e.chunks[1] = e.chunks[1], e.chunks[0] }},
		{name: "a changed byte in a signed chunk", body: signed, wantCode: CodeSignatureDoesNotMatch, maxRead: 16 << 10,
			edit: func(e *encoded) { d := bytes.Clone(e.chunks[1].data); d[5] ^= 1; e.chunks[1].data = d }},
		{name: "a wrong final chunk signature", body: signed, wantCode: CodeSignatureDoesNotMatch, maxRead: 20000,
			edit: func(e *encoded) { e.chunks[len(e.chunks)-1].sig = e.chunks[0].sig }},
		{name: "a stream truncated in a chunk", body: signed, wantCode: CodeIncompleteBody, maxRead: 20000,
			raw: func(b []byte) []byte { return b[:len(b)/2] }},
		{name: "a stream truncated before the final chunk", body: signed, wantCode: CodeIncompleteBody, maxRead: 20000,
			raw: func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("0;chunk"))] }},
		{name: "a stream without its last CRLF", body: signed, wantCode: CodeIncompleteBody, maxRead: 20000,
			raw: func(b []byte) []byte { return b[:len(b)-2] }},
		{name: "an unsigned-trailer stream truncated in the trailer", body: utrailer, wantCode: CodeIncompleteBody, maxRead: 20000,
			raw: func(b []byte) []byte { return b[:len(b)-6] }},
		{name: "data after the end", body: signed, wantCode: CodeInvalidRequest, maxRead: 20000,
			raw: func(b []byte) []byte { return append(b, 'x') }},
		{name: "a wrong trailer checksum (signed trailer)", body: strailer, wantCode: CodeBadDigest, maxRead: 20000,
			edit: func(e *encoded) {
				e.trailers = []string{crc + ":AAAAAA=="}
				e.tsig = trailerSignature(e.chunks[len(e.chunks)-1].sig, e.trailers, signTime)
			}},
		{name: "a wrong trailer checksum (unsigned trailer)", body: utrailer, wantCode: CodeBadDigest, maxRead: 20000,
			edit: func(e *encoded) { e.trailers = []string{crc + ":AAAAAA=="} }},
		{name: "a malformed trailer checksum", body: utrailer, wantCode: CodeInvalidRequest, maxRead: 20000,
			edit: func(e *encoded) { e.trailers = []string{crc + ":not base64!"} }},
		{name: "a changed trailer under a signed trailer", body: strailer, wantCode: CodeSignatureDoesNotMatch, maxRead: 20000,
			edit: func(e *encoded) { e.trailers = []string{crc + ":AAAAAA=="} }},
		{name: "a missing trailer signature", body: strailer, wantCode: CodeMalformedTrailer, maxRead: 20000,
			edit: func(e *encoded) { e.tsig = "" }},
		{name: "an undeclared trailer", body: utrailer, wantCode: CodeMalformedTrailer, maxRead: 20000,
			edit: func(e *encoded) {
				e.trailers = append(e.trailers, "x-amz-checksum-sha256:"+checksumOf(t, "x-amz-checksum-sha256", utrailer.payload))
			}},
		{name: "an undeclared trailer instead of the declared one", body: utrailer, wantCode: CodeMalformedTrailer, maxRead: 20000,
			edit: func(e *encoded) { e.trailers = []string{"x-amz-meta-evil:1"} }},
		{name: "a missing declared trailer", body: utrailer, wantCode: CodeMalformedTrailer, maxRead: 20000,
			edit: func(e *encoded) { e.trailers = nil },
			raw:  func(b []byte) []byte { return append(b, '\r', '\n') }},
		{name: "a decoded length larger than the body", body: signed, wantCode: CodeIncompleteBody, maxRead: 20000,
			header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "20001") }},
		{name: "a decoded length smaller than the body", body: signed, wantCode: CodeInvalidRequest, maxRead: 16 << 10,
			header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "19999") }},
		{name: "a missing decoded length", body: signed, wantCode: "MissingContentLength",
			header: func(h http.Header) { h.Del("X-Amz-Decoded-Content-Length") }},
		{name: "an undeclared trailer header", body: utrailer, wantCode: CodeInvalidRequest,
			header: func(h http.Header) { h.Del("X-Amz-Trailer") }},
		{name: "an unsupported declared trailer", body: utrailer, wantCode: CodeInvalidRequest,
			header: func(h http.Header) { h.Set("X-Amz-Trailer", "x-amz-meta-foo") }},
		{name: "a chunk header without a signature", body: signed, wantCode: CodeInvalidRequest,
			raw: func(b []byte) []byte { return append([]byte("2000\r\n"), b...) }},
		{name: "an overlong chunk header", body: signed, wantCode: CodeInvalidRequest,
			raw: func(b []byte) []byte { return append([]byte(strings.Repeat("0", 5000)), b...) }},
		{name: "a signed chunk larger than 16 MiB", body: signed, wantCode: CodeInvalidRequest,
			header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "16777217") },
			raw:    func([]byte) []byte { return []byte("1000001;chunk-signature=" + strings.Repeat("a", 64) + "\r\n") }},
		{name: "an unsigned chunk larger than 5 GiB", body: utrailer, wantCode: CodeInvalidRequest,
			header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "6000000000") },
			raw:    func([]byte) []byte { return []byte("140000001\r\n") }},
		{name: "a chunk size that is not hex", body: utrailer, wantCode: CodeInvalidRequest,
			raw: func(b []byte) []byte { return append([]byte("zz\r\n"), b...) }},
		{name: "a chunk without CRLF after its data", body: utrailer, wantCode: CodeInvalidRequest, maxRead: 8 << 10,
			raw: func(b []byte) []byte { i := bytes.Index(b, []byte("\r\n2000\r\n")); b[i] = 'x'; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected with "+tt.wantCode, func(t *testing.T) {
			t.Parallel()
			req, seed := streamRequest(t, tt.body, signTime)
			if tt.header != nil {
				tt.header(req.Header)
				req, seed = resign(t, req, tt.body.mode)
			}
			e := encodeChunked(t, tt.body, seed, signTime)
			if tt.edit != nil {
				tt.edit(&e)
			}
			raw := e.bytes()
			if tt.raw != nil {
				raw = tt.raw(raw)
			}
			got, err := runStream(t, req, raw, signTime)
			if code := errorCode(err); code != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", code, err, tt.wantCode)
			}
			if len(got) > tt.maxRead {
				t.Errorf("%d bytes handed out before the error, want at most %d", len(got), tt.maxRead)
			}
		})
	}
}

// resign signs req again after its headers were changed, so that the change under test is
// the only problem.
func resign(t testing.TB, req *http.Request, mode string) (*http.Request, string) {
	t.Helper()
	req.Header.Del("Authorization")
	req.Header.Del("X-Amz-Date")
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	err := v4.NewSigner().SignHTTP(context.Background(), creds, req, mode, "s3", "us-east-1", signTime,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	authz := req.Header.Get("Authorization")
	return req, authz[strings.LastIndex(authz, "=")+1:]
}

func TestStreamErrorsAreSticky(t *testing.T) {
	t.Parallel()
	b := streamBody{mode: StreamingPayload, payload: payloadOf(100), chunkSize: 10}
	req, seed := streamRequest(t, b, signTime)
	e := encodeChunked(t, b, seed, signTime)
	e.chunks[3].sig = strings.Repeat("a", 64)
	r := httptest.NewRequest("PUT", req.URL.String(), bytes.NewReader(e.bytes()))
	r.Header = req.Header.Clone()
	a, err := Parse(r, signTime)
	if err != nil {
		t.Fatal(err)
	}
	body, err := NewVerifier(0).Verify(a, r, testSecret, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := io.ReadAll(body)
	_, err2 := body.Read(make([]byte, 10))
	var se *Error
	if !errors.As(err1, &se) || se.Code != CodeSignatureDoesNotMatch || !errors.Is(err2, err1) {
		t.Fatalf("first error %v, then %v; want the same SignatureDoesNotMatch twice", err1, err2)
	}
}

// A request signed over its payload hash cannot be replayed with an unsigned-trailer body:
// x-amz-content-sha256 and x-amz-trailer are signed headers.
func TestUnsignedTrailerCannotBeSwappedIn(t *testing.T) {
	t.Parallel()
	c := oracleCase{method: "PUT", service: "s3", key: "k", body: "original"}
	req, _ := signOracle(t, c, "h", signTime)
	b := streamBody{mode: StreamingUnsignedPayloadTrailer, payload: []byte("evil"), chunkSize: 64, trailer: "x-amz-checksum-crc32"}
	body := encodeChunked(t, b, "", signTime).bytes()
	tests := []struct {
		name     string
		edit     func(h http.Header)
		wantCode string
	}{
		{"changing only x-amz-content-sha256 breaks the signature", func(h http.Header) {
			h.Set("X-Amz-Content-Sha256", StreamingUnsignedPayloadTrailer)
		}, CodeSignatureDoesNotMatch},
		{"adding the trailer headers leaves them unsigned", func(h http.Header) {
			h.Set("X-Amz-Content-Sha256", StreamingUnsignedPayloadTrailer)
			h.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			h.Set("X-Amz-Decoded-Content-Length", "4")
		}, CodeAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := req.Clone(t.Context())
			r.Header = req.Header.Clone()
			tt.edit(r.Header)
			got, err := runStream(t, r, body, signTime)
			if code := errorCode(err); code != tt.wantCode || len(got) > 0 {
				t.Fatalf("got %q (%v) and %d bytes, want %q and none", code, err, len(got), tt.wantCode)
			}
		})
	}
}
