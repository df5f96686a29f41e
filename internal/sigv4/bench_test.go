package sigv4

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// Benchmarks: go test -run '^$' -bench . -benchtime 2s ./internal/sigv4
// Figures and the command are in docs/sigv4.md. Timings are never asserted.

// BenchmarkVerifyHeader measures Parse + Verify of a header-signed S3 GET signed by the
// SDK (host, x-amz-content-sha256, x-amz-date, x-amz-security-token, a query), with the
// signing key cached and an empty body: the cost beyond hashing the payload.
func BenchmarkVerifyHeader(b *testing.B) {
	c := oracleCase{method: "GET", service: "s3", key: "dist/assets/app.3f2a1c.js",
		query: "versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", header: http.Header{"Range": {"bytes=0-1023"}}}
	req, target := signOracle(b, c, "my-static-website-bucket.s3.us-east-1.amazonaws.com", signTime)
	raw, _ := serialise(req, target, nil)
	r, err := readServerRequest(raw)
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(0)
	opts := Options{Service: "s3", Regions: []string{"us-east-1"}}
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(r, signTime)
		if err != nil {
			b.Fatal(err)
		}
		body, err := v.Verify(a, r, testSecret, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := body.Read(nil); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreaming compares reading 8 MiB through each verifying reader with plain
// SHA-256 over the same bytes. Each iteration runs both, back to back and in alternating
// order; the metrics are the wall-clock throughput of each, their ratio, and the ratio of
// the CPU time the thread spent (Linux), which a busy machine does not skew.
func BenchmarkStreaming(b *testing.B) {
	const size = 8 << 20
	payload := payloadOf(size)
	buf := make([]byte, 64<<10)
	b.Run("x-amz-content-sha256 hex", func(b *testing.B) {
		c := oracleCase{method: "PUT", service: "s3", key: "k", body: string(payload)}
		req, _ := signOracle(b, c, "h", signTime)
		benchStream(b, req, payload, payload, buf)
	})
	for _, m := range []struct{ name, mode, trailer string }{
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD 64 KiB chunks", StreamingPayload, ""},
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER crc32", StreamingPayloadTrailer, "x-amz-checksum-crc32"},
		{"STREAMING-UNSIGNED-PAYLOAD-TRAILER crc32", StreamingUnsignedPayloadTrailer, "x-amz-checksum-crc32"},
		{"STREAMING-UNSIGNED-PAYLOAD-TRAILER sha256", StreamingUnsignedPayloadTrailer, "x-amz-checksum-sha256"},
	} {
		b.Run(m.name, func(b *testing.B) {
			sb := streamBody{mode: m.mode, payload: payload, chunkSize: 64 << 10, trailer: m.trailer}
			req, seed := streamRequest(b, sb, signTime)
			benchStream(b, req, encodeChunked(b, sb, seed, signTime).bytes(), payload, buf)
		})
	}
}

func benchStream(b *testing.B, req *http.Request, body, payload, buf []byte) {
	size := int64(len(payload))
	v := NewVerifier(0)
	rd := bytes.NewReader(body)
	r, err := http.NewRequest(req.Method, req.URL.String(), rd)
	if err != nil {
		b.Fatal(err)
	}
	r.Header = req.Header
	r.RequestURI = req.URL.RequestURI()
	var plain, verify, plainCPU, verifyCPU time.Duration
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	measure := func(f func(), wall, cpu *time.Duration) {
		t0, c0 := time.Now(), threadCPU()
		f()
		*wall += time.Since(t0)
		*cpu += threadCPU() - c0
	}
	hashPlain := func() {
		h := sha256.New()
		for off := 0; off < len(payload); off += len(buf) {
			h.Write(payload[off:min(off+len(buf), len(payload))])
		}
		h.Sum(nil)
	}
	hashVerify := func() {
		rd.Reset(body)
		if n := verifyStream(b, v, r, buf); n != size {
			b.Fatalf("read %d bytes, want %d", n, size)
		}
	}
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 { // alternate the order so that neither always runs on a warm cache
			measure(hashPlain, &plain, &plainCPU)
			measure(hashVerify, &verify, &verifyCPU)
		} else {
			measure(hashVerify, &verify, &verifyCPU)
			measure(hashPlain, &plain, &plainCPU)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(plain), "sha256-MB/s")
	b.ReportMetric(mbps(verify), "verify-MB/s")
	b.ReportMetric(100*plain.Seconds()/verify.Seconds(), "%-of-sha256-wall")
	if plainCPU > 0 && verifyCPU > 0 {
		b.ReportMetric(100*plainCPU.Seconds()/verifyCPU.Seconds(), "%-of-sha256-cpu")
	}
}

func verifyStream(b *testing.B, v *Verifier, r *http.Request, buf []byte) int64 {
	a, err := Parse(r, signTime)
	if err != nil {
		b.Fatal(err)
	}
	rc, err := v.Verify(a, r, testSecret, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for {
		k, err := rc.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
