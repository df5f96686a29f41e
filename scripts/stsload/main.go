// Command stsload puts load on a keyless STS endpoint with AssumeRoleWithWebIdentity
// calls over plain net/http (no AWS SDK), for a bounded time, against loopback only. It
// reports calls per second, p50/p99 latency, failures by status and code, and the
// server's CPU per call read from its /-/metrics process_cpu_seconds_total before and
// after. It never prints the token or an answer's credentials.
//
//	go run ./scripts/stsload --endpoint http://127.0.0.1:8700 --token-file token \
//	    --role-arn arn:aws:iam::123456789012:role/CircleCI-OIDC-Role --concurrency 32 --duration 10s
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxDuration bounds a run: this is a measuring tool, not a soak test.
const maxDuration = 5 * time.Minute

type options struct {
	endpoint    string
	metrics     string
	tokens      []string // callers take them in turn
	roleARN     string
	sessionName string
	concurrency int
	duration    time.Duration
	rs256       bool
	rs256Only   bool
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "stsload:", err)
		os.Exit(2)
	}
	if opts.rs256Only {
		// For other load generators (wrk): the reference alone.
		client := &http.Client{Timeout: 10 * time.Second}
		d, err := measureRS256(context.Background(), client, opts.tokens[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "stsload:", err)
			os.Exit(1)
		}
		fmt.Printf("rs256        %.1f µs per verification (this process)\n", float64(d)/1e3)
		return
	}
	rep, err := run(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stsload:", err)
		os.Exit(1)
	}
	rep.write(os.Stdout)
	if rep.ok == 0 {
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("stsload", flag.ContinueOnError)
	var o options
	var tokenFile string
	fs.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:8700", "STS endpoint (loopback only)")
	fs.StringVar(&o.metrics, "metrics", "", "Prometheus metrics URL (default <endpoint>/-/metrics)")
	var token string
	fs.StringVar(&token, "token", "", "web identity token (prefer --token-file: arguments are visible to other users)")
	fs.StringVar(&tokenFile, "token-file", "", "file holding web identity tokens, one a line; calls take them in turn")
	fs.BoolVar(&o.rs256Only, "rs256-only", false, "only measure the RS256 reference (see --rs256) and print it; no load")
	fs.BoolVar(&o.rs256, "rs256", false, "measure one RS256 verification of the first token (key from its issuer's JWKS) in this process, for comparison")
	fs.StringVar(&o.roleARN, "role-arn", "", "role to assume")
	fs.StringVar(&o.sessionName, "role-session-name", "stsload", "role session name")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent callers")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run (at most 5m)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if token != "" {
		o.tokens = []string{token}
	}
	if tokenFile != "" {
		if token != "" {
			return o, errors.New("give --token or --token-file, not both")
		}
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return o, err
		}
		o.tokens = strings.Fields(string(b))
	}
	if o.metrics == "" {
		o.metrics = strings.TrimRight(o.endpoint, "/") + "/-/metrics"
	}
	switch {
	case len(o.tokens) == 0:
		return o, errors.New("--token or --token-file is required")
	case o.roleARN == "":
		return o, errors.New("--role-arn is required")
	case o.concurrency < 1 || o.concurrency > 1024:
		return o, errors.New("--concurrency must be 1 to 1024")
	case o.duration <= 0 || o.duration > maxDuration:
		return o, fmt.Errorf("--duration must be more than 0 and at most %s", maxDuration)
	}
	for _, u := range []string{o.endpoint, o.metrics} {
		if err := checkLoopback(u); err != nil {
			return o, err
		}
	}
	return o, nil
}

// checkLoopback refuses anything but http(s) to a loopback address.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address: stsload only loads a local server", host)
	}
	return nil
}

// report is the outcome of a run.
type report struct {
	elapsed   time.Duration
	ok        int
	failures  map[string]int // "status code" -> count
	latencies []time.Duration
	cpuBefore float64
	cpuAfter  float64
	cpuKnown  bool
	tokens    int           // distinct tokens the calls took in turn
	rs256     time.Duration // one RS256 verification in this process; 0 when not measured
}

