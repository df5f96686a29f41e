package policy

import (
	"fmt"
	"testing"
)

// conditionCase runs one condition in an otherwise unconditional Allow, so that the
// decision is Allow exactly when the condition holds.
type conditionCase struct {
	name    string
	version string // default 2012-10-17
	op      string
	key     string
	values  string // JSON: a value or a list
	ctx     Keys   // request keys, lower-cased; a key not listed is absent
	want    bool
}

func runConditionCases(t *testing.T, cases []conditionCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			version := tc.version
			if version == "" {
				version = Version2012
			}
			doc := fmt.Sprintf(`{"Version":%q,"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{%q:{%q:%s}}}}`,
				version, tc.op, tc.key, tc.values)
			p, err := ParseAndCompile([]byte(doc), KindIdentity)
			if err != nil {
				t.Fatalf("ParseAndCompile(%s): %v", doc, err)
			}
			req := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: tc.ctx}
			want := ImplicitDeny
			if tc.want {
				want = Allow
			}
			if got := Evaluate(req, p); got != want {
				t.Errorf("Evaluate = %v, want %v", got, want)
			}
			if got, _ := Explain(req, p); got != want {
				t.Errorf("Explain = %v, want %v", got, want)
			}
		})
	}
}

func one(k, v string) Keys { return Keys{k: {v}} }

func TestStringOperators(t *testing.T) {
	t.Parallel()
	runConditionCases(t, []conditionCase{
		{"StringEquals matches the exact value", "", "StringEquals", "aws:username", `"alice"`, one("aws:username", "alice"), true},
		{"StringEquals is case-sensitive", "", "StringEquals", "aws:username", `"alice"`, one("aws:username", "Alice"), false},
		{"StringEquals ORs the policy values", "", "StringEquals", "aws:username", `["bob","alice"]`, one("aws:username", "alice"), true},
		{"StringEquals is false when the key is missing", "", "StringEquals", "aws:username", `"alice"`, nil, false},
		{"StringEquals treats a star literally", "", "StringEquals", "aws:username", `"a*"`, one("aws:username", "alice"), false},
		{"StringEquals matches a literal star", "", "StringEquals", "aws:username", `"a*"`, one("aws:username", "a*"), true},
		{"StringNotEquals is false when the value is listed", "", "StringNotEquals", "aws:username", `["bob","alice"]`, one("aws:username", "alice"), false},
		{"StringNotEquals is true when the value is not listed", "", "StringNotEquals", "aws:username", `["bob","carol"]`, one("aws:username", "alice"), true},
		{"StringNotEquals is true when the key is missing", "", "StringNotEquals", "aws:username", `"alice"`, nil, true},
		{"StringEqualsIgnoreCase ignores case", "", "StringEqualsIgnoreCase", "aws:username", `"ALICE"`, one("aws:username", "alice"), true},
		{"StringEqualsIgnoreCase still compares the text", "", "StringEqualsIgnoreCase", "aws:username", `"ALICE"`, one("aws:username", "alicia"), false},
		{"StringNotEqualsIgnoreCase is false for a listed value in another case", "", "StringNotEqualsIgnoreCase", "aws:username", `"ALICE"`, one("aws:username", "alice"), false},
		{"StringNotEqualsIgnoreCase is true for an unlisted value", "", "StringNotEqualsIgnoreCase", "aws:username", `"ALICE"`, one("aws:username", "bob"), true},
		{"StringLike star matches any run including slashes", "", "StringLike", "x:sub", `"repo:o/*:ref:refs/heads/main"`, one("x:sub", "repo:o/r/x:ref:refs/heads/main"), true},
		{"StringLike star matches the empty run", "", "StringLike", "x:sub", `"ab*"`, one("x:sub", "ab"), true},
		{"StringLike question mark matches one character", "", "StringLike", "x:sub", `"a?c"`, one("x:sub", "abc"), true},
		{"StringLike question mark needs exactly one character", "", "StringLike", "x:sub", `"a?c"`, one("x:sub", "ac"), false},
		{"StringLike question mark matches one multi-byte character", "", "StringLike", "x:sub", `"a?c"`, one("x:sub", "aéc"), true},
		{"StringLike is case-sensitive", "", "StringLike", "x:sub", `"A*"`, one("x:sub", "abc"), false},
		{"StringLike anchors both ends", "", "StringLike", "x:sub", `"b*"`, one("x:sub", "abc"), false},
		{"StringLike backtracks over repeated literals", "", "StringLike", "x:sub", `"*ab*ab"`, one("x:sub", "xabyabab"), true},
		{"StringLike with no wildcard is exact", "", "StringLike", "x:sub", `"abc"`, one("x:sub", "abcd"), false},
		{"StringLike is false when the key is missing", "", "StringLike", "x:sub", `"*"`, nil, false},
		{"StringNotLike is false when a pattern matches", "", "StringNotLike", "x:sub", `["z*","a*"]`, one("x:sub", "abc"), false},
		{"StringNotLike is true when no pattern matches", "", "StringNotLike", "x:sub", `["z*","y*"]`, one("x:sub", "abc"), true},
		{"StringNotLike is true when the key is missing", "", "StringNotLike", "x:sub", `"a*"`, nil, true},
		{"operator names are case-insensitive", "", "stringequals", "aws:username", `"alice"`, one("aws:username", "alice"), true},
		{"condition keys are case-insensitive", "", "StringEquals", "AWS:UserName", `"alice"`, one("aws:username", "alice"), true},
		{"a number in the policy compares as its text", "", "StringEquals", "aws:username", `42`, one("aws:username", "42"), true},
		{"a single-valued operator on a multi-valued key matches any value", "", "StringEquals", "aws:tagkeys", `"env"`, Keys{"aws:tagkeys": {"team", "env"}}, true},
		{"a negated operator on a multi-valued key needs every value unlisted", "", "StringNotEquals", "aws:tagkeys", `"env"`, Keys{"aws:tagkeys": {"team", "env"}}, false},
	})
}

