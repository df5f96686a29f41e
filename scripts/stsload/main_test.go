package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFlagsRefuseNonLoopbackEndpointsAndUnboundedRuns(t *testing.T) {
	t.Parallel()
	base := []string{"--token", "t", "--role-arn", "arn:aws:iam::123456789012:role/R"}
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"a loopback endpoint is accepted", []string{"--endpoint", "http://127.0.0.1:8700"}, true},
		{"localhost is accepted", []string{"--endpoint", "http://localhost:8700"}, true},
		{"another host is refused", []string{"--endpoint", "http://sts.amazonaws.com"}, false},
		{"a remote metrics URL is refused", []string{"--metrics", "http://10.0.0.1/-/metrics"}, false},
		{"a run over five minutes is refused", []string{"--duration", "6m"}, false},
		{"no concurrency is refused", []string{"--concurrency", "0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseFlags(append(append([]string{}, base...), tc.args...))
			if (err == nil) != tc.ok {
				t.Errorf("parseFlags(%v) error %v, want ok=%v", tc.args, err, tc.ok)
			}
		})
	}
}

// TestARunCountsCallsAndReadsServerCPU runs against a stand-in server for a moment.
func TestARunCountsCallsAndReadsServerCPU(t *testing.T) {
	t.Parallel()
	var calls, cpuReads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/metrics" {
			n := cpuReads.Add(1)
			_, _ = w.Write([]byte("# HELP x\nprocess_cpu_seconds_total " + map[int64]string{1: "1.5", 2: "2.5"}[n] + "\n"))
			return
		}
		if r.FormValue("WebIdentityToken") != "tok" || r.FormValue("Action") != "AssumeRoleWithWebIdentity" {
			http.Error(w, "bad request", 400)
			return
		}
		if calls.Add(1)%2 == 0 {
			w.WriteHeader(403)
			_, _ = w.Write([]byte("<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>"))
			return
		}
		_, _ = w.Write([]byte("<AssumeRoleWithWebIdentityResponse/>"))
	}))
	defer srv.Close()
	opts, err := parseFlags([]string{"--endpoint", srv.URL, "--token", "tok", "--role-arn", "arn:aws:iam::123456789012:role/R",
		"--concurrency", "2", "--duration", "200ms"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ok == 0 || rep.failures["403 AccessDenied"] == 0 || !rep.cpuKnown || rep.cpuAfter-rep.cpuBefore != 1 {
		t.Errorf("report %+v: want successes, 403 AccessDenied failures and 1s of server CPU", rep)
	}
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{"throughput", "p50", "p99", "µs/call", "403 AccessDenied"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "tok") {
		t.Error("the report shows the token")
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	r := &report{}
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	got := []time.Duration{r.percentile(0.5), r.percentile(0.99), r.percentile(1)}
	want := []time.Duration{50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("percentiles (-want +got):\n%s", diff)
	}
}

func TestCallsTakeThePoolsTokensInTurn(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/metrics" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		seen[r.FormValue("WebIdentityToken")]++
		mu.Unlock()
		_, _ = w.Write([]byte("<AssumeRoleWithWebIdentityResponse/>"))
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("alpha\nbeta\n\ngamma\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := parseFlags([]string{"--endpoint", srv.URL, "--token-file", file, "--role-arn", "arn:aws:iam::123456789012:role/R",
		"--concurrency", "1", "--duration", "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if rep.tokens != 3 || len(seen) != 3 || rep.ok < 3 {
		t.Fatalf("tokens %d, calls %d, seen %v: want three tokens each used", rep.tokens, rep.ok, seen)
	}
	for tok, n := range seen {
		if d := n - rep.ok/3; d < -1 || d > 1 {
			t.Errorf("token %s used %d times of %d calls: not in turn", tok, n, rep.ok)
		}
	}
}
