package client

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

var sampleCreds = Credentials{AccessKeyID: "ASIAEXAMPLEKEY000001", SecretAccessKey: testSecret, SessionToken: "FwoG'quote",
	Expiration: time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)}

func TestEnvOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, golden string
		cfg          Config
	}{
		{"against AWS only credentials and region are exported", "env-aws.golden", Config{Region: "eu-west-1"}},
		{"against keyless the one endpoint serves STS and S3", "env-keyless.golden",
			Config{Region: "us-east-1", STSEndpoint: Endpoint{URL: "http://127.0.0.1:8700", From: "--sts-endpoint"}}},
		{"a separate S3 endpoint is exported for S3 and as the default", "env-s3.golden",
			Config{Region: "us-east-1", STSEndpoint: Endpoint{URL: "http://sts:8700"}, S3Endpoint: "http://s3:9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := WriteEnv(&b, EnvVars(sampleCreds, tt.cfg)); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, b.Bytes())
		})
	}
}

func TestEnvOutputIsReadBackByAShell(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	var b bytes.Buffer
	_ = WriteEnv(&b, []Var{{"A", "it's $HOME `x` \"q\" \\n"}})
	b.WriteString(`printf %s "$A"`)
	out, err := exec.Command(sh, "-c", b.String()).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "it's $HOME `x` \"q\" \\n"; got != want {
		t.Errorf("shell read %q, want %q", got, want)
	}
}

func TestJSONOutputIsCredentialProcessVersion1(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleCreds); err != nil {
		t.Fatal(err)
	}
	golden(t, "credential-process.golden", b.Bytes())
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["Version"] != float64(1) {
		t.Errorf("Version = %v, want 1", got["Version"])
	}
}
