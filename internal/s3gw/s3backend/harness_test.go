package s3backend_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/s3gw/s3backend"
	"github.com/keyless-dev/keyless/internal/server"
)

const (
	upstreamKey    = "AKIAUPSTREAMOPERATOR"
	upstreamSecret = "upstream-secret-0123456789abcdef-do-not-leak"
	allowAll       = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
)

// node is a keylessd running in-process on 127.0.0.1:0.
type node struct {
	URL string
	log *syncBuffer
}

// syncBuffer collects a node's log lines (to check that no secret reaches them).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode runs a keylessd with yaml (in a fresh folder holding the files in files)
// until the test ends.
func startNode(t testing.TB, yaml string, files map[string]string) *node {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse([]byte(yaml), dir)
	if err != nil {
		t.Fatalf("node config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, Listener: ln, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("starting node: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("node stopped with %v", err)
		}
	})
	return &node{URL: "http://" + srv.Addr(), log: logs}
}

// startUpstream runs the upstream: a keylessd on its embedded fsbackend whose operator
// key may do anything.
func startUpstream(t testing.TB) *node {
	t.Helper()
	y := fmt.Sprintf(`account_id: "123456789012"
region: us-east-1
listen: 127.0.0.1:0
public_url: http://127.0.0.1:1
data_dir: ./data
issuer: {enabled: false}
operator_keys:
  - access_key_id: %s
    secret_access_key_file: ./upstream-secret
    policies:
      all: %q
audit: {s3_events: denied}
`, upstreamKey, allowAll)
	return startNode(t, y, map[string]string{"upstream-secret": upstreamSecret + "\n"})
}

// newBackend is an s3backend.Backend on up.
func newBackend(t testing.TB, up *node) *s3backend.Backend {
	t.Helper()
	b, err := s3backend.New(s3backend.Options{Endpoint: up.URL, Region: "us-east-1", AccessKeyID: upstreamKey, SecretAccessKey: upstreamSecret})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patternReader yields n bytes without allocating.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n))
	for i := range p[:k] {
		p[i] = byte(i)
	}
	r.n -= int64(k)
	return k, nil
}

// failingReader yields data, then fails with err instead of io.EOF: a body whose
// verification fails at its very end (a bad payload hash, checksum or chunk signature).
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// errVerification stands for the gateway's verification errors.
var errVerification = errors.New("payload verification failed")
