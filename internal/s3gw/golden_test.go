package s3gw_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/s3gw"
)

// updating reports the -update flag, which errors_test.go (package s3gw, same test
// binary) defines.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestXMLBodies compares the documents the gateway answers with golden files, with a
// fixed clock and request id.
func TestXMLBodies(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0 }
	cfg := testConfig(t, false, "all")
	backend := newMemBackend(now)
	ctx := context.Background()
	for _, b := range []string{"site", "other"} {
		if err := backend.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a.txt", "dir/b.txt", "dir/c.txt", "protected/p", "with space+plus"} {
		if _, err := backend.PutObject(ctx, "site", k, strings.NewReader("data"), s3gw.PutOptions{Size: 4}); err != nil {
			t.Fatal(err)
		}
	}
	sealer := credentials.NewSealer(fixedKeys{make([]byte, 32)}, now)
	gw, err := s3gw.New(s3gw.Options{Config: cfg, Backend: backend, Sealer: sealer, Audit: &memSink{}, Now: now,
		RequestID: func(*http.Request) string { return "REQUESTID0000001" }})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := cfg.FindRole("deployer")
	s := &credentials.Session{AccessKeyID: "ASIAGOLDENGOLDEN001", SecretAccessKey: "secret", SessionID: "sid",
		RoleARN: cfg.RoleARN(*r), RoleID: cfg.RoleID(*r), SessionName: "golden", IssuedAt: t0, Expiration: t0.Add(time.Hour)}
	token, err := sealer.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: token}
	tests := []struct {
		name, method, target, body string
	}{
		{"list-objects-v2", "GET", "/site?list-type=2&delimiter=%2F&encoding-type=url&max-keys=3", ""},
		{"list-objects-v1", "GET", "/site?prefix=dir%2F&marker=dir%2Fb.txt", ""},
		{"list-object-versions", "GET", "/site?versions&max-keys=1", ""},
		{"list-buckets", "GET", "/", ""},
		{"get-bucket-location", "GET", "/site?location", ""},
		{"get-bucket-versioning", "GET", "/site?versioning", ""},
		{"delete-objects", "POST", "/site?delete", `<Delete><Object><Key>a.txt</Key></Object><Object><Key>protected/p</Key></Object></Delete>`},
		{"initiate-multipart-upload", "POST", "/other/big?uploads", ""},
		{"no-such-key", "GET", "/site/missing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name+" matches its golden file", func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:8700"+tc.target, strings.NewReader(tc.body))
			sum := sha256.Sum256([]byte(tc.body))
			hash := hex.EncodeToString(sum[:])
			req.Header.Set("X-Amz-Content-Sha256", hash)
			if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", "us-east-1", t0); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, req)
			got := strings.ReplaceAll(w.Body.String(), w.Header().Get("X-Amz-Id-2"), "HOSTID")
			golden(t, tc.name+".golden", []byte(got))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}
