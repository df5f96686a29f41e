package sts

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxParams bounds how many parameters one request may carry (ten policy ARNs and a
// handful of others are the most a real client sends).
const maxParams = 64

// decodeParams merges the query string and a form body (either may be empty) into one
// parameter map, as STS does: Envoy sends everything in the query, SDKs in the body. A
// parameter given twice with different values, bad percent-encoding or too many
// parameters are errors.
func decodeParams(rawQuery string, body []byte) (map[string]string, error) {
	params := make(map[string]string, 8)
	if err := addPairs(params, rawQuery); err != nil {
		return nil, err
	}
	if err := addPairs(params, string(body)); err != nil {
		return nil, err
	}
	return params, nil
}

func addPairs(params map[string]string, s string) error {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := queryUnescape(k)
		if err != nil {
			return &queryError{Detail: "a parameter name is not properly percent-encoded"}
		}
		val, err := queryUnescape(v)
		if err != nil {
			return &queryError{Detail: "the value of a parameter is not properly percent-encoded"}
		}
		if old, dup := params[key]; dup {
			if old != val {
				return &queryError{Detail: "a parameter is given twice with different values"}
			}
			continue
		}
		if len(params) >= maxParams {
			return &queryError{Detail: "too many parameters"}
		}
		params[key] = val
	}
	return nil
}

// queryUnescape is url.QueryUnescape with a fast path for the usual value, a web
// identity token (~1 KB of base64url and dots) that has nothing to unescape: two
// vectorised byte searches instead of url.unescape's byte-by-byte pass.
func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// assumeInput is a validated AssumeRoleWithWebIdentity request.
type assumeInput struct {
	roleARN       string
	arn           roleARN
	sessionName   string
	token         string
	providerID    string
	policyARNs    []string
	policy        string
	duration      time.Duration
	durationGiven bool
}

// Default and bounds of DurationSeconds.
const (
	defaultDuration = time.Hour
	minDuration     = 900
	maxDuration     = 43200
)

// Patterns quoted in validation messages, as AWS writes them.
const (
	patternARN     = `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`
	patternName    = `[\w+=,.@-]*`
	patternPolicy  = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	maxTokenLength = 20000
)

// parseAssumeInput applies every constraint of AWS-WIRE 1.2 and reports all failures at
// once, as AWS's "N validation errors detected" does.
func parseAssumeInput(p map[string]string) (*assumeInput, error) {
	var v validation
	in := &assumeInput{}
	var ok bool
	if in.roleARN, ok = p["RoleArn"]; !ok {
		v.null("roleArn")
	} else {
		v.length("roleArn", in.roleARN, true, 20, 2048)
		v.pattern("roleArn", in.roleARN, true, patternARN, isARNText)
	}
	if in.sessionName, ok = p["RoleSessionName"]; !ok {
		v.null("roleSessionName")
	} else {
		v.length("roleSessionName", in.sessionName, true, 2, 64)
		v.pattern("roleSessionName", in.sessionName, true, patternName, isRoleSessionName)
	}
	if tok, ok := p["WebIdentityToken"]; !ok {
		v.null("webIdentityToken")
	} else {
		// A token read from a file written by `echo` ends in a newline (AWS-WIRE 1.8).
		in.token = strings.TrimSpace(tok)
		v.length("webIdentityToken", in.token, false, 4, maxTokenLength)
	}
	if id, ok := p["ProviderId"]; ok {
		in.providerID = id
		v.length("providerId", id, true, 4, 2048)
	}
	in.policyARNs = policyARNs(p)
	if len(in.policyARNs) > 10 {
		v.add("Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for i, a := range in.policyARNs {
		v.length(fmt.Sprintf("policyArns.%d.member.arn", i+1), a, true, 20, 2048)
	}
	if pol, ok := p["Policy"]; ok {
		in.policy = pol
		v.length("policy", pol, false, 1, 2048)
		v.pattern("policy", pol, false, patternPolicy, isPolicyText)
	}
	if d, ok := p["DurationSeconds"]; ok {
		in.durationGiven = true
		n, err := strconv.Atoi(d)
		switch {
		case err != nil:
			v.add(fmt.Sprintf("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be an integer", d))
		case n < minDuration:
			v.add(fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", n, minDuration))
		case n > maxDuration:
			v.add(fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxDuration))
		default:
			in.duration = time.Duration(n) * time.Second
		}
	} else {
		in.duration = defaultDuration
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.arn, ok = parseRoleARN(in.roleARN); !ok {
		return nil, &validationError{Message: "Request ARN is invalid"}
	}
	return in, nil
}

// policyARNs collects PolicyArns.member.N.arn in N order ("PolicyArns=" is an empty list).
func policyARNs(p map[string]string) []string {
	type member struct {
		n   int
		arn string
	}
	var ms []member
	for k, val := range p {
		rest, ok := strings.CutPrefix(k, "PolicyArns.member.")
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(rest, ".arn")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 {
			continue
		}
		ms = append(ms, member{n, val})
	}
	slices.SortFunc(ms, func(a, b member) int { return a.n - b.n })
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.arn
	}
	return out
}

// validation collects constraint failures in AWS's words.
type validation struct{ problems []string }

func (v *validation) add(s string) { v.problems = append(v.problems, s) }

func (v *validation) null(field string) {
	v.add(fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", field))
}

// value quotes the offending value, except for sensitive or free-text members.
func value(field, val string, echo bool) string {
	if !echo {
		return fmt.Sprintf("Value at '%s'", field)
	}
	return fmt.Sprintf("Value '%s' at '%s'", val, field)
}

func (v *validation) length(field, val string, echo bool, lo, hi int) {
	n := utf8.RuneCountInString(val)
	switch {
	case n < lo:
		v.add(value(field, val, echo) + fmt.Sprintf(" failed to satisfy constraint: Member must have length greater than or equal to %d", lo))
	case n > hi:
		v.add(value(field, val, echo) + fmt.Sprintf(" failed to satisfy constraint: Member must have length less than or equal to %d", hi))
	}
}

func (v *validation) pattern(field, val string, echo bool, pattern string, ok func(string) bool) {
	if !ok(val) {
		v.add(value(field, val, echo) + " failed to satisfy constraint: Member must satisfy regular expression pattern: " + pattern)
	}
}

func (v *validation) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &validationError{Problems: v.problems}
}

func isRoleSessionName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// isARNText applies RoleArn's character class (printable text, tab and newlines).
func isARNText(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r >= 0x20 && r <= 0x7e, r == 0x85:
		case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}

// isPolicyText applies Policy's character class: tab, newlines, and U+0020..U+00FF.
func isPolicyText(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xff) {
			return false
		}
	}
	return true
}
