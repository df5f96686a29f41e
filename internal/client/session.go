package client

import (
	"fmt"
	"strings"
	"time"
)

// Role session name limits: 2..64 characters of [\w+=,.@-] (AWS-WIRE 1.2).
const (
	minSessionName = 2
	maxSessionName = 64
)

// SanitizeSessionName makes s a valid role session name the way CircleCI's aws-cli orb
// does (`tr -sC 'A-Za-z0-9=,.@_-' '-' | cut -c -64`): every character outside the
// allowed set becomes "-", runs of "-" are squeezed to one, and the result is cut to 64
// characters. Unlike the orb it keeps "+", which STS allows. The result may still be
// shorter than 2 characters; callers check.
func SanitizeSessionName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !sessionNameChar(r) {
			r = '-'
		}
		if r == '-' && strings.HasSuffix(b.String(), "-") {
			continue
		}
		b.WriteRune(r)
		if b.Len() == maxSessionName {
			break
		}
	}
	return b.String()
}

func sessionNameChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}

// ValidSessionName reports whether STS would accept s as RoleSessionName.
func ValidSessionName(s string) bool {
	if len(s) < minSessionName || len(s) > maxSessionName {
		return false
	}
	for _, r := range s {
		if !sessionNameChar(r) {
			return false
		}
	}
	return true
}

// sessionName picks the role session name: --role-session-name, $AWS_ROLE_SESSION_NAME,
// $CIRCLE_JOB, $CIRCLE_WORKFLOW_ID, then keyless-<unix seconds> (botocore uses
// botocore-session-<unix seconds>). Every candidate is sanitised; a given name that is
// still too short is an error, a derived one is skipped. note says what was changed.
func sessionName(f Flags, getenv func(string) string, now time.Time) (name, note string, err error) {
	given := []struct{ from, v string }{
		{"--role-session-name", f.RoleSessionName},
		{"$AWS_ROLE_SESSION_NAME", getenv("AWS_ROLE_SESSION_NAME")},
	}
	for _, c := range given {
		if c.v == "" {
			continue
		}
		s := SanitizeSessionName(c.v)
		if len(s) < minSessionName {
			return "", "", fmt.Errorf("%s %q: a role session name needs 2 to 64 characters of [A-Za-z0-9_+=,.@-]", c.from, c.v)
		}
		if s != c.v {
			note = fmt.Sprintf("role session name from %s sanitised to %q", c.from, s)
		}
		return s, note, nil
	}
	for _, env := range []string{"CIRCLE_JOB", "CIRCLE_WORKFLOW_ID"} {
		if s := SanitizeSessionName(getenv(env)); len(s) >= minSessionName {
			return s, fmt.Sprintf("role session name %q from $%s", s, env), nil
		}
	}
	s := fmt.Sprintf("keyless-%d", now.Unix())
	return s, fmt.Sprintf("role session name %q (no --role-session-name, $AWS_ROLE_SESSION_NAME or $CIRCLE_JOB)", s), nil
}
