package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	code := run(args, stdio{Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestCheckConfigExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(good, []byte("account_id: \"123456789012\"\nissuer: {enabled: false}\nbuckets: [site]\n"), 0o600)
	_ = os.WriteFile(bad, []byte("account_id: \"1\"\nbuckets: [A]\nunknown: 1\n"), 0o600)
	tests := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"a valid file is ok", []string{"check-config", good}, 0, "ok (0 providers, 0 roles, 1 buckets)"},
		{"a bad file lists its problems and exits 2", []string{"check-config", bad}, 2, "field unknown not found"},
		{"no file is an error", []string{"check-config"}, 1, "needs a configuration file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runArgs(t, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.output) {
				t.Errorf("exit %d, output %q%q; want exit %d containing %q", code, out, errOut, tt.code, tt.output)
			}
		})
	}
}

func TestSessionsRevokeNeedsExactlyOneTarget(t *testing.T) {
	for _, args := range [][]string{
		{"sessions", "revoke"},
		{"sessions", "revoke", "--session-id", "a", "--role", "R", "--issued-before", "2026-11-29T12:00:00Z"},
		{"sessions", "revoke", "--role", "R"},
	} {
		code, _, errOut := runArgs(t, args...)
		if code == 0 || !strings.Contains(errOut, "--") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal that names the flags", args, code, errOut)
		}
	}
}

func TestRevokedSessionsAndRotatedKeysAreRecordedInTheConfiguredStore(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "k.yaml")
	_ = os.WriteFile(cfg, []byte("account_id: \"123456789012\"\nissuer: {orgs: [o1]}\nroles:\n  - name: R\n    trust_policy: '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":\"arn:aws:iam::123456789012:oidc-provider/x\"},\"Action\":\"sts:AssumeRoleWithWebIdentity\",\"Condition\":{\"StringEquals\":{\"x:aud\":\"a\",\"x:sub\":\"s\"}}}]}'\n"), 0o600)
	if code, _, e := runArgs(t, "sessions", "revoke", "--config", cfg, "--role", "R", "--issued-before", "2026-11-29T12:00:00Z"); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, e)
	}
	if code, _, e := runArgs(t, "keys", "rotate", "--config", cfg, "--which", "all"); code != 0 {
		t.Fatalf("rotate: exit %d: %s", code, e)
	}
	code, out, _ := runArgs(t, "keys", "list", "--config", cfg)
	if code != 0 || strings.Count(out, "active") != 2 || strings.Count(out, "retiring") != 2 {
		t.Errorf("after one rotation each purpose should have one active and one retiring key:\n%s", out)
	}
	if code, _, e := runArgs(t, "sessions", "revoke", "--config", cfg, "--role", "Nope", "--issued-before", "2026-11-29T12:00:00Z"); code == 0 || !strings.Contains(e, "no role named") {
		t.Errorf("revoking an unknown role: exit %d, %q", code, e)
	}
}
