package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedPolicies adds every policy in testdata plus edge cases to f.
func seedPolicies(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		benchTrustPolicy,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::${aws:username}/*"}]}`,
		`{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"sts:*","Condition":{"ForAllValues:StringLikeIfExists":{"a:b":["*",1,true]}}}}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"a:b":"${x, 'y'}${*}${?}${$}"},"DateLessThan":{"aws:CurrentTime":"2026"},"IpAddress":{"aws:SourceIp":"::1"},"Null":{"a:c":"true"}}}}`,
		`{"Statement":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::\u00ff\"x"}}`,
	} {
		f.Add([]byte(s))
	}
}

// fuzzRequest is a request that exercises most keys the seeds use.
func fuzzRequest() *Request {
	return &Request{
		Principal: Principal{Type: "Federated", Value: githubProvider},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Resource:  "arn:aws:s3:::my-static-website-bucket/alice/x",
		Context: Keys{
			"a:b": {"x"}, "aws:username": {"alice"}, "aws:currenttime": {"2026-11-29T18:00:00Z"},
			"aws:sourceip": {"10.0.0.1"}, "aws:tagkeys": {}, ghKey + ":sub": {"repo:o/r:ref:refs/heads/main"},
		},
	}
}

func FuzzParse(f *testing.F) {
	seedPolicies(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			if doc != nil {
				t.Fatal("Parse returned a document and an error")
			}
			return
		}
		Lint(doc, LintOptions{})
		req := fuzzRequest()
		for _, kind := range []Kind{KindIdentity, KindTrust, KindSession, KindResource} {
			problems := doc.Validate(kind)
			p, err := Compile(doc, kind)
			if (err == nil) != (len(problems) == 0) {
				t.Fatalf("Validate found %d problems but Compile returned %v", len(problems), err)
			}
			if err != nil {
				continue
			}
			d := Evaluate(req, p)
			if e, tr := Explain(req, p); e != d || tr.Decision != d {
				t.Fatalf("Evaluate = %v but Explain = %v", d, e)
			}
		}
	})
}

// fuzzOperators are the operators FuzzEvaluate picks from.
func fuzzOperators() []string {
	return []string{
		"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringLike", "StringNotLike",
		"NumericLessThan", "NumericNotEquals", "DateGreaterThanEquals", "DateNotEquals", "Bool", "BinaryEquals",
		"IpAddress", "NotIpAddress", "ArnLike", "ArnNotEquals", "Null", "StringLikeIfExists",
		"ForAnyValue:StringLike", "ForAllValues:StringNotEquals", "ForAllValues:ArnLike",
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add(uint8(3), "repo:o/*:ref:*", "repo:o/r:ref:refs/heads/main", "x", true)
	f.Add(uint8(5), "10.5", "9", "", false)
	f.Add(uint8(12), "10.0.0.0/8", "10.1.2.3", "::1", true)
	f.Add(uint8(13), "arn:aws:iam::*:role/${a:v}", "arn:aws:iam::1:role/x", "x", true)
	f.Add(uint8(7), "2026-01-01T00:00:00Z", "1767225600", "", true)
	f.Add(uint8(10), "QUJD", "QUJD", "", true)
	f.Fuzz(func(t *testing.T, opIndex uint8, policyValue, requestValue, second string, present bool) {
		ops := fuzzOperators()
		op := ops[int(opIndex)%len(ops)]
		pv, _ := json.Marshal(policyValue)
		doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"` +
			op + `":{"a:k":` + string(pv) + `}}}}`
		p, err := ParseAndCompile([]byte(doc), KindIdentity)
		if err != nil {
			return // a value that does not fit the operator
		}
		keys := Keys{"a:v": {second}}
		if present {
			keys["a:k"] = []string{requestValue, second}[:1+len(second)%2]
		}
		req := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: keys}
		d := Evaluate(req, p)
		if e, _ := Explain(req, p); e != d {
			t.Fatalf("Evaluate = %v but Explain = %v", d, e)
		}
	})
}

// FuzzGlob checks StringLike matching against a regular expression built from the pattern.
func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("*ab*ab", "xabyabab")
	f.Add("**?*", "é")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) {
			return
		}
		p, err := compilePattern(pat, true, false)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", pat, err)
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, r := range pat {
			switch r {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`\z`)
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := p.match(s, nil, false); got != want {
			t.Fatalf("glob %q on %q = %v, regexp says %v", pat, s, got, want)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "request-*.json"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"principal":{"Federated":"accounts.google.com"},"action":"a:b","resource":"*","conditionKeys":{"k:a":[],"k:b":[1,true,"x"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if req.Action == "" || req.Resource == "" {
			t.Fatalf("DecodeRequest accepted a request without action or resource: %+v", req)
		}
	})
}
