//go:build unix

package sts

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/audit"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawRS256 returns a function doing one bare RS256 verification of tok: the floor.
func rawRS256(tb testing.TB, f *fixture, tok string) func() {
	pub := f.idp.PublicKey("RS256").(*rsa.PublicKey)
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		tb.Fatal(err)
	}
	return func() {
		h := sha256.Sum256([]byte(tok[:dot]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			tb.Fatal(err)
		}
	}
}

// discardSink records nothing: it isolates the cost of STS itself from the audit store's.
type discardSink struct{}

func (discardSink) Record(context.Context, *audit.Event) error { return nil }

// poolTokens is how many distinct tokens the tokens=pool benchmarks take in turn: more
// than idtoken's verified-token cache holds, so every call verifies a signature.
const poolTokens = 1100

// BenchmarkAssumeRoleWithWebIdentity serves the seed's call in process (RS256 token, the
// seed's trust policy, 32 concurrent callers), with audit to the SQLite-backed writer and,
// for comparison, to no store at all; with one token reused by every call (answered from
// idtoken's verified-token cache) and with a pool of distinct tokens. It reports the
// process CPU per call, also as a multiple of one bare RS256 verification measured in
// the same run ("x-rs256").
func BenchmarkAssumeRoleWithWebIdentity(b *testing.B) {
	for _, audit := range []struct {
		name string
		sink audit.Sink
	}{{"sqlite", nil}, {"none", discardSink{}}} {
		for _, tokens := range []int{1, poolTokens} {
			name := "audit=" + audit.name + "/tokens=one"
			if tokens > 1 {
				name = "audit=" + audit.name + "/tokens=pool"
			}
			b.Run(name, func(b *testing.B) { benchAssume(b, audit.sink, tokens) })
		}
	}
}

func benchAssume(b *testing.B, sink audit.Sink, tokens int) {
	f := newFixture(b, fixtureOptions{quiet: true, sink: sink})
	forms := make([]string, tokens)
	for i := range forms {
		forms[i] = url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {Version}, "RoleArn": {roleARNs},
			"RoleSessionName": {session}, "WebIdentityToken": {f.token(with(f.claims(), "jti", strconv.Itoa(i)))}}.Encode()
	}
	var next atomic.Uint64
	call := func() {
		form := forms[(next.Add(1)-1)%uint64(len(forms))]
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		req.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	call() // fetch the provider's keys
	raw := rawRS256(b, f, f.token(f.claims()))
	const rawN = 500
	start := cpuTime(b)
	for range rawN {
		raw()
	}
	rawCPU := float64(cpuTime(b)-start) / rawN

	b.SetParallelism(16) // 32 callers on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	start = cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call()
		}
	})
	perCall := float64(cpuTime(b)-start) / float64(b.N)
	b.ReportMetric(perCall/1e3, "cpu-µs/op")
	b.ReportMetric(rawCPU/1e3, "rs256-cpu-µs")
	b.ReportMetric(perCall/rawCPU, "x-rs256")
}

// BenchmarkRawRS256Verify is one bare RS256 verification, for comparison.
func BenchmarkRawRS256Verify(b *testing.B) {
	f := newFixture(b, fixtureOptions{quiet: true})
	raw := rawRS256(b, f, f.token(f.claims()))
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		raw()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/1e3, "cpu-µs/op")
}
