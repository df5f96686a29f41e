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

// The inputs are the public SigV4 vectors copied into internal/sigv4/testdata.
const (
	vectors    = "../../internal/sigv4/testdata/aws-c-auth/v4/"
	vecSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	vecTime    = "2015-08-30T12:36:00Z"
	vanillaReq = vectors + "get-vanilla/header-signed-request.txt"
)

func runSigv4(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"sigv4", "explain"}, args...), stdio{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func readVector(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\n")
}

func TestSigv4ExplainText(t *testing.T) {
	t.Parallel()
	code, out, errOut := runSigv4(t, "", "--request", vanillaReq, "--secret-key", vecSecret, "--time", vecTime)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := readVector(t, "../../internal/sigv4/testdata/explain-match.golden") + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSigv4ExplainJSON(t *testing.T) {
	t.Parallel()
	for _, form := range []string{"header", "query"} {
		for _, name := range []string{"get-vanilla", "get-utf8", "get-space-normalized", "post-x-www-form-urlencoded"} {
			t.Run("the "+form+"-signed "+name+" vector prints the suite's answers as JSON", func(t *testing.T) {
				t.Parallel()
				dir := vectors + name + "/"
				code, out, errOut := runSigv4(t, "", "--request", dir+form+"-signed-request.txt",
					"--secret-key", vecSecret, "--time", vecTime, "--format", "json")
				if code != 0 {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				var got map[string]any
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("not one JSON object: %v\n%s", err, out)
				}
				want := map[string]any{
					"canonical_request": readVector(t, dir+form+"-canonical-request.txt"),
					"string_to_sign":    readVector(t, dir+form+"-string-to-sign.txt"),
					"signature":         readVector(t, dir+form+"-signature.txt"),
					"match":             true,
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestSigv4ExplainExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	anonymous := filepath.Join(dir, "anonymous.txt")
	garbage := filepath.Join(dir, "garbage.txt")
	for path, content := range map[string]string{anonymous: "GET / HTTP/1.1\nHost: h\n", garbage: "hello\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw := readVector(t, vanillaReq)
	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{"a matching request exits 0", "", []string{"--request", vanillaReq, "--secret-key", vecSecret, "--time", vecTime}, 0, "Signature matches:  yes", ""},
		{"a request read from standard input exits 0", raw, []string{"--request", "-", "--secret-key", vecSecret, "--time", vecTime}, 0, "Signature matches:  yes", ""},
		{"the wrong secret exits 1", "", []string{"--request", vanillaReq, "--secret-key", "wrong", "--time", vecTime}, 1, "Signature matches:  no", ""},
		{"a skewed request exits 1 and says why", "", []string{"--request", vanillaReq, "--secret-key", vecSecret, "--time", "2015-08-30T13:36:00Z"}, 1, "RequestTimeTooSkewed", ""},
		{"a skewed request in JSON exits 1 and says why on stderr", "", []string{"--request", vanillaReq, "--secret-key", vecSecret, "--time", "2015-08-30T13:36:00Z", "--format", "json"}, 1, `"match": true`, "RequestTimeTooSkewed"},
		{"a missing file exits 2", "", []string{"--request", filepath.Join(dir, "none"), "--secret-key", vecSecret}, 2, "", "no such file"},
		{"an anonymous request exits 2", "", []string{"--request", anonymous, "--secret-key", vecSecret}, 2, "", "anonymous"},
		{"a file that is not HTTP exits 2", "", []string{"--request", garbage, "--secret-key", vecSecret}, 2, "", "request line"},
		{"a bad --time exits 2", "", []string{"--request", vanillaReq, "--secret-key", vecSecret, "--time", "yesterday"}, 2, "", "--time"},
		{"a missing --secret-key exits 2", "", []string{"--request", vanillaReq}, 2, "", "secret-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.name, "missing --secret-key") && os.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
				t.Skip("AWS_SECRET_ACCESS_KEY is set, which stands in for --secret-key")
			}
			code, out, errOut := runSigv4(t, tt.stdin, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if strings.Contains(out+errOut, vecSecret) {
				t.Error("the secret key was printed")
			}
		})
	}
}
