package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options tell Verify what the endpoint accepts.
type Options struct {
	// Service is the service the credential scope must name ("s3", "sts"); "" accepts any.
	Service string
	// Regions lists the regions the credential scope may name; empty accepts any.
	Regions []string
	// Rules selects S3 or generic canonicalisation; RulesAuto decides by the scope's service.
	Rules Rules
	// MaxSkew bounds the difference between the request time and now; 0 means MaxSkew (15 min).
	MaxSkew time.Duration
	// MaxBufferedBody bounds the body a generic (non-S3) request without
	// x-amz-content-sha256 may have, since its hash must be known before the signature can
	// be checked; 0 means 1 MiB.
	MaxBufferedBody int64
	// MaxChunkSize bounds one signed aws-chunked chunk; 0 means 16 MiB. Unsigned chunks
	// (STREAMING-UNSIGNED-PAYLOAD-TRAILER) are bounded by 5 GiB only, because aws-sdk-go-v2
	// sends a body of known length as a single chunk. Chunks are never buffered.
	MaxChunkSize int64
}

const (
	defaultMaxBufferedBody = 1 << 20
	defaultMaxChunkSize    = 16 << 20
)

// Verify checks the credential scope, the request time and the signature of r against
// auth (from Parse) and secret. On success it returns r's body wrapped in a reader that
// verifies the payload as it is read — x-amz-content-sha256, chunk signatures, trailer
// signature and checksums — and fails the read (with an *Error) on the first problem.
// Bytes read before io.EOF are not yet authenticated: a caller must discard what it stored
// when Read returns any error other than io.EOF.
//
// Verify takes over r.Body: nothing may read it before, and the caller reads the returned
// reader instead (for a form-encoded STS call: r.Body = body, then r.ParseForm()).
func (v *Verifier) Verify(a *Auth, r *http.Request, secret string, opts Options) (io.ReadCloser, error) {
	if err := checkScope(a, opts); err != nil {
		return nil, err
	}
	if err := checkTime(a, opts.MaxSkew); err != nil {
		return nil, err
	}
	p, err := resolvePayload(a, r, opts)
	if err != nil {
		return nil, err
	}
	c, sig, key, err := v.sign(a, r, secret, opts.Rules, p.hash)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(sig), []byte(a.Signature)) != 1 {
		return nil, &Error{Code: CodeSignatureDoesNotMatch, Message: msgSignatureDoesNotMatch,
			CanonicalRequest: string(c.request), StringToSign: string(c.stringToSign)}
	}
	return p.reader(a, r, key, opts)
}

// sign computes the canonical request, string to sign and signature of r.
func (v *Verifier) sign(a *Auth, r *http.Request, secret string, rules Rules, payloadHash string) (canonical, string, []byte, error) {
	c, err := buildCanonical(r, a, rules.resolve(a.Scope.Service), payloadHash)
	if err != nil {
		return canonical{}, "", nil, err
	}
	key := v.signingKey(secret, a.Scope)
	m := hmac.New(sha256.New, key)
	m.Write(c.stringToSign)
	var sum [sha256.Size]byte
	return c, hex.EncodeToString(m.Sum(sum[:0])), key, nil
}

func checkScope(a *Auth, opts Options) error {
	mk := func(format string, args ...any) *Error {
		if a.Kind == Presigned {
			return queryError("Error parsing the X-Amz-Credential parameter; "+format, args...)
		}
		return headerMalformed(format, args...)
	}
	if opts.Service != "" && a.Scope.Service != opts.Service {
		return mk("incorrect service %q. This endpoint belongs to %q.", a.Scope.Service, opts.Service)
	}
	if len(opts.Regions) > 0 && !slices.Contains(opts.Regions, a.Scope.Region) {
		e := mk("the region '%s' is wrong; expecting '%s'", a.Scope.Region, opts.Regions[0])
		e.Region = opts.Regions[0]
		return e
	}
	return nil
}

// checkTime applies the skew rule to header requests and the validity window to
// presigned ones, against the time given to Parse.
func checkTime(a *Auth, maxSkew time.Duration) error {
	if maxSkew <= 0 {
		maxSkew = MaxSkew
	}
	if a.Kind == Presigned {
		switch {
		case a.Time.Sub(a.now) > maxSkew:
			return newError(CodeAccessDenied, msgNotYetValid)
		case a.now.After(a.Time.Add(a.Expires)):
			return newError(CodeAccessDenied, msgExpired)
		}
		return nil
	}
	if d := a.now.Sub(a.Time); d > maxSkew || d < -maxSkew {
		return &Error{Code: CodeRequestTimeTooSkewed, Message: msgSkewed,
			RequestTime: a.Time, ServerTime: a.now, MaxSkew: maxSkew}
	}
	return nil
}

