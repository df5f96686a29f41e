package policy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func loadPolicy(t *testing.T, file string, kind Kind) *Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return mustCompile(t, kind, string(data)).Named(file)
}

func loadRequest(t *testing.T, file string) *Request {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	req, err := DecodeRequest(data)
	if err != nil {
		t.Fatalf("DecodeRequest(%s): %v", file, err)
	}
	return req
}

func TestExplainGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policies []string
		kind     Kind
		session  []string
		request  string
		want     Decision
	}{
		{"trust-allow", []string{"trust-circleci.json"}, KindTrust, nil, "request-circleci-main.json", Allow},
		{"trust-deny-branch", []string{"trust-circleci.json"}, KindTrust, nil, "request-circleci-branch.json", ImplicitDeny},
		{"identity-allow", []string{"identity-deploy.json"}, KindIdentity, nil, "request-put.json", Allow},
		{"identity-explicit-deny", []string{"identity-deploy.json"}, KindIdentity, nil, "request-delete-archive.json", ExplicitDeny},
		{"identity-variables", []string{"identity-home.json"}, KindIdentity, nil, "request-home-list.json", ImplicitDeny},
		{"session-intersection-deny", []string{"identity-deploy.json"}, KindIdentity, []string{"session-readonly.json"}, "request-put.json", ImplicitDeny},
	}
	for _, tc := range tests {
		t.Run("explain "+tc.name, func(t *testing.T) {
			t.Parallel()
			var identity, session []*Policy
			for _, f := range tc.policies {
				identity = append(identity, loadPolicy(t, f, tc.kind))
			}
			for _, f := range tc.session {
				session = append(session, loadPolicy(t, f, KindSession))
			}
			req := loadRequest(t, tc.request)
			d, tr := ExplainWithSession(req, identity, session)
			if d != tc.want {
				t.Errorf("decision = %v, want %v", d, tc.want)
			}
			if e := EvaluateWithSession(req, identity, session); e != d {
				t.Errorf("EvaluateWithSession = %v, Explain = %v", e, d)
			}
			js, err := json.MarshalIndent(tr, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "explain-"+tc.name+".golden", tr.Text()+"\n"+string(js)+"\n")
		})
	}
}

func TestLintGolden(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"trust-circleci.json", "trust-github-risky.json", "identity-deploy.json", "identity-home.json"} {
		t.Run("lint "+file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			findings := Lint(doc, LintOptions{})
			for _, f := range findings {
				b.WriteString(f.String() + "\n")
			}
			js, err := json.MarshalIndent(findings, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "lint-"+strings.TrimSuffix(file, ".json")+".golden", b.String()+"\n"+string(js)+"\n")
		})
	}
}

func TestTraceAndFindingsSurviveJSON(t *testing.T) {
	t.Parallel()
	identity := []*Policy{loadPolicy(t, "identity-deploy.json", KindIdentity)}
	session := []*Policy{loadPolicy(t, "session-readonly.json", KindSession)}
	_, tr := ExplainWithSession(loadRequest(t, "request-delete-archive.json"), identity, session)
	js, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back Trace
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tr, &back); diff != "" {
		t.Errorf("trace after a JSON round trip (-want +got):\n%s", diff)
	}
	doc, err := Parse([]byte(trustDoc(githubProvider, "")))
	if err != nil {
		t.Fatal(err)
	}
	findings := Lint(doc, LintOptions{})
	js, err = json.Marshal(findings)
	if err != nil {
		t.Fatal(err)
	}
	var fback []Finding
	if err := json.Unmarshal(js, &fback); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(findings, fback); diff != "" {
		t.Errorf("findings after a JSON round trip (-want +got):\n%s", diff)
	}
}
