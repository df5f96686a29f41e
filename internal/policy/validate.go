package policy

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind says what a policy is attached to, which decides the elements it may carry.
type Kind uint8

// Policy kinds.
const (
	KindIdentity Kind = iota + 1 // identity-based (permission) policy: no Principal, Resource required
	KindTrust                    // role trust policy: Principal required, no Resource
	KindSession                  // session policy passed to AssumeRole*: like an identity policy
	KindResource                 // resource-based policy (bucket policy): Principal and Resource required
)

func (k Kind) String() string {
	switch k {
	case KindIdentity:
		return "identity"
	case KindTrust:
		return "trust"
	case KindSession:
		return "session"
	case KindResource:
		return "resource"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind parses "identity" (or "permission"), "trust", "session" or "resource".
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "identity", "permission", "permissions":
		return KindIdentity, nil
	case "trust":
		return KindTrust, nil
	case "session":
		return KindSession, nil
	case "resource":
		return KindResource, nil
	}
	return 0, fmt.Errorf("unknown policy kind %q (want identity, trust, session or resource)", s)
}

// DetectKind guesses the kind of d: a trust policy when any statement names a Principal
// or NotPrincipal, an identity policy otherwise.
func (d *Document) DetectKind() Kind {
	for i := range d.Statements {
		if d.Statements[i].Principal != nil || d.Statements[i].NotPrincipal != nil {
			return KindTrust
		}
	}
	return KindIdentity
}

// Validate checks d as a policy of the given kind and returns every problem found, each
// a Problem naming the statement and the field. An empty result means Compile will succeed.
func (d *Document) Validate(kind Kind) []error {
	_, problems := build(d, kind)
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errs
}

// checkText reports characters IAM does not accept in policy text (it allows TAB, LF, CR
// and U+0020 through U+00FF).
func checkText(s string) string {
	for _, r := range s {
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xff) {
			return fmt.Sprintf("character %U is not allowed in policy text", r)
		}
	}
	return ""
}

// checkAction reports what is wrong with an Action or NotAction value.
func checkAction(a string) string {
	if a == "*" {
		return ""
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return fmt.Sprintf("%q is not an action: want \"*\" or service:action (for example s3:GetObject)", a)
	}
	for _, c := range svc {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("action %q: the service prefix %q may hold only letters, digits and '-' (no wildcards or variables)", a, svc)
		}
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*' || c == '?') {
			return fmt.Sprintf("action %q: an action name may hold only letters, digits, '-', '_' and the wildcards * and ?", a)
		}
	}
	return ""
}

// checkResource reports what is wrong with a Resource or NotResource value.
func checkResource(r string, vars bool) string {
	if r == "*" {
		return ""
	}
	if !strings.HasPrefix(r, "arn:") {
		return fmt.Sprintf("%q is not an ARN: want \"*\" or arn:partition:service:region:account:resource", r)
	}
	var parts [6]string
	if splitARN(r, vars, &parts) < 6 {
		return fmt.Sprintf("ARN %q has fewer than six colon-separated parts", r)
	}
	if vars {
		for _, p := range parts[:5] {
			if hasVariable(p) {
				return fmt.Sprintf("ARN %q: policy variables are allowed only in the resource part (after the fifth colon)", r)
			}
		}
	}
	if strings.ContainsAny(parts[2], "*?") {
		return fmt.Sprintf("ARN %q: the service part cannot contain wildcards", r)
	}
	return ""
}

// checkPrincipal reports what is wrong with one principal value.
func checkPrincipal(typ, v string) string {
	switch {
	case v == "":
		return "a principal must not be empty"
	case v == "*":
		if typ == "AWS" || typ == "Federated" || typ == "Service" {
			return ""
		}
		return fmt.Sprintf("%s principal cannot be \"*\"", typ)
	case strings.ContainsAny(v, "*?"):
		return fmt.Sprintf("%q: wildcards are not allowed inside a principal (only \"*\" on its own)", v)
	case strings.Contains(v, "${"):
		return fmt.Sprintf("%q: policy variables are not allowed in principals", v)
	case typ == "AWS" && !isAccountID(v) && !strings.HasPrefix(v, "arn:"):
		return fmt.Sprintf("%q is not an AWS principal: want \"*\", a 12-digit account ID or an ARN", v)
	}
	return ""
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber parses a decimal number the way Numeric operators accept it.
func parseNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// dateLayouts are the W3C profile of ISO 8601 that Date operators accept.
const (
	layoutMinutes = "2006-01-02T15:04Z07:00"
	layoutDay     = "2006-01-02"
	layoutMonth   = "2006-01"
	layoutYear    = "2006"
	layoutNoZone  = "2006-01-02T15:04:05"
)

// parseDate parses an ISO 8601 date (UTC when no zone is given) or epoch seconds.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	digits := true
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-') && s[i] != '.' {
			digits = false
			break
		}
	}
	if digits && len(s) != 4 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, false
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	}
	for _, layout := range [...]string{time.RFC3339Nano, layoutMinutes, layoutDay, layoutNoZone, layoutMonth, layoutYear} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parsePrefix parses a CIDR, or a bare address as a single-address prefix.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), p.Bits() >= 0
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// parseBool parses "true" or "false", ignoring case.
func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

func decodeBase64(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}
