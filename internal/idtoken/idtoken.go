// Package idtoken verifies inbound OIDC ID tokens (CI job tokens) against
// an allowlist of providers, the way AWS IAM OIDC providers do, and turns a
// valid token into an Identity. Discovery documents and key sets are
// fetched over a hardened client and cached per provider; the hot path is a
// hand-written compact-JWS parser and crypto/rsa or crypto/ecdsa on the cached
// key, and tokens that verified are remembered until their exp or their key's
// freshness ends, whichever is first (see docs/idtoken.md).
package idtoken

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for Options.
const (
	DefaultLeeway             = 5 * time.Minute
	DefaultStaleFor           = time.Hour
	DefaultRefreshMinInterval = 10 * time.Second
)

// ErrNotLocal is returned by a LocalKeySource for an issuer it does not serve.
var ErrNotLocal = errors.New("issuer not served locally")

// Provider is one trusted OIDC provider, as configured (an IAM OIDC
// provider in AWS terms).
type Provider struct {
	// URL is the issuer exactly as tokens carry it in iss, https://...
	// (http://loopback only in dev). Trailing slashes are significant.
	URL string
	// ClientIDs are the accepted audiences.
	ClientIDs []string
	// Thumbprints are accepted for configuration compatibility with AWS
	// and not used: TLS is verified against the system roots.
	Thumbprints []string
}

// Host returns the URL without its scheme: the provider ARN's resource
// and the condition-key prefix.
func (p Provider) Host() string {
	if _, rest, ok := strings.Cut(p.URL, "://"); ok {
		return rest
	}
	return p.URL
}

// LocalKeySource serves the keys of the built-in issuer, so verifying its
// tokens needs no HTTP round trip to ourselves. It is consulted only for
// configured providers.
type LocalKeySource interface {
	// PublicKey returns the verification key published under kid by the
	// local issuer at issuerURL, and its algorithm (empty: any that fits
	// the key). It returns ErrNotLocal for an issuer it does not serve and
	// any other error when kid is unknown. It must be cheap.
	PublicKey(ctx context.Context, issuerURL, kid string) (crypto.PublicKey, string, error)
}

// Options configures a Verifier.
type Options struct {
	Providers []Provider
	// HTTPClient fetches discovery documents and key sets; default
	// NewHTTPClient(AllowHTTPLoopback). URLs are checked and bodies limited
	// whichever client is used.
	HTTPClient *http.Client
	// AllowHTTPLoopback permits http:// providers on loopback (dev).
	AllowHTTPLoopback bool
	Now               func() time.Time
	Logger            *slog.Logger
	LocalKeys         LocalKeySource
	// Leeway is the clock skew allowed on exp, nbf and iat; default 5m.
	Leeway time.Duration
	// StaleFor is how long keys are still used after their cache lifetime
	// ended while the provider cannot be reached; default 1h.
	StaleFor time.Duration
	// RefreshMinInterval is the least time between two fetches of one
	// provider's keys (including refreshes for an unknown kid); default 10s.
	RefreshMinInterval time.Duration
}

// Verifier verifies tokens. It is safe for concurrent use.
type Verifier struct {
	providers map[string]*provider
	local     LocalKeySource
	now       func() time.Time
	leeway    time.Duration
	cache     *tokenCache
}

type provider struct {
	cfg    Provider
	remote *remoteKeys
}

// New validates the providers and returns a Verifier. It does no I/O:
// keys are fetched on first use.
func New(opts Options) (*Verifier, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = NewHTTPClient(opts.AllowHTTPLoopback)
	}
	if opts.Leeway <= 0 {
		opts.Leeway = DefaultLeeway
	}
	if opts.StaleFor <= 0 {
		opts.StaleFor = DefaultStaleFor
	}
	if opts.RefreshMinInterval <= 0 {
		opts.RefreshMinInterval = DefaultRefreshMinInterval
	}
	v := &Verifier{
		providers: make(map[string]*provider, len(opts.Providers)),
		local:     opts.LocalKeys,
		now:       opts.Now,
		leeway:    opts.Leeway,
		cache:     newTokenCache(),
	}
	var errs []error
	for _, p := range opts.Providers {
		if err := validateProvider(p, opts.AllowHTTPLoopback); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := v.providers[p.URL]; dup {
			errs = append(errs, fmt.Errorf("provider %s: listed twice", p.URL))
			continue
		}
		p.ClientIDs, p.Thumbprints = slices.Clone(p.ClientIDs), slices.Clone(p.Thumbprints)
		v.providers[p.URL] = &provider{cfg: p, remote: &remoteKeys{
			issuer:            p.URL,
			client:            opts.HTTPClient,
			allowHTTPLoopback: opts.AllowHTTPLoopback,
			now:               opts.Now,
			log:               opts.Logger,
			staleFor:          opts.StaleFor,
			limiter:           rate.NewLimiter(rate.Every(opts.RefreshMinInterval), 1),
		}}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("idtoken: %w", err)
	}
	return v, nil
}

