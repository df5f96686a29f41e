package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var keyValues = []Var{
	{"aws_access_key_id", "ASIANEW"},
	{"aws_secret_access_key", "newsecret"},
	{"aws_session_token", "newtoken"},
}

func TestSetValuesEditsLikeAWSConfigureSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		section string
		values  []Var
		want    string
	}{
		{
			name: "an empty file gets the section", content: "", section: "ci", values: keyValues,
			want: "[ci]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n",
		},
		{
			name: "keys of an existing profile are replaced in place; other profiles and comments stay",
			content: "# managed by hand\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = keep\n\n" +
				"[ci]\n; the CI profile\naws_access_key_id=ASIAOLD\n# aws_session_token = commented out\naws_secret_access_key : oldsecret\n\n[other]\naws_access_key_id = AKIAOTHER\n",
			section: "ci", values: keyValues,
			want: "# managed by hand\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = keep\n\n" +
				"[ci]\n; the CI profile\naws_access_key_id = ASIANEW\n# aws_session_token = commented out\naws_secret_access_key = newsecret\naws_session_token = newtoken\n\n[other]\naws_access_key_id = AKIAOTHER\n",
		},
		{
			name: "a missing section is appended after a final line without newline", content: "[default]\nregion = eu-west-1",
			section: "profile ci", values: []Var{{"region", "us-east-1"}},
			want: "[default]\nregion = eu-west-1\n[profile ci]\nregion = us-east-1\n",
		},
		{
			name: "a missing key goes after the last option of a final section without newline", content: "[ci]\nregion = x",
			section: "ci", values: []Var{{"output", "json"}},
			want: "[ci]\nregion = x\noutput = json\n",
		},
		{
			name: "a quoted profile header matches", content: "[profile \"my ci\"]\nregion = x\n",
			section: "profile my ci", values: []Var{{"region", "y"}},
			want: "[profile \"my ci\"]\nregion = y\n",
		},
		{
			name:    "an indented sub-option is not a top-level key, and new keys go after the nested block",
			content: "[profile ci]\ns3 =\n    region = nested\n\n[default]\n",
			section: "profile ci", values: []Var{{"region", "us-east-1"}},
			want: "[profile ci]\ns3 =\n    region = nested\nregion = us-east-1\n\n[default]\n",
		},
		{
			name: "a section with no options gets its keys right after the header", content: "[ci]\n# empty\n[next]\n",
			section: "ci", values: []Var{{"region", "r"}},
			want: "[ci]\nregion = r\n# empty\n[next]\n",
		},
		{
			name: "CRLF line endings are kept on replaced lines", content: "[ci]\r\nregion = x\r\n",
			section: "ci", values: []Var{{"region", "y"}},
			want: "[ci]\r\nregion = y\r\n",
		},
		{
			name: "a commented-out header is not the section", content: "#[ci]\n# region = x\n",
			section: "ci", values: []Var{{"region", "y"}},
			want: "#[ci]\n# region = x\n[ci]\nregion = y\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := string(SetValues([]byte(tt.content), tt.section, tt.values))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SetValues (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzSetValues(f *testing.F) {
	for _, s := range []string{"", "[ci]\nregion = x", "[profile ci]\ns3 =\n  a = b\n[x]\n", "[ci]\r\n;c\r\nk: v\r\n", "#[ci]\n[ci", "=\n[ci]\n=x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		vs := []Var{{"region", "us-east-1"}, {"endpoint_url", "http://127.0.0.1:8700"}}
		once := SetValues([]byte(content), "profile ci", vs)
		twice := SetValues(once, "profile ci", vs)
		if string(once) != string(twice) {
			t.Fatalf("not idempotent:\n%q\n%q", once, twice)
		}
		lines := splitLines(string(once))
		start := findSection(lines, "profile ci")
		if start < 0 {
			t.Fatalf("section missing in %q", once)
		}
		body := map[string]bool{}
		for _, l := range lines[start+1:] {
			if sectionHeader(l) != "" {
				break
			}
			body[strings.TrimRight(l, "\r\n")] = true
		}
		for _, v := range vs {
			if !body[v.Name+" = "+v.Value] {
				t.Fatalf("%s not set in %q", v.Name, once)
			}
		}
	})
}

