package s3gw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/policy"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

// Options are the Gateway's dependencies.
type Options struct {
	Config  *config.Config
	Backend Backend
	// Sealer opens session tokens (no database read).
	Sealer *credentials.Sealer
	// OperatorSecrets maps each configured operator key's access key id to its secret.
	OperatorSecrets map[string]string
	// Audit records one data event per request (as cfg.Audit.S3Events selects).
	Audit audit.Sink
	// Revoked reports whether a session was revoked; nil means none is. It must be cheap
	// (a cached list): it is called on every request.
	Revoked func(*credentials.Session) bool
	// RevocationsStale, when set, reports an error once the node's copy of the
	// revocation list is too old to trust (its store unreachable for too long): session
	// requests then get 503 instead of being judged against a stale list.
	RevocationsStale func() error
	Logger           *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RequestID returns the id of a request (x-amz-request-id); random when nil.
	RequestID func(*http.Request) string
}

// Gateway is the S3 API: an http.Handler for every request that is not STS and not
// under /-/.
type Gateway struct {
	backend Backend
	sealer  *credentials.Sealer
	sink    audit.Sink
	revoked func(*credentials.Session) bool
	// revocationsStale: see Options.RevocationsStale.
	revocationsStale func() error
	log              *slog.Logger
	now              func() time.Time
	reqID            func(*http.Request) string
	hostID           string
	verifier         *sigv4.Verifier
	sessions         *policyCache
	state            atomic.Pointer[state]
	// buffers are copy buffers for response bodies whose writer cannot read from the body
	// itself (net/http's can, with sendfile for files).
	buffers sync.Pool
}

// state is everything SetConfig replaces at once.
type state struct {
	cfg       *config.Config
	roles     map[string][]*policy.Policy // by role ARN
	operators map[string]operator         // by access key id
	regions   []string
}

type operator struct {
	secret   string
	policies []*policy.Policy
}

// New returns a Gateway. Config, Backend, Sealer and Audit are required.
func New(opts Options) (*Gateway, error) {
	switch {
	case opts.Config == nil:
		return nil, errors.New("s3gw: no config")
	case opts.Backend == nil:
		return nil, errors.New("s3gw: no backend")
	case opts.Sealer == nil:
		return nil, errors.New("s3gw: no sealer")
	case opts.Audit == nil:
		return nil, errors.New("s3gw: no audit sink")
	}
	g := &Gateway{
		backend:          opts.Backend,
		sealer:           opts.Sealer,
		sink:             opts.Audit,
		revoked:          opts.Revoked,
		revocationsStale: opts.RevocationsStale,
		log:              opts.Logger,
		now:              opts.Now,
		reqID:            opts.RequestID,
		verifier:         sigv4.NewVerifier(0),
		sessions:         newPolicyCache(1024),
	}
	g.buffers.New = func() any { b := make([]byte, 32<<10); return &b }
	if g.revoked == nil {
		g.revoked = func(*credentials.Session) bool { return false }
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.reqID == nil {
		g.reqID = func(*http.Request) string { return randomID(8) }
	}
	g.hostID = base64.StdEncoding.EncodeToString([]byte(randomID(24)))
	if err := g.setConfig(opts.Config, opts.OperatorSecrets); err != nil {
		return nil, err
	}
	return g, nil
}

// SetConfig replaces the configuration (SIGHUP reload) atomically: requests in flight
// finish with the old one. Operator secrets are kept for keys still configured.
func (g *Gateway) SetConfig(cfg *config.Config) error {
	old := g.state.Load()
	secrets := make(map[string]string, len(old.operators))
	for id, op := range old.operators {
		secrets[id] = op.secret
	}
	return g.setConfig(cfg, secrets)
}

// SetOperatorSecrets replaces the configuration together with the operator secrets, for
// a reload that adds operator keys.
func (g *Gateway) SetOperatorSecrets(cfg *config.Config, secrets map[string]string) error {
	return g.setConfig(cfg, secrets)
}

func (g *Gateway) setConfig(cfg *config.Config, secrets map[string]string) error {
	if cfg == nil {
		return errors.New("s3gw: no config")
	}
	st := &state{cfg: cfg, roles: map[string][]*policy.Policy{}, operators: map[string]operator{},
		regions: []string{cfg.Region}}
	for _, r := range cfg.Roles {
		var ps []*policy.Policy
		for _, np := range r.Policies {
			if np.Policy.Compiled != nil {
				ps = append(ps, np.Policy.Compiled)
			}
		}
		st.roles[cfg.RoleARN(r)] = ps
	}
	for _, k := range cfg.OperatorKeys {
		secret, ok := secrets[k.AccessKeyID]
		if !ok || secret == "" {
			continue // a key without a loaded secret cannot authenticate anything
		}
		op := operator{secret: secret}
		for _, np := range k.Policies {
			if np.Policy.Compiled != nil {
				op.policies = append(op.policies, np.Policy.Compiled)
			}
		}
		st.operators[k.AccessKeyID] = op
	}
	g.state.Store(st)
	return nil
}

// call is one request on its way through the gateway.
type call struct {
	st    *state
	r     *http.Request
	req   *Request
	p     *principal
	body  io.ReadCloser
	now   time.Time
	reqID string
	keys  policy.Context
	// denial is the failed authorization of the request, for the audit event.
	denial *deniedError
}

// ServeHTTP is the one adapter between HTTP and the gateway's operations.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{st: g.state.Load(), r: r, now: g.now(), reqID: g.reqID(r)}
	resp, err := g.handle(r.Context(), c)
	if err != nil {
		g.writeError(w, r, c, err)
		return
	}
	g.writeResponse(w, r, c, resp)
}