func validateProvider(p Provider, allowHTTPLoopback bool) error {
	u, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Errorf("provider %q: %w", p.URL, err)
	}
	if err := checkURL(u, allowHTTPLoopback); err != nil {
		return fmt.Errorf("provider %q: %w", p.URL, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Errorf("provider %q: url must not have a query or fragment", p.URL)
	}
	if len(p.ClientIDs) == 0 {
		return fmt.Errorf("provider %q: no client ids", p.URL)
	}
	return nil
}

// Verify checks raw (surrounding whitespace ignored) and returns the
// identity it proves, or an *Error. Checks, in order: size, compact JWS
// form, alg allowlist, no crit, iss among the providers, kid present and
// published, alg fitting the key, signature, exp, nbf and iat, aud/azp
// among the client ids, sub present. A token that verified is remembered
// (see tokenCache) and answered from memory while its time checks and its
// key stay valid. The returned Identity may be shared between callers: it
// must not be modified.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > MaxTokenSize {
		return nil, newError(KindTooLarge, fmt.Sprintf("%d bytes", len(raw)), nil)
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if e, ok := v.cache.get(key, now); ok {
		return e.id, nil
	}
	tok, err := parseToken(raw)
	if err != nil {
		return nil, err
	}
	iss, ok, err := stringClaim(tok.claims, "iss")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Kind: KindMissingClaim, Claim: "iss", Detail: "no iss"}
	}
	p, ok := v.providers[iss]
	if !ok {
		return nil, &Error{Kind: KindUnknownProvider, Issuer: iss, Detail: "no provider for iss"}
	}
	keyFreshUntil, err := v.verifySignature(ctx, p, tok)
	if err != nil {
		return nil, withIssuer(err, iss)
	}
	id, err := v.checkClaims(p, tok)
	if err != nil {
		return nil, withIssuer(err, iss)
	}
	e := &tokenEntry{id: id, until: keyFreshUntil}
	if id.Expiry.Before(e.until) {
		e.until = id.Expiry
	}
	for _, t := range [...]time.Time{id.NotBefore, id.IssuedAt} {
		if from := t.Add(-v.leeway); !t.IsZero() && from.After(e.validFrom) {
			e.validFrom = from
		}
	}
	if now.Before(e.until) {
		v.cache.put(key, e)
	}
	return id, nil
}

// withIssuer returns a copy of err with Issuer set (cached errors are shared).
func withIssuer(err error, iss string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Issuer = iss
	return &c
}

// verifySignature checks tok's signature with the provider's key kid and returns
// until when that key is known to be current (zero: do not rely on it later).
func (v *Verifier) verifySignature(ctx context.Context, p *provider, tok *token) (time.Time, error) {
	if tok.kid == "" {
		return time.Time{}, newError(KindKeyUnavailable, "token has no kid", nil)
	}
	keys, freshUntil, err := v.keys(ctx, p, tok.kid)
	if err != nil {
		return time.Time{}, err
	}
	fitted := false
	for _, k := range keys {
		if !k.fits(tok.alg) {
			continue
		}
		fitted = true
		if tok.verifySignature(k.key) {
			return freshUntil, nil
		}
	}
	if !fitted {
		return time.Time{}, newError(KindBadAlgorithm, fmt.Sprintf("alg %s does not fit key %q", tok.alg, tok.kid), nil)
	}
	return time.Time{}, newError(KindBadSignature, fmt.Sprintf("signature does not verify with key %q", tok.kid), nil)
}

// localKeyFreshFor is how long a key of the local issuer is relied on for cached tokens.
const localKeyFreshFor = time.Minute

func (v *Verifier) keys(ctx context.Context, p *provider, kid string) ([]publicKey, time.Time, error) {
	if v.local != nil {
		key, alg, err := v.local.PublicKey(ctx, p.cfg.URL, kid)
		switch {
		case err == nil:
			return []publicKey{{key: key, alg: alg}}, v.now().Add(localKeyFreshFor), nil
		case !errors.Is(err, ErrNotLocal):
			return nil, time.Time{}, newError(KindKeyUnavailable, fmt.Sprintf("local issuer has no key %q", kid), err)
		}
	}
	return p.remote.key(ctx, kid)
}
