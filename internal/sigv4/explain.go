package sigv4

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Explanation is what we compute for a signed request, for users debugging
// SignatureDoesNotMatch.
type Explanation struct {
	Kind             Kind
	Scope            Scope
	Rules            Rules // the rules applied: RulesS3 or RulesGeneric
	CanonicalRequest string
	StringToSign     string
	Signature        string // the signature we expect
	Match            bool   // the request's own signature equals Signature
	// Problem is a failure found besides the signature comparison: request time, expiry,
	// or the payload (x-amz-content-sha256, chunk signatures, trailer). nil if none.
	Problem error
}

// Explain parses a raw HTTP/1.1 request as a client sent it and computes its canonical
// request, string to sign and signature with secret, taking the region and service from
// its credential scope. now is the time for the skew and expiry checks. The error is
// non-nil only when the input cannot be explained (not HTTP, not SigV4, malformed
// authentication); verification failures go in Problem or Match.
func Explain(raw []byte, secret string, now time.Time, rules Rules) (*Explanation, error) {
	r, err := ReadRawRequest(raw)
	if err != nil {
		return nil, err
	}
	a, err := Parse(r, now)
	if err != nil {
		return nil, fmt.Errorf("read authentication: %w", err)
	}
	p, err := resolvePayload(a, r, Options{Rules: rules})
	if err != nil {
		return nil, fmt.Errorf("resolve payload: %w", err)
	}
	var v Verifier
	c, sig, key, err := v.sign(a, r, secret, rules, p.hash)
	if err != nil {
		return nil, fmt.Errorf("build canonical request: %w", err)
	}
	e := &Explanation{
		Kind: a.Kind, Scope: a.Scope, Rules: rules.resolve(a.Scope.Service),
		CanonicalRequest: string(c.request), StringToSign: string(c.stringToSign), Signature: sig,
		Match: subtle.ConstantTimeCompare([]byte(sig), []byte(a.Signature)) == 1,
	}
	if e.Problem = checkTime(a, 0); e.Problem != nil || !e.Match {
		return e, nil
	}
	body, err := p.reader(a, r, key, Options{Rules: rules})
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	e.Problem = err
	return e, nil
}

// ReadRawRequest parses a raw HTTP/1.1 request (CRLF or LF line ends) into a server-side
// *http.Request. The request line is split at its first and last space, so a raw path with
// spaces or UTF-8 bytes is kept byte for byte in RequestURI and decoded into URL.Path.
// Folded header lines are joined with a space. Everything after the empty line is the body.
func ReadRawRequest(raw []byte) (*http.Request, error) {
	line, rest := cutLine(raw)
	first, last := bytes.IndexByte(line, ' '), bytes.LastIndexByte(line, ' ')
	if first <= 0 || last <= first+1 {
		return nil, errors.New("request line must be METHOD TARGET HTTP/1.x")
	}
	method, target, proto := string(line[:first]), string(line[first+1:last]), string(line[last+1:])
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		return nil, fmt.Errorf("request line: bad protocol %q", proto)
	}
	r := &http.Request{Method: method, RequestURI: target, Proto: proto, ProtoMajor: major,
		ProtoMinor: minor, Header: http.Header{}}
	var err error
	if r.URL, err = rawTarget(target); err != nil {
		return nil, err
	}
	if rest, err = readRawHeaders(r.Header, rest); err != nil {
		return nil, err
	}
	if hosts := r.Header.Values("Host"); len(hosts) == 1 {
		r.Host = hosts[0]
		r.Header.Del("Host")
	} else if len(hosts) > 1 {
		return nil, errors.New("more than one Host header")
	}
	r.ContentLength = int64(len(rest))
	if cl := r.Header.Get("Content-Length"); cl != "" {
		if r.ContentLength, err = strconv.ParseInt(cl, 10, 64); err != nil {
			return nil, fmt.Errorf("bad Content-Length %q", cl)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(rest))
	return r, nil
}

func cutLine(b []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(b, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

// rawTarget turns a request target into a URL whose Path is the decoded path, leaving raw
// bytes (spaces, UTF-8) that a lenient client sent as they are.
func rawTarget(target string) (*url.URL, error) {
	if !strings.HasPrefix(target, "/") {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, fmt.Errorf("request target: %w", err)
		}
		return u, nil
	}
	p, q, _ := strings.Cut(target, "?")
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return nil, fmt.Errorf("request target: bad escape at byte %d", i)
			}
			b.WriteByte(unhex(p[i+1])<<4 | unhex(p[i+2]))
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return &url.URL{Path: b.String(), RawPath: p, RawQuery: q}, nil
}

// readRawHeaders reads header lines into h up to the empty line and returns the body.
func readRawHeaders(h http.Header, rest []byte) ([]byte, error) {
	var last string
	for len(rest) > 0 {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) == 0 {
			return rest, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, errors.New("continuation line before any header")
			}
			vs := h[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(string(line))
			continue
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("malformed header line %q", truncate(string(line)))
		}
		last = http.CanonicalHeaderKey(name)
		h[last] = append(h[last], strings.TrimSpace(value))
	}
	return nil, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// WriteText writes the explanation for a person: the canonical request and string to
// sign between markers (so that trailing spaces and empty lines stay visible), the
// expected signature and the verdict.
func (e *Explanation) WriteText(w io.Writer) error {
	rules := "generic rules: path normalised and encoded again"
	if e.Rules == RulesS3 {
		rules = "S3 rules: path not normalised, encoded once"
	}
	verdict := "yes"
	if !e.Match {
		verdict = "no"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Request: %s-signed, scope %s (%s)\n\n", e.Kind, e.Scope, rules)
	fmt.Fprintf(&b, "Canonical request:\n----\n%s\n----\n\n", e.CanonicalRequest)
	fmt.Fprintf(&b, "String to sign:\n----\n%s\n----\n\n", e.StringToSign)
	fmt.Fprintf(&b, "Expected signature: %s\n", e.Signature)
	fmt.Fprintf(&b, "Signature matches:  %s\n", verdict)
	if e.Problem != nil {
		fmt.Fprintf(&b, "Problem:            %s\n", problemText(e.Problem))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// problemText is the S3 code and message of a problem.
func problemText(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.Code + ": " + se.Message
	}
	return err.Error()
}
