package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	testProvider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
	testTrust    = `{"Version":"2012-10-17","Statement":{"Sid":"GitHub","Effect":"Allow","Principal":{"Federated":"` + testProvider + `"},
		"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com",
		"token.actions.githubusercontent.com:sub":"repo:o/r:ref:refs/heads/main"}}}}`
	testRiskyTrust = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"` + testProvider + `"},"Action":"sts:AssumeRoleWithWebIdentity"}}`
	testIdentity   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::site/*"},
		{"Sid":"Keep","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::site/keep/*"}]}`
	testSession = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`
	testAssume  = `{"principal":"` + testProvider + `","action":"sts:AssumeRoleWithWebIdentity","resource":"arn:aws:iam::123456789012:role/ci","conditionKeys":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:o/r:ref:refs/heads/main"}}`
	testFork    = `{"principal":"` + testProvider + `","action":"sts:AssumeRoleWithWebIdentity","resource":"arn:aws:iam::123456789012:role/ci","conditionKeys":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:fork/r:ref:refs/heads/main"}}`
	testPut     = `{"action":"s3:PutObject","resource":"arn:aws:s3:::site/index.html"}`
	testDelete  = `{"action":"s3:DeleteObject","resource":"arn:aws:s3:::site/keep/a"}`
	testNotJSON = `{"Statement":`
)

// writeFiles writes name->content into a temp dir and returns the dir.
func writeFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"trust.json": testTrust, "risky.json": testRiskyTrust, "identity.json": testIdentity, "session.json": testSession,
		"assume.json": testAssume, "fork.json": testFork, "put.json": testPut, "delete.json": testDelete, "broken.json": testNotJSON,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runIn(t *testing.T, dir string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	for i, a := range args {
		if strings.HasSuffix(a, ".json") {
			args[i] = filepath.Join(dir, a)
		}
	}
	var out, errOut bytes.Buffer
	code := run(args, stdio{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, strings.ReplaceAll(out.String(), dir+string(filepath.Separator), ""), strings.ReplaceAll(errOut.String(), dir+string(filepath.Separator), "")
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  string
	}{
		{"a valid trust policy exits 0", []string{"policy", "validate", "trust.json"}, "", 0, "trust.json: valid trust policy (1 statement)\n"},
		{"a trust policy validated as identity lists every problem and exits 1", []string{"policy", "validate", "--kind", "identity", "trust.json"}, "", 1,
			"trust.json: statement 0 (Sid \"GitHub\"): Principal: not allowed in an identity policy (only trust and resource policies name principals)\n" +
				"trust.json: statement 0 (Sid \"GitHub\"): Resource: missing: an identity policy statement needs Resource or NotResource\n"},
		{"malformed JSON is a problem of the document and exits 1", []string{"policy", "validate", "broken.json"}, "", 1, "broken.json: policy is not valid JSON: unexpected end of JSON input\n"},
		{"standard input is read for -", []string{"policy", "validate", "-"}, testIdentity, 0, "-: valid identity policy (2 statements)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, _ := runIn(t, dir, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit = %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyLint(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t)
	t.Run("a sound policy has no findings and exits 0", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runIn(t, dir, "", "policy", "lint", "trust.json")
		if code != 0 || out != "trust.json: no findings\n" {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("an error-level finding exits 1 and names the rule", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runIn(t, dir, "", "policy", "lint", "trust.json", "risky.json")
		if code != 1 || !strings.Contains(out, "risky.json: error [federated-without-condition] statement 0:") {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("json output lists findings with their file", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runIn(t, dir, "", "policy", "lint", "--format", "json", "risky.json")
		var got []struct{ File, Rule, Severity string }
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		want := []struct{ File, Rule, Severity string }{{"risky.json", "federated-without-condition", "error"}}
		if code != 1 || !cmp.Equal(want, got) {
			t.Errorf("exit %d, findings %+v", code, got)
		}
	})
	t.Run("an invalid document is an error finding", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runIn(t, dir, "", "policy", "lint", "broken.json")
		if code != 1 || !strings.Contains(out, "[invalid-policy]") {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("a missing file is bad input", func(t *testing.T) {
		t.Parallel()
		code, _, errOut := runIn(t, dir, "", "policy", "lint", "missing.json")
		if code != 2 || !strings.Contains(errOut, "missing.json") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestPolicyEval(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t)
	tests := []struct {
		name         string
		args         []string
		wantDecision string
	}{
		{"the trust policy allows the main branch", []string{"policy", "eval", "--policy", "trust.json", "--request", "assume.json"}, "Allow"},
		{"the trust policy does not allow a fork", []string{"policy", "eval", "--policy", "trust.json", "--request", "fork.json"}, "ImplicitDeny"},
		{"an identity policy allows a put", []string{"policy", "eval", "--policy", "identity.json", "--request", "put.json"}, "Allow"},
		{"a deny statement wins", []string{"policy", "eval", "--policy", "identity.json", "--request", "delete.json"}, "ExplicitDeny"},
		{"a session policy narrows what the role allows", []string{"policy", "eval", "--policy", "identity.json", "--session-policy", "session.json", "--request", "put.json"}, "ImplicitDeny"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runIn(t, dir, "", tc.args...)
			var got struct{ Decision string }
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v in %q (stderr %q)", err, out, errOut)
			}
			if code != 0 || got.Decision != tc.wantDecision {
				t.Errorf("exit %d, decision %q; want 0, %q", code, got.Decision, tc.wantDecision)
			}
		})
	}
}

func TestPolicyExplain(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t)
	code, out, _ := runIn(t, dir, "", "policy", "explain", "--policy", "trust.json", "--request", "fork.json")
	for _, want := range []string{"decision: ImplicitDeny", "[no match] Condition StringEquals token.actions.githubusercontent.com:sub: request [\"repo:fork/r:ref:refs/heads/main\"]"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit = %d, want 0", code)
	}
}

func TestPolicyBadInputExits2(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t)
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"a missing policy file", []string{"policy", "eval", "--policy", "missing.json", "--request", "put.json"}, "missing.json"},
		{"a policy that is not JSON", []string{"policy", "eval", "--policy", "broken.json", "--request", "put.json"}, "broken.json: policy is not valid JSON"},
		{"a policy that is not valid for its kind", []string{"policy", "explain", "--kind", "identity", "--policy", "trust.json", "--request", "put.json"}, "trust.json: invalid policy: statement 0"},
		{"a request file that is a policy", []string{"policy", "eval", "--policy", "trust.json", "--request", "identity.json"}, `identity.json: request: json: unknown field "Version"`},
		{"a missing request flag", []string{"policy", "eval", "--policy", "trust.json"}, "--request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := runIn(t, dir, "", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.wantStderr)
			}
		})
	}
}
