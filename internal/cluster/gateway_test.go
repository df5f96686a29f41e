package cluster_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// This file is the harness of the single-node tests (crash, memory, benchmarks): one
// keylessd on its embedded SQLite store and fsbackend, with the issuer, one role and
// one bucket, as the dev server has them. They need no PostgreSQL.

// gatewayConfig is a dev-style configuration: the node's issuer for org, a provider
// trusting it, the role deployer (any project's main branch) allowed s3:* on bucket,
// and bucket created at start. s3Events is audit.s3_events.
func gatewayConfig(addr, s3Events string) string {
	provider := addr + "/-/oidc/org/" + org
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/%s"},
 "Action":"sts:AssumeRoleWithWebIdentity",
 "Condition":{"StringEquals":{"%s:aud":"%s"},"StringLike":{"%s:sub":"org/%s/project/*/user/*"}}}]}`,
		provider, provider, org, provider, org)
	site := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}]}`
	return fmt.Sprintf(`account_id: "123456789012"
region: us-east-1
listen: %s
public_url: http://%s
data_dir: ./data
dev: true
issuer:
  orgs: [%s]
  mint_secret_file: ./mint-secret
providers:
  - url: http://%s
    client_ids: [%s]
roles:
  - name: deployer
    max_session_duration: 1h
    trust_policy: %q
    policies:
      site: %q
buckets: [%s]
audit: {s3_events: %s}
rate_limits: {per_source_ip: 0, per_role: 0}
`, addr, addr, org, provider, org, trust, site, bucket, s3Events)
}

// startGateway builds keylessd and starts one node on SQLite (no database_url).
func startGateway(tb testing.TB, s3Events string) *proc {
	tb.Helper()
	bin := buildKeylessd(tb)
	addr := freeAddr(tb)
	p := newProc(tb, bin, "gateway", addr, gatewayConfig(addr, s3Events), map[string][]byte{"mint-secret": []byte(mintSecret)})
	p.start()
	return p
}

// sessionCreds mints a CI token through the node's issuer (POST /-/oidc/mint with the
// mint secret) and exchanges it with the SDK's AssumeRoleWithWebIdentity for role
// session credentials (with a session token).
func sessionCreds(tb testing.TB, p *proc, session string) aws.Credentials {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, p.URL+"/-/oidc/mint",
		strings.NewReader(`{"org_id":"`+org+`","vcs_ref":"refs/heads/main","aud":"`+org+`"}`))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+mintSecret)
	resp, err := p.http.Do(req)
	if err != nil {
		tb.Fatalf("mint: %v", err)
	}
	defer resp.Body.Close()
	var minted struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&minted); err != nil || resp.StatusCode != http.StatusOK || minted.Token == "" {
		tb.Fatalf("mint: status %d, %v", resp.StatusCode, err)
	}
	out, err := stsClient(p).AssumeRoleWithWebIdentity(tb.Context(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session), WebIdentityToken: aws.String(minted.Token)})
	if err != nil {
		tb.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	c := out.Credentials
	creds := aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken)}
	if creds.SessionToken == "" {
		tb.Fatal("AssumeRoleWithWebIdentity returned no session token")
	}
	return creds
}

// pid is the running process's id.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatalf("%s is not running", p.name)
	}
	return p.cmd.Process.Pid
}

// memStatus reads VmRSS and VmHWM (the peak RSS the kernel saw) of pid, in bytes.
func memStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("no VmRSS or VmHWM in /proc status")
	}
	return rss, hwm, nil
}

// cpuSeconds reads process_cpu_seconds_total from the node's /-/metrics.
func cpuSeconds(p *proc) (float64, error) {
	resp, err := p.http.Get(p.URL + "/-/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/-/metrics: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("/-/metrics has no process_cpu_seconds_total")
}

// genBody is a deterministic pseudo-random body of size bytes named by seed, generated
// on the fly (never held in memory) and seekable, as the SDK needs over plain HTTP to
// compute its checksum and payload hash before sending. Byte o is byte o%8 of
// splitmix64(seed, o/8).
type genBody struct {
	seed uint64
	size int64
	off  int64
}

func newGenBody(seed uint64, size int64) *genBody { return &genBody{seed: seed, size: size} }

func splitmix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (g *genBody) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	if rem := g.size - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	var word [8]byte
	for n < len(p) {
		o := g.off + int64(n)
		if o%8 == 0 && len(p)-n >= 8 {
			binary.LittleEndian.PutUint64(p[n:], splitmix(g.seed, uint64(o/8)))
			n += 8
			continue
		}
		binary.LittleEndian.PutUint64(word[:], splitmix(g.seed, uint64(o/8)))
		n += copy(p[n:], word[o%8:])
	}
	g.off += int64(n)
	return n, nil
}

func (g *genBody) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += g.off
	case io.SeekEnd:
		offset += g.size
	default:
		return 0, errors.New("genBody: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("genBody: negative position")
	}
	g.off = offset
	return offset, nil
}

// sameAsGen reads r to its end and reports whether it is exactly the generated body
// of seed and size (the first difference, or a length mismatch, as an error).
func sameAsGen(r io.Reader, seed uint64, size int64) error {
	want := newGenBody(seed, size)
	got := make([]byte, 256<<10)
	exp := make([]byte, len(got))
	var off int64
	for {
		n, err := io.ReadFull(r, got)
		if n > 0 {
			m, _ := io.ReadFull(want, exp[:n])
			if m < n || !bytes.Equal(got[:n], exp[:n]) {
				return fmt.Errorf("differs from the written body within bytes %d..%d (or is longer than %d)", off, off+int64(n), size)
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", off, err)
		}
	}
	if off != size {
		return fmt.Errorf("%d bytes, want %d", off, size)
	}
	return nil
}

// TestGenBody checks the body generator the other tests rely on: reads of any size
// and seeks give the same bytes, and two seeds differ.
func TestGenBody(t *testing.T) {
	t.Parallel()
	const size = 100_003
	whole, err := io.ReadAll(newGenBody(7, size))
	if err != nil || len(whole) != size {
		t.Fatalf("ReadAll: %d bytes, %v", len(whole), err)
	}
	tests := []struct {
		name  string
		chunk int
		from  int64
	}{
		{"reads of one byte give the same bytes", 1, 0},
		{"reads of odd sizes give the same bytes", 13, 0},
		{"reads after an unaligned seek give the same bytes", 4096, 12_345},
		{"reads after a seek to the end give nothing", 100, size},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGenBody(7, size)
			if _, err := g.Seek(tc.from, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			var got []byte
			buf := make([]byte, tc.chunk)
			for {
				n, err := g.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
			}
			if !bytes.Equal(got, whole[tc.from:]) {
				t.Fatalf("bytes from %d differ from one whole read", tc.from)
			}
		})
	}
	t.Run("another seed gives another body", func(t *testing.T) {
		if err := sameAsGen(bytes.NewReader(whole), 8, size); err == nil {
			t.Fatal("seed 8 matched seed 7's body")
		}
	})
	t.Run("a truncated body does not match", func(t *testing.T) {
		if err := sameAsGen(bytes.NewReader(whole[:size-1]), 7, size); err == nil {
			t.Fatal("a body one byte short matched")
		}
	})
	t.Run("the body matches itself", func(t *testing.T) {
		if err := sameAsGen(bytes.NewReader(whole), 7, size); err != nil {
			t.Fatal(err)
		}
	})
}