func TestNumericOperators(t *testing.T) {
	t.Parallel()
	n := func(v string) Keys { return one("s3:max-keys", v) }
	runConditionCases(t, []conditionCase{
		{"NumericEquals matches an equal number", "", "NumericEquals", "s3:max-keys", `10`, n("10"), true},
		{"NumericEquals compares values, not text", "", "NumericEquals", "s3:max-keys", `"10"`, n("10.0"), true},
		{"NumericEquals rejects a different number", "", "NumericEquals", "s3:max-keys", `10`, n("11"), false},
		{"NumericEquals is false for a request value that is not a number", "", "NumericEquals", "s3:max-keys", `10`, n("ten"), false},
		{"NumericNotEquals is true for a different number", "", "NumericNotEquals", "s3:max-keys", `10`, n("11"), true},
		{"NumericNotEquals is false for an equal number", "", "NumericNotEquals", "s3:max-keys", `[9,10]`, n("10"), false},
		{"NumericLessThan is true below", "", "NumericLessThan", "s3:max-keys", `10`, n("9.5"), true},
		{"NumericLessThan is false at the bound", "", "NumericLessThan", "s3:max-keys", `10`, n("10"), false},
		{"NumericLessThanEquals is true at the bound", "", "NumericLessThanEquals", "s3:max-keys", `10`, n("10"), true},
		{"NumericGreaterThan is true above", "", "NumericGreaterThan", "s3:max-keys", `10`, n("10.01"), true},
		{"NumericGreaterThan is false at the bound", "", "NumericGreaterThan", "s3:max-keys", `10`, n("10"), false},
		{"NumericGreaterThanEquals is true at the bound", "", "NumericGreaterThanEquals", "s3:max-keys", `-1.5`, n("-1.5"), true},
		{"NumericLessThan is false when the key is missing", "", "NumericLessThan", "s3:max-keys", `10`, nil, false},
		{"NumericNotEquals is true when the key is missing", "", "NumericNotEquals", "s3:max-keys", `10`, nil, true},
	})
}

