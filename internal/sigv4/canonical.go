package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Rules selects how the canonical URI is built.
type Rules int

const (
	// RulesAuto uses RulesS3 when the credential scope's service is an S3 service
	// (s3, s3-object-lambda, s3-outposts, s3express) and RulesGeneric otherwise, as the
	// AWS SDKs do.
	RulesAuto Rules = iota
	// RulesS3: the path is not normalised and is URI-encoded once.
	RulesS3
	// RulesGeneric: the path is normalised (dot segments and empty segments removed) and
	// the path as sent is URI-encoded again ("double encoding").
	RulesGeneric
)

func (r Rules) resolve(service string) Rules {
	if r != RulesAuto {
		return r
	}
	switch service {
	case "s3", "s3-object-lambda", "s3-outposts", "s3express":
		return RulesS3
	}
	return RulesGeneric
}

// canonical holds the pieces of a computed canonical request.
type canonical struct {
	request      []byte
	stringToSign []byte
}

// buildCanonical builds the canonical request and string to sign of r for auth.
func buildCanonical(r *http.Request, a *Auth, rules Rules, payloadHash string) (canonical, error) {
	b := bytes.NewBuffer(make([]byte, 0, 512+2*len(r.URL.RawQuery)))
	b.WriteString(r.Method)
	b.WriteByte('\n')
	writeCanonicalURI(b, r, rules)
	b.WriteByte('\n')
	if err := writeCanonicalQuery(b, r.URL.RawQuery, a.Kind == Presigned); err != nil {
		return canonical{}, err
	}
	b.WriteByte('\n')
	writeCanonicalHeaders(b, r, a.SignedHeaders)
	b.WriteByte('\n')
	for i, h := range a.SignedHeaders {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(h)
	}
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	cr := b.Bytes()
	return canonical{request: cr, stringToSign: stringToSign(a, cr)}, nil
}

func stringToSign(a *Auth, canonicalRequest []byte) []byte {
	sum := sha256.Sum256(canonicalRequest)
	b := bytes.NewBuffer(make([]byte, 0, len(algorithm)+len(a.amzDate)+64+64))
	b.WriteString(algorithm)
	b.WriteByte('\n')
	b.WriteString(a.amzDate)
	b.WriteByte('\n')
	writeScope(b, a.Scope)
	b.WriteByte('\n')
	var hx [64]byte
	hex.Encode(hx[:], sum[:])
	b.Write(hx[:])
	return b.Bytes()
}

func writeScope(b *bytes.Buffer, s Scope) {
	b.WriteString(s.Date)
	b.WriteByte('/')
	b.WriteString(s.Region)
	b.WriteByte('/')
	b.WriteString(s.Service)
	b.WriteByte('/')
	b.WriteString(terminator)
}

// wirePath returns the path of r as it was sent, still percent-encoded.
func wirePath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}

// writeCanonicalURI writes the canonical URI. S3: the decoded path URI-encoded once, not
// normalised. Generic: the path as sent, normalised, then URI-encoded (so an escape sent
// as %2F becomes %252F).
func writeCanonicalURI(b *bytes.Buffer, r *http.Request, rules Rules) {
	var p string
	if rules == RulesS3 {
		p = r.URL.Path
	} else {
		p = normalizePath(wirePath(r))
	}
	if !strings.HasPrefix(p, "/") {
		// An empty path, or a request target that is not a path ("*" for server-wide
		// OPTIONS): the canonical URI is always absolute.
		p = "/" + p
	}
	uriEncode(b, p, false)
}

// normalizePath removes empty, "." and ".." segments, keeping a trailing slash.
func normalizePath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		res += "/"
	}
	return res
}

const upperhex = "0123456789ABCDEF"

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// uriEncode writes s percent-encoded: unreserved characters kept, '/' kept unless
// encodeSlash, everything else as %XX with upper-case hex.
func uriEncode(b *bytes.Buffer, s string, encodeSlash bool) {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			continue
		}
		b.WriteString(s[start:i])
		b.Write([]byte{'%', upperhex[c>>4], upperhex[c&15]})
		start = i + 1
	}
	b.WriteString(s[start:])
}

type queryPair struct{ k, v string }

// writeCanonicalQuery writes the canonical query string of raw: every name and value
// decoded ('+' as space) and re-encoded, sorted by encoded name then value. Presigned
// requests leave out X-Amz-Signature.
func writeCanonicalQuery(b *bytes.Buffer, raw string, presigned bool) error {
	if raw == "" {
		return nil
	}
	var pairs []queryPair
	var tmp bytes.Buffer
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		dk, err := queryUnescape(k)
		if err != nil {
			return err
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		dv, err := queryUnescape(v)
		if err != nil {
			return err
		}
		tmp.Reset()
		uriEncode(&tmp, dk, true)
		ek := tmp.String()
		tmp.Reset()
		uriEncode(&tmp, dv, true)
		pairs = append(pairs, queryPair{ek, tmp.String()})
	}
	slices.SortFunc(pairs, func(x, y queryPair) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return nil
}

// queryUnescape decodes %XX escapes and '+' (as space); a malformed escape is an error.
func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			buf = append(buf, ' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", newError(CodeInvalidArgument, "The query string contains a malformed percent-encoding")
			}
			buf = append(buf, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			buf = append(buf, c)
		}
	}
	return string(buf), nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// writeCanonicalHeaders writes "name:value\n" for each signed header: values trimmed,
// inner runs of spaces collapsed, several values joined by ','.
func writeCanonicalHeaders(b *bytes.Buffer, r *http.Request, signed []string) {
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeTrimmed(b, v)
		}
		b.WriteByte('\n')
	}
}

// headerValues returns the values of a signed header, including those net/http keeps
// outside r.Header (Host, Content-Length, Transfer-Encoding).
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if v := r.Header.Values("Transfer-Encoding"); len(v) > 0 {
			return v
		}
		return []string{strings.Join(r.TransferEncoding, ",")}
	}
	if v, ok := r.Header[name]; ok { // a non-canonical key set by a client-side caller
		return v
	}
	// r.Header[string(b)] does not allocate, unlike textproto.CanonicalMIMEHeaderKey.
	var buf [128]byte
	if len(name) > len(buf) {
		return r.Header.Values(name)
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return r.Header[string(b)]
}

// writeTrimmed writes v without leading and trailing spaces or tabs and with every run
// of spaces collapsed to one.
func writeTrimmed(b *bytes.Buffer, v string) {
	v = strings.Trim(v, " \t")
	if !strings.Contains(v, "  ") {
		b.WriteString(v)
		return
	}
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
}
