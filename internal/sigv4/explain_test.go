package sigv4

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestExplainTextGolden(t *testing.T) {
	t.Parallel()
	vanilla := readFile(t, "testdata/aws-c-auth/v4/get-vanilla/header-signed-request.txt")
	tests := []struct {
		name   string
		golden string
		raw    string
		secret string
		now    time.Time
		rules  Rules
	}{
		{"a matching header-signed request", "explain-match", vanilla, katSecret, katTime, RulesAuto},
		{"a request signed with another key", "explain-mismatch", vanilla, "wrong", katTime, RulesAuto},
		{"a request an hour old", "explain-skewed", vanilla, katSecret, katTime.Add(time.Hour), RulesAuto},
		{"a presigned request under S3 rules", "explain-presigned-s3", readFile(t, "testdata/aws-c-auth/v4/get-slashes-unnormalized/query-signed-request.txt"), katSecret, katTime, RulesS3},
		{"an expired presigned request", "explain-expired", readFile(t, "testdata/aws-c-auth/v4/get-vanilla/query-signed-request.txt"), katSecret, katTime.Add(2 * time.Hour), RulesAuto},
		{"a changed form body", "explain-body", strings.Replace(readFile(t, "testdata/aws-c-auth/v4/post-x-www-form-urlencoded/header-signed-request.txt"), "value1", "value2", 1), katSecret, katTime, RulesAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is explained as in "+tt.golden+".golden", func(t *testing.T) {
			t.Parallel()
			e, err := Explain([]byte(tt.raw), tt.secret, tt.now, tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := e.WriteText(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(readFile(t, path), got.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadRawRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, wantErr string
		wantPath, wantURI  string
	}{
		{name: "a raw path with spaces and UTF-8 is kept byte for byte", raw: "GET /a b/\xe1\x88\xb4?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
			wantPath: "/a b/\xe1\x88\xb4", wantURI: "/a b/\xe1\x88\xb4?x=1"},
		{name: "escapes in the path are decoded", raw: "GET /a%20b%2Fc HTTP/1.1\nHost: h\n", wantPath: "/a b/c", wantURI: "/a%20b%2Fc"},
		{name: "a request line without a protocol is refused", raw: "GET /\n", wantErr: "request line"},
		{name: "a bad escape is refused", raw: "GET /%zz HTTP/1.1\n", wantErr: "bad escape"},
		{name: "a header line without a colon is refused", raw: "GET / HTTP/1.1\nHost h\n", wantErr: "malformed header"},
		{name: "two Host headers are refused", raw: "GET / HTTP/1.1\nHost: a\nHost: b\n", wantErr: "more than one Host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ReadRawRequest([]byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.URL.Path != tt.wantPath || r.RequestURI != tt.wantURI || r.Host != "h" {
				t.Errorf("path %q uri %q host %q", r.URL.Path, r.RequestURI, r.Host)
			}
		})
	}
}
