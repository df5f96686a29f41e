package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenSourcesAreTriedInTheDocumentedOrder(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "token", "from-flag-file\n")
	webFile := writeFile(t, "web", "from-web-identity-file")
	all := map[string]string{
		"CIRCLE_OIDC_TOKEN_V2":        "from-v2",
		"CIRCLE_OIDC_TOKEN":           "from-v1",
		"AWS_WEB_IDENTITY_TOKEN_FILE": webFile,
	}
	without := func(keys ...string) map[string]string {
		m := map[string]string{}
		for k, v := range all {
			m[k] = v
		}
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	tests := []struct {
		name      string
		flags     Flags
		env       map[string]string
		wantName  string
		wantToken string
		renewable bool
	}{
		{"--token-file comes first", Flags{TokenFile: file}, all, "--token-file " + file, "from-flag-file", true},
		{"--token - reads standard input before any variable", Flags{Token: "-"}, all, "stdin", "from-stdin", false},
		{"$CIRCLE_OIDC_TOKEN_V2 comes before the v1 token", Flags{}, all, "$CIRCLE_OIDC_TOKEN_V2", "from-v2", false},
		{"$CIRCLE_OIDC_TOKEN is next", Flags{}, without("CIRCLE_OIDC_TOKEN_V2"), "$CIRCLE_OIDC_TOKEN", "from-v1", false},
		{"a blank variable counts as unset", Flags{}, map[string]string{"CIRCLE_OIDC_TOKEN_V2": "  ", "CIRCLE_OIDC_TOKEN": "from-v1"}, "$CIRCLE_OIDC_TOKEN", "from-v1", false},
		{"$AWS_WEB_IDENTITY_TOKEN_FILE is last", Flags{}, without("CIRCLE_OIDC_TOKEN_V2", "CIRCLE_OIDC_TOKEN"),
			"$AWS_WEB_IDENTITY_TOKEN_FILE (" + webFile + ")", "from-web-identity-file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := findToken(tt.flags, envOf(tt.env), strings.NewReader("from-stdin\n"))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			got := []any{src.Name, tok, src.Renewable()}
			if diff := cmp.Diff([]any{tt.wantName, tt.wantToken, tt.renewable}, got); diff != "" {
				t.Errorf("source (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenSourceRefusals(t *testing.T) {
	t.Parallel()
	empty := writeFile(t, "empty", "\n")
	tests := []struct {
		name  string
		flags Flags
		env   map[string]string
		want  string
	}{
		{"no source at all says where tokens can come from", Flags{}, nil, "no token: give --token-file"},
		{"a token on the command line is refused", Flags{Token: "eyJ.eyJ.sig"}, nil, "visible to every process"},
		{"two flags are ambiguous", Flags{Token: "-", TokenFile: "f"}, nil, "only one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := findToken(tt.flags, envOf(tt.env), strings.NewReader(""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "eyJ.eyJ.sig") {
				t.Errorf("error repeats the token: %v", err)
			}
		})
	}
	t.Run("an empty token file is an error when read", func(t *testing.T) {
		t.Parallel()
		_, err := FileToken("--token-file "+empty, empty).Token()
		if err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("error = %v, want 'is empty'", err)
		}
	})
	t.Run("a token file is read again on every call", func(t *testing.T) {
		t.Parallel()
		p := writeFile(t, "tok", "first")
		src := FileToken("f", p)
		if err := os.WriteFile(p, []byte("second"), 0o600); err != nil {
			t.Fatal(err)
		}
		if tok, _ := src.Token(); tok != "second" {
			t.Errorf("Token() = %q after the file changed, want second", tok)
		}
	})
}

func TestSanitizeSessionNameLikeTheOrb(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"a valid name is kept", "deploy-site_1", "deploy-site_1"},
		{"spaces become dashes", "build and deploy", "build-and-deploy"},
		{"runs of replaced characters squeeze to one dash", "a / b", "a-b"},
		{"existing dash runs are squeezed too, as tr -s does", "a--b", "a-b"},
		{"STS's punctuation is kept, plus included", "a+b=c,d.e@f", "a+b=c,d.e@f"},
		{"non-ASCII letters are replaced", "déploiement", "d-ploiement"},
		{"long names are cut to 64", strings.Repeat("x", 70), strings.Repeat("x", 64)},
		{"a name of only bad characters becomes one dash", "ééé", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SanitizeSessionName(tt.in); got != tt.want {
				t.Errorf("SanitizeSessionName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSanitizeSessionName(f *testing.F) {
	for _, s := range []string{"", "a", "build and deploy", "a--b", "日本語", strings.Repeat("ab ", 40), "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeSessionName(s)
		if len(got) > maxSessionName {
			t.Fatalf("%q: %d characters", got, len(got))
		}
		if len(got) >= minSessionName && !ValidSessionName(got) {
			t.Fatalf("%q is not a valid session name", got)
		}
		if again := SanitizeSessionName(got); again != got {
			t.Fatalf("not idempotent: %q then %q", got, again)
		}
		if strings.Contains(got, "--") {
			t.Fatalf("%q has a dash run", got)
		}
	})
}

func TestSessionNameDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flag  string
		env   map[string]string
		want  string
		noted bool
	}{
		{"the flag wins", "from-flag", map[string]string{"AWS_ROLE_SESSION_NAME": "from-env", "CIRCLE_JOB": "job"}, "from-flag", false},
		{"then $AWS_ROLE_SESSION_NAME", "", map[string]string{"AWS_ROLE_SESSION_NAME": "from-env", "CIRCLE_JOB": "job"}, "from-env", false},
		{"then $CIRCLE_JOB, sanitised", "", map[string]string{"CIRCLE_JOB": "build and deploy", "CIRCLE_WORKFLOW_ID": "wf-1"}, "build-and-deploy", true},
		{"a too-short job name falls through to the workflow id", "", map[string]string{"CIRCLE_JOB": "é", "CIRCLE_WORKFLOW_ID": "2b3c4d5e"}, "2b3c4d5e", true},
		{"with nothing set, keyless-<unix seconds>", "", nil, "keyless-1795978800", true},
		{"a given name is sanitised with a note", "my job", nil, "my-job", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, note, err := sessionName(Flags{RoleSessionName: tt.flag}, envOf(tt.env), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || (note != "") != tt.noted {
				t.Errorf("sessionName = %q (note %q), want %q (noted %v)", got, note, tt.want, tt.noted)
			}
		})
	}
	t.Run("a given name too short even after sanitising is refused", func(t *testing.T) {
		t.Parallel()
		if _, _, err := sessionName(Flags{RoleSessionName: "é"}, envOf(nil), testNow); err == nil {
			t.Error("accepted")
		}
	})
}

