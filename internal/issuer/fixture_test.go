package issuer_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/issuer"
	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

const (
	org    = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	secret = "s3cr3t-mint-secret-for-tests"
)

var master = []byte("0123456789abcdef0123456789abcdef")

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
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

// fixture is an issuer behind a real HTTP server on 127.0.0.1. restart replaces the
// store handle, ring and issuer behind the same URL, as a process restart would.
type fixture struct {
	clock   *clock
	dbPath  string
	alg     string
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	iss     *issuer.Issuer
	ring    *keys.SigningRing
	logs    *syncBuffer
}

func newFixture(t *testing.T, alg string) *fixture {
	t.Helper()
	f := &fixture{
		clock:  &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)},
		dbPath: filepath.Join(t.TempDir(), "keyless.db"),
		alg:    alg,
		logs:   &syncBuffer{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*f.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.restart(t)
	return f
}

func (f *fixture) restart(t *testing.T) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), f.dbPath)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.ring, err = keys.NewSigningRing(t.Context(), keys.Options{
		Store: db, MasterKey: master, Algorithm: f.alg, RotateEvery: 24 * time.Hour,
		Now: f.clock.Now, Logger: log,
	})
	if err != nil {
		t.Fatalf("NewSigningRing: %v", err)
	}
	f.iss, err = issuer.New(issuer.Options{
		PublicURL: f.srv.URL, Orgs: []string{org, "0b0b0b0b-0000-4000-8000-000000000000"},
		Algorithm: f.alg, MintSecret: []byte(secret), Keys: f.ring, Now: f.clock.Now, Logger: log,
	})
	if err != nil {
		t.Fatalf("issuer.New: %v", err)
	}
	h := f.iss.Handler()
	f.handler.Store(&h)
}

// post sends body to /-/oidc/mint with the given Authorization header.
func (f *fixture) post(t *testing.T, auth, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+"/-/oidc/mint", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST mint: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// mint asks for a token and fails the test unless it gets one.
func (f *fixture) mint(t *testing.T, req map[string]any) string {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	status, resp := f.post(t, "Bearer "+secret, string(body))
	if status != http.StatusOK {
		t.Fatalf("mint: status %d: %s", status, resp)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(resp, &out); err != nil || out.Token == "" {
		t.Fatalf("mint response %s: %v", resp, err)
	}
	return out.Token
}

// get fetches path and returns the status, the Cache-Control header and the body.
func (f *fixture) get(t *testing.T, path string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Cache-Control"), b
}

// jwksKids fetches the org's JWKS over HTTP and returns its kids.
func (f *fixture) jwksKids(t *testing.T) []string {
	t.Helper()
	status, _, body := f.get(t, "/-/oidc/org/"+org+"/.well-known/jwks-pub.json")
	if status != http.StatusOK {
		t.Fatalf("JWKS status %d", status)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
