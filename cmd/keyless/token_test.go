package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/oidctest"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// fakeIssuer records mint requests and answers with a fixed status and body.
type fakeIssuer struct {
	mu     sync.Mutex
	auth   string
	body   map[string]any
	status int
	reply  string
}

func (f *fakeIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/-/oidc/mint" {
		http.NotFound(w, r)
		return
	}
	f.auth = r.Header.Get("Authorization")
	b, _ := io.ReadAll(r.Body)
	f.body = nil
	_ = json.Unmarshal(b, &f.body)
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.reply)
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mint-secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenMint(t *testing.T) {
	t.Parallel()
	const org = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	tests := []struct {
		name   string
		args   []string
		want   map[string]any // request fields; "<uuid>" accepts a random UUID
		status int
	}{
		{
			name: "the quick start's command sends the org and ref and fills ids with random UUIDs",
			args: []string{"--vcs-ref", "refs/heads/main"},
			want: map[string]any{"org_id": org, "vcs_ref": "refs/heads/main", "profile": "circleci-v2",
				"project_id": "<uuid>", "user_id": "<uuid>", "pipeline_id": "<uuid>", "workflow_id": "<uuid>", "job_id": "<uuid>"},
		},
		{
			name: "every flag reaches the request",
			args: []string{"--project-id", "p", "--user-id", "u", "--vcs-origin", "github.com/o/r", "--vcs-ref", "refs/tags/v1",
				"--context-id", "c1", "--context-id", "c2", "--ssh-rerun", "--aud", "sts.amazonaws.com", "--ttl", "15m", "--profile", "circleci-v1"},
			want: map[string]any{"org_id": org, "project_id": "p", "user_id": "u", "vcs_origin": "github.com/o/r", "vcs_ref": "refs/tags/v1",
				"context_ids": []any{"c1", "c2"}, "ssh_rerun": true, "aud": "sts.amazonaws.com", "ttl": "15m0s", "profile": "circleci-v1",
				"pipeline_id": "<uuid>", "workflow_id": "<uuid>", "job_id": "<uuid>"},
		},
		{
			name: "the github profile drops a leading github.com/",
			args: []string{"--profile", "github", "--vcs-origin", "github.com/octo/repo", "--vcs-ref", "main", "--project-id", "p", "--user-id", "u"},
			want: map[string]any{"org_id": org, "profile": "github", "vcs_origin": "octo/repo", "vcs_ref": "main", "project_id": "p", "user_id": "u",
				"pipeline_id": "<uuid>", "workflow_id": "<uuid>", "job_id": "<uuid>"},
		},
		{
			name: "the gitlab profile drops a leading gitlab.com/",
			args: []string{"--profile", "gitlab", "--vcs-origin", "gitlab.com/g/p", "--vcs-ref", "main", "--project-id", "p", "--user-id", "u"},
			want: map[string]any{"org_id": org, "profile": "gitlab", "vcs_origin": "g/p", "vcs_ref": "main", "project_id": "p", "user_id": "u",
				"pipeline_id": "<uuid>", "workflow_id": "<uuid>", "job_id": "<uuid>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeIssuer{status: 200, reply: `{"token":"aaa.bbb.ccc"}`}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			args := append([]string{"token", "mint", "--issuer", srv.URL + "/", "--mint-secret-file", secretFile(t, " s3cret\n"), "--org", org}, tt.args...)
			code, out, errOut := runCLI(t, args...)
			if code != 0 || out != "aaa.bbb.ccc\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and the token alone", code, out, errOut)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.auth != "Bearer s3cret" {
				t.Errorf("Authorization = %q, want the trimmed secret as a bearer token", fake.auth)
			}
			for k, v := range tt.want {
				if s, ok := fake.body[k].(string); v == "<uuid>" && ok && uuidRE.MatchString(s) {
					fake.body[k] = "<uuid>"
				}
			}
			if diff := cmp.Diff(tt.want, fake.body); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenMintFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		reply    string
		secret   string // "" means no file
		wantCode int
		wantErr  string
	}{
		{"a 400 from the issuer is bad input with its description", 400, `{"error":"invalid_request","error_description":"ttl 25h0m0s exceeds the maximum of 24h0m0s"}`, "s", 2, "exceeds the maximum"},
		{"a 401 from the issuer is a failure", 401, `{"error":"unauthorized","error_description":"a valid mint secret is required"}`, "s", 1, "401"},
		{"a response without a token is a failure", 200, `{}`, "s", 1, "no token"},
		{"a missing secret file is bad input", 200, `{"token":"t"}`, "", 2, "mint secret file"},
		{"an empty secret file is bad input", 200, `{"token":"t"}`, " \n", 2, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&fakeIssuer{status: tt.status, reply: tt.reply})
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "missing")
			if tt.secret != "" {
				path = secretFile(t, tt.secret)
			}
			code, out, errOut := runCLI(t, "token", "mint", "--issuer", srv.URL, "--mint-secret-file", path, "--org", "o")
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, and %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func jwt(header, claims string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(claims)) + "." + e([]byte("sig"))
}

func TestTokenDecode(t *testing.T) {
	t.Parallel()
	tok := jwt(`{"alg":"RS256","kid":"k1","typ":"JWT"}`,
		`{"sub":"org/o/project/p/user/u","exp":1795000000,"oidc.circleci.com/context-ids":["c"],"oidc.circleci.com/ssh-rerun":false}`)
	want := `{
  "header": {
    "alg": "RS256",
    "kid": "k1",
    "typ": "JWT"
  },
  "claims": {
    "sub": "org/o/project/p/user/u",
    "exp": 1795000000,
    "oidc.circleci.com/context-ids": [
      "c"
    ],
    "oidc.circleci.com/ssh-rerun": false
  }
}
`
	t.Run("a token argument prints header and claims in their order", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "decode", tok)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
	t.Run("- reads the token from stdin", func(t *testing.T) {
		t.Parallel()
		var out, errb bytes.Buffer
		code := run([]string{"token", "decode", "-"}, stdio{In: strings.NewReader(tok + "\n"), Out: &out, Err: &errb})
		if code != 0 || out.String() != want {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
	})
	for name, bad := range map[string]string{
		"two parts are bad input":           "a.b",
		"a header that is not base64":       "!!.e30.c2ln",
		"claims that are not a JSON object": jwt(`{}`, `[1]`),
		"an empty token":                    "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, _ := runCLI(t, "token", "decode", bad)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
		})
	}
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(jwt(`{"alg":"ES256"}`, `{"sub":"x"}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Add(jwt(`{}`, `{"n":1e400}`))
	f.Fuzz(func(t *testing.T, tok string) {
		out, err := decodeToken(tok)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("decodeToken printed invalid JSON for %q", tok)
		}
	})
}

func TestTokenVerify(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	host := strings.TrimPrefix(p.URL(), "http://")
	claims := p.Claims(time.Now(), "aud-1", "org/o/project/p/user/u")
	claims["oidc.circleci.com/context-ids"] = []string{"c1", "c2"}
	claims["oidc.circleci.com/ssh-rerun"] = false
	token := p.Sign(claims)

	t.Run("a valid token prints its claims and condition keys", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "verify", "--provider", p.URL(), "--audience", "aud-1", token)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got verifyOutput
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if got.Subject != "org/o/project/p/user/u" || got.Audience != "aud-1" || got.Issuer != p.URL() {
			t.Errorf("issuer %q subject %q audience %q", got.Issuer, got.Subject, got.Audience)
		}
		want := map[string]any{
			host + ":aud":                           "aud-1",
			host + ":sub":                           "org/o/project/p/user/u",
			host + ":oidc.circleci.com/context-ids": []any{"c1", "c2"},
			host + ":oidc.circleci.com/ssh-rerun":   "false",
		}
		for k := range got.ConditionKeys {
			if _, ok := want[k]; !ok {
				delete(got.ConditionKeys, k) // iss, iat, exp, jti keys are not the point here
			}
		}
		if diff := cmp.Diff(want, got.ConditionKeys); diff != "" {
			t.Errorf("condition keys (-want +got):\n%s", diff)
		}
	})
	t.Run("aws-compatible-keys-only leaves out the custom claims", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "verify", "--provider", p.URL(), "--audience", "aud-1", "--aws-compatible-keys-only", token)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if strings.Contains(out, `":oidc.circleci.com/context-ids"`) {
			t.Errorf("custom claim listed as a condition key:\n%s", out)
		}
	})
	t.Run("a wrong audience exits 1 with the reason", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "verify", "--provider", p.URL(), "--audience", "other", token)
		if code != 1 || out != "" || !strings.Contains(errOut, "does not verify") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, a reason", code, out, errOut)
		}
		if strings.Contains(errOut, token) {
			t.Errorf("stderr repeats the token")
		}
	})
	t.Run("a provider URL that is not https or loopback is bad input", func(t *testing.T) {
		t.Parallel()
		code, _, _ := runCLI(t, "token", "verify", "--provider", "http://example.com/x", "--audience", "a", token)
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}
