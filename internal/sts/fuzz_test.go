package sts

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyless-dev/keyless/internal/credentials"
)

// FuzzDecodeParams: the Query decoder never panics, and what it accepts re-encodes to
// a request it decodes identically.
func FuzzDecodeParams(f *testing.F) {
	f.Add("Action=AssumeRoleWithWebIdentity&Version=2011-06-15", []byte("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s&WebIdentityToken=a.b.c"))
	f.Add("", []byte("Action=GetCallerIdentity&Version=2011-06-15"))
	f.Add("Action=A&Action=A", []byte("Action=B"))
	f.Add("a=%zz", []byte(""))
	f.Add("PolicyArns=&PolicyArns.member.1.arn=x&&=&x", []byte("k=v+w%20"))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		p, err := decodeParams(query, body)
		if err != nil {
			var q *queryError
			if !errors.As(err, &q) {
				t.Fatalf("error %v is not a queryError", err)
			}
			return
		}
		if len(p) > maxParams {
			t.Fatalf("%d parameters accepted, bound is %d", len(p), maxParams)
		}
		v := url.Values{}
		for k, val := range p {
			v.Set(k, val)
		}
		again, err := decodeParams(v.Encode(), nil)
		if err != nil {
			t.Fatalf("re-encoded parameters do not decode: %v", err)
		}
		if len(again) != len(p) {
			t.Fatalf("re-decoded %d parameters, want %d", len(again), len(p))
		}
		for k, val := range p {
			if again[k] != val {
				t.Fatalf("parameter %q changed from %q to %q", k, val, again[k])
			}
		}
		// Whatever was decoded, validation answers with a value or a typed error.
		in, err := parseAssumeInput(p)
		var ve *validationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("parseAssumeInput error %v is not a validation error", err)
		}
		if err == nil && (in.duration <= 0 || !isRoleSessionName(in.sessionName) || len(in.token) > maxTokenLength) {
			t.Fatalf("accepted input breaks its constraints: %+v", in)
		}
	})
}

// FuzzParseRoleARN: an accepted ARN is rebuilt exactly from its parts.
func FuzzParseRoleARN(f *testing.F) {
	for _, s := range []string{"arn:aws:iam::123456789012:role/CircleCI-OIDC-Role", "arn:aws:iam::123456789012:role/a/b/R",
		"arn:aws:iam::123456789012:user/x", "arn:aws:iam::12345678901:role/x", "arn:aws:iam::123456789012:role//x", "arn:aws:iam::123456789012:role/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseRoleARN(s)
		if !ok {
			return
		}
		rebuilt := "arn:" + a.partition + ":iam::" + a.account + ":role" + a.path + a.name
		if rebuilt != s {
			t.Fatalf("parsed %q as %+v, which rebuilds as %q", s, a, rebuilt)
		}
		if !isRoleName(a.name) || !strings.HasPrefix(a.path, "/") || !strings.HasSuffix(a.path, "/") {
			t.Fatalf("parsed %q into a bad name or path: %+v", s, a)
		}
	})
}

// FuzzSessionTags: the tag and source-identity claim readers never panic, and accepted
// tags respect every limit.
func FuzzSessionTags(f *testing.F) {
	f.Add([]byte(`{"https://aws.amazon.com/tags":{"principal_tags":{"Project":["site"],"Team":[""]},"transitive_tag_keys":["Project"]}}`))
	f.Add([]byte(`{"https://aws.amazon.com/tags":{"principal_tags":{"a":["x","y"]}}}`))
	f.Add([]byte(`{"https://aws.amazon.com/tags":{"principal_tags":{"aws:x":["y"]}}}`))
	f.Add([]byte(`{"https://aws.amazon.com/tags":{"transitive_tag_keys":["Nope"]}}`))
	f.Add([]byte(`{"https://aws.amazon.com/tags":[],"https://aws.amazon.com/source_identity":"alice"}`))
	f.Add([]byte(`{"https://aws.amazon.com/source_identity":12}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var claims map[string]any
		if dec.Decode(&claims) != nil {
			return
		}
		st, err := parseSessionTags(claims)
		if err == nil && st != nil {
			if len(st.tags) > maxTags {
				t.Fatalf("%d tags accepted", len(st.tags))
			}
			if !slices.IsSortedFunc(st.tags, func(a, b credentials.Tag) int { return strings.Compare(a.Key, b.Key) }) {
				t.Fatal("tags are not sorted")
			}
			for _, tag := range st.tags {
				if n := utf8.RuneCountInString(tag.Key); n < 1 || n > 128 || utf8.RuneCountInString(tag.Value) > 256 {
					t.Fatalf("tag %q=%q breaks the length limits", tag.Key, tag.Value)
				}
			}
			for _, k := range st.transitive {
				if !slices.ContainsFunc(st.tags, func(t credentials.Tag) bool { return strings.EqualFold(t.Key, k) }) {
					t.Fatalf("transitive key %q names no tag", k)
				}
			}
		}
		si, err := parseSourceIdentity(claims)
		if err == nil && si != "" && (len(si) < 2 || len(si) > 64 || !isRoleSessionName(si)) {
			t.Fatalf("source identity %q accepted", si)
		}
	})
}

// FuzzAppendEscaped: any string is rendered as XML character data that parses back to
// the string (with characters XML cannot carry replaced).
func FuzzAppendEscaped(f *testing.F) {
	for _, s := range []string{"a&b<c>\"'", "org/o/project/p", "\r\n\t", "\x00\x1f", "\xff", "é€😀", "\uFFFE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc := appendEscaped([]byte("<v>"), s)
		doc = append(doc, "</v>"...)
		var got string
		if err := xml.Unmarshal(doc, &got); err != nil {
			t.Fatalf("escaped %q does not parse: %v (%q)", s, err, doc)
		}
		want := strings.Map(func(r rune) rune {
			if r == utf8.RuneError || !xmlChar(r) {
				return '\uFFFD'
			}
			return r
		}, s)
		if got != want {
			t.Fatalf("escaped %q parses back as %q, want %q", s, got, want)
		}
	})
}

// FuzzQueryUnescape: the fast path answers exactly what url.QueryUnescape answers.
func FuzzQueryUnescape(f *testing.F) {
	for _, s := range []string{"a.b.c", "a+b", "%41", "%zz", "", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "%", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := queryUnescape(s)
		want, wantErr := url.QueryUnescape(s)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("queryUnescape(%q) = %q, %v; url.QueryUnescape gives %q, %v", s, got, gotErr, want, wantErr)
		}
	})
}
