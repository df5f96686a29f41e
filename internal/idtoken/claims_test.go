package idtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// referenceClaims is what decodeClaims must agree with: encoding/json's Decoder with
// UseNumber into a map, then nothing but space.
func referenceClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("not an object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data")
	}
	return claims, nil
}

var claimsSeeds = []string{
	`{"iss":"https://oidc.circleci.com/org/o","aud":["a","b"],"sub":"s","exp":1764417600,"iat":1.5,"amr":["x"]}`,
	` {"a" : -0.5e+10 , "b":[true,false,null,{"c":{}}],"d":[]} `,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00\u0000"}`,
	`{"a":"caf` + "\xc3\xa9 \xff \xed\xa0\x80" + `"}`,
	`{"a":1,"a":2}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"` + "\x01" + `"}`, `{"a":tru}`, `{"a" 1}`, `{"a":1,}`, `{,}`,
	`[]`, `null`, `nul`, `"s"`, `1`, ``, `{}`, `{} {}`, `{}x`, `{"a":[1,2,]}`, `{"a":[1 2]}`,
	`{"exp":1e400}`, `{"a":"` + strings.Repeat("x", 100) + `"}`,
}

func TestDecodeClaimsAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, seed := range claimsSeeds {
		t.Run(seed, func(t *testing.T) { checkClaimsAgree(t, []byte(seed)) })
	}
}

func FuzzDecodeClaimsAgreesWithEncodingJSON(f *testing.F) {
	for _, seed := range claimsSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(checkClaimsAgree)
}

func checkClaimsAgree(t *testing.T, payload []byte) {
	want, wantErr := referenceClaims(payload)
	got, err := decodeClaims(payload)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("decodeClaims(%q) error %v, encoding/json error %v", payload, err, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("decodeClaims(%q) (-encoding/json +got):\n%s", payload, diff)
	}
}

// circleCIClaims is shaped like a CircleCI v2 job token's claims.
const circleCIClaims = `{"aud":"f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d","exp":1764421200,"iat":1764417600,"iss":"http://127.0.0.1:8700/-/oidc/org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d","jti":"0b6c1c1e-8f4e-4c59-9a7a-3d2f5e6a7b8c","nbf":1764417600,"oidc.circleci.com/context-ids":["7a1e3c5b-2d4f-4a6b-8c9d-0e1f2a3b4c5d"],"oidc.circleci.com/job-id":"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b","oidc.circleci.com/org-id":"f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d","oidc.circleci.com/pipeline-definition-id":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","oidc.circleci.com/pipeline-id":"2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e","oidc.circleci.com/project-id":"9c8d7e6f-1a2b-3c4d-5e6f-7a8b9c0d1e2f","oidc.circleci.com/ssh-rerun":false,"oidc.circleci.com/vcs-origin":"github.com/my-org/site","oidc.circleci.com/vcs-ref":"refs/heads/main","oidc.circleci.com/workflow-id":"3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f","sub":"org/f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d/project/9c8d7e6f-1a2b-3c4d-5e6f-7a8b9c0d1e2f/user/4d5e6f7a-8b9c-4d0e-1f2a-3b4c5d6e7f8a/vcs-origin/github.com/my-org/site/vcs-ref/refs/heads/main"}`

func BenchmarkDecodeClaims(b *testing.B) {
	for _, tc := range []struct {
		name   string
		decode func([]byte) (map[string]any, error)
	}{{"ours", decodeClaims}, {"encoding-json", referenceClaims}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.decode([]byte(circleCIClaims)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
