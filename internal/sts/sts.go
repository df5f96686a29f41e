// Package sts serves AWS STS's Query protocol: AssumeRoleWithWebIdentity (a CI job's
// OIDC token in, temporary credentials out, after the role's trust policy allowed it) and
// GetCallerIdentity (SigV4-signed with those credentials). Requests are POST / with a
// form body or GET /?Action=...; answers are AWS's XML, or JSON for Accept:
// application/json (AWS-WIRE 1.4).
//
// One adapter (ServeHTTP) decodes the request, dispatches on Action through an explicit
// table, and encodes the result or the error; business logic never touches the
// ResponseWriter, and wireError is the one place errors become wire errors.
package sts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

// Version is the only API version STS has.
const Version = "2011-06-15"

// MaxBodyBytes bounds a request body. The largest legitimate request (a 20000-character
// token, a 2048-character policy and ten 2048-character policy ARNs, percent-encoded)
// is well under it.
const MaxBodyBytes = 128 << 10

// bodyReadTimeout bounds how long a client may take to send its body (the server sets
// no whole-request read timeout, since S3 objects stream for minutes).
const bodyReadTimeout = 10 * time.Second

// Verifier verifies web identity tokens; *idtoken.Verifier is the real one.
type Verifier interface {
	Verify(ctx context.Context, raw string) (*idtoken.Identity, error)
}

// Options are a Handler's dependencies.
type Options struct {
	Config   *config.Config
	Verifier Verifier
	Sealer   *credentials.Sealer
	Audit    audit.Sink
	Logger   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RequestID returns the request's id (the server's middleware id); a random UUID
	// when nil or when it returns "".
	RequestID func(*http.Request) string
	// Revoked reports whether a session has been revoked (GetCallerIdentity answers
	// AccessDenied for it); nil means none are.
	Revoked func(*credentials.Session) bool
	// SigV4 checks GetCallerIdentity's signatures; a new verifier when nil.
	SigV4 *sigv4.Verifier
}

// Handler serves STS. It is safe for concurrent use.
type Handler struct {
	state     atomic.Pointer[state]
	verifier  atomic.Pointer[verifierBox]
	sealer    *credentials.Sealer
	audit     audit.Sink
	log       *slog.Logger
	now       func() time.Time
	requestID func(*http.Request) string
	revoked   func(*credentials.Session) bool
	sigv4     *sigv4.Verifier
	perIP     *limiters
	perRole   *limiters
	actions   map[string]action
	buffers   sync.Pool // *[]byte for XML answers
}

type verifierBox struct{ v Verifier }

// action is one STS operation: business logic from a decoded call to a result.
type action func(ctx context.Context, c *call) (result, error)

// result is a successful answer, rendered as XML or JSON by the adapter.
type result interface {
	appendXML(b []byte, requestID string) []byte
	marshalJSON(requestID string) []byte
}

// call is one decoded request.
type call struct {
	r         *http.Request
	params    map[string]string
	requestID string
	sourceIP  string
	userAgent string
	secure    bool
	now       time.Time
	st        *state
}

