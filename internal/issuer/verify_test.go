package issuer_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/keys"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// anyUUID in a want map accepts any random UUID (ids the issuer generates).
const anyUUID = "<random uuid>"

// decodeSegment decodes one part of a compact JWS as JSON, keeping numbers exact.
func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return m
}

func num(n int64) json.Number { return json.Number(strings.TrimSpace(string(mustJSON(n)))) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestMintedTokensVerifyWithGoOIDC mints a token of every profile with both algorithms,
// verifies it with go-oidc against the live discovery document and JWKS, and checks every
// claim's value and JSON type (json.Number, string, bool, []any) against the documented shapes.
func TestMintedTokensVerifyWithGoOIDC(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{keys.RS256, keys.ES256} {
		t.Run("with "+alg, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			iat := f.clock.Now().Unix()
			iss := f.srv.URL + "/-/oidc/org/" + org
			provider, err := oidc.NewProvider(t.Context(), iss)
			if err != nil {
				t.Fatalf("oidc.NewProvider: %v", err)
			}
			for _, tt := range profileCases(iss, iat) {
				t.Run(tt.name, func(t *testing.T) {
					token := f.mint(t, tt.req)
					aud, _ := tt.want["aud"].(string)
					v := provider.Verifier(&oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{alg}, Now: f.clock.Now})
					idt, err := v.Verify(t.Context(), token)
					if err != nil {
						t.Fatalf("go-oidc Verify: %v", err)
					}
					if idt.Subject != tt.want["sub"] {
						t.Errorf("verified subject = %q, want %q", idt.Subject, tt.want["sub"])
					}
					header := decodeSegment(t, token, 0)
					if header["alg"] != alg || header["typ"] != "JWT" || header["kid"] == "" {
						t.Errorf("header = %v, want alg %s, typ JWT and a kid", header, alg)
					}
					got := decodeSegment(t, token, 1)
					for k, w := range tt.want {
						if w == anyUUID {
							if s, ok := got[k].(string); ok && uuidRE.MatchString(s) {
								got[k] = anyUUID
							}
						}
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("claims (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

type profileCase struct {
	name string
	req  map[string]any
	want map[string]any
}

func profileCases(iss string, iat int64) []profileCase {
	return []profileCase{
		{
			name: "a circleci-v2 token has CircleCI's subject and claim types",
			req: map[string]any{
				"org_id": org, "project_id": "7c0b4c6e-1111-4222-8333-944455556666",
				"user_id": "0e2c3b1a-aaaa-4bbb-8ccc-ddddeeeeffff", "vcs_origin": "github.com/my-org/repo",
				"vcs_ref": "refs/heads/main", "context_ids": []string{"c1", "c2"}, "ssh_rerun": true,
				"pipeline_id": "p-1", "workflow_id": "w-1", "job_id": "j-1",
			},
			want: map[string]any{
				"iss": iss, "aud": org, "iat": num(iat), "nbf": num(iat), "exp": num(iat + 3600), "jti": anyUUID,
				"sub": "org/" + org + "/project/7c0b4c6e-1111-4222-8333-944455556666/user/0e2c3b1a-aaaa-4bbb-8ccc-ddddeeeeffff" +
					"/vcs-origin/github.com/my-org/repo/vcs-ref/refs/heads/main",
				"oidc.circleci.com/org-id":      org,
				"oidc.circleci.com/project-id":  "7c0b4c6e-1111-4222-8333-944455556666",
				"oidc.circleci.com/vcs-origin":  "github.com/my-org/repo",
				"oidc.circleci.com/vcs-ref":     "refs/heads/main",
				"oidc.circleci.com/context-ids": []any{"c1", "c2"},
				"oidc.circleci.com/ssh-rerun":   true,
				"oidc.circleci.com/pipeline-id": "p-1",
				"oidc.circleci.com/workflow-id": "w-1",
				"oidc.circleci.com/job-id":      "j-1",
			},
		},
		{
			name: "a circleci-v1 token with a custom aud and ttl gets random ids and an empty context list",
			req: map[string]any{
				"org_id": org, "profile": "circleci-v1", "project_id": "p", "user_id": "u",
				"vcs_origin": "github.com/my-org/repo", "vcs_ref": "refs/heads/dev", "aud": "sts.amazonaws.com", "ttl": 900,
			},
			want: map[string]any{
				"iss": iss, "aud": "sts.amazonaws.com", "iat": num(iat), "nbf": num(iat), "exp": num(iat + 900), "jti": anyUUID,
				"sub":                           "org/" + org + "/project/p/user/u",
				"oidc.circleci.com/org-id":      org,
				"oidc.circleci.com/project-id":  "p",
				"oidc.circleci.com/vcs-origin":  "github.com/my-org/repo",
				"oidc.circleci.com/vcs-ref":     "refs/heads/dev",
				"oidc.circleci.com/context-ids": []any{},
				"oidc.circleci.com/ssh-rerun":   false,
				"oidc.circleci.com/pipeline-id": anyUUID,
				"oidc.circleci.com/workflow-id": anyUUID,
				"oidc.circleci.com/job-id":      anyUUID,
			},
		},
		{
			name: "a circleci-v2 token without VCS data (custom webhook) has the v1 subject and no vcs claims",
			req:  map[string]any{"org_id": org, "project_id": "p", "user_id": "u", "ttl": "2h"},
			want: map[string]any{
				"iss": iss, "aud": org, "iat": num(iat), "nbf": num(iat), "exp": num(iat + 7200), "jti": anyUUID,
				"sub":                           "org/" + org + "/project/p/user/u",
				"oidc.circleci.com/org-id":      org,
				"oidc.circleci.com/project-id":  "p",
				"oidc.circleci.com/context-ids": []any{},
				"oidc.circleci.com/ssh-rerun":   false,
				"oidc.circleci.com/pipeline-id": anyUUID,
				"oidc.circleci.com/workflow-id": anyUUID,
				"oidc.circleci.com/job-id":      anyUUID,
			},
		},
		{
			name: "a github token has GitHub's subject for a branch",
			req: map[string]any{
				"org_id": org, "profile": "github", "vcs_origin": "github.com/octo-org/octo-repo", "vcs_ref": "main",
				"project_id": "r-1", "user_id": "a-1", "pipeline_id": "run-1",
			},
			want: map[string]any{
				"iss": iss, "aud": org, "iat": num(iat), "nbf": num(iat - 600), "exp": num(iat + 3600), "jti": anyUUID,
				"sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
				"ref": "refs/heads/main", "ref_type": "branch", "repository": "octo-org/octo-repo",
				"repository_owner": "octo-org", "repository_id": "r-1", "actor_id": "a-1", "run_id": "run-1",
				"event_name": "push", "runner_environment": "self-hosted",
			},
		},
		{
			name: "a gitlab token has GitLab's subject for a tag in a subgroup",
			req: map[string]any{
				"org_id": org, "profile": "gitlab", "vcs_origin": "gitlab.com/group/sub/project", "vcs_ref": "refs/tags/v1.2",
				"project_id": "42", "user_id": "7", "pipeline_id": "100", "job_id": "200", "aud": "https://keyless.example",
			},
			want: map[string]any{
				"iss": iss, "aud": "https://keyless.example", "iat": num(iat), "nbf": num(iat), "exp": num(iat + 3600), "jti": anyUUID,
				"sub":            "project_path:group/sub/project:ref_type:tag:ref:v1.2",
				"namespace_path": "group/sub", "project_path": "group/sub/project", "project_id": "42", "user_id": "7",
				"pipeline_id": "100", "pipeline_source": "push", "job_id": "200", "ref": "v1.2", "ref_type": "tag",
				"ref_path": "refs/tags/v1.2", "ref_protected": "false",
			},
		},
	}
}
