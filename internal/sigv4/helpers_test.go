package sigv4

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAKID   = "ASIAKEYLESSEXAMPLE01"
	testSecret = "keylessSecretKeyExample0123456789/+abcde"
	testToken  = "FwoGZXIvYXdzEBYaDKeylessSealedSessionToken+/=="
)

// verifyRequest is what a caller of the package does: Parse, look the secret up, Verify,
// read the body to the end.
func verifyRequest(v *Verifier, r *http.Request, now time.Time, opts Options) ([]byte, error) {
	a, err := Parse(r, now)
	if err != nil {
		return nil, err
	}
	if a.AccessKeyID != testAKID {
		return nil, fmt.Errorf("unknown access key id %q", a.AccessKeyID)
	}
	body, err := v.Verify(a, r, testSecret, opts)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

// verifyServer is a real HTTP server on 127.0.0.1 that verifies every request it gets
// and records the outcome.
type verifyServer struct {
	*httptest.Server
	mu      sync.Mutex
	results []serverResult
}

type serverResult struct {
	code        string // "" when verified
	err         error
	payloadHash string
	body        []byte
}

func newVerifyServer(t *testing.T, useTLS bool, opts Options) *verifyServer {
	t.Helper()
	s := &verifyServer{}
	v := NewVerifier(16)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := verifyRequest(v, r, time.Now(), opts)
		s.mu.Lock()
		s.results = append(s.results, serverResult{code: errorCode(err), err: err,
			payloadHash: r.Header.Get("X-Amz-Content-Sha256"), body: body})
		s.mu.Unlock()
		if err != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<Error><Code>%s</Code><Message>test</Message></Error>", errorCode(err))
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	if useTLS {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *verifyServer) take(t *testing.T) serverResult {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.results) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(s.results))
	}
	r := s.results[0]
	s.results = nil
	return r
}

// span marks a part of a raw request that a mutation test changes.
type span struct {
	label      string
	start, end int
}

// rawBuilder serialises a signed client request into the bytes a server would read,
// remembering where each part is.
type rawBuilder struct {
	b     strings.Builder
	spans []span
}

func (rb *rawBuilder) write(label, s string) {
	start := rb.b.Len()
	rb.b.WriteString(s)
	if label != "" {
		rb.spans = append(rb.spans, span{label, start, rb.b.Len()})
	}
}

// serialise writes req (already signed) with body; target is the request target.
// Query pieces named X-Amz-* other than X-Amz-Signature and X-Amz-Date are not marked.
func serialise(req *http.Request, target string, body []byte) ([]byte, []span) {
	var rb rawBuilder
	rb.write("method", req.Method)
	rb.write("", " ")
	path, query, hasQuery := strings.Cut(target, "?")
	rb.write("path", path)
	if hasQuery {
		rb.write("", "?")
		for i, piece := range strings.Split(query, "&") {
			if i > 0 {
				rb.write("", "&")
			}
			name, value, _ := strings.Cut(piece, "=")
			switch {
			case name == "X-Amz-Signature":
				rb.write("", name+"=")
				rb.write("signature", value)
			case name == "X-Amz-Date":
				rb.write("", name+"=")
				rb.write("query-date", value)
			case strings.HasPrefix(name, "X-Amz-"):
				rb.write("", piece)
			default:
				rb.write("query", piece)
			}
		}
	}
	rb.write("", " HTTP/1.1\r\n")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	rb.write("", "Host: ")
	rb.write("header:host", host)
	rb.write("", "\r\n")
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range req.Header[k] {
			rb.write("", k+": ")
			switch lk := strings.ToLower(k); {
			case lk == "authorization":
				i := strings.LastIndex(v, "Signature=") + len("Signature=")
				rb.write("", v[:i])
				rb.write("signature", v[i:])
			case lk == "x-amz-date":
				rb.write("header-date", v)
			default:
				rb.write("header:"+lk, v)
			}
			rb.write("", "\r\n")
		}
	}
	if len(body) > 0 && req.Header.Get("Content-Length") == "" {
		rb.write("", "Content-Length: ")
		rb.write("header:content-length", fmt.Sprint(len(body)))
		rb.write("", "\r\n")
	}
	rb.write("", "\r\n")
	rb.write("body", string(body))
	return []byte(rb.b.String()), rb.spans
}

// mutate changes one byte to another of the same class, so that the request still parses.
func mutate(c byte) byte {
	cycle := func(c, lo, hi byte) byte {
		if c == hi {
			return lo
		}
		return c + 1
	}
	switch {
	case c >= '0' && c <= '9':
		return cycle(c, '0', '9')
	case c >= 'a' && c <= 'f':
		return cycle(c, 'a', 'f')
	case c >= 'g' && c <= 'z':
		return cycle(c, 'g', 'z')
	case c >= 'A' && c <= 'F':
		return cycle(c, 'A', 'F')
	case c >= 'G' && c <= 'Z':
		return cycle(c, 'G', 'Z')
	case c == 'x':
		return 'y'
	}
	return 'x'
}

func readServerRequest(raw []byte) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
}