func TestDateOperators(t *testing.T) {
	t.Parallel()
	now := func(v string) Keys { return one("aws:currenttime", v) }
	runConditionCases(t, []conditionCase{
		{"DateLessThan is true before the date", "", "DateLessThan", "aws:CurrentTime", `"2026-12-01T00:00:00Z"`, now("2026-11-29T18:00:00Z"), true},
		{"DateLessThan is false after the date", "", "DateLessThan", "aws:CurrentTime", `"2026-12-01T00:00:00Z"`, now("2026-12-02T00:00:00Z"), false},
		{"DateLessThan accepts a date without a time", "", "DateLessThan", "aws:CurrentTime", `"2026-12-01"`, now("2026-11-30T23:59:59Z"), true},
		{"DateLessThan compares across time zones", "", "DateLessThan", "aws:CurrentTime", `"2026-12-01T00:00:00+02:00"`, now("2026-11-30T23:00:00Z"), false},
		{"DateGreaterThan accepts epoch seconds in the policy", "", "DateGreaterThan", "aws:CurrentTime", `1764000000`, now("2026-11-29T18:00:00Z"), true},
		{"DateGreaterThan accepts epoch seconds in the request", "", "DateGreaterThan", "aws:EpochTime", `"2025-01-01T00:00:00Z"`, one("aws:epochtime", "1764000000"), true},
		{"DateEquals matches the same instant in another form", "", "DateEquals", "aws:CurrentTime", `"2026-01-01T01:00:00+01:00"`, now("2026-01-01T00:00:00Z"), true},
		{"DateNotEquals is false for the same instant", "", "DateNotEquals", "aws:CurrentTime", `"2026-01-01T00:00:00Z"`, now("2026-01-01T00:00:00.000Z"), false},
		{"DateLessThanEquals is true at the instant", "", "DateLessThanEquals", "aws:CurrentTime", `"2026-01-01T00:00:00Z"`, now("2026-01-01T00:00:00Z"), true},
		{"DateGreaterThanEquals is false before the instant", "", "DateGreaterThanEquals", "aws:CurrentTime", `"2026-01-01T00:00:00Z"`, now("2025-12-31T23:59:59Z"), false},
		{"DateLessThan is false for a request value that is not a date", "", "DateLessThan", "aws:CurrentTime", `"2026-01-01"`, now("yesterday"), false},
		{"DateLessThan is false when the key is missing", "", "DateLessThan", "aws:CurrentTime", `"2026-01-01"`, nil, false},
	})
}

func TestBoolBinaryAndIPOperators(t *testing.T) {
	t.Parallel()
	ip := func(v string) Keys { return one("aws:sourceip", v) }
	runConditionCases(t, []conditionCase{
		{"Bool matches true", "", "Bool", "aws:SecureTransport", `"true"`, one("aws:securetransport", "true"), true},
		{"Bool accepts a JSON boolean in the policy", "", "Bool", "aws:SecureTransport", `false`, one("aws:securetransport", "false"), true},
		{"Bool ignores case", "", "Bool", "aws:SecureTransport", `"true"`, one("aws:securetransport", "True"), true},
		{"Bool rejects the other value", "", "Bool", "aws:SecureTransport", `"true"`, one("aws:securetransport", "false"), false},
		{"Bool is false when the key is missing", "", "Bool", "aws:SecureTransport", `"false"`, nil, false},
		{"BinaryEquals compares the decoded bytes", "", "BinaryEquals", "x:blob", `"QmluYXJ5VmFsdWU="`, one("x:blob", "QmluYXJ5VmFsdWU="), true},
		{"BinaryEquals rejects other bytes", "", "BinaryEquals", "x:blob", `"QmluYXJ5VmFsdWU="`, one("x:blob", "b3RoZXI="), false},
		{"BinaryEquals rejects a request value that is not base64", "", "BinaryEquals", "x:blob", `"QmluYXJ5VmFsdWU="`, one("x:blob", "%%%"), false},
		{"IpAddress matches inside an IPv4 CIDR", "", "IpAddress", "aws:SourceIp", `"203.0.113.0/24"`, ip("203.0.113.9"), true},
		{"IpAddress rejects outside the CIDR", "", "IpAddress", "aws:SourceIp", `"203.0.113.0/24"`, ip("203.0.114.9"), false},
		{"IpAddress treats a bare address as a /32", "", "IpAddress", "aws:SourceIp", `"203.0.113.9"`, ip("203.0.113.9"), true},
		{"IpAddress masks host bits in the policy CIDR", "", "IpAddress", "aws:SourceIp", `"10.1.2.3/8"`, ip("10.200.0.1"), true},
		{"IpAddress matches inside an IPv6 CIDR", "", "IpAddress", "aws:SourceIp", `["203.0.113.0/24","2001:db8::/32"]`, ip("2001:db8:1::5"), true},
		{"IpAddress matches an IPv4-mapped IPv6 request address", "", "IpAddress", "aws:SourceIp", `"203.0.113.0/24"`, ip("::ffff:203.0.113.9"), true},
		{"IpAddress rejects a request value that is not an address", "", "IpAddress", "aws:SourceIp", `"0.0.0.0/0"`, ip("localhost"), false},
		{"NotIpAddress is true outside every CIDR", "", "NotIpAddress", "aws:SourceIp", `["10.0.0.0/8","192.168.0.0/16"]`, ip("203.0.113.9"), true},
		{"NotIpAddress is false inside a CIDR", "", "NotIpAddress", "aws:SourceIp", `["10.0.0.0/8","192.168.0.0/16"]`, ip("10.0.0.1"), false},
		{"NotIpAddress is true when the key is missing", "", "NotIpAddress", "aws:SourceIp", `"10.0.0.0/8"`, nil, true},
	})
}