func TestUpdateFileIsAtomicAndPrivate(t *testing.T) {
	t.Parallel()
	t.Run("a missing file and folder are created, the folder 0700 and the file 0600", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "home", ".aws", "credentials")
		if err := UpdateFile(p, "ci", keyValues[:1]); err != nil {
			t.Fatal(err)
		}
		assertMode(t, p, 0o600)
		assertMode(t, filepath.Dir(p), 0o700|os.ModeDir)
	})
	t.Run("a world-readable file becomes 0600 and keeps its other content", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(p, []byte("[default]\naws_access_key_id = AKIA\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := UpdateFile(p, "ci", keyValues[:1]); err != nil {
			t.Fatal(err)
		}
		assertMode(t, p, 0o600)
		got, _ := os.ReadFile(p)
		if want := "[default]\naws_access_key_id = AKIA\n[ci]\naws_access_key_id = ASIANEW\n"; string(got) != want {
			t.Errorf("content = %q, want %q", got, want)
		}
		entries, _ := os.ReadDir(filepath.Dir(p))
		if len(entries) != 1 {
			t.Errorf("folder holds %d entries after the update, want 1 (no temporary file left)", len(entries))
		}
	})
	t.Run("a symlinked file stays a symlink and its target is updated", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		target := filepath.Join(dir, "real-credentials")
		link := filepath.Join(dir, "credentials")
		if err := os.WriteFile(target, []byte("[x]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Skip("no symlinks here:", err)
		}
		if err := UpdateFile(link, "ci", keyValues[:1]); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("link replaced by a file (%v)", err)
		}
		got, _ := os.ReadFile(target)
		if !strings.Contains(string(got), "ASIANEW") {
			t.Errorf("target not updated: %q", got)
		}
	})
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != want {
		t.Errorf("%s mode = %v, want %v", p, got, want)
	}
}

func TestWriteProfileFillsBothFiles(t *testing.T) {
	t.Parallel()
	creds := Credentials{AccessKeyID: "ASIAX", SecretAccessKey: "s", SessionToken: "t", Expiration: testNow.Add(time.Hour)}
	cfg := Config{Region: "eu-west-1", STSEndpoint: Endpoint{URL: "http://127.0.0.1:8700", From: "--sts-endpoint"}}
	tests := []struct {
		name, profile, wantConfig string
	}{
		{"a named profile is [profile NAME] in the config file", "ci",
			"[default]\nregion = us-east-1\n[profile ci]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:8700\n"},
		{"the default profile is [default]", "default",
			"[default]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:8700\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cp, fp := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
			if err := os.WriteFile(fp, []byte("[default]\nregion = us-east-1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := WriteProfile(tt.profile, creds, cfg, cp, fp); err != nil {
				t.Fatal(err)
			}
			gotCreds, _ := os.ReadFile(cp)
			wantCreds := "[" + tt.profile + "]\naws_access_key_id = ASIAX\naws_secret_access_key = s\naws_session_token = t\n"
			if diff := cmp.Diff(wantCreds, string(gotCreds)); diff != "" {
				t.Errorf("credentials file (-want +got):\n%s", diff)
			}
			gotConfig, _ := os.ReadFile(fp)
			if diff := cmp.Diff(tt.wantConfig, string(gotConfig)); diff != "" {
				t.Errorf("config file (-want +got):\n%s", diff)
			}
		})
	}
	if err := WriteProfile("bad]name", creds, cfg, "x", "y"); err == nil {
		t.Error("a profile name with a bracket was accepted")
	}
}

func TestProfileFilesHonourTheAWSVariables(t *testing.T) {
	t.Parallel()
	c, f := ProfileFiles(envOf(nil), "/home/ci")
	if c != "/home/ci/.aws/credentials" || f != "/home/ci/.aws/config" {
		t.Errorf("defaults = %q, %q", c, f)
	}
	c, f = ProfileFiles(envOf(map[string]string{"AWS_SHARED_CREDENTIALS_FILE": "~/creds", "AWS_CONFIG_FILE": "/etc/aws/config"}), "/home/ci")
	if c != "/home/ci/creds" || f != "/etc/aws/config" {
		t.Errorf("from the variables = %q, %q", c, f)
	}
}
