package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const trustJSON = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/o1"},
 "Action":"sts:AssumeRoleWithWebIdentity",
 "Condition":{"StringEquals":{"oidc.circleci.com/org/o1:aud":"o1"},"StringLike":{"oidc.circleci.com/org/o1:sub":"org/o1/project/*"}}}]}`

const deployJSON = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::site/*"}]}`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodYAML = `account_id: "123456789012"
providers:
  - url: https://oidc.circleci.com/org/o1
    client_ids: [o1]
issuer: {orgs: [o1]}
roles:
  - name: Deploy
    trust_policy: policies/trust.json
    policies:
      deploy-site: policies/deploy.json
buckets: [site]
`

func TestLoadResolvesPathsAppliesDefaultsAndCompilesPolicies(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"keyless.yaml":         goodYAML,
		"policies/trust.json":  trustJSON,
		"policies/deploy.json": deployJSON,
	})
	c, err := Load(filepath.Join(dir, "keyless.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := map[string]any{
		"region":        c.Region,
		"listen":        c.Listen,
		"public_url":    c.PublicURL,
		"data_dir":      c.DataDir,
		"mint_secret":   c.Issuer.MintSecretFile,
		"alg":           c.Issuer.Algorithm,
		"ttl":           c.Issuer.TokenTTL.D(),
		"max_session":   c.Roles[0].MaxSessionDuration.D(),
		"trust_file":    c.Roles[0].TrustPolicy.File,
		"trust_ok":      c.Roles[0].TrustPolicy.Compiled != nil,
		"policy_name":   c.Roles[0].Policies[0].Name,
		"policy_ok":     c.Roles[0].Policies[0].Policy.Compiled != nil,
		"backend":       c.Objects.Backend,
		"s3_events":     c.Audit.S3Events,
		"per_ip":        *c.RateLimits.PerSourceIP,
		"role_arn":      c.RoleARN(c.Roles[0]),
		"provider_arn":  c.ProviderARN(c.Providers[0]),
		"issuer_on":     c.Issuer.On(),
		"role_id_shape": len(c.RoleID(c.Roles[0])) == 21 && strings.HasPrefix(c.RoleID(c.Roles[0]), "AROA"),
	}
	want := map[string]any{
		"region":        "us-east-1",
		"listen":        "127.0.0.1:8700",
		"public_url":    "http://127.0.0.1:8700",
		"data_dir":      filepath.Join(dir, "keyless-data"),
		"mint_secret":   filepath.Join(dir, "keyless-data", "mint-secret"),
		"alg":           "RS256",
		"ttl":           time.Hour,
		"max_session":   time.Hour,
		"trust_file":    filepath.Join(dir, "policies/trust.json"),
		"trust_ok":      true,
		"policy_name":   "deploy-site",
		"policy_ok":     true,
		"backend":       "filesystem",
		"s3_events":     "all",
		"per_ip":        100.0,
		"role_arn":      "arn:aws:iam::123456789012:role/Deploy",
		"provider_arn":  "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/o1",
		"issuer_on":     true,
		"role_id_shape": true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded config (-want +got):\n%s", diff)
	}
}

func TestLoadReportsEveryProblemAtOnceWithItsPath(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, one per expected problem
	}{
		{
			name: "unknown keys anywhere are errors, all of them",
			yaml: "account_id: \"123456789012\"\nissuer: {orgs: [o1], colour: red}\nbogus: 1\n",
			want: []string{"field colour not found", "field bogus not found"},
		},
		{
			name: "semantic problems are listed together with their paths",
			yaml: `account_id: "12"
region: Mars
issuer: {orgs: [o1], algorithm: HS256, token_ttl: 48h}
providers:
  - url: http://issuer.example.com
    client_ids: []
roles:
  - name: "bad role"
    max_session_duration: 13h
buckets: [UPPER]
objects: {backend: tape}
audit: {s3_events: some}
tls: {cert_file: c.pem}
`,
			want: []string{
				"account_id: must be 12 digits",
				"region: \"Mars\"",
				"issuer.algorithm: must be RS256 or ES256",
				"issuer.token_ttl: must be between 1m and 24h",
				"providers[0].url: must be https://",
				"providers[0].client_ids: needs 1 to 100",
				"roles[0].name: \"bad role\" is not a role name",
				"roles[0].max_session_duration: must be between 1h and 12h",
				"roles[0].trust_policy: is required",
				"buckets[0]: \"UPPER\" is not a valid bucket name",
				"objects.backend: must be filesystem or s3",
				"audit.s3_events: must be all, writes or denied",
				"tls: cert_file and key_file go together",
			},
		},
		{
			name: "a bad policy is reported at the role that uses it",
			yaml: "account_id: \"123456789012\"\nissuer: {enabled: false}\nroles:\n  - name: R\n    trust_policy: '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}'\n    policies:\n      p: missing.json\n",
			want: []string{"roles[0].trust_policy:", "roles[0].policies.p: cannot read policy file"},
		},
		{
			name: "an http issuer is refused outside dev mode",
			yaml: "account_id: \"123456789012\"\nissuer: {enabled: false}\nproviders:\n  - url: http://127.0.0.1:8700/-/oidc/org/o1\n    client_ids: [o1]\n",
			want: []string{"providers[0].url: must be https://"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), t.TempDir())
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Parse error = %v, want Problems", err)
			}
			if len(probs) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(probs), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems do not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestInlinePoliciesAreAcceptedAsStringsAndAsMappings(t *testing.T) {
	y := "account_id: \"123456789012\"\nissuer: {enabled: false}\nroles:\n  - name: R\n    trust_policy: " + strings.ReplaceAll(trustJSON, "\n", "") + "\n    policies:\n      p: '" + deployJSON + "'\n"
	c, err := Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Roles[0].TrustPolicy.Compiled == nil || c.Roles[0].Policies[0].Policy.Compiled == nil {
		t.Errorf("inline policies were not compiled")
	}
	if c.Roles[0].TrustPolicy.File != "" {
		t.Errorf("an inline policy got a file name %q", c.Roles[0].TrustPolicy.File)
	}
}

func TestDevDefaultsAreAValidConfigurationWithTheSeedNames(t *testing.T) {
	c, err := Dev(t.TempDir(), "")
	if err != nil {
		t.Fatalf("Dev: %v", err)
	}
	got := []string{c.AccountID, c.Listen, c.Providers[0].URL, c.Roles[0].Name, c.Buckets[0], c.ProviderARN(c.Providers[0])}
	want := []string{"123456789012", "127.0.0.1:8700",
		"http://127.0.0.1:8700/-/oidc/org/" + DevOrg, "CircleCI-OIDC-Role", "my-static-website-bucket",
		"arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8700/-/oidc/org/" + DevOrg}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dev config (-want +got):\n%s", diff)
	}
	if !c.Dev {
		t.Errorf("dev defaults must set dev: true")
	}
}

func TestRoleIDIsStableAndDistinctPerRole(t *testing.T) {
	c := &Config{AccountID: "123456789012"}
	a1, a2, b := c.RoleID(Role{Name: "A"}), c.RoleID(Role{Name: "a"}), c.RoleID(Role{Name: "B"})
	if a1 != a2 {
		t.Errorf("role ids differ by case: %s vs %s (IAM role names are case-insensitive)", a1, a2)
	}
	if a1 == b {
		t.Errorf("two roles share the id %s", a1)
	}
}