func TestARNOperators(t *testing.T) {
	t.Parallel()
	arn := func(v string) Keys { return one("aws:sourcearn", v) }
	runConditionCases(t, []conditionCase{
		{"ArnEquals matches an exact ARN", "", "ArnEquals", "aws:SourceArn", `"arn:aws:sns:us-east-1:123456789012:topic"`, arn("arn:aws:sns:us-east-1:123456789012:topic"), true},
		{"ArnEquals allows wildcards like ArnLike", "", "ArnEquals", "aws:SourceArn", `"arn:aws:sns:*:123456789012:*"`, arn("arn:aws:sns:eu-west-1:123456789012:topic"), true},
		{"ArnLike globs one segment", "", "ArnLike", "aws:SourceArn", `"arn:aws:iam::*:role/deploy"`, arn("arn:aws:iam::123456789012:role/deploy"), true},
		{"ArnLike star does not cross a colon", "", "ArnLike", "aws:SourceArn", `"arn:aws:*"`, arn("arn:aws:iam::123456789012:role/deploy"), false},
		{"ArnLike star spans colons in the resource part", "", "ArnLike", "aws:SourceArn", `"arn:aws:logs:us-east-1:123456789012:log-group:*"`, arn("arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:s"), true},
		{"ArnLike is case-sensitive", "", "ArnLike", "aws:SourceArn", `"arn:aws:iam::*:role/Deploy"`, arn("arn:aws:iam::123456789012:role/deploy"), false},
		{"ArnLike rejects a request value that is not an ARN", "", "ArnLike", "aws:SourceArn", `"arn:aws:iam::*:role/*"`, arn("role/deploy"), false},
		{"ArnNotLike is true when no pattern matches", "", "ArnNotLike", "aws:SourceArn", `"arn:aws:iam::111111111111:*"`, arn("arn:aws:iam::123456789012:role/deploy"), true},
		{"ArnNotEquals is false when a pattern matches", "", "ArnNotEquals", "aws:SourceArn", `"arn:aws:iam::123456789012:role/*"`, arn("arn:aws:iam::123456789012:role/deploy"), false},
		{"ArnNotLike is true when the key is missing", "", "ArnNotLike", "aws:SourceArn", `"arn:aws:iam::*:*"`, nil, true},
	})
}

