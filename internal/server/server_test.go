package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/config"
)

// startDev runs a dev node on a free loopback port in a temp dir and returns its base URL.
func startDev(t *testing.T) (string, *config.Config) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Dev(t.TempDir(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(t.Context(), Options{Config: cfg, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), cfg
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevNodeServesOperationalEndpointsAndTheIssuer(t *testing.T) {
	base, cfg := startDev(t)
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/-/healthz", 200, "ok"},
		{"/-/readyz", 200, "ready"},
		{"/-/metrics", 200, "keyless_http_requests_total"},
		{"/-/oidc/org/" + config.DevOrg + "/.well-known/openid-configuration", 200, `"issuer":"` + cfg.IssuerURL(config.DevOrg) + `"`},
		{"/-/oidc/org/" + config.DevOrg + "/.well-known/jwks-pub.json", 200, `"kid"`},
		{"/-/nothing-here", 404, ""},
	}
	for _, tt := range tests {
		t.Run("GET "+tt.path+" answers "+http.StatusText(tt.status), func(t *testing.T) {
			code, body := get(t, base+tt.path)
			if code != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tt.status, tt.contains)
			}
		})
	}
}

func TestDevNodeMintsWithTheSecretItCreatedAndKeepsStateInDataDir(t *testing.T) {
	base, cfg := startDev(t)
	secret, err := os.ReadFile(cfg.Issuer.MintSecretFile)
	if err != nil {
		t.Fatalf("mint secret was not created: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"org_id": config.DevOrg, "vcs_ref": "refs/heads/main"})
	req, _ := http.NewRequest(http.MethodPost, base+"/-/oidc/mint", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(secret)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || strings.Count(out.Token, ".") != 2 {
		t.Fatalf("mint: status %d, token %d bytes", resp.StatusCode, len(out.Token))
	}
	var modes []string
	for _, f := range []string{"keyless.db", "master.key", "mint-secret", "audit.jsonl"} {
		st, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil {
			t.Errorf("%s missing from data_dir: %v", f, err)
			continue
		}
		modes = append(modes, f+":"+st.Mode().Perm().String())
	}
	want := []string{"keyless.db:-rw-------", "master.key:-rw-------", "mint-secret:-rw-------", "audit.jsonl:-rw-------"}
	if diff := cmp.Diff(want, modes); diff != "" {
		t.Errorf("data_dir files (-want +got):\n%s", diff)
	}
}

func TestSTSAndS3ShareThePortAndAreToldApart(t *testing.T) {
	form := func(method, target, ct string) *http.Request {
		r, _ := http.NewRequest(method, target, strings.NewReader(url.Values{"Action": {"GetCallerIdentity"}}.Encode()))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	tests := []struct {
		name string
		req  *http.Request
		sts  bool
	}{
		{"a form POST to / is STS", form("POST", "http://h/", "application/x-www-form-urlencoded; charset=utf-8"), true},
		{"a GET of /?Action=... is STS", form("GET", "http://h/?Action=AssumeRoleWithWebIdentity", ""), true},
		{"a GET of / without Action is S3 ListBuckets", form("GET", "http://h/", ""), false},
		{"a PUT to a bucket is S3", form("PUT", "http://h/bucket", ""), false},
		{"a form POST to a bucket path is S3", form("POST", "http://h/bucket/key", "application/x-www-form-urlencoded"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsSTSRequest(tt.req); got != tt.sts {
				t.Errorf("IsSTSRequest = %v, want %v", got, tt.sts)
			}
		})
	}
}

func TestS3KeysWithDotSegmentsAndDoubleSlashesReachTheGatewayUnredirected(t *testing.T) {
	base, _ := startDev(t)
	for _, path := range []string{"/my-static-website-bucket/a//b", "/my-static-website-bucket/a/../b", "/my-static-website-bucket/./x"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.URL.Opaque = path // send the path exactly as written
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// An anonymous request: the gateway answers AccessDenied (403), never a redirect.
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amz-request-id") == "" {
			t.Errorf("GET %s: status %d (request id %q), want the gateway's 403", path, resp.StatusCode, resp.Header.Get("x-amz-request-id"))
		}
	}
}
