package apierr

import (
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func TestRenderedErrorsMatchAWSShapes(t *testing.T) {
	invalidToken := New("InvalidIdentityToken", 400, "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
	sig := New("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.").
		WithField("AWSAccessKeyId", "ASIAEXAMPLE").
		WithField("StringToSign", "AWS4-HMAC-SHA256\n20230921T143905Z\n20230921/us-east-1/s3/aws4_request\nabc<&>")
	tests := []struct {
		name string
		got  []byte
	}{
		{"sts-error", MarshalSTS(invalidToken, "26603485-0bd5-11ea-a642-b7dfa91cf04b")},
		{"sts-error-json", MarshalSTSJSON(invalidToken, "26603485-0bd5-11ea-a642-b7dfa91cf04b")},
		{"s3-error-with-fields", MarshalS3(sig, "A1F516XX5M8AATSQ", "host-id")},
	}
	for _, tt := range tests {
		t.Run(tt.name+" renders as its golden file", func(t *testing.T) {
			golden(t, tt.name, tt.got)
		})
	}
}

func TestWriteSTSSetsStatusContentTypeAndRequestIDHeader(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteSTS(rec, New("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity"), "req-1", false)
	got := map[string]any{"status": rec.Code, "type": rec.Header().Get("Content-Type"), "id": rec.Header().Get("x-amzn-RequestId")}
	want := map[string]any{"status": 403, "type": "text/xml", "id": "req-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteS3AnswersHeadWithoutBody(t *testing.T) {
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		t.Run(method+" request", func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteS3(rec, httptest.NewRequest(method, "/b/k", nil), New("NoSuchKey", 404, "The specified key does not exist."), "r", "h")
			if rec.Code != 404 {
				t.Errorf("status = %d, want 404", rec.Code)
			}
			if hasBody := rec.Body.Len() > 0; hasBody != (method == http.MethodGet) {
				t.Errorf("body present = %v for %s", hasBody, method)
			}
		})
	}
}

func TestCauseIsKeptButNeverRendered(t *testing.T) {
	cause := errors.New("secret detail: database at 10.0.0.1")
	e := STSInternal(cause)
	if !errors.Is(e, cause) {
		t.Errorf("errors.Is(e, cause) = false, want the cause to be reachable")
	}
	for _, body := range [][]byte{MarshalSTS(e, "r"), MarshalSTSJSON(e, "r"), MarshalS3(S3Internal(cause), "r", "h")} {
		if got := string(body); strings.Contains(got, "secret detail") {
			t.Errorf("rendered body leaks the cause: %s", got)
		}
	}
}

func TestNewChoosesFaultFromStatus(t *testing.T) {
	tests := []struct {
		status int
		want   Fault
	}{{400, Sender}, {403, Sender}, {500, Receiver}, {503, Receiver}}
	for _, tt := range tests {
		if got := New("X", tt.status, "m").Fault; got != tt.want {
			t.Errorf("status %d: fault = %s, want %s", tt.status, got, tt.want)
		}
	}
}

func TestNewUUIDIsARandomVersion4UUID(t *testing.T) {
	a, b := NewUUID(), NewUUID()
	if a == b {
		t.Fatalf("two UUIDs are equal: %s", a)
	}
	for _, u := range []string{a, b} {
		if len(u) != 36 || u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' || u[14] != '4' || !strings.ContainsRune("89ab", rune(u[19])) {
			t.Errorf("%q is not a version 4 UUID", u)
		}
	}
}
