package sigv4

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The known-answer vectors: testdata/aws-c-auth (awslabs/aws-c-auth v4 suite) and
// testdata/botocore-aws4_testsuite (the 2015 aws4_testsuite as vendored by botocore),
// both Apache-2.0, copied with their SOURCE.md notes.

const katSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

var katTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

type katContext struct {
	Normalize        bool   `json:"normalize"`
	Timestamp        string `json:"timestamp"`
	OmitSessionToken bool   `json:"omit_session_token"`
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// trimVector drops the trailing newline some vector files end with.
func trimVector(s string) string { return strings.TrimRight(s, "\n") }

func TestKnownAnswersFromAWSCAuth(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob("testdata/aws-c-auth/v4/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, dir := range dirs {
		var ctx katContext
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "context.json"))), &ctx); err != nil {
			t.Fatal(err)
		}
		now, err := time.Parse(time.RFC3339, ctx.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		rules := RulesS3
		if ctx.Normalize {
			rules = RulesGeneric
		}
		for _, form := range []string{"header", "query"} {
			t.Run(filepath.Base(dir)+" signed in the "+form+" form", func(t *testing.T) {
				t.Parallel()
				raw := readFile(t, filepath.Join(dir, form+"-signed-request.txt"))
				e, err := Explain([]byte(raw), katSecret, now, rules)
				if ctx.OmitSessionToken {
					// The token was added after signing: it must not be accepted.
					assertUnsignedTokenRejected(t, form, e, err)
					return
				}
				if err != nil {
					t.Fatalf("Explain: %v", err)
				}
				want := Explanation{
					CanonicalRequest: trimVector(readFile(t, filepath.Join(dir, form+"-canonical-request.txt"))),
					StringToSign:     trimVector(readFile(t, filepath.Join(dir, form+"-string-to-sign.txt"))),
					Signature:        trimVector(readFile(t, filepath.Join(dir, form+"-signature.txt"))),
					Match:            true,
				}
				assertExplanation(t, want, e)
			})
		}
	}
}

func assertUnsignedTokenRejected(t *testing.T, form string, e *Explanation, err error) {
	t.Helper()
	if form == "header" {
		var se *Error
		if !errors.As(err, &se) || se.Code != CodeAccessDenied || !cmp.Equal(se.HeadersNotSigned, []string{"x-amz-security-token"}) {
			t.Fatalf("got %v, want AccessDenied for the unsigned x-amz-security-token", err)
		}
		return
	}
	if err != nil || e.Match {
		t.Fatalf("got match=%v err=%v, want a mismatch: a presigned token is part of the canonical query", e != nil && e.Match, err)
	}
}

func assertExplanation(t *testing.T, want Explanation, got *Explanation) {
	t.Helper()
	if diff := cmp.Diff(want.CanonicalRequest, got.CanonicalRequest); diff != "" {
		t.Errorf("canonical request (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.StringToSign, got.StringToSign); diff != "" {
		t.Errorf("string to sign (-want +got):\n%s", diff)
	}
	if got.Signature != want.Signature || got.Match != want.Match {
		t.Errorf("signature %s match %v, want %s match %v", got.Signature, got.Match, want.Signature, want.Match)
	}
	if got.Problem != nil {
		t.Errorf("problem: %v", got.Problem)
	}
}

func TestKnownAnswersFromBotocoreSuite(t *testing.T) {
	t.Parallel()
	reqs, err := filepath.Glob("testdata/botocore-aws4_testsuite/*/*.sreq")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("testdata/botocore-aws4_testsuite/*/*/*.sreq")
	reqs = append(reqs, more...)
	if len(reqs) < 30 {
		t.Fatalf("found %d vectors, want the whole suite", len(reqs))
	}
	for _, sreq := range reqs {
		base := strings.TrimSuffix(sreq, ".sreq")
		name := filepath.Base(base)
		t.Run(name+" verifies as the suite says", func(t *testing.T) {
			t.Parallel()
			// Upstream .sreq files are not all consistent with .authz (see SOURCE.md): use
			// .authz as the Authorization header.
			authz := trimVector(readFile(t, base+".authz"))
			var lines []string
			for line := range strings.SplitSeq(readFile(t, sreq), "\n") {
				if !strings.HasPrefix(line, "Authorization:") {
					lines = append(lines, line)
				}
			}
			raw := insertHeader(strings.Join(lines, "\n"), "Authorization: "+authz)
			e, err := Explain([]byte(raw), katSecret, katTime, RulesGeneric)
			if name == "post-sts-header-after" {
				assertUnsignedTokenRejected(t, "header", e, err)
				return
			}
			if err != nil {
				t.Fatalf("Explain: %v", err)
			}
			sig := authz[strings.LastIndex(authz, "Signature=")+len("Signature="):]
			want := Explanation{
				CanonicalRequest: trimVector(readFile(t, base+".creq")),
				StringToSign:     trimVector(readFile(t, base+".sts")),
				Signature:        sig,
				Match:            true,
			}
			assertExplanation(t, want, e)
		})
	}
}

// insertHeader adds a header line at the end of the header block of a raw request.
func insertHeader(raw, line string) string {
	if i := strings.Index(raw, "\n\n"); i >= 0 {
		return raw[:i] + "\n" + line + raw[i:]
	}
	return strings.TrimRight(raw, "\n") + "\n" + line + "\n"
}

func TestVectorsThroughVerify(t *testing.T) {
	t.Parallel()
	raw := readFile(t, "testdata/aws-c-auth/v4/post-x-www-form-urlencoded/header-signed-request.txt")
	tests := []struct {
		name     string
		raw      string
		opts     Options
		wantCode string
	}{
		{"a vector with a signed body hash is accepted", raw, Options{Service: "service", Regions: []string{"us-east-1"}}, ""},
		{"a wrong region is AuthorizationHeaderMalformed", raw, Options{Regions: []string{"eu-west-1"}}, CodeAuthorizationHeaderMalformed},
		{"a wrong service is AuthorizationHeaderMalformed", raw, Options{Service: "s3"}, CodeAuthorizationHeaderMalformed},
		{"a changed body is XAmzContentSHA256Mismatch", strings.Replace(raw, "Param1=value1", "Param1=value2", 1), Options{}, CodeContentSHA256Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ReadRawRequest([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			a, err := Parse(r, katTime)
			if err != nil {
				t.Fatal(err)
			}
			var v Verifier
			body, err := v.Verify(a, r, katSecret, tt.opts)
			if err == nil {
				var buf bytes.Buffer
				_, err = buf.ReadFrom(body)
			}
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	return "not an *Error: " + err.Error()
}
