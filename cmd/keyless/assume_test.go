package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/oidctest"
	"github.com/keyless-dev/keyless/internal/policy"
	"github.com/keyless-dev/keyless/internal/sts"
)

// The seed's CircleCI org, project and deploy role.
const (
	seedOrg     = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	seedProject = "9c8d7e6f-1a2b-3c4d-5e6f-7a8b9c0d1e2f"
	seedAccount = "123456789012"
	seedRole    = "arn:aws:iam::" + seedAccount + ":role/CircleCI-OIDC-Role"
	seedTrust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"Federated":"arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{"StringEquals":{"%[2]s:aud":"%[3]s"},"StringLike":{"%[2]s:sub":"org/%[3]s/project/%[4]s/user/*"}}}]}`
)

// helperEnv makes the test binary act as an AWS SDK program run by keyless exec.
const helperEnv = "KEYLESS_CMD_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "caller" {
		os.Exit(callerIdentity())
	}
	os.Exit(m.Run())
}

// callerIdentity is a program that uses the SDK's default configuration (environment,
// then container credentials) and prints who it is.
func callerIdentity() int {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	out, err := awssts.NewFromConfig(cfg).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	creds, _ := cfg.Credentials.Retrieve(ctx)
	fmt.Printf("%s via %s\n", aws.ToString(out.Arn), creds.Source)
	return 0
}

type sealKey []byte

func (k sealKey) SealingKey() (string, []byte, error)  { return "k1", k, nil }
func (k sealKey) OpeningKey(kid string) ([]byte, bool) { return k, kid == "k1" }

type memorySink struct {
	mu     sync.Mutex
	events []*audit.Event
}

func (s *memorySink) Record(_ context.Context, e *audit.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

// keylessSTS is the real STS handler of internal/sts on httptest, trusting an oidctest
// CircleCI-like issuer for the seed's role.
type keylessSTS struct {
	idp *oidctest.Provider
	url string
}

func newKeylessSTS(t *testing.T) *keylessSTS {
	t.Helper()
	idp := oidctest.New(t, oidctest.WithTLS(), oidctest.WithPath("/org/"+seedOrg))
	host := strings.TrimPrefix(idp.URL(), "https://")
	trust := fmt.Sprintf(seedTrust, seedAccount, host, seedOrg, seedProject)
	compiled, err := policy.ParseAndCompile([]byte(trust), policy.KindTrust)
	if err != nil {
		t.Fatal(err)
	}
	var zero float64
	cfg := &config.Config{
		AccountID: seedAccount, Region: "us-east-1",
		Providers: []config.Provider{{URL: idp.URL(), ClientIDs: []string{seedOrg}}},
		Roles: []config.Role{{Name: "CircleCI-OIDC-Role", Path: "/", MaxSessionDuration: config.Duration(time.Hour),
			TrustPolicy: config.PolicySource{JSON: []byte(trust), Compiled: compiled}}},
		RateLimits: config.RateLimits{PerSourceIP: &zero, PerRole: &zero},
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := idtoken.New(idtoken.Options{Providers: sts.IDTokenProviders(cfg), HTTPClient: idp.Client(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h, err := sts.New(sts.Options{Config: cfg, Verifier: v, Sealer: credentials.NewSealer(sealKey(key), time.Now),
		Audit: &memorySink{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &keylessSTS{idp: idp, url: srv.URL}
}

// tokenFile writes a CircleCI v2 token of the seed's project (or another) with a
// trailing newline, as CircleCI's docs write token files.
func (k *keylessSTS) tokenFile(t *testing.T, project string) (path, token string) {
	t.Helper()
	claims := k.idp.Claims(time.Now(), seedOrg, "org/"+seedOrg+"/project/"+project+"/user/u1/vcs-origin/github.com/acme/site/vcs-ref/refs/heads/main")
	token = k.idp.Sign(claims)
	path = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, token
}

// callerARN calls GetCallerIdentity on keyless with static credentials.
func (k *keylessSTS) callerARN(t *testing.T, id, secret, session string) string {
	t.Helper()
	c := awssts.New(awssts.Options{Region: "us-east-1", BaseEndpoint: aws.String(k.url), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: session}, nil
		})})
	out, err := c.GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the printed credentials: %v", err)
	}
	return aws.ToString(out.Arn)
}

// parse reads args like the real CLI does and returns the parsed command tree.
func parse(t *testing.T, args ...string) *cliTree {
	t.Helper()
	var c cliTree
	p, err := kong.New(&c, kong.Name("keyless"), kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return &c
}

// testEnv is a process environment made of vars only.
func testEnv(vars map[string]string) env {
	environ := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return env{getenv: func(k string) string { return vars[k] }, environ: environ, home: "/nonexistent", now: time.Now}
}

func runAssume(t *testing.T, e env, args ...string) (out, errOut string, err error) {
	t.Helper()
	c := parse(t, append([]string{"assume"}, args...)...)
	var o, eb bytes.Buffer
	err = c.Assume.run(t.Context(), stdio{In: strings.NewReader(""), Out: &o, Err: &eb}, e)
	return o.String(), eb.String(), err
}

func TestAssumeAgainstKeylessSTSPrintsCredentialsThatWork(t *testing.T) {
	t.Parallel()
	k := newKeylessSTS(t)
	tokFile, _ := k.tokenFile(t, seedProject)
	e := testEnv(map[string]string{"CIRCLE_JOB": "build and deploy", "AWS_ENDPOINT_URL_STS": k.url})
	wantARN := "arn:aws:sts::" + seedAccount + ":assumed-role/CircleCI-OIDC-Role/build-and-deploy"

	t.Run("json is the credential_process format", func(t *testing.T) {
		t.Parallel()
		out, stderr, err := runAssume(t, e, "--token-file", tokFile, "--role-arn", seedRole, "--format", "json", "--duration", "900")
		if err != nil {
			t.Fatalf("assume: %v\n%s", err, stderr)
		}
		var pc struct {
			Version                                                int
			AccessKeyId, SecretAccessKey, SessionToken, Expiration string
		}
		if err := json.Unmarshal([]byte(out), &pc); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		exp, _ := time.Parse(time.RFC3339, pc.Expiration)
		if pc.Version != 1 || time.Until(exp) > 15*time.Minute || time.Until(exp) < 14*time.Minute {
			t.Errorf("Version %d, Expiration %s: want 1 and 15 minutes from now", pc.Version, pc.Expiration)
		}
		if got := k.callerARN(t, pc.AccessKeyId, pc.SecretAccessKey, pc.SessionToken); got != wantARN {
			t.Errorf("caller = %s, want %s", got, wantARN)
		}
		if !strings.Contains(stderr, `role session name "build-and-deploy" from $CIRCLE_JOB`) {
			t.Errorf("stderr does not explain the session name:\n%s", stderr)
		}
	})

	t.Run("env exports the credentials, the region and the endpoints", func(t *testing.T) {
		t.Parallel()
		out, stderr, err := runAssume(t, e, "--token-file", tokFile, "--role-arn", seedRole, "-q")
		if err != nil {
			t.Fatalf("assume: %v\n%s", err, stderr)
		}
		vars := parseExports(t, out)
		for name, want := range map[string]string{"AWS_ENDPOINT_URL_STS": k.url, "AWS_ENDPOINT_URL": k.url, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"} {
			if vars[name] != want {
				t.Errorf("%s = %q, want %q", name, vars[name], want)
			}
		}
		if got := k.callerARN(t, vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], vars["AWS_SESSION_TOKEN"]); got != wantARN {
			t.Errorf("caller = %s, want %s", got, wantARN)
		}
		if stderr != "" {
			t.Errorf("-q printed notes:\n%s", stderr)
		}
	})

	t.Run("a profile is written and the SDK uses it, endpoint included", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		credFile, confFile := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
		if err := os.WriteFile(credFile, []byte("# mine\n[default]\naws_access_key_id = AKIAKEEP\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		pe := testEnv(map[string]string{"CIRCLE_OIDC_TOKEN_V2": readFile(t, tokFile), "AWS_ROLE_ARN": seedRole,
			"AWS_ROLE_SESSION_NAME": "build-and-deploy", "AWS_SHARED_CREDENTIALS_FILE": credFile, "AWS_CONFIG_FILE": confFile})
		out, stderr, err := runAssume(t, pe, "--profile", "ci", "--sts-endpoint", k.url)
		if err != nil || out != "" {
			t.Fatalf("assume: %v, stdout %q\n%s", err, out, stderr)
		}
		if got := readFile(t, credFile); !strings.HasPrefix(got, "# mine\n[default]\naws_access_key_id = AKIAKEEP\n[ci]\n") {
			t.Errorf("credentials file lost its content:\n%s", got)
		}
		cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithSharedConfigProfile("ci"),
			awsconfig.WithSharedCredentialsFiles([]string{credFile}), awsconfig.WithSharedConfigFiles([]string{confFile}))
		if err != nil {
			t.Fatal(err)
		}
		who, err := awssts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("GetCallerIdentity with profile ci: %v", err)
		}
		if aws.ToString(who.Arn) != wantARN {
			t.Errorf("caller = %s, want %s", aws.ToString(who.Arn), wantARN)
		}
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseExports reads `export NAME='value'` lines.
func parseExports(t *testing.T, out string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		name, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok || !strings.HasPrefix(v, "'") || !strings.HasSuffix(v, "'") {
			t.Fatalf("not an export line: %q", sc.Text())
		}
		vars[name] = strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
	}
	return vars
}

func TestADeniedAssumeExplainsWhatToCheckWithoutTheToken(t *testing.T) {
	t.Parallel()
	k := newKeylessSTS(t)
	tokFile, token := k.tokenFile(t, "another-project")
	_, stderr, err := runAssume(t, testEnv(nil), "--token-file", tokFile, "--role-arn", seedRole,
		"--role-session-name", "s1", "--sts-endpoint", k.url)
	if err == nil {
		t.Fatal("assume succeeded with a token of another project")
	}
	msg := err.Error()
	for _, want := range []string{"AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity", "1 attempt",
		"check: the role ARN " + seedRole, "/project/another-project/", `aud="` + seedOrg + `"`, "--token-file " + tokFile} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	sig := token[strings.LastIndex(token, ".")+1:]
	if strings.Contains(msg+stderr, sig) {
		t.Errorf("the token's signature was printed:\n%s\n%s", msg, stderr)
	}
	if code := exitCode(io.Discard, err); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
}

func TestAssumeBadInputExitsTwo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown format", []string{"assume", "--format", "yaml", "--role-arn", seedRole}, "--format \"yaml\""},
		{"a token on the command line", []string{"assume", "--token", "eyJhbGciOi.e30.sig", "--role-arn", seedRole}, "visible to every process"},
		{"a duration STS refuses", []string{"assume", "--token-file", "/dev/null", "--role-arn", seedRole, "--duration", "5m"}, "15m (900) to 12h"},
		{"exec without a command", []string{"exec", "--token-file", "/dev/null", "--role-arn", seedRole}, "expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if strings.Contains(stderr, "eyJhbGciOi") {
				t.Errorf("the token was printed: %q", stderr)
			}
		})
	}
}

func runExec(t *testing.T, e env, args ...string) (int, string, string) {
	t.Helper()
	c := parse(t, append([]string{"exec"}, args...)...)
	var o, eb bytes.Buffer
	err := c.Exec.run(t.Context(), stdio{In: strings.NewReader(""), Out: &o, Err: &eb}, e, nil)
	return exitCode(&eb, err), o.String(), eb.String()
}

func TestExecRunsTheCommandWithTheCredentials(t *testing.T) {
	t.Parallel()
	k := newKeylessSTS(t)
	tokFile, _ := k.tokenFile(t, seedProject)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--token-file", tokFile, "--role-arn", seedRole, "--role-session-name", "deploy", "--sts-endpoint", k.url}
	wantARN := "arn:aws:sts::" + seedAccount + ":assumed-role/CircleCI-OIDC-Role/deploy"

	t.Run("the command's exit status is passed through", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runExec(t, testEnv(nil), append(common, "--", "sh", "-c", "exit 7")...)
		if code != 7 {
			t.Errorf("exit %d, want 7\n%s", code, stderr)
		}
	})
	t.Run("an SDK program finds static credentials and the keyless endpoint in its environment", func(t *testing.T) {
		t.Parallel()
		code, out, stderr := runExec(t, testEnv(map[string]string{helperEnv: "caller"}),
			append(common, "--", self)...)
		if code != 0 || out != wantARN+" via EnvConfigCredentials\n" {
			t.Errorf("exit %d, output %q; want 0 and %s via the environment\n%s", code, out, wantARN, stderr)
		}
	})
	t.Run("with --refresh it gets them from the loopback endpoint and nothing else", func(t *testing.T) {
		t.Parallel()
		code, out, stderr := runExec(t, testEnv(map[string]string{helperEnv: "caller", "AWS_ACCESS_KEY_ID": "AKIASTALE",
			"AWS_SECRET_ACCESS_KEY": "stale", "AWS_PROFILE": "stale"}), append(common, "--refresh", "--", self)...)
		if code != 0 || out != wantARN+" via "+endpointProviderName+"\n" {
			t.Errorf("exit %d, output %q; want 0 and %s via the container endpoint\n%s", code, out, wantARN, stderr)
		}
	})
	t.Run("a missing command is 127", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runExec(t, testEnv(nil), append(common, "--", "keyless-no-such-command")...)
		if code != 127 || !strings.Contains(stderr, "keyless-no-such-command") {
			t.Errorf("exit %d, stderr %q; want 127 naming the command", code, stderr)
		}
	})
}

// endpointProviderName is the Source aws-sdk-go-v2 gives container credentials.
const endpointProviderName = "CredentialsEndpointProvider"