func TestNullAndIfExists(t *testing.T) {
	t.Parallel()
	runConditionCases(t, []conditionCase{
		{"Null true holds when the key is missing", "", "Null", "aws:TokenIssueTime", `"true"`, nil, true},
		{"Null true fails when the key is present", "", "Null", "aws:TokenIssueTime", `"true"`, one("aws:tokenissuetime", "x"), false},
		{"Null false holds when the key is present", "", "Null", "aws:TokenIssueTime", `false`, one("aws:tokenissuetime", "x"), true},
		{"Null false fails when the key is missing", "", "Null", "aws:TokenIssueTime", `"false"`, nil, false},
		{"Null false counts a present empty key as present", "", "Null", "aws:TagKeys", `"false"`, Keys{"aws:tagkeys": {}}, true},
		{"IfExists holds when the key is missing", "", "StringEqualsIfExists", "aws:username", `"alice"`, nil, true},
		{"IfExists tests a present key normally", "", "StringEqualsIfExists", "aws:username", `"alice"`, one("aws:username", "bob"), false},
		{"IfExists on a negated operator holds when the key is missing", "", "StringNotEqualsIfExists", "aws:username", `"alice"`, nil, true},
		{"IfExists on a negated operator tests a present key normally", "", "StringNotEqualsIfExists", "aws:username", `"alice"`, one("aws:username", "alice"), false},
		{"NumericLessThanIfExists holds when the key is missing", "", "NumericLessThanIfExists", "s3:max-keys", `10`, nil, true},
		{"IpAddressIfExists tests a present key", "", "IpAddressIfExists", "aws:SourceIp", `"10.0.0.0/8"`, one("aws:sourceip", "10.1.1.1"), true},
	})
}

func TestSetOperators(t *testing.T) {
	t.Parallel()
	tags := func(v ...string) Keys { return Keys{"aws:tagkeys": v} }
	runConditionCases(t, []conditionCase{
		{"ForAnyValue holds when one request value is listed", "", "ForAnyValue:StringEquals", "aws:TagKeys", `["env","team"]`, tags("cost", "team"), true},
		{"ForAnyValue fails when no request value is listed", "", "ForAnyValue:StringEquals", "aws:TagKeys", `["env","team"]`, tags("cost", "owner"), false},
		{"ForAnyValue fails when the key is missing", "", "ForAnyValue:StringEquals", "aws:TagKeys", `"env"`, nil, false},
		{"ForAnyValue fails when the key is empty", "", "ForAnyValue:StringEquals", "aws:TagKeys", `"env"`, tags(), false},
		{"ForAnyValue with a negated operator holds when one value is unlisted", "", "ForAnyValue:StringNotEquals", "aws:TagKeys", `["env","team"]`, tags("env", "cost"), true},
		{"ForAnyValue with a negated operator fails when every value is listed", "", "ForAnyValue:StringNotEquals", "aws:TagKeys", `["env","team"]`, tags("env", "team"), false},
		{"ForAnyValue with a negated operator fails when the key is missing", "", "ForAnyValue:StringNotEquals", "aws:TagKeys", `"env"`, nil, false},
		{"ForAnyValue works with StringLike", "", "ForAnyValue:StringLike", "aws:TagKeys", `"te*"`, tags("env", "team"), true},
		{"ForAllValues holds when every request value is listed", "", "ForAllValues:StringEquals", "aws:TagKeys", `["env","team"]`, tags("team", "env"), true},
		{"ForAllValues fails when one request value is unlisted", "", "ForAllValues:StringEquals", "aws:TagKeys", `["env","team"]`, tags("team", "cost"), false},
		{"ForAllValues holds when the key is missing", "", "ForAllValues:StringEquals", "aws:TagKeys", `"env"`, nil, true},
		{"ForAllValues holds when the key is empty", "", "ForAllValues:StringEquals", "aws:TagKeys", `"env"`, tags(), true},
		{"ForAllValues with a negated operator holds when no value is listed", "", "ForAllValues:StringNotEquals", "aws:TagKeys", `["env","team"]`, tags("cost", "owner"), true},
		{"ForAllValues with a negated operator fails when one value is listed", "", "ForAllValues:StringNotEquals", "aws:TagKeys", `["env","team"]`, tags("cost", "env"), false},
		{"ForAllValues with a negated operator holds when the key is missing", "", "ForAllValues:StringNotEquals", "aws:TagKeys", `"env"`, nil, true},
		{"ForAllValues works with NumericLessThan", "", "ForAllValues:NumericLessThan", "x:sizes", `10`, Keys{"x:sizes": {"1", "9"}}, true},
		{"ForAllValues with IfExists holds when the key is missing", "", "ForAllValues:StringEqualsIfExists", "aws:TagKeys", `"env"`, nil, true},
		{"ForAnyValue with IfExists holds when the key is missing", "", "ForAnyValue:StringEqualsIfExists", "aws:TagKeys", `"env"`, nil, true},
		{"set qualifiers are case-insensitive", "", "forallvalues:StringEquals", "aws:TagKeys", `"env"`, tags("env"), true},
	})
}

