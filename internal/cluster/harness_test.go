package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cluster's fixed identities.
const (
	org          = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	mintSecret   = "cluster-mint-secret-0123456789abcdef"
	upstreamKey  = "AKIACLUSTERUPSTREAM1"
	upstreamPass = "cluster-upstream-secret-0123456789"
	roleARN      = "arn:aws:iam::123456789012:role/deployer"
	bucket       = "site"
)

// poll calls fn until it returns nil or within has passed, and returns how long that
// took, or fails the test with fn's last error. Processes and replication are real
// here, so waiting for them is by polling.
func poll(t testing.TB, within time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		}
	}
}

// buildKeylessd builds cmd/keylessd into a temporary folder.
func buildKeylessd(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keylessd")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/keyless-dev/keyless/cmd/keylessd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build keylessd: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on (the node listens on it soon
// after; another process taking it meanwhile is unlikely enough on a test machine).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// withParam sets a query parameter of a postgres:// URL.
func withParam(t *testing.T, conn, key, value string) string {
	t.Helper()
	u, err := url.Parse(conn)
	if err != nil {
		t.Fatalf("KEYLESS_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshSchema creates a schema for this run and drops it at the end; it returns the
// URL that selects it.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	name := "keyless_cluster_" + randomHex(t, 6)
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Logf("dropping schema %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", name, err)
		}
	})
	return withParam(t, base, "search_path", name)
}

// proc is one keylessd process with its configuration file.
type proc struct {
	t      testing.TB
	bin    string
	name   string
	dir    string
	config string
	addr   string
	URL    string

	// http is the client of the node's own endpoints (/-/readyz, /-/metrics, the mint):
	// http.DefaultClient, or one trusting the node's test certificate over HTTPS.
	http *http.Client
	// roots trust the node's test certificate when it serves HTTPS (nil otherwise).
	roots *x509.CertPool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newProc writes a node's folder: its configuration and the files it names.
func newProc(t testing.TB, bin, name, addr, yaml string, files map[string][]byte) *proc {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := &proc{t: t, bin: bin, name: name, dir: dir, config: filepath.Join(dir, "keyless.yaml"), addr: addr, URL: "http://" + addr,
		http: http.DefaultClient}
	if err := os.WriteFile(p.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

// start runs the node and waits until /-/readyz answers 200.
func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(filepath.Join(p.dir, "keylessd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, "--config", p.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	poll(p.t, 60*time.Second, p.name+" ready", func() error {
		select {
		case <-done:
			return errors.New("exited: " + p.logTail())
		default:
		}
		return p.ready()
	})
}

// ready is nil when /-/readyz answers 200.
func (p *proc) ready() error {
	resp, err := p.http.Get(p.URL + "/-/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// kill stops the node at once (SIGKILL) and waits for it to exit.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "keylessd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// admin runs `keylessd <args...> --config <this node's config>` and returns its stdout.
func (p *proc) admin(args ...string) string {
	p.t.Helper()
	args = append(args, "--config", p.config)
	cmd := exec.CommandContext(p.t.Context(), p.bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("keylessd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// proxy is a TCP proxy on loopback between the nodes and PostgreSQL that the test takes
// down (every connection closed, new ones refused) and brings back on the same port.
type proxy struct {
	t      *testing.T
	target string

	mu    sync.Mutex
	addr  string
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startProxy proxies to the database of conn and returns the URL that goes through it.
func startProxy(t *testing.T, conn string) (*proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		t.Fatalf("KEYLESS_TEST_POSTGRES_URL: %v", err)
	}
	p := &proxy{t: t, target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), conns: map[net.Conn]struct{}{}}
	p.up("127.0.0.1:0")
	t.Cleanup(p.down)
	u, err := url.Parse(conn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	return p, u.String()
}

func (p *proxy) up(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
}

// restart brings a stopped proxy back on its address.
func (p *proxy) restart() { p.t.Helper(); p.up(p.addr) }

// down closes the listener and every connection.
func (p *proxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			continue
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { pipe(s, c) })
		p.wg.Go(func() { pipe(c, s) })
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}