func run(ctx context.Context, o options) (*report, error) {
	bodies := make([][]byte, len(o.tokens))
	for i, tok := range o.tokens {
		bodies[i] = []byte(url.Values{
			"Action":           {"AssumeRoleWithWebIdentity"},
			"Version":          {"2011-06-15"},
			"RoleArn":          {o.roleARN},
			"RoleSessionName":  {o.sessionName},
			"WebIdentityToken": {tok},
		}.Encode())
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        o.concurrency * 2,
			MaxIdleConnsPerHost: o.concurrency * 2,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	rep := &report{failures: map[string]int{}, tokens: len(o.tokens)}
	if o.rs256 {
		d, err := measureRS256(ctx, client, o.tokens[0])
		if err != nil {
			return nil, fmt.Errorf("measuring rs256: %w", err)
		}
		rep.rs256 = d
	}
	before, errBefore := serverCPU(ctx, client, o.metrics)
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Uint64
	)
	body := func() []byte { return bodies[(next.Add(1)-1)%uint64(len(bodies))] }
	start := time.Now()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, ok, fails := worker(ctx, client, o.endpoint, body)
			mu.Lock()
			defer mu.Unlock()
			rep.latencies = append(rep.latencies, lat...)
			rep.ok += ok
			for k, n := range fails {
				rep.failures[k] += n
			}
		}()
	}
	wg.Wait()
	rep.elapsed = time.Since(start)
	after, errAfter := serverCPU(context.Background(), client, o.metrics)
	if errBefore == nil && errAfter == nil {
		rep.cpuBefore, rep.cpuAfter, rep.cpuKnown = before, after, true
	}
	slices.Sort(rep.latencies)
	return rep, nil
}

// worker calls until ctx ends, each call with the next body; calls cut short by the
// deadline are not counted.
func worker(ctx context.Context, client *http.Client, endpoint string, next func() []byte) ([]time.Duration, int, map[string]int) {
	var lat []time.Duration
	ok := 0
	fails := map[string]int{}
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(next()))
		if err != nil {
			fails["request "+err.Error()]++
			return lat, ok, fails
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				fails["transport error"]++
			}
			continue
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil {
			if ctx.Err() == nil {
				fails["transport error"]++
			}
			continue
		}
		lat = append(lat, d)
		if resp.StatusCode == http.StatusOK {
			ok++
			continue
		}
		fails[strconv.Itoa(resp.StatusCode)+" "+errorCode(answer)]++
	}
	return lat, ok, fails
}

// errorCode extracts <Code> from an STS error answer (never anything else of it).
func errorCode(b []byte) string {
	s := string(b)
	i := strings.Index(s, "<Code>")
	j := strings.Index(s, "</Code>")
	if i < 0 || j < i {
		return "?"
	}
	return s[i+len("<Code>") : j]
}

// serverCPU reads process_cpu_seconds_total from the server's Prometheus endpoint.
func serverCPU(ctx context.Context, client *http.Client, metricsURL string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	return parseCPU(io.LimitReader(resp.Body, 16<<20))
}

func parseCPU(r io.Reader) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("metrics: no process_cpu_seconds_total")
}

func (r *report) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies)-1) * p)
	return r.latencies[i]
}

func (r *report) write(w io.Writer) {
	calls := len(r.latencies)
	fmt.Fprintf(w, "calls        %d in %.2fs (%d ok, %d distinct JWTs taken in turn)\n", calls, r.elapsed.Seconds(), r.ok, r.tokens)
	fmt.Fprintf(w, "throughput   %.0f calls/s\n", float64(calls)/r.elapsed.Seconds())
	fmt.Fprintf(w, "latency      p50 %s  p99 %s  max %s\n", r.percentile(0.50).Round(time.Microsecond),
		r.percentile(0.99).Round(time.Microsecond), r.percentile(1).Round(time.Microsecond))
	if r.cpuKnown && calls > 0 {
		perCall := (r.cpuAfter - r.cpuBefore) * 1e6 / float64(calls)
		fmt.Fprintf(w, "server CPU   %.1f µs/call (%.2fs over the run)\n", perCall, r.cpuAfter-r.cpuBefore)
		if r.rs256 > 0 {
			us := float64(r.rs256) / 1e3
			fmt.Fprintf(w, "rs256        %.1f µs per verification (this process, before the load); server CPU per call = %.2f x rs256\n", us, perCall/us)
		}
	} else {
		fmt.Fprintln(w, "server CPU   unknown (no process_cpu_seconds_total at the metrics URL)")
	}
	keys := make([]string, 0, len(r.failures))
	for k := range r.failures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "failures     %d × %s\n", r.failures[k], k)
	}
}