func TestConditionVariables(t *testing.T) {
	t.Parallel()
	user := one("aws:username", "alice")
	runConditionCases(t, []conditionCase{
		{"a variable resolves to the key's value", "", "StringEquals", "s3:prefix", `"home/${aws:username}/"`, Keys{"s3:prefix": {"home/alice/"}, "aws:username": {"alice"}}, true},
		{"a variable key is case-insensitive", "", "StringEquals", "s3:prefix", `"${AWS:UserName}"`, Keys{"s3:prefix": {"alice"}, "aws:username": {"alice"}}, true},
		{"an unresolved variable matches nothing", "", "StringEquals", "s3:prefix", `"home/${aws:username}/"`, one("s3:prefix", "home//"), false},
		{"a negated operator with an unresolved variable holds", "", "StringNotEquals", "s3:prefix", `"home/${aws:username}/"`, one("s3:prefix", "home/alice/"), true},
		{"a variable uses its default when the key is missing", "", "StringEquals", "s3:prefix", `"${aws:PrincipalTag/team, 'company-wide'}"`, one("s3:prefix", "company-wide"), true},
		{"a variable prefers the key's value over its default", "", "StringEquals", "s3:prefix", `"${aws:PrincipalTag/team, 'company-wide'}"`, Keys{"s3:prefix": {"company-wide"}, "aws:principaltag/team": {"red"}}, false},
		{"a multi-valued key cannot be a variable", "", "StringEquals", "s3:prefix", `"${aws:TagKeys}"`, Keys{"s3:prefix": {"a"}, "aws:tagkeys": {"a", "b"}}, false},
		{"a variable value is literal inside StringLike", "", "StringLike", "s3:prefix", `"${aws:username}/*"`, Keys{"s3:prefix": {"alice/x"}, "aws:username": {"a*"}}, false},
		{"the ${*} escape is a literal star", "", "StringLike", "s3:prefix", `"a${*}"`, one("s3:prefix", "a*"), true},
		{"the ${*} escape does not match other text", "", "StringLike", "s3:prefix", `"a${*}"`, one("s3:prefix", "ab"), false},
		{"the ${?} and ${$} escapes are literal", "", "StringEquals", "s3:prefix", `"${?}${$}"`, one("s3:prefix", "?$"), true},
		{"variables work in StringLike with wildcards", "", "StringLike", "x:sub", `"repo:${aws:username}/*"`, Keys{"x:sub": {"repo:alice/site"}, "aws:username": {"alice"}}, true},
		{"variables work in ArnLike", "", "ArnLike", "aws:SourceArn", `"arn:aws:iam::*:user/${aws:username}"`, Keys{"aws:sourcearn": {"arn:aws:iam::1:user/alice"}, "aws:username": {"alice"}}, true},
		{"variables work in Bool", "", "Bool", "x:flag", `"${x:other}"`, Keys{"x:flag": {"true"}, "x:other": {"TRUE"}}, true},
		{"a variable is literal text under Version 2008-10-17", Version2008, "StringEquals", "s3:prefix", `"${aws:username}"`, user.with("s3:prefix", "${aws:username}"), true},
		{"a variable does not resolve under Version 2008-10-17", Version2008, "StringEquals", "s3:prefix", `"${aws:username}"`, user.with("s3:prefix", "alice"), false},
	})
}

// with returns a copy of k with key set to v.
func (k Keys) with(key, v string) Keys {
	c := Keys{}
	for kk, vv := range k {
		c[kk] = vv
	}
	c[key] = []string{v}
	return c
}