// payload is the resolved payload mode of a request.
type payload struct {
	mode     string // UnsignedPayload, a Streaming* constant, "hex" or "buffered"
	hash     string // what goes into the canonical request
	buffered []byte // the body, when it had to be hashed up front
}

func resolvePayload(a *Auth, r *http.Request, opts Options) (payload, error) {
	// The payload rules follow the service, not the path rules: S3 requires
	// x-amz-content-sha256 and presigns UNSIGNED-PAYLOAD; other services hash the body.
	s3 := RulesAuto.resolve(a.Scope.Service) == RulesS3
	v := a.PayloadHash
	switch {
	case v == "" && s3 && a.Kind == Presigned:
		return payload{mode: UnsignedPayload, hash: UnsignedPayload}, nil
	case v == "" && s3:
		return payload{}, newError(CodeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	case v == "":
		return bufferBody(r, opts.MaxBufferedBody)
	case isHexSHA256(v):
		return payload{mode: "hex", hash: v}, nil
	}
	return payload{mode: v, hash: v}, nil
}

// bufferBody reads a small body whole, for requests that sign the body hash without
// declaring it (STS and other Query APIs).
func bufferBody(r *http.Request, limit int64) (payload, error) {
	if limit <= 0 {
		limit = defaultMaxBufferedBody
	}
	var b []byte
	if r.Body != nil {
		var err error
		b, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return payload{}, &Error{Code: CodeIncompleteBody, Message: msgIncompleteBody, Err: err}
		}
		if int64(len(b)) > limit {
			return payload{}, newError(CodeEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
		}
	}
	sum := sha256.Sum256(b)
	return payload{mode: "buffered", hash: hex.EncodeToString(sum[:]), buffered: b}, nil
}

// reader wraps the body of r to verify the payload as it is read.
func (p payload) reader(a *Auth, r *http.Request, key []byte, opts Options) (io.ReadCloser, error) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	switch p.mode {
	case UnsignedPayload:
		return body, nil
	case "buffered":
		return readCloser{bytes.NewReader(p.buffered), body}, nil
	case "hex":
		want, _ := hex.DecodeString(p.hash)
		return readCloser{&hashReader{src: body, h: sha256.New(), want: want}, body}, nil
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		if a.Kind == Presigned {
			return nil, newError(CodeInvalidRequest, "A presigned request cannot carry an aws-chunked payload")
		}
		cr, err := newChunkReader(a, r, p.mode, key, opts.MaxChunkSize)
		if err != nil {
			return nil, err
		}
		return readCloser{cr, body}, nil
	}
	return nil, newError(CodeInvalidArgument, "x-amz-content-sha256 %q is not supported", p.mode)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// hashReader checks the SHA-256 of everything read against want at EOF.
type hashReader struct {
	src io.Reader
	h   interface {
		io.Writer
		Sum([]byte) []byte
	}
	want []byte
	err  error
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.src.Read(p)
	h.h.Write(p[:n])
	if err == io.EOF {
		var sum [sha256.Size]byte
		if subtle.ConstantTimeCompare(h.h.Sum(sum[:0]), h.want) != 1 {
			h.err = newError(CodeContentSHA256Mismatch, msgContentSHA256Mismatch)
			return n, h.err
		}
		h.err = io.EOF
	} else if err != nil {
		h.err = &Error{Code: CodeIncompleteBody, Message: msgIncompleteBody, Err: err}
	}
	return n, h.err
}

// decodedLength reads x-amz-decoded-content-length.
func decodedLength(r *http.Request) (int64, error) {
	v := r.Header.Values("X-Amz-Decoded-Content-Length")
	if len(v) != 1 || !isDigits(v[0]) {
		return 0, newError("MissingContentLength", "You must provide the x-amz-decoded-content-length HTTP header.")
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil {
		return 0, newError(CodeInvalidArgument, "x-amz-decoded-content-length is out of range")
	}
	return n, nil
}

// declaredTrailer reads x-amz-trailer: exactly one checksum header name.
func declaredTrailer(r *http.Request) (string, error) {
	v := r.Header.Values("X-Amz-Trailer")
	if len(v) != 1 {
		return "", newError(CodeInvalidRequest, "A trailer payload requires exactly one x-amz-trailer header")
	}
	name := strings.ToLower(strings.TrimSpace(v[0]))
	if _, ok := checksumAlgorithm(name); !ok {
		return "", newError(CodeInvalidRequest, "The value specified in the x-amz-trailer header is not supported")
	}
	return name, nil
}
