package issuer_test

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/issuer"
	"github.com/keyless-dev/keyless/internal/keys"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMintRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, keys.ES256)
	ok := `{"org_id":"` + org + `"}`
	tests := []struct {
		name, auth, body string
		status           int
		code             string
		says             string // a phrase the error_description must contain
	}{
		{"a request without a secret is unauthorized", "", ok, 401, "unauthorized", "mint secret"},
		{"a wrong secret is unauthorized", "Bearer not-the-secret", ok, 401, "unauthorized", "mint secret"},
		{"the secret under another scheme is unauthorized", "Basic " + secret, ok, 401, "unauthorized", "mint secret"},
		{"a secret with a suffix is unauthorized", "Bearer " + secret + "x", ok, 401, "unauthorized", "mint secret"},
		{"an unknown org is refused", "Bearer " + secret, `{"org_id":"someone-else"}`, 400, "invalid_request", "unknown org_id"},
		{"a missing org is refused", "Bearer " + secret, `{}`, 400, "invalid_request", "org_id is required"},
		{"malformed JSON is refused", "Bearer " + secret, `{"org_id":`, 400, "invalid_request", "malformed request"},
		{"an empty body is refused", "Bearer " + secret, ``, 400, "invalid_request", "malformed request"},
		{"a JSON array is refused", "Bearer " + secret, `[]`, 400, "invalid_request", "malformed request"},
		{"data after the object is refused", "Bearer " + secret, ok + `{}`, 400, "invalid_request", "data after"},
		{"an unknown field is refused", "Bearer " + secret, `{"org_id":"` + org + `","sub":"x"}`, 400, "invalid_request", `unknown field "sub"`},
		{"a field of the wrong type is refused", "Bearer " + secret, `{"org_id":"` + org + `","ssh_rerun":"yes"}`, 400, "invalid_request", "ssh_rerun"},
		{"a ttl over 24h is refused", "Bearer " + secret, `{"org_id":"` + org + `","ttl":"24h1s"}`, 400, "invalid_request", "exceeds the maximum"},
		{"a ttl in seconds over 24h is refused", "Bearer " + secret, `{"org_id":"` + org + `","ttl":86401}`, 400, "invalid_request", "exceeds the maximum"},
		{"a negative ttl is refused", "Bearer " + secret, `{"org_id":"` + org + `","ttl":"-5m"}`, 400, "invalid_request", "at least one second"},
		{"a ttl that is not a duration is refused", "Bearer " + secret, `{"org_id":"` + org + `","ttl":"soon"}`, 400, "invalid_request", "ttl must be a duration"},
		{"a fractional ttl in seconds is refused", "Bearer " + secret, `{"org_id":"` + org + `","ttl":1.5}`, 400, "invalid_request", "whole number of seconds"},
		{"a project id with a slash is refused", "Bearer " + secret, `{"org_id":"` + org + `","project_id":"a/b"}`, 400, "invalid_request", "project_id must not contain '/'"},
		{"a user id with a slash is refused", "Bearer " + secret, `{"org_id":"` + org + `","user_id":"a/user/b"}`, 400, "invalid_request", "user_id must not contain '/'"},
		{"a vcs origin with a vcs-ref segment is refused", "Bearer " + secret, `{"org_id":"` + org + `","vcs_origin":"github.com/o/vcs-ref/x"}`, 400, "invalid_request", "vcs-ref"},
		{"an unknown profile is refused", "Bearer " + secret, `{"org_id":"` + org + `","profile":"jenkins"}`, 400, "invalid_request", "unknown profile"},
		{"a github origin that is not OWNER/REPO is refused", "Bearer " + secret, `{"org_id":"` + org + `","profile":"github","vcs_origin":"o/r/x","vcs_ref":"main"}`, 400, "invalid_request", "OWNER/REPO"},
		{"a github ref with a colon is refused", "Bearer " + secret, `{"org_id":"` + org + `","profile":"github","vcs_origin":"o/r","vcs_ref":"a:b"}`, 400, "invalid_request", "':'"},
		{"a github token needs a ref", "Bearer " + secret, `{"org_id":"` + org + `","profile":"github","vcs_origin":"o/r"}`, 400, "invalid_request", "vcs_ref is required"},
		{"a gitlab origin without a group is refused", "Bearer " + secret, `{"org_id":"` + org + `","profile":"gitlab","vcs_origin":"project","vcs_ref":"main"}`, 400, "invalid_request", "GROUP/PROJECT"},
		{"a gitlab ref that is not a branch or tag is refused", "Bearer " + secret, `{"org_id":"` + org + `","profile":"gitlab","vcs_origin":"g/p","vcs_ref":"refs/pull/1"}`, 400, "invalid_request", "branch or a tag"},
		{"control characters are refused", "Bearer " + secret, `{"org_id":"` + org + `","vcs_ref":"main\n"}`, 400, "invalid_request", "control characters"},
		{"an empty context id is refused", "Bearer " + secret, `{"org_id":"` + org + `","context_ids":[""]}`, 400, "invalid_request", "context_ids"},
		{"a body over 64 KiB is refused", "Bearer " + secret, `{"org_id":"` + org + `","aud":"` + strings.Repeat("a", 70000) + `"}`, 400, "invalid_request", "64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.post(t, tt.auth, tt.body)
			if status != tt.status {
				t.Errorf("status = %d, want %d (%s)", status, tt.status, body)
			}
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q is not JSON: %v", body, err)
			}
			if e.Error != tt.code || !strings.Contains(e.Description, tt.says) {
				t.Errorf("error = %q %q, want %q containing %q", e.Error, e.Description, tt.code, tt.says)
			}
		})
	}
	t.Run("the logs never reveal the secret or a token", func(t *testing.T) {
		token := f.mint(t, map[string]any{"org_id": org})
		logs := f.logs.String()
		sig := token[strings.LastIndex(token, ".")+1:]
		for what, s := range map[string]string{"secret": secret, "token": token, "signature": sig, "wrong secret": "not-the-secret"} {
			if strings.Contains(logs, s) {
				t.Errorf("the log contains the %s", what)
			}
		}
		if !strings.Contains(logs, "minted token") || !strings.Contains(logs, "jti=") {
			t.Errorf("the log does not record the mint with its jti:\n%s", logs)
		}
	})
}

func TestMintEndpointMethodsAndPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, keys.ES256)
	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"GET on the mint endpoint is not allowed", "/-/oidc/mint", http.StatusMethodNotAllowed},
		{"an unknown org has no discovery document", "/-/oidc/org/nobody/.well-known/openid-configuration", http.StatusNotFound},
		{"an unknown org has no JWKS", "/-/oidc/org/nobody/.well-known/jwks-pub.json", http.StatusNotFound},
		{"an unknown path under the prefix is not found", "/-/oidc/elsewhere", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, _ := f.get(t, tt.path); status != tt.status {
				t.Errorf("GET %s = %d, want %d", tt.path, status, tt.status)
			}
		})
	}
}

func TestDiscoveryDocument(t *testing.T) {
	t.Parallel()
	f := newFixture(t, keys.RS256)
	status, cc, body := f.get(t, "/-/oidc/org/"+org+"/.well-known/openid-configuration")
	if status != http.StatusOK || !strings.Contains(cc, "max-age=") {
		t.Errorf("status %d, Cache-Control %q; want 200 and a max-age", status, cc)
	}
	// The server's random port is replaced so that the golden file is stable.
	got := strings.ReplaceAll(string(body), f.srv.URL, "http://127.0.0.1:8700")
	golden := filepath.Join("testdata", "discovery.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("discovery document (-want +got):\n%s", diff)
	}
}

func TestJWKSHasPublicKeysOnly(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{keys.RS256, keys.ES256} {
		t.Run("for "+alg, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			status, cc, body := f.get(t, "/-/oidc/org/"+org+"/.well-known/jwks-pub.json")
			if status != http.StatusOK || !strings.Contains(cc, "max-age=") {
				t.Errorf("status %d, Cache-Control %q; want 200 and a max-age", status, cc)
			}
			var set struct{ Keys []map[string]any }
			if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s: %v", body, err)
			}
			k := set.Keys[0]
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("the JWKS publishes the private member %q", private)
				}
			}
			if k["kid"] == "" || k["alg"] != alg || k["use"] != "sig" {
				t.Errorf("key = kid %v alg %v use %v; want a kid, %s, sig", k["kid"], k["alg"], k["use"], alg)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, keys.ES256)
	good := issuer.Options{PublicURL: "http://127.0.0.1:8700", Orgs: []string{org}, MintSecret: []byte("x"), Keys: f.ring}
	for _, tt := range []struct {
		name   string
		modify func(*issuer.Options)
	}{
		{"a relative public url", func(o *issuer.Options) { o.PublicURL = "/x" }},
		{"a public url with a query", func(o *issuer.Options) { o.PublicURL = "http://h/?a=b" }},
		{"no signing keys", func(o *issuer.Options) { o.Keys = nil }},
		{"an algorithm other than the ring's", func(o *issuer.Options) { o.Algorithm = keys.RS256 }},
		{"an empty mint secret", func(o *issuer.Options) { o.MintSecret = nil }},
		{"an org id with a slash", func(o *issuer.Options) { o.Orgs = []string{"a/b"} }},
		{"a token ttl over 24h", func(o *issuer.Options) { o.TokenTTL = 25 * time.Hour }},
	} {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			o := good
			tt.modify(&o)
			if _, err := issuer.New(o); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	if _, err := issuer.New(good); err != nil {
		t.Errorf("New(good options): %v", err)
	}
}

func FuzzDecodeMintRequest(f *testing.F) {
	for _, seed := range []string{
		`{"org_id":"o"}`, `{"org_id":"o","ttl":"1h"}`, `{"ttl":900}`, `{"ttl":1e3}`, `{"ttl":"-1h"}`,
		`{"context_ids":["a",1]}`, `{"org_id":"o"} {}`, `[]`, `null`, ``, `{"ssh_rerun":null}`,
		`{"org_id":"o","org_id":"p"}`, `{"ttl":99999999999999999999}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := issuer.DecodeMintRequest(body)
		if err != nil {
			var re *issuer.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("a decoded request does not encode: %v", err)
		}
	})
}