// handle parses, authenticates, authorizes, audits and runs one request.
func (g *Gateway) handle(ctx context.Context, c *call) (*response, error) {
	req, perr := ParseRequest(c.r, c.st.cfg.S3.Domain)
	c.req = req
	if c.req == nil {
		c.req = &Request{}
	}
	p, body, err := g.authenticate(c)
	c.p, c.body = p, body
	if err != nil {
		return nil, g.recordFailure(ctx, c, err)
	}
	if perr != nil {
		return nil, g.recordFailure(ctx, c, perr)
	}
	c.keys = requestContext{c}
	if err := g.authorizeOp(c); err != nil {
		return nil, g.recordFailure(ctx, c, err)
	}
	if err := g.record(ctx, c, nil); err != nil {
		return nil, err
	}
	return g.dispatch(ctx, c)
}

// recordFailure audits a refused request and returns the error to answer with (503 if
// the audit sink failed).
func (g *Gateway) recordFailure(ctx context.Context, c *call, err error) error {
	if aerr := g.record(ctx, c, err); aerr != nil {
		return aerr
	}
	return err
}

func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, c *call, err error) {
	if c.body != nil {
		_ = c.body.Close()
	}
	var nm notModified
	if errors.As(err, &nm) {
		h := w.Header()
		h.Set("x-amz-request-id", c.reqID)
		h.Set("x-amz-id-2", g.hostID)
		nm.info.writeValidators(h)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	e := withResource(toWire(err, c.st.cfg.Dev), c.req)
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	g.log.LogAttrs(r.Context(), level, "s3 request failed", slog.String("request_id", c.reqID),
		slog.String("op", c.req.Op.String()), slog.String("bucket", c.req.Bucket),
		slog.String("code", e.Code), slog.Any("cause", err))
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	apierr.WriteS3(w, r, e, c.reqID, g.hostID)
}

func (g *Gateway) writeResponse(w http.ResponseWriter, r *http.Request, c *call, resp *response) {
	if c.body != nil {
		_ = c.body.Close()
	}
	h := w.Header()
	for _, kv := range resp.header {
		h[kv[0]] = append(h[kv[0]], kv[1])
	}
	h.Set("x-amz-request-id", c.reqID)
	h.Set("x-amz-id-2", g.hostID)
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case resp.stream != nil:
		defer resp.stream.Close()
		if resp.size >= 0 {
			h.Set("Content-Length", itoa(resp.size))
		}
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			buf := g.buffers.Get().(*[]byte)
			_, err := io.CopyBuffer(w, resp.stream, *buf)
			g.buffers.Put(buf)
			if err != nil {
				g.log.LogAttrs(r.Context(), slog.LevelWarn, "s3 response body interrupted",
					slog.String("request_id", c.reqID), slog.Any("cause", err))
			}
		}
	case resp.body != nil:
		h.Set("Content-Type", "application/xml")
		h.Set("Content-Length", itoa(int64(len(resp.body))))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(resp.body)
		}
	default:
		if h.Get("Content-Length") == "" && status != http.StatusNoContent {
			h.Set("Content-Length", "0")
		}
		w.WriteHeader(status)
	}
}

// withResource adds the element S3 names the missing resource with.
func withResource(e *apierr.Error, req *Request) *apierr.Error {
	switch e.Code {
	case "NoSuchKey":
		return e.WithField("Key", req.Key)
	case "NoSuchBucket":
		return e.WithField("BucketName", req.Bucket)
	case "NoSuchUpload":
		return e.WithField("UploadId", req.UploadID)
	}
	return e
}

// response is what an operation answers; writeResponse puts it on the wire.
type response struct {
	status int
	header [][2]string // canonical header names
	body   []byte      // an XML document
	stream io.ReadCloser
	size   int64 // of stream; -1 if unknown
}

func (r *response) set(name, value string) {
	r.header = append(r.header, [2]string{http.CanonicalHeaderKey(name), value})
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// EnsureBuckets creates the configuration's buckets that do not exist yet (the server
// calls it at start and after a reload).
func (g *Gateway) EnsureBuckets(ctx context.Context) error {
	for _, b := range g.state.Load().cfg.Buckets {
		if err := g.backend.CreateBucket(ctx, b); err != nil && !errors.Is(err, ErrBucketAlreadyOwnedByYou) {
			return fmt.Errorf("creating bucket %s: %w", b, err)
		}
	}
	return nil
}