// New returns a Handler. Config, Verifier, Sealer and Audit are required.
func New(opts Options) (*Handler, error) {
	var missing []string
	if opts.Config == nil {
		missing = append(missing, "Config")
	}
	if opts.Verifier == nil {
		missing = append(missing, "Verifier")
	}
	if opts.Sealer == nil {
		missing = append(missing, "Sealer")
	}
	if opts.Audit == nil {
		missing = append(missing, "Audit")
	}
	if len(missing) > 0 {
		return nil, errors.New("sts: missing " + strings.Join(missing, ", "))
	}
	h := &Handler{
		sealer:    opts.Sealer,
		audit:     opts.Audit,
		log:       opts.Logger,
		now:       opts.Now,
		requestID: opts.RequestID,
		revoked:   opts.Revoked,
		sigv4:     opts.SigV4,
		perIP:     newLimiters(maxLimiterEntries),
		perRole:   newLimiters(maxLimiterEntries),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.sigv4 == nil {
		h.sigv4 = sigv4.NewVerifier(0)
	}
	h.buffers.New = func() any { b := make([]byte, 0, 4096); return &b }
	h.actions = map[string]action{
		"AssumeRoleWithWebIdentity": h.assumeRoleWithWebIdentity,
		"GetCallerIdentity":         h.getCallerIdentity,
	}
	if err := h.SetConfig(opts.Config); err != nil {
		return nil, err
	}
	h.SetVerifier(opts.Verifier)
	return h, nil
}

// SetConfig swaps the roles, providers, limits and dev flag atomically (SIGHUP reload).
// A token is accepted only if its provider is in both this configuration and the
// verifier's providers, so reloading the configuration before the verifier never widens
// trust.
func (h *Handler) SetConfig(cfg *config.Config) error {
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	h.state.Store(st)
	return nil
}

// SetVerifier swaps the token verifier (after the providers changed).
func (h *Handler) SetVerifier(v Verifier) { h.verifier.Store(&verifierBox{v}) }

// IDTokenProviders converts the configured providers for idtoken.New.
func IDTokenProviders(cfg *config.Config) []idtoken.Provider {
	out := make([]idtoken.Provider, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		out = append(out, idtoken.Provider{URL: p.URL, ClientIDs: p.ClientIDs, Thumbprints: p.Thumbprints})
	}
	return out
}

// ServeHTTP is the adapter: decode, dispatch, call, encode.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{
		r:         r,
		requestID: h.newRequestID(r),
		sourceIP:  sourceIP(r),
		userAgent: r.UserAgent(),
		secure:    r.TLS != nil,
		now:       h.now(),
		st:        h.state.Load(),
	}
	asJSON := wantsJSON(r)
	name, res, err := h.serve(w, c)
	if err != nil {
		e := wireError(err, c.st.dev)
		h.logFailure(r.Context(), c, name, e)
		apierr.WriteSTS(w, e, c.requestID, asJSON)
		return
	}
	var body []byte
	contentType := "text/xml"
	if asJSON {
		body = res.marshalJSON(c.requestID)
		contentType = "application/json"
	} else {
		buf := h.buffers.Get().(*[]byte)
		defer h.buffers.Put(buf)
		body = res.appendXML((*buf)[:0], c.requestID)
		*buf = body
	}
	// Canonical keys set directly: Header.Set would canonicalise them on every call.
	hdr := w.Header()
	hdr["Content-Type"] = []string{contentType}
	hdr["X-Amzn-Requestid"] = []string{c.requestID}
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "sts call", slog.String("request_id", c.requestID),
		slog.String("action", name), slog.String("source_ip", c.sourceIP))
}

// serve decodes the request and runs its action; name is the action ("" if unknown).
func (h *Handler) serve(w http.ResponseWriter, c *call) (string, result, error) {
	if !h.perIP.allow(ipKey(c.sourceIP), c.st.perIP, c.now) {
		return "", nil, errThrottled
	}
	body, err := readBody(w, c.r)
	if err != nil {
		return "", nil, err
	}
	if c.params, err = decodeParams(c.r.URL.RawQuery, body); err != nil {
		return "", nil, err
	}
	if body != nil {
		// GetCallerIdentity's signature covers the body: let sigv4 read it again.
		c.r.Body = io.NopCloser(bytes.NewReader(body))
	}
	name := c.params["Action"]
	if name == "" {
		return "", nil, errMissingAction
	}
	act, ok := h.actions[name]
	if v, given := c.params["Version"]; !ok || (given && v != Version) {
		return "", nil, &actionError{Action: name, Version: c.params["Version"]}
	}
	res, err := act(c.r.Context(), c)
	return name, res, err
}

// readBody reads a form body (bounded in size and time); other bodies are ignored.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return nil, nil
	case http.MethodPost:
	default:
		return nil, errMethod
	}
	if !isForm(r.Header.Get("Content-Type")) || r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	var body []byte
	var err error
	if n := r.ContentLength; n >= 0 {
		// The usual case: read exactly the announced length (and notice a longer body).
		body = make([]byte, n, n+1)
		if _, err = io.ReadFull(r.Body, body); err == nil {
			var extra [1]byte
			if m, _ := r.Body.Read(extra[:]); m > 0 {
				err = errors.New("body longer than its Content-Length")
			}
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	}
	if err != nil {
		return nil, &queryError{Detail: "reading the body failed", Err: err}
	}
	if len(body) > MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	return body, nil
}

func isForm(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// wantsJSON reports whether the client asked for STS's JSON answers (AWS-WIRE 1.4).
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (h *Handler) newRequestID(r *http.Request) string {
	if h.requestID != nil {
		if id := h.requestID(r); id != "" {
			return id
		}
	}
	return apierr.NewUUID()
}

// sourceIP is the peer's address. X-Forwarded-For is not trusted.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipKey is the rate-limit key of an address: the address itself for IPv4, its /64 for
// IPv6 (one host usually holds a whole /64).
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func (h *Handler) logFailure(ctx context.Context, c *call, name string, e *apierr.Error) {
	level := slog.LevelInfo
	if e.Status >= 500 && ctx.Err() == nil {
		// A server fault; a client that went away (its context ended) is not one.
		level = slog.LevelError
	}
	if e.Code == codeThrottling {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{slog.String("request_id", c.requestID), slog.String("action", name),
		slog.String("code", e.Code), slog.Int("status", e.Status), slog.String("source_ip", c.sourceIP)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	h.log.LogAttrs(ctx, level, "sts call failed", attrs...)
}