func TestResolveAppliesDefaultsAndChecksInput(t *testing.T) {
	t.Parallel()
	policy := writeFile(t, "policy.json", "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": []\n}\n")
	base := map[string]string{"CIRCLE_OIDC_TOKEN_V2": "tok", "AWS_ROLE_ARN": testRole, "CIRCLE_JOB": "deploy"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	type view struct {
		Role, Session, Region, STS, STSFrom, S3, Policy string
		Duration                                        time.Duration
	}
	tests := []struct {
		name  string
		flags Flags
		env   map[string]string
		want  view
	}{
		{"environment defaults", Flags{}, base, view{testRole, "deploy", "us-east-1", "", "", "", "", 0}},
		{"flags win over the environment", Flags{RoleARN: "arn:aws:iam::111111111111:role/x", Region: "eu-west-1", STSEndpoint: "http://127.0.0.1:8700", Duration: "900"},
			with("AWS_REGION", "us-west-2", "AWS_ENDPOINT_URL_STS", "http://other"),
			view{"arn:aws:iam::111111111111:role/x", "deploy", "eu-west-1", "http://127.0.0.1:8700", "--sts-endpoint", "", "", 900 * time.Second}},
		{"AWS_REGION before AWS_DEFAULT_REGION", Flags{}, with("AWS_REGION", "us-west-2", "AWS_DEFAULT_REGION", "eu-north-1"),
			view{testRole, "deploy", "us-west-2", "", "", "", "", 0}},
		{"AWS_DEFAULT_REGION alone", Flags{}, with("AWS_DEFAULT_REGION", "eu-north-1"), view{testRole, "deploy", "eu-north-1", "", "", "", "", 0}},
		{"the service variable before the global one", Flags{}, with("AWS_ENDPOINT_URL_STS", "http://sts", "AWS_ENDPOINT_URL", "http://all"),
			view{testRole, "deploy", "us-east-1", "http://sts", "$AWS_ENDPOINT_URL_STS", "", "", 0}},
		{"the global endpoint variable", Flags{}, with("AWS_ENDPOINT_URL", "http://all"), view{testRole, "deploy", "us-east-1", "http://all", "$AWS_ENDPOINT_URL", "", "", 0}},
		{"endpoint variables ignored on request", Flags{}, with("AWS_ENDPOINT_URL", "http://all", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
			view{testRole, "deploy", "us-east-1", "", "", "", "", 0}},
		{"a Go duration, an S3 endpoint and a compacted session policy", Flags{Duration: "2h", S3Endpoint: "http://s3", SessionPolicyFile: policy}, base,
			view{testRole, "deploy", "us-east-1", "", "", "http://s3", `{"Version":"2012-10-17","Statement":[]}`, 2 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Resolve(tt.flags, envOf(tt.env), nil, testNow)
			if err != nil {
				t.Fatal(err)
			}
			got := view{c.RoleARN, c.SessionName, c.Region, c.STSEndpoint.URL, c.STSEndpoint.From, c.S3Endpoint, c.SessionPolicy, c.Duration}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	big := writeFile(t, "big.json", `{"a":"`+strings.Repeat("x", 3000)+`"}`)
	_, err := Resolve(Flags{RoleARN: "arn:aws:s3:::bucket", Duration: "10m", STSEndpoint: "127.0.0.1:8700", SessionPolicyFile: big},
		envOf(nil), nil, testNow)
	if err == nil {
		t.Fatal("Resolve accepted bad input")
	}
	for _, want := range []string{"no token", "is not a role ARN", "15m (900) to 12h", "is not an http(s) URL", "at most 2048"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, bad := range []string{"1.5s", "abc", "43201", "900.5"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
}

func TestDescribeTokenDecodesWithoutVerifying(t *testing.T) {
	t.Parallel()
	got, err := DescribeToken(testToken(t, "org/o1/project/p1"))
	if err != nil {
		t.Fatal(err)
	}
	want := TokenInfo{Issuer: "https://oidc.circleci.com/org/o1", Audience: []string{"o1"}, Subject: "org/o1/project/p1",
		Expiry: time.Date(2025, 11, 29, 13, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeToken (-want +got):\n%s", diff)
	}
	if _, err := DescribeToken("not-a-jwt"); err == nil {
		t.Error("DescribeToken accepted a non-JWT")
	}
}

func FuzzDescribeToken(f *testing.F) {
	f.Add(testToken(f, "s"))
	f.Add("a.eyJhdWQiOlsieCIsInkiXSwiZXhwIjoxLjVlOX0.c")
	f.Add("a.e30.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		info, err := DescribeToken(tok)
		if err == nil {
			_ = info.String()
		}
	})
}
